"""The interface every benchmark backend implements, and what the backends share.

A backend builds the four models of the experiment (teacher, plain MLP, distilled MLP, DLinear)
with one library and fits them on the training split, validating on the validation split. The
student receives its teacher as a library-neutral :class:`~tsdistill_plugin.core.Teacher`, and
every fitted model is evaluated through the same adapter (:func:`predictor`), so metrics and
timings are computed identically for every library by :mod:`tsdistill_plugin.benchmark.experiment`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from torch import Tensor, nn
from tqdm.auto import tqdm

from tsdistill_plugin.core.teacher import (
    AUTO,
    AdaptiveTeacher,
    FeatureLayer,
    FeatureRegressor,
    FittableTeacher,
    KeepsOutputs,
    Teacher,
    TeacherOutput,
    forecast_horizon,
)
from tsdistill_plugin.teachers import as_teacher

from ..data import Dataset
from ..progress import Progress
from .reference import TeacherConfig, TrainingPlan

logger = logging.getLogger(__name__)

Forecaster = Callable[[Tensor], Tensor]
"""Maps windows ``[batch, lookback, channels]`` to forecasts ``[batch, horizon, channels]``
(quantile forecasts ``[batch, horizon, channels, quantiles]``)."""


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
    quantiles
        Quantile levels the teachers and students forecast (0.5 among them), or ``None`` for
        point forecasts.
    covariates
        Covariates by their ``fit`` argument name (``"past_covariates"``,
        ``"future_covariates"``), each a data set of ``dataset``'s rows and splits
        (:mod:`~tsdistill_plugin.benchmark.covariates`); empty: none.
    """

    dataset: Dataset
    lookback: int
    horizon: int
    seed: int
    device: str
    quantiles: tuple[float, ...] | None = None
    covariates: dict[str, Dataset] = field(default_factory=dict)

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
class StudentSetup:
    """The student of one benchmark run (not the exported file's ``StudentSpec``).

    Attributes
    ----------
    hidden_size, norm
        Width and input normalization of the DMLP.
    alpha, beta
        Distillation weights (unused without a teacher).
    plan
        Training plan.
    scale_levels, period_weight
        The students' arguments of the same names (``None``: the reference's pyramid; 1: the
        reference's period terms).
    use_covariates, covariate_width
        Whether the student reads the task's covariates (``False``: the target alone, its
        teacher reading them), and its ``covariate_width``.
    """

    hidden_size: int
    norm: str
    alpha: float
    beta: float
    plan: TrainingPlan
    scale_levels: int | None = None
    period_weight: float = 1.0
    use_covariates: bool = True
    covariate_width: int | None = None


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
    module
        The model's torch module (for counting parameters; it holds the DMLP of a student).
    cache_seconds
        Time spent computing the teacher's outputs for the training windows, when known.
    feature_layer
        For a teacher: the submodule its features are distilled from, with its layout where
        the integration cannot know it (``"auto"``: the integration's choice).
    library_predict
        Windows ``[batch, lookback, channels]`` (and the covariate windows it reads, by
        keyword) -> the call of the library's own ``predict`` on them, its input built
        beforehand (see :mod:`.library_predict`); ``None``: not timed.
    library_forecast
        The same windows -> the library's forecasts ``[batch, horizon, channels]``: how a
        model that reads covariates is evaluated and timed (``None``: through
        :func:`predictor` alone).
    covariates
        The covariates it reads (``"past_covariates"``, ``"future_covariates"``).
    """

    model: Any
    name: str
    train_seconds: float
    epochs: int | None
    module: nn.Module
    cache_seconds: float | None = None
    feature_layer: FeatureLayer = AUTO
    library_predict: Callable[..., Callable[[], object]] | None = None
    library_forecast: Callable[..., np.ndarray] | None = None
    covariates: tuple[str, ...] = ()


class Backend(Protocol):
    """What the experiment needs from a library."""

    name: str

    def fit_teacher(
        self, config: TeacherConfig, task: Task, callbacks: Sequence[Callback] = ()
    ) -> Fitted:
        """Build and fit the teacher described by ``config``.

        ``callbacks`` are added to the Lightning trainer's (as for every fit).
        """
        ...

    def fit_student(
        self,
        spec: StudentSetup,
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


def predictor(
    fitted: Fitted, horizon: int, quantiles: tuple[float, ...] | None = None
) -> Forecaster:
    """Forecast ``horizon`` steps from windows ``[batch, lookback, channels]`` with a model.

    The fitted model of either library runs through its teacher adapter: the library's network
    on the whole batch, exactly as its own ``predict`` would (see
    :mod:`tsdistill_plugin.darts.teacher` and :mod:`tsdistill_plugin.neuralforecast.teacher`);
    a model that forecasts fewer steps per call (a foundation model) is rolled out as its
    ``predict`` would. With ``quantiles``, a probabilistic model forecasts those levels
    ``[batch, horizon, channels, quantiles]``; a point model still gives ``[batch, horizon,
    channels]``.
    """
    adapter = as_teacher(fitted.model, feature_layer=None)
    return lambda x: forecast_horizon(adapter, x, horizon, quantiles).prediction


def lightning_device(accelerator: str) -> torch.device:
    """The device Lightning trains on for ``accelerator`` (``"auto"``, ``"cpu"``, ...).

    It is where a model that is not trained here (a zero-shot foundation model) runs.
    """
    trainer = pl.Trainer(
        accelerator=accelerator,
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    return trainer.strategy.root_device


class TimedTeacher(KeepsOutputs):
    """A :class:`~tsdistill_plugin.core.Teacher` that times its forecasts and shows progress.

    It adds up the time spent in its forecasts (the cache-filling time of a distilled student)
    and shows their progress over the student's training windows.

    The student's lifecycle (:class:`~tsdistill_plugin.core.Distillation`) sees the wrapped
    teacher's capabilities through it: it is a
    :class:`~tsdistill_plugin.core.FittableTeacher` (fitted when the wrapped teacher is, or
    when that one cannot be fitted; :meth:`fit` fits the wrapped one, e.g. the validation
    weights of a :class:`~tsdistill_plugin.core.TeacherEnsemble`) and an
    :class:`~tsdistill_plugin.core.AdaptiveTeacher` (:meth:`bind` adapts the wrapped one where
    it adapts: a foundation model reads the student's lookback), and its lengths are the
    wrapped teacher's at every moment.

    Parameters
    ----------
    teacher
        The teacher to time.
    progress
        The run's progress display: the first forecast says that the teacher's outputs are
        being computed and opens a bar over ``n_windows`` windows.
    n_windows
        Training windows of the student (what the cache holds).

    Attributes
    ----------
    seconds
        Time spent in :meth:`forecast` so far.
    """

    def __init__(self, teacher: Teacher, progress: Progress, n_windows: int) -> None:
        self.teacher = teacher
        self.seconds = 0.0
        self._progress = progress
        self._n_windows = n_windows
        self._bar: tqdm | None = None

    def __repr__(self) -> str:
        return repr(self.teacher)

    @property
    def input_len(self) -> int | None:
        """The wrapped teacher's lookback."""
        return self.teacher.input_len

    @property
    def horizon(self) -> int | None:
        """The wrapped teacher's horizon."""
        return self.teacher.horizon

    @property
    def n_channels(self) -> int | None:
        """The wrapped teacher's channels (``None``: any number)."""
        return self.teacher.n_channels

    @property
    def is_fitted(self) -> bool:
        """Whether the wrapped teacher is fitted (always, for one that cannot be)."""
        return not isinstance(self.teacher, FittableTeacher) or self.teacher.is_fitted

    def fit(self, series: list[pd.DataFrame], val_series: list[pd.DataFrame] | None = None) -> None:
        """Fit the wrapped teacher (a no-op for one that cannot be fitted)."""
        if isinstance(self.teacher, FittableTeacher):
            self.teacher.fit(series, val_series)

    def bind(self, input_len: int, horizon: int) -> None:
        """Adapt the wrapped teacher to the student's lengths where it adapts."""
        if isinstance(self.teacher, AdaptiveTeacher):
            self.teacher.bind(input_len, horizon)

    @property
    def model(self) -> Any:
        """The wrapped teacher's library model (``None`` for a teacher without one)."""
        return getattr(self.teacher, "model", None)

    @property
    def uses_covariates(self) -> bool:
        """Whether the wrapped teacher reads covariates.

        Then the student's library forecasts its training windows with them
        (:meth:`forecast_series`).
        """
        return getattr(self.teacher, "uses_covariates", False)

    def forecast(self, x: Tensor) -> TeacherOutput:
        """The wrapped teacher's forecast of ``x`` ``[batch, input_len, channels]``."""
        return self._timed(lambda: self.teacher.forecast(x), len(x))

    def forecast_series(self, *args: Any, **kwargs: Any) -> Any:
        """The wrapped covariate teacher's ``forecast_series``, timed.

        Its library's forecasts of every training window with its covariates
        (:meth:`~tsdistill_plugin.darts.DartsTeacher.forecast_series`).
        """
        return self._timed(lambda: self.teacher.forecast_series(*args, **kwargs), self._n_windows)

    def _timed(self, forecast: Callable[[], Any], n_windows: int) -> Any:
        """Run ``forecast`` of ``n_windows`` training windows, adding its time and progress."""
        if self._bar is None:
            self._progress.stage(f"teacher outputs for {self._n_windows} training windows")
            self._bar = self._progress.bar(self._n_windows, "window")
        start = time.perf_counter()
        output = forecast()
        self.seconds += time.perf_counter() - start
        self._bar.update(n_windows)  # a no-op once closed
        if self._bar.n >= self._n_windows:
            self._bar.close()
        return output


class RestoreBestEpoch(Callback):
    """Keep the weights of the epoch with the lowest validation loss, load them back at the end.

    The reference reloads its best checkpoint the same way.

    The weights are kept in memory, not written by Lightning's ``ModelCheckpoint``: a Lightning
    checkpoint pickles the module's hyperparameters, which in NeuralForecast hold the trainer's
    callbacks, to which Lightning binds the module's ``log`` methods, so every checkpoint would
    pickle the whole training-time module, a distilled student's teacher and cached teacher
    outputs included.

    Parameters
    ----------
    monitor
        Name of the logged validation metric.

    Attributes
    ----------
    best_score
        The lowest validation value seen, or ``None``.
    """

    def __init__(self, monitor: str) -> None:
        self.monitor = monitor
        self.best_score: float | None = None
        self._best_state: dict[str, Tensor] | None = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Keep the module's weights when the validation loss is the lowest so far."""
        score = trainer.callback_metrics.get(self.monitor)
        if trainer.sanity_checking or score is None:
            return
        score = float(score)
        if self.best_score is None or score < self.best_score:  # never for nan
            self.best_score = score
            self._best_state = {
                name: value.detach().clone() for name, value in pl_module.state_dict().items()
            }

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Load the best epoch's weights back into the module."""
        if self._best_state is None:
            return
        logger.info(
            "%s: restoring the best epoch (%s %.5f)",
            type(pl_module).__name__, self.monitor, self.best_score,
        )  # fmt: skip
        # not strict: a module may keep training-only parts out of its state (the distilled
        # student's feature regressor), and those do not forecast
        pl_module.load_state_dict(self._best_state, strict=False)
        self._best_state = None


def inference_parameters(module: nn.Module) -> int:
    """Count the parameters used at inference, trainable or frozen.

    A zero-shot foundation model's are frozen; the feature regressor, which only serves
    distillation during training, is left out.
    """
    skipped = {
        id(p)
        for sub in module.modules()
        if isinstance(sub, FeatureRegressor)
        for p in sub.parameters()
    }
    return sum(p.numel() for p in module.parameters() if id(p) not in skipped)


class Stopwatch:
    """Context manager measuring wall time in ``seconds``."""

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start
