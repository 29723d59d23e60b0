"""TimeDistill inside Darts: ``DistilledMLPModel`` and the Darts teacher adapter.

Importing this module imports Darts (and never NeuralForecast).
"""

from .teacher import DartsTeacher

__all__ = ["DartsTeacher"]
