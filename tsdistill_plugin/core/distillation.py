"""The teacher's side of one student, through all of the student's fits, for both libraries.

:class:`Distillation` is what the Darts and NeuralForecast students hold: the teacher, shared by
every copy the libraries make of the student and never saved with it. It settles the student's
lengths from the teacher's, checks that the teacher can teach the student, fits it (or a fresh
copy, with ``refit``) on exactly the data the student is fitted on, warns once the teacher may
have seen the future of a training slice, and, for each training run, provides the teacher's
outputs per window (:class:`TeacherTargets`), the feature regressor and the training step's
loss. The integrations only say how their library's windows are identified and where the loss
enters their training step.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from .cache import TeacherCache
from .losses import DistillationLoss
from .teacher import (
    AdaptiveTeacher,
    FeatureRegressor,
    FittableTeacher,
    RefittableTeacher,
    Teacher,
    TeacherOutput,
    forecast_horizon,
)

logger = logging.getLogger(__name__)

CacheMode = Literal["auto", "memory", "disk", "online"]
CACHE_MODES: tuple[str, ...] = ("auto", "memory", "disk", "online")
TEACHER_BATCH_SIZE = 256
"""Windows per teacher call while filling the cache."""


@dataclass(frozen=True)
class TrainingData:
    """What one fit of the student trains on, as the teacher's lifecycle needs to know it.

    Attributes
    ----------
    ends
        Where the training part of each series ends: its last timestamp, or its length when
        the library keeps no timestamps. Two fits on the same data have equal ``ends``.
    frames
        Builds the training part of each series as a frame (time index, one column per
        channel); called only when the teacher is fitted.
    val_frames
        Builds the validation frames (each may include its lookback), or gives ``None``.
    holds_out
        Whether rows after the training part exist and are kept from the student (the test
        rows of a ``cross_validation``): a teacher fitted beforehand may have seen them.
    """

    ends: tuple
    frames: Callable[[], list[pd.DataFrame]]
    val_frames: Callable[[], list[pd.DataFrame] | None]
    holds_out: bool = False


class _PredictionsOnly:
    """A teacher's forecasts without its features (when ``beta == 0`` they are not needed)."""

    def __init__(self, teacher: Teacher) -> None:
        self.teacher = teacher
        self.input_len = teacher.input_len
        self.horizon = teacher.horizon
        self.n_channels = teacher.n_channels

    def forecast(self, x: Tensor) -> TeacherOutput:
        return TeacherOutput(self.teacher.forecast(x).prediction, None)


class TeacherTargets:
    """The teacher's outputs for the windows of one training run.

    Computed once for every training window and read back by window id (``storage`` "auto",
    "memory" or "disk", see :class:`~tsdistill_plugin.core.TeacherCache`), or computed on each
    batch's inputs (``"online"``, as the reference does).

    Parameters
    ----------
    teacher
        The fitted teacher.
    windows
        The student's training input windows ``[input_len, channels]``, indexed by window id.
    horizon
        The student's horizon.
    storage
        One of :data:`CACHE_MODES`.
    dtype
        Dtype of the stored outputs (the training data's).
    progress
        Show a progress bar while the cache is filled.

    Attributes
    ----------
    cache
        The :class:`~tsdistill_plugin.core.TeacherCache`, or ``None`` online.
    feature_size
        Width ``d`` of the teacher's features, or ``None`` without features.
    """

    def __init__(
        self,
        teacher: Teacher,
        windows: Sequence,
        horizon: int,
        storage: CacheMode,
        dtype: torch.dtype,
        progress: bool,
    ) -> None:
        self.teacher = teacher
        self.horizon = horizon
        self.cache: TeacherCache | None = None
        if storage == "online":
            logger.info("teacher_cache='online': the teacher runs on every training batch.")
            probe = torch.as_tensor(np.asarray(windows[0]))[None].to(dtype)
            features = forecast_horizon(teacher, probe, horizon).features
        else:
            self.cache = TeacherCache(
                teacher,
                windows,
                horizon,
                batch_size=TEACHER_BATCH_SIZE,
                storage=storage,
                dtype=dtype,
                progress=progress,
            )
            features = self.cache.features
        self.feature_size = None if features is None else int(features.shape[-1])

    def get(self, window_ids: Tensor | np.ndarray | None, inputs: Tensor) -> TeacherOutput:
        """The teacher's outputs for one batch, on the device and with the dtype of ``inputs``.

        Parameters
        ----------
        window_ids
            The batch's window ids ``[batch]`` (the positions in ``windows``); unused online.
        inputs
            The batch's input windows ``[batch, input_len, channels]``.

        Returns
        -------
        TeacherOutput
            ``prediction`` ``[batch, horizon, channels]`` and ``features`` ``[batch, channels,
            d]`` or ``None``.
        """
        if self.cache is None:
            output = forecast_horizon(self.teacher, inputs, self.horizon)
        elif window_ids is None:
            raise RuntimeError(
                "the training batch carries no window ids, so cached teacher outputs cannot be "
                "matched to it; do not replace the data loader's collate_fn, or use "
                "teacher_cache='online'."
            )
        else:
            output = self.cache[window_ids]
        return TeacherOutput(
            output.prediction.to(inputs.device, inputs.dtype),
            None if output.features is None else output.features.to(inputs.device, inputs.dtype),
        )

    def close(self) -> None:
        """Release the cached outputs (and their temporary file, if any)."""
        if self.cache is not None:
            self.cache.close()
            self.cache = None


