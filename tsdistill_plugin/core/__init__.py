"""TimeDistill in plain PyTorch: the student, the objective, teachers and the teacher cache.

Nothing here imports Darts or NeuralForecast.
"""

from .cache import TeacherCache
from .distillation import CACHE_MODES, Distillation, TeacherTargets, TrainingData, TrainingRun
from .ensemble import TeacherEnsemble
from .losses import (
    TERM_NAMES,
    DistillationLoss,
    QuantileDistillationLoss,
    multi_period_loss,
    multi_scale_loss,
    period_distribution,
)
from .schedule import HalvingLR, halving_lr_factor
from .student import DMLP, StudentOutput
from .teacher import (
    AdaptiveTeacher,
    FeatureCapture,
    FeatureLayout,
    FeatureRegressor,
    FittableTeacher,
    KeepsOutputs,
    QuantileTeacher,
    RefittableTeacher,
    Teacher,
    TeacherOutput,
    TorchTeacher,
    features_by_channel,
    forecast_horizon,
    frozen,
)

__all__ = [
    "CACHE_MODES",
    "DMLP",
    "TERM_NAMES",
    "Distillation",
    "DistillationLoss",
    "QuantileDistillationLoss",
    "FeatureCapture",
    "FeatureLayout",
    "FeatureRegressor",
    "FittableTeacher",
    "KeepsOutputs",
    "QuantileTeacher",
    "AdaptiveTeacher",
    "RefittableTeacher",
    "HalvingLR",
    "StudentOutput",
    "Teacher",
    "TeacherCache",
    "TeacherEnsemble",
    "TeacherOutput",
    "TeacherTargets",
    "TorchTeacher",
    "TrainingData",
    "TrainingRun",
    "features_by_channel",
    "forecast_horizon",
    "frozen",
    "halving_lr_factor",
    "multi_period_loss",
    "multi_scale_loss",
    "period_distribution",
]
