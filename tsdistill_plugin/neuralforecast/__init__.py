"""TimeDistill for NeuralForecast: the distilled MLP students and the NF teacher adapter.

Importing this module imports NeuralForecast.
"""

from .teacher import NeuralForecastTeacher

__all__ = ["NeuralForecastTeacher"]