class Distillation:
    """A student's teacher through every fit of the student, shared by the student's copies.

    Parameters
    ----------
    teacher
        The wrapped teacher (see :func:`~tsdistill_plugin.as_teacher`), or ``None`` for a
        student trained without one.
    alpha, beta, temperature, levels
        Weights and settings of the :class:`~tsdistill_plugin.core.DistillationLoss`.
    refit
        Fit a fresh, unfitted copy of the teacher on every fit of the student (each training
        slice of a retraining backtest or ``cross_validation``), instead of fitting it once.
    cache
        Where the teacher's outputs for the training windows live: one of :data:`CACHE_MODES`.

    Notes
    -----
    Deep copies (the libraries copy models to retrain or to fit them) return the same object,
    so every copy shares the teacher; pickling (saving the student) keeps no teacher, so a saved
    student loads without the teacher's library.

    The look-ahead policy: a teacher fitted by the student has seen that fit's training data;
    a later fit on data ending earlier is warned about. A teacher fitted by the user has seen
    unknown data: a fit that holds rows out, or any fit on other data than the first, is warned
    about. ``refit=True`` never warns.
    """

    def __init__(
        self,
        teacher: Teacher | None,
        alpha: float = 1.0,
        beta: float = 1.0,
        temperature: float = 0.5,
        levels: int = 3,
        refit: bool = False,
        cache: CacheMode = "auto",
    ) -> None:
        if cache not in CACHE_MODES:
            raise ValueError(f"teacher_cache must be one of {CACHE_MODES}, got {cache!r}.")
        if refit and teacher is not None and not isinstance(teacher, RefittableTeacher):
            raise ValueError(
                f"refit_teacher=True needs a teacher that can be fitted afresh (a Darts or "
                f"NeuralForecast model), got {type(teacher).__name__}; pass refit_teacher=False."
            )
        self.teacher = teacher
        self.loss_fn = DistillationLoss(alpha, beta, temperature, levels)
        self.refit = refit
        self.cache = cache
        self._fitted_on: tuple | None = None
        self._first_ends: tuple | None = None

    def __deepcopy__(self, memo: dict) -> Distillation:
        return self

    def __getstate__(self) -> dict:
        loss = self.loss_fn
        settings = (loss.alpha, loss.beta, loss.temperature, loss.levels, self.refit, self.cache)
        return {"settings": settings}

    def __setstate__(self, state: dict) -> None:
        self.__init__(None, *state["settings"])

    @property
    def active(self) -> bool:
        """Whether the student learns from a teacher (one is set and a weight is positive)."""
        return self.teacher is not None and (self.loss_fn.alpha > 0 or self.loss_fn.beta > 0)

    # -- lengths and compatibility ---------------------------------------------------------

    def lengths(
        self, input_len: int | None, horizon: int | None, names: tuple[str, str]
    ) -> tuple[int, int]:
        """The student's lookback and horizon: the given ones, else the teacher's.

        A teacher without lengths of its own (:class:`AdaptiveTeacher`) takes the student's.

        Parameters
        ----------
        input_len, horizon
            What the user passed (``None``: take the teacher's).
        names
            The library's names of the two arguments, for messages.

        Raises
        ------
        ValueError
            When a length is missing or not a positive integer, or the student's lookback is
            shorter than the teacher's.
        """
        teacher = self.teacher
        resolved = []
        for name, value, own in zip(
            names, (input_len, horizon), ("input_len", "horizon"), strict=True
        ):
            if value is None and teacher is not None:
                value = getattr(teacher, own)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                source = "no teacher" if teacher is None else "the teacher does not define it"
                raise ValueError(
                    f"{name} must be a positive integer, got {value!r} ({source}); pass "
                    f"{name}=<int>."
                )
            resolved.append(value)
        lookback, steps = resolved
        self.loss_fn.check_length(steps, names[1])
        if isinstance(teacher, AdaptiveTeacher):
            teacher.bind(lookback, steps)
        if teacher is not None:
            self._check_lengths(teacher, lookback, steps, names)
        return lookback, steps

    @staticmethod
    def _check_lengths(teacher: Teacher, lookback: int, steps: int, names: tuple[str, str]) -> None:
        if teacher.input_len is not None and teacher.input_len > lookback:
            raise ValueError(
                f"the teacher reads {teacher.input_len} steps but the student's {names[0]} is "
                f"{lookback}; give the student {names[0]} >= {teacher.input_len} (or leave it "
                "None to take the teacher's)."
            )
        if teacher.horizon is not None and teacher.horizon < steps:
            logger.info(
                "The teacher forecasts %d steps, fewer than the student's %s=%d: its forecasts "
                "are rolled out autoregressively.",
                teacher.horizon,
                names[1],
                steps,
            )

    def check_channels(self, n_channels: int, hint: str | None = None) -> None:
        """Refuse a teacher built for another number of channels than the student's windows.

        Parameters
        ----------
        n_channels
            Channels of one student window.
        hint
            The library's own way to fix a mismatch, appended to the message.
        """
        expected = None if self.teacher is None else self.teacher.n_channels
        if expected is None or expected == n_channels:
            return
        fix = hint or (
            f"pass a teacher built for (or fitted on) {n_channels} channels, or an unfitted "
            "one for the student to fit on its data"
        )
        raise ValueError(
            f"the teacher forecasts {expected} channels together but the student's windows have "
            f"{n_channels}; {fix}."
        )

    # -- fitting -----------------------------------------------------------------------------

    def prepare(
        self,
        data: TrainingData,
        input_len: int,
        horizon: int,
        n_channels: int,
        hint: str | None = None,
    ) -> None:
        """Get the teacher ready for one fit of the student on ``data``.

        An unfitted teacher (with ``refit``, a fresh copy) is fitted on exactly the student's
        training data; a fitted one is checked, and the look-ahead policy applied (see the
        class notes).

        Parameters
        ----------
        data
            What the student is fitted on.
        input_len, horizon, n_channels
            The student's lookback, horizon and channels per window.
        hint
            See :meth:`check_channels`.
        """
        teacher = self.teacher
        if teacher is None:
            return
        if self.refit:
            teacher = teacher.untrained()
        if isinstance(teacher, AdaptiveTeacher):
            teacher.bind(input_len, horizon)
        self._check_lengths(teacher, input_len, horizon, ("lookback", "horizon"))
        self.teacher = teacher
        self.check_channels(n_channels, hint)  # what is known before fitting
        if isinstance(teacher, FittableTeacher) and not teacher.is_fitted:
            logger.info("Fitting the teacher %r on the student's training data.", teacher)
            teacher.fit(data.frames(), data.val_frames())
            self._fitted_on = None if self.refit else data.ends
            self.check_channels(n_channels, hint)
            self._check_lengths(teacher, input_len, horizon, ("lookback", "horizon"))
            return
        if not self.refit:
            self._warn_look_ahead(data)

    def _warn_look_ahead(self, data: TrainingData) -> None:
        if self._fitted_on is not None:
            seen, ends = self._fitted_on, data.ends
            leaks = len(seen) != len(ends) or any(
                type(s) is type(e) and e < s for s, e in zip(seen, ends, strict=True)
            )
            fitted_by = "by an earlier fit of the student"
        else:
            if self._first_ends is None:
                self._first_ends = data.ends
            leaks = data.holds_out or data.ends != self._first_ends
            fitted_by = "before the student"
        if leaks:
            warnings.warn(
                f"the teacher was fitted {fitted_by} on data that may reach past the end of this "
                "training slice (as in a retraining backtest or cross_validation with a teacher "
                "fitted on the whole series): its forecasts can leak the slice's future into the "
                "student. Pass refit_teacher=True to fit a fresh teacher on each training slice.",
                UserWarning,
                stacklevel=2,
            )

    # -- training ----------------------------------------------------------------------------

    def targets(
        self,
        windows: Sequence,
        horizon: int,
        dtype: torch.dtype,
        progress: bool = False,
        storage: CacheMode | None = None,
    ) -> TeacherTargets | None:
        """The teacher's outputs for one training run, or ``None`` without distillation.

        Parameters
        ----------
        windows
            The training input windows ``[input_len, channels]``, indexed by window id.
        horizon
            The student's horizon.
        dtype
            Dtype of the stored outputs.
        progress
            Show a progress bar while the cache is filled.
        storage
            Overrides the student's ``teacher_cache`` (``"online"`` where the library cannot
            identify the windows; ``windows`` then holds one window, for the feature width).
        """
        if not self.active:
            return None
        if isinstance(self.teacher, FittableTeacher) and not self.teacher.is_fitted:
            raise ValueError(
                "the teacher is not fitted; fit the student with its library's fit (which fits "
                "the teacher), or pass a fitted teacher."
            )
        teacher = self.teacher if self.loss_fn.beta > 0 else _PredictionsOnly(self.teacher)
        targets = TeacherTargets(teacher, windows, horizon, storage or self.cache, dtype, progress)
        if self.loss_fn.beta > 0 and targets.feature_size is None:
            warnings.warn(
                f"the teacher {self.teacher!r} gives no hidden features, so the feature-level "
                f"terms (beta={self.loss_fn.beta}) are skipped; name a layer with "
                "teacher_feature_layer to use them, or set beta=0 to silence this.",
                UserWarning,
                stacklevel=2,
            )
        return targets

    @staticmethod
    def regressor(targets: TeacherTargets | None, student_width: int) -> FeatureRegressor | None:
        """A new feature regressor from the teacher's feature width to the student's, or
        ``None`` when there are no feature-level terms."""
        if targets is None or targets.feature_size is None:
            return None
        return FeatureRegressor(targets.feature_size, student_width)

    def loss(
        self,
        prediction: Tensor,
        supervised: Tensor,
        teacher: TeacherOutput | None,
        features: Tensor | None = None,
        regressor: FeatureRegressor | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """The training step's loss and its named terms.

        Parameters
        ----------
        prediction
            The student's forecast ``[batch, horizon, channels]``, in the same space as the
            teacher's.
        supervised
            The supervised loss the library computed (its own loss function and weights).
        teacher
            The teacher's outputs for the batch (:meth:`TeacherTargets.get`), or ``None``.
        features
            The student's features ``[batch, channels, hidden]``.
        regressor
            The feature regressor (:meth:`regressor`), or ``None`` for no feature-level terms.

        Returns
        -------
        tuple[Tensor, dict[str, Tensor]]
            The total and every term of :data:`~tsdistill_plugin.core.TERM_NAMES`.
        """
        use_features = teacher is not None and teacher.features is not None and regressor
        return self.loss_fn(
            prediction,
            supervised=supervised,
            teacher_prediction=None if teacher is None else teacher.prediction,
            features=features if use_features else None,
            teacher_features=regressor(teacher.features) if use_features else None,
        )
