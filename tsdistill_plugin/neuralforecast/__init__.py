"""TimeDistill for NeuralForecast: the distilled MLP students and the NF teacher adapter.

Importing this module imports NeuralForecast and registers the students in
``neuralforecast.core.MODEL_FILENAME_DICT`` (where NeuralForecast looks models up by lower-cased
class name), so that ``NeuralForecast.save`` and ``NeuralForecast.load`` handle them like the
library's own models, and registers the students' default learning-rate schedule,
:class:`~tsdistill_plugin.core.HalvingLR`, with ``neuralforecast.register_lr_scheduler`` so that
saved students record it. Nothing else of NeuralForecast is changed.
"""

from neuralforecast import core, register_lr_scheduler

from ..core.schedule import HalvingLR
from ..frames import check_frame
from .auto import AutoDistilledMLP
from .models import DistilledMLP, DistilledMLPMultivariate
from .teacher import NeuralForecastTeacher

for _student in (DistilledMLP, DistilledMLPMultivariate):
    core.MODEL_FILENAME_DICT[_student.__name__.lower()] = _student
register_lr_scheduler(HalvingLR)

__all__ = [
    "AutoDistilledMLP",
    "DistilledMLP",
    "DistilledMLPMultivariate",
    "NeuralForecastTeacher",
    "check_frame",
]
