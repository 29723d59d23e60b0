"""TimeDistill for NeuralForecast: the distilled MLP students and the NF teacher adapter.

Importing this module imports NeuralForecast and registers the students in
``neuralforecast.core.MODEL_FILENAME_DICT``, so that ``NeuralForecast.save`` and
``NeuralForecast.load`` handle them like the library's own models.
"""

from neuralforecast import core as _nf_core

from .models import DistilledMLP, DistilledMLPMultivariate
from .teacher import NeuralForecastTeacher

for _model in (DistilledMLP, DistilledMLPMultivariate):
    _nf_core.MODEL_FILENAME_DICT[_model.__name__.lower()] = _model

__all__ = ["DistilledMLP", "DistilledMLPMultivariate", "NeuralForecastTeacher"]
