"""TimeDistill for NeuralForecast: the distilled MLP students and the NF teacher adapter.

Importing this module imports NeuralForecast and registers the students with it (see
``_registration``), so that ``NeuralForecast.save`` and ``NeuralForecast.load`` handle them
like the library's own models.
"""

from ._registration import register
from .models import DistilledMLP, DistilledMLPMultivariate
from .teacher import NeuralForecastTeacher

register()

__all__ = ["DistilledMLP", "DistilledMLPMultivariate", "NeuralForecastTeacher"]
