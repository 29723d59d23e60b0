"""TimeDistill inside Darts: ``DistilledMLPModel`` and the Darts teacher adapter.

Importing this module imports Darts (and never NeuralForecast). It registers the classes a saved
``DistilledMLPModel`` refers to with Darts' safe loading, so that plain
``DistilledMLPModel.load(path)`` works.
"""

from darts.utils.serialization import add_safe_globals

from ..core.distillation import Distillation
from ..core.schedule import halving_lr_factor
from ._windows import IndexedSample
from .model import DistilledMLPModel, _DistilledMLPModule
from .teacher import AdaptiveDartsTeacher, DartsTeacher

add_safe_globals(
    [DistilledMLPModel, _DistilledMLPModule, Distillation, IndexedSample, halving_lr_factor]
)

__all__ = ["AdaptiveDartsTeacher", "DartsTeacher", "DistilledMLPModel"]
