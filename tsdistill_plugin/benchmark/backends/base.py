"""The interface every benchmark backend implements, and what the backends share.

A backend builds the four models of the experiment (teacher, plain MLP, distilled MLP, DLinear)
with one library and fits them on the training split, validating on the validation split. The
student receives its teacher as a library-neutral :class:`~tsdistill_plugin.core.Teacher`, and
every fitted model is evaluated through the same adapter (:func:`predictor`), so metrics and
timings are computed identically for every library by :mod:`tsdistill_plugin.benchmark.experiment`.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, ModelCheckpoint
from torch import Tensor, nn
from tqdm.auto import tqdm

from tsdistill_plugin.core.teacher import FeatureRegressor, Teacher, TeacherOutput
from tsdistill_plugin.teachers import as_teacher

from ..data import Dataset
from ..progress import Progress
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

    def fit_teacher(
        self, config: TeacherConfig, task: Task, callbacks: Sequence[Callback] = ()
    ) -> Fitted:
        """Build and fit the teacher described by ``config``; ``callbacks`` are added to the
        Lightning trainer's (as for every fit)."""
        ...

    def fit_student(
        self,
        spec: StudentSpec,
        teacher: Teacher | None,
        task: Task,
        callbacks: Sequence[Callback] = (),
    ) -> Fitted:
        """Build and fit the DMLP student, distilled from ``teacher`` or plain for ``None``."""
        ...

    def fit_dlinear(
        self, plan: TrainingPlan, task: Task, callbacks: Sequence[Callback] = ()
    ) -> Fitted:
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
    (the cache-filling time of a distilled student) and shows their progress over the
    student's training windows.

    Parameters
    ----------
    teacher
        The teacher to time.
    progress
        The run's progress display: the first forecast says that the teacher's outputs are
        being computed and opens a bar over ``n_windows`` windows.
    n_windows
        Training windows of the student (what the cache holds).
    """

    def __init__(self, teacher: Teacher, progress: Progress, n_windows: int) -> None:
        self.teacher = teacher
        self.input_len = teacher.input_len
        self.horizon = teacher.horizon
        self.n_channels = teacher.n_channels
        self.seconds = 0.0
        self._progress = progress
        self._n_windows = n_windows
        self._bar: tqdm | None = None

    def forecast(self, x: Tensor) -> TeacherOutput:
        """The wrapped teacher's forecast of ``x`` ``[batch, input_len, channels]``."""
        if self._bar is None:
            self._progress.stage(f"teacher outputs for {self._n_windows} training windows")
            self._bar = self._progress.bar(self._n_windows, "window")
        start = time.perf_counter()
        output = self.teacher.forecast(x)
        self.seconds += time.perf_counter() - start
        self._bar.update(len(x))  # a no-op once closed
        if self._bar.n >= self._n_windows:
            self._bar.close()
        return output


class RestoreBestEpoch(ModelCheckpoint):
    """Lightning's ``ModelCheckpoint`` on the lowest validation loss, in a temporary folder,
    whose weights are loaded back when training ends (the reference reloads its best
    checkpoint). The folder is removed after the fit.

    Parameters
    ----------
    monitor
        Name of the logged validation metric.
    """

    def __init__(self, monitor: str) -> None:
        super().__init__(
            monitor=monitor,
            mode="min",
            save_top_k=1,
            save_weights_only=True,
            save_on_train_epoch_end=False,
        )

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.dirpath is None:
            self.dirpath = tempfile.mkdtemp(prefix="tsdistill-best-")
        super().setup(trainer, pl_module, stage)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.best_model_path:
            logger.info(
                "%s: restoring the best epoch (%s %.5f)",
                type(pl_module).__name__, self.monitor, float(self.best_model_score),
            )  # fmt: skip
            checkpoint = torch.load(
                self.best_model_path, map_location=pl_module.device, weights_only=False
            )
            # not strict: a module may keep training-only parts out of its checkpoints (the
            # distilled student's feature regressor), and those do not forecast
            pl_module.load_state_dict(checkpoint["state_dict"], strict=False)
        shutil.rmtree(self.dirpath, ignore_errors=True)

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        shutil.rmtree(self.dirpath, ignore_errors=True)


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
