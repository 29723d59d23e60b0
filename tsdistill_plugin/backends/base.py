"""The interface every benchmark backend implements, and what the backends share.

A backend builds the four models of the experiment (teacher, plain MLP, distilled MLP, DLinear)
with one library and fits them on the training split, validating on the validation split. The
student receives its teacher as a library-neutral :class:`~tsdistill_plugin.core.Teacher`, and
every fitted model is evaluated through the same adapter (:func:`predictor`), so metrics and
timings are computed identically for every library by :mod:`tsdistill_plugin.benchmark`.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd
import torch
from pytorch_lightning.callbacks import Callback
from torch import Tensor, nn

from ..core.teacher import FeatureRegressor, Teacher, TeacherOutput
from ..data import Dataset
from ..teachers import as_teacher
from .reference import TeacherConfig, TrainingPlan

logger = logging.getLogger(__name__)

Predictor = Callable[[Tensor], Tensor]
"""Maps windows ``[batch, lookback, channels]`` to forecasts ``[batch, horizon, channels]``."""


@dataclass(frozen=True)
class Task:
    """One forecasting task: a data set, a lookback and a horizon, and where to train.

    Attributes
    ----------
    dataset
        The standardized data set with its splits.
    lookback, horizon
        Input and output lengths.
    seed
        Random seed of every model.
    device
        ``"cpu"``, ``"cuda"``, ``"mps"`` or ``"auto"`` (Lightning's accelerator names).
    """

    dataset: Dataset
    lookback: int
    horizon: int
    seed: int
    device: str

    @property
    def n_channels(self) -> int:
        """Number of channels ``N``."""
        return self.dataset.n_channels

    def train_frame(self) -> pd.DataFrame:
        """The training split ``[time, channels]``."""
        return self.dataset.split("train")

    def val_frame(self) -> pd.DataFrame:
        """The validation split with ``lookback`` rows of history before it."""
        return self.dataset.split("val", self.lookback)

    def n_train_windows(self) -> int:
        """Number of stride-1 training windows."""
        return self.dataset.train_end - self.lookback - self.horizon + 1


@dataclass(frozen=True)
class StudentSpec:
    """The student of one run.

    Attributes
    ----------
    hidden_size, norm
        Width and input normalization of the DMLP.
    alpha, beta
        Distillation weights (unused without a teacher).
    plan
        Training plan.
    """

    hidden_size: int
    norm: str
    alpha: float
    beta: float
    plan: TrainingPlan


@dataclass
class Fitted:
    """A fitted model and what its fit cost.

    Attributes
    ----------
    model
        The library's fitted model object.
    name
        Display name (the library's class name).
    train_seconds
        Wall time of the fit (for the distilled student, including ``cache_seconds``).
    epochs
        Epochs run (early stopping may end training before the plan's maximum).
    cache_seconds
        Time spent computing the teacher's outputs for the training windows, when known.
    feature_layer
        For a teacher: the submodule its features are distilled from (``"auto"``: the
        integration's choice).
    """

    model: Any
    name: str
    train_seconds: float
    epochs: int | None = None
    cache_seconds: float | None = None
    feature_layer: str | None = "auto"


class Backend(Protocol):
    """What the experiment needs from a library."""

    name: str

    def fit_teacher(self, config: TeacherConfig, task: Task) -> Fitted:
        """Build and fit the teacher described by ``config``."""
        ...

    def fit_student(self, spec: StudentSpec, teacher: Teacher | None, task: Task) -> Fitted:
        """Build and fit the DMLP student, distilled from ``teacher`` or plain for ``None``."""
        ...

    def fit_dlinear(self, plan: TrainingPlan, task: Task) -> Fitted:
        """Build and fit the DLinear baseline."""
        ...

    def module(self, fitted: Fitted) -> nn.Module:
        """The fitted model's torch module (for counting parameters)."""
        ...


def predictor(fitted: Fitted) -> Predictor:
    """Forecast windows ``[batch, lookback, channels]`` with a fitted model of either library
    through its teacher adapter: the library's network run on the whole batch, exactly as its
    own ``predict`` would (see :mod:`tsdistill_plugin.darts.teacher` and
    :mod:`tsdistill_plugin.neuralforecast.teacher`)."""
    adapter = as_teacher(fitted.model, feature_layer=None)
    return lambda x: adapter.forecast(x).prediction


class TimedTeacher:
    """A :class:`~tsdistill_plugin.core.Teacher` that adds up the time spent in its forecasts
    (the cache-filling time of a distilled student).

    Parameters
    ----------
    teacher
        The teacher to time.
    """

    def __init__(self, teacher: Teacher) -> None:
        self.teacher = teacher
        self.input_len = teacher.input_len
        self.horizon = teacher.horizon
        self.n_channels = teacher.n_channels
        self.seconds = 0.0

    def forecast(self, x: Tensor) -> TeacherOutput:
        """The wrapped teacher's forecast of ``x`` ``[batch, input_len, channels]``."""
        start = time.perf_counter()
        output = self.teacher.forecast(x)
        self.seconds += time.perf_counter() - start
        return output


class BestWeights(Callback):
    """Keeps the weights of the epoch with the lowest validation loss and restores them at the
    end of training (the reference reloads its best checkpoint; this does it in memory).

    Parameters
    ----------
    monitor
        Name of the logged validation metric.
    """

    def __init__(self, monitor: str) -> None:
        self.monitor = monitor
        self.best = float("inf")
        self.state: dict[str, Tensor] | None = None
        self.validations = 0

    def on_validation_end(self, trainer: Any, pl_module: nn.Module) -> None:
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            return
        self.validations += 1
        if float(value) < self.best:
            self.best = float(value)
            self.state = copy.deepcopy(pl_module.state_dict())
        logger.info(
            "%s validation %d: %s %.5f (best %.5f)",
            type(pl_module).__name__, self.validations, self.monitor, float(value), self.best,
        )  # fmt: skip

    def on_fit_end(self, trainer: Any, pl_module: nn.Module) -> None:
        if self.state is not None:
            pl_module.load_state_dict(self.state)


def trainable_parameters(module: nn.Module) -> int:
    """Trainable parameters used at inference: the feature regressor, which only serves
    distillation during training, is left out."""
    skipped = {
        id(p)
        for sub in module.modules()
        if isinstance(sub, FeatureRegressor)
        for p in sub.parameters()
    }
    return sum(p.numel() for p in module.parameters() if p.requires_grad and id(p) not in skipped)


class Stopwatch:
    """Context manager measuring wall time in ``seconds``."""

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start


def seed_everything(seed: int) -> None:
    """Seed torch's generators (libraries seed their own from the models' seed arguments)."""
    torch.manual_seed(seed)
