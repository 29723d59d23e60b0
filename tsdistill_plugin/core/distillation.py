"""The teacher's side of one student, through all of the student's fits, for both libraries.

:class:`Distillation` is what the Darts and NeuralForecast students hold: the teacher, shared by
every copy the libraries make of the student and never saved with it. It settles the student's
lengths from the teacher's, checks that the teacher can teach the student, fits it (or a fresh
copy, with ``refit``) on exactly the data the student is fitted on, warns once the teacher may
have seen the future of a training slice, and begins each training run (:class:`TrainingRun`:
the teacher's outputs per window, the feature regressor and the training step's loss). The
integrations only say how their library's windows are identified and where the loss
enters their training step.
"""

from __future__ import annotations

import hashlib
import logging
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from .cache import TeacherCache
from .checks import check_int
from .losses import DistillationLoss, QuantileDistillationLoss
from .quantiles import log_interpolation
from .teacher import (
    AdaptiveTeacher,
    FeatureRegressor,
    FittableTeacher,
    KeepsOutputs,
    RefittableTeacher,
    Teacher,
    TeacherOutput,
    forecast_horizon,
    gives_quantiles,
)

logger = logging.getLogger(__name__)

CacheMode = Literal["auto", "memory", "disk", "online"]
CACHE_MODES: tuple[str, ...] = ("auto", "memory", "disk", "online")
REFERENCE_LEVELS = 3
"""The reference's average-pooling rounds of the multi-scale terms."""
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
    digest
        A digest of every training value (see :func:`data_digest`), or ``None``.
    covariates
        Builds the covariates of the training (and validation) series in the library's own
        form, as keyword arguments of the teacher adapter's ``fit``; ``None`` without
        covariates.
    """

    ends: tuple
    frames: Callable[[], list[pd.DataFrame]]
    val_frames: Callable[[], list[pd.DataFrame] | None]
    holds_out: bool = False
    digest: str | None = None
    covariates: Callable[[], dict[str, Any]] | None = None


def provenance(teacher: Teacher | None, digest: str | None, **extra: object) -> dict[str, object]:
    """What a fitted student records about its training and saves with itself.

    It becomes the exported file's metadata: its teacher, a digest of its training data, the
    plugin version, and ``extra`` (component names, frequency, where the library knows them).
    """
    from .. import __version__

    return {
        "teacher": "none (trained without distillation)" if teacher is None else repr(teacher),
        "data_digest": digest,
        "plugin_version": __version__,
        **extra,
    }


def data_digest(arrays: Sequence[np.ndarray]) -> str:
    """A hex digest of the exact values (and shapes) of some arrays.

    It identifies the data a student was fitted on (the teacher cache's key; the exported
    file's metadata).
    """
    digest = hashlib.blake2b(digest_size=16)
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(str((array.shape, array.dtype.str)).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


class TargetBatch(NamedTuple):
    """The teacher's outputs for the rows of a training batch that have them.

    Attributes
    ----------
    prediction
        ``[rows, horizon, channels]``, or ``[rows, horizon, channels, quantiles]`` from a
        teacher that forecasts a probabilistic student's quantiles.
    features
        ``[rows, channels, d]``, or ``None``.
    rows
        The batch rows they belong to ``[rows]``, or ``None`` for every row in order.
    """

    prediction: Tensor
    features: Tensor | None
    rows: Tensor | None


class _Strided(Sequence):
    """Every ``stride``-th window of a sequence of windows.

    Slices pass through, strided, as :class:`~tsdistill_plugin.core.TeacherCache` reads them.
    """

    def __init__(self, items: Sequence, stride: int) -> None:
        self.items, self.stride = items, stride

    def __len__(self) -> int:
        return math.ceil(len(self.items) / self.stride)

    def __getitem__(self, i: int | slice) -> object:
        if isinstance(i, slice):
            start, stop, step = i.indices(len(self))
            if start >= stop:
                return self.items[0:0]
            return self.items[
                start * self.stride : (stop - 1) * self.stride + 1 : step * self.stride
            ]
        return self.items[i * self.stride]


class TeacherTargets:
    """The teacher's outputs for the windows of one training run.

    Computed once for every ``stride``-th training window and read back by window id
    (``storage`` "auto", "memory" or "disk", see :class:`~tsdistill_plugin.core.TeacherCache`),
    or computed on each batch's inputs (``"online"``, as the reference does).

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
    stride
        Distil from the windows whose id is a multiple of ``stride`` only.
    probe
        The teacher's output for ``windows[0]``, when already computed (online, it gives the
        feature width).
    forecasts
        The teacher's forecasts ``[n_windows, horizon, channels]`` of the windows, computed by
        its library (a teacher that reads covariates); they are kept in memory as they are and
        the teacher is not run. A window whose forecast holds NaN (its library cannot forecast
        it: its future covariates end too soon) is distilled from by no batch.
    quantiles
        A probabilistic student's levels: a teacher that forecasts quantiles gives them
        (see :func:`~tsdistill_plugin.core.forecast_horizon`).

    Attributes
    ----------
    cache
        The :class:`~tsdistill_plugin.core.TeacherCache`, or ``None`` online.
    feature_size
        Width ``d`` of the teacher's features, or ``None`` without features.
    use_features
        Whether :meth:`get` returns the features (set per training run: the same outputs serve
        runs with and without feature-level terms).
    """

    def __init__(
        self,
        teacher: Teacher,
        windows: Sequence,
        horizon: int,
        storage: CacheMode,
        dtype: torch.dtype,
        progress: bool,
        stride: int = 1,
        probe: TeacherOutput | None = None,
        forecasts: Tensor | None = None,
        quantiles: tuple[float, ...] | None = None,
    ) -> None:
        self.use_features = True
        self.teacher = teacher
        self.horizon = horizon
        self.stride = stride
        self.quantiles = quantiles
        self.cache: TeacherCache | _Forecasts | None = None
        if forecasts is not None:
            self.cache = _Forecasts(forecasts[::stride].to(dtype))
            features = None
        elif storage == "online":
            logger.info("teacher_cache='online': the teacher runs on every training batch.")
            features = (probe or _probe(teacher, windows, horizon, dtype, quantiles)).features
        else:
            self.cache = TeacherCache(
                teacher,
                windows if stride == 1 else _Strided(windows, stride),
                horizon,
                batch_size=TEACHER_BATCH_SIZE,
                storage=storage,
                dtype=dtype,
                progress=progress,
                quantiles=quantiles,
            )
            features = self.cache.features
        self.feature_size = None if features is None else int(features.shape[-1])

    def __getstate__(self) -> dict:
        """Pickle (to the processes of a ``ddp_spawn`` run) without the teacher when cached.

        The workers read the cached outputs and never run the teacher.
        """
        return {**self.__dict__, "teacher": None if self.cache is not None else self.teacher}

    def get(self, window_ids: Tensor | np.ndarray | None, inputs: Tensor) -> TargetBatch | None:
        """The teacher's outputs for one batch, on the device and with the dtype of ``inputs``.

        Parameters
        ----------
        window_ids
            The batch's window ids ``[batch]`` (the positions in ``windows``); online without a
            stride they may be ``None``.
        inputs
            The batch's input windows ``[batch, input_len, channels]``.

        Returns
        -------
        TargetBatch or None
            The outputs of the rows whose window is distilled from, or ``None`` when no row's
            is.
        """
        rows = None
        if window_ids is not None and self.stride > 1:
            ids = torch.as_tensor(window_ids).cpu()
            rows = torch.nonzero(ids % self.stride == 0).squeeze(-1)
            if len(rows) == 0:
                return None
            window_ids = ids[rows] // self.stride
            inputs = inputs[rows.to(inputs.device)]
        if self.cache is None:
            output = forecast_horizon(self.teacher, inputs, self.horizon, self.quantiles)
        elif window_ids is None:
            raise RuntimeError(
                "the training batch carries no window ids, so cached teacher outputs cannot be "
                "matched to it; do not replace the data loader's collate_fn, or use "
                "teacher_cache='online'."
            )
        else:
            output = self.cache[window_ids]
            if isinstance(self.cache, _Forecasts):  # NaN: a window its library cannot forecast
                known = ~torch.isnan(output.prediction).flatten(1).any(dim=1)
                if not bool(known.all()):
                    kept = torch.nonzero(known).squeeze(-1)
                    if len(kept) == 0:
                        return None
                    rows = kept if rows is None else rows[kept]
                    output = TeacherOutput(output.prediction[kept], None)
        features = output.features if self.use_features else None
        return TargetBatch(
            output.prediction.to(inputs.device, inputs.dtype),
            None if features is None else features.to(inputs.device, inputs.dtype),
            None if rows is None else rows.to(inputs.device),
        )

    def close(self) -> None:
        """Release the cached outputs (and their temporary file, if any)."""
        if self.cache is not None:
            self.cache.close()
            self.cache = None


class _Forecasts:
    """Forecasts ``[n_windows, horizon, channels]`` computed beforehand, read as a cache is."""

    features = None

    def __init__(self, predictions: Tensor) -> None:
        self.predictions = predictions

    def __getitem__(self, index: Tensor | np.ndarray) -> TeacherOutput:
        return TeacherOutput(self.predictions[torch.as_tensor(index, dtype=torch.int64)], None)

    def close(self) -> None:
        self.predictions = None


def _probe(
    teacher: Teacher,
    windows: Sequence,
    horizon: int,
    dtype: torch.dtype,
    quantiles: tuple[float, ...] | None = None,
) -> TeacherOutput:
    """The teacher's output for the first window."""
    return forecast_horizon(
        teacher, torch.tensor(np.asarray(windows[0]), dtype=dtype)[None], horizon, quantiles
    )


def _windows_digest(windows: Sequence, samples: int = 32) -> bytes:
    """A digest of the number of windows and a spread of them.

    The data's own digest, from :class:`TrainingData`, covers every value.
    """
    digest = hashlib.blake2b(str(len(windows)).encode(), digest_size=16)
    for i in np.linspace(0, len(windows) - 1, min(samples, len(windows))).astype(int):
        digest.update(np.ascontiguousarray(windows[int(i)]).tobytes())
    return digest.digest()


def _fit_teacher(teacher: FittableTeacher, data: TrainingData) -> None:
    """Fit ``teacher`` on the student's training data.

    The teacher's own error (its library's, which does not know that a student asked) comes
    back saying which model failed and how to go on.
    """
    covariates = {} if data.covariates is None else data.covariates()
    try:
        teacher.fit(data.frames(), data.val_frames(), **covariates)
    except Exception as error:
        raise ValueError(
            f"the teacher {teacher!r} could not be fitted on the student's training data: "
            f"{type(error).__name__}: {error} Pass a teacher that can be fitted on this data "
            "(shorter lengths, or longer series), or fit it yourself and pass it fitted."
        ) from error


class Distillation:
    """A student's teacher through every fit of the student, shared by the student's copies.

    Parameters
    ----------
    teacher
        The wrapped teacher (see :func:`~tsdistill_plugin.as_teacher`), or ``None`` for a
        student trained without one.
    alpha, beta, temperature, levels, period_weight
        Weights and settings of the :class:`~tsdistill_plugin.core.DistillationLoss`;
        ``levels=None``: the reference's :data:`REFERENCE_LEVELS`, or as many as the student's
        horizon allows (see :meth:`lengths`).
    refit
        Fit a fresh, unfitted copy of the teacher on every fit of the student (each training
        slice of a retraining backtest or ``cross_validation``), instead of fitting it once.
    storage
        Where the teacher's outputs for the training windows live: one of :data:`CACHE_MODES`.
    stride
        Distil from every ``stride``-th training window only (the supervised loss still uses
        every window): a slow teacher (a foundation or local model) then forecasts ``stride``
        times fewer windows.
    quantiles
        A probabilistic student's quantile levels, or ``None`` for a point student: the loss
        is then a :class:`~tsdistill_plugin.core.QuantileDistillationLoss`, and a teacher that
        forecasts quantiles is asked for these levels.

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
        levels: int | None = None,
        refit: bool = False,
        storage: CacheMode = "auto",
        stride: int = 1,
        period_weight: float = 1.0,
        quantiles: tuple[float, ...] | None = None,
    ) -> None:
        if storage not in CACHE_MODES:
            raise ValueError(
                f"teacher_cache must be one of {CACHE_MODES}, got {storage!r}; pass one of them "
                "('auto' picks memory or disk by size)."
            )
        check_int("teacher_stride", stride, fix="pass an integer >= 1 (1: every window)")
        if refit and teacher is not None and not isinstance(teacher, RefittableTeacher):
            raise ValueError(
                f"refit_teacher=True needs a teacher that can be fitted afresh (a Darts or "
                f"NeuralForecast model), got {type(teacher).__name__}; pass refit_teacher=False."
            )
        self.teacher = teacher
        self.auto_levels = levels is None
        levels = REFERENCE_LEVELS if levels is None else levels
        settings = {"alpha": alpha, "beta": beta, "temperature": temperature, "levels": levels}
        if quantiles is None:
            self.loss_fn = DistillationLoss(**settings, period_weight=period_weight)
        else:
            self.loss_fn = QuantileDistillationLoss(
                quantiles, **settings, period_weight=period_weight
            )
        self.quantiles = None if quantiles is None else self.loss_fn.quantiles
        self.refit = refit
        self.storage = storage
        self.stride = stride
        self.data_digest: str | None = None
        self._fitted_on: tuple | None = None
        self._first_ends: tuple | None = None

    def __deepcopy__(self, memo: dict) -> Distillation:
        return self

    def __getstate__(self) -> dict:
        loss = self.loss_fn
        levels = None if self.auto_levels else loss.levels
        settings = (loss.alpha, loss.beta, loss.temperature, levels)
        state = {"settings": (*settings, self.refit, self.storage, self.stride, loss.period_weight)}
        if self.quantiles is not None:  # a point student's state stays as it was
            state["quantiles"] = self.quantiles
        return state

    def __setstate__(self, state: dict) -> None:
        self.__init__(None, *state["settings"], quantiles=state.get("quantiles"))

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
        if self.auto_levels:
            self._fit_levels(steps, names[1])
        self.loss_fn.check_length(steps, names[1])
        if isinstance(teacher, AdaptiveTeacher):
            teacher.bind(lookback, steps)
        if teacher is not None:
            self._check_lengths(teacher, lookback, steps, names)
        return lookback, steps

    def _fit_levels(self, horizon: int, name: str) -> None:
        """The reference's pooling levels, or as many as ``horizon`` allows (said at INFO)."""
        loss, levels = self.loss_fn, 0
        while levels < REFERENCE_LEVELS and loss.window ** (levels + 1) <= horizon:
            levels += 1
        if levels < REFERENCE_LEVELS:
            logger.info(
                "%s=%d allows %d pooling levels of the multi-scale terms (the reference's %d "
                "need %s >= %d): using %d; pass scale_levels to choose.",
                name,
                horizon,
                levels,
                REFERENCE_LEVELS,
                name,
                loss.window**REFERENCE_LEVELS,
                levels,
            )
        loss.levels = levels

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
        self.data_digest = data.digest
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
            _fit_teacher(teacher, data)
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

    def run(
        self,
        windows: Sequence,
        horizon: int,
        dtype: torch.dtype,
        student_width: int,
        progress: bool = False,
        identified: bool = True,
        forecasts: Tensor | None = None,
    ) -> TrainingRun:
        """Begin one training run of the student (use it as a context manager).

        Parameters
        ----------
        windows
            The training input windows ``[input_len, channels]``, indexed by window id.
        horizon
            The student's horizon.
        dtype
            Dtype of the teacher's stored outputs (the training data's).
        student_width
            The student's hidden width (the feature regressor's output).
        progress
            Show a progress bar while the teacher's outputs are computed.
        identified
            Whether the library identifies each training window (by its id); where it cannot,
            the teacher runs online on each batch and ``windows`` holds one window, for the
            feature width.
        forecasts
            The teacher's forecasts ``[n_windows, horizon, channels]`` of the windows, computed
            by its library with what the teacher reads besides the target window (its
            covariates); the teacher is then not run, and gives no features.

        Raises
        ------
        ValueError
            When the teacher is not fitted.
        """
        if not self.active:
            return TrainingRun(self.loss_fn, None)
        teacher = self.teacher
        if isinstance(teacher, FittableTeacher) and not teacher.is_fitted:
            raise ValueError(
                "the teacher is not fitted; fit the student with its library's fit (which fits "
                "the teacher), or pass a fitted teacher."
            )
        storage = self.storage if identified else "online"
        if forecasts is not None:
            if storage == "online":
                logger.info(
                    "The teacher reads covariates: its forecasts of the training windows are "
                    "computed once by its library and kept in memory (not online)."
                )
            storage, probe = "memory", TeacherOutput(forecasts[:1], None)
        else:
            if self.quantiles is not None and not gives_quantiles(teacher):
                logger.info(
                    "The teacher %r gives a point forecast: the student distils its median from "
                    "it and learns its other quantiles from the truth alone.",
                    teacher,
                )
            elif self.quantiles is not None and teacher.quantile_levels is not None:
                log_interpolation(
                    f"The teacher {teacher!r}", teacher.quantile_levels, self.quantiles
                )
            probe = _probe(teacher, windows, horizon, dtype, self.quantiles)
        key = None
        if self.data_digest is not None and storage != "online":
            # the teacher's forecast of one window stands for its state: a teacher refitted in
            # between gives another key
            state = (probe.prediction if forecasts is None else forecasts).numpy().tobytes()
            key = (
                hashlib.blake2b(state, digest_size=16).digest(),
                self.data_digest,
                _windows_digest(windows),
                (horizon, str(dtype), self.stride, storage, self.quantiles),
            )
        kept = getattr(teacher, "kept_outputs", None)  # see KeepsOutputs
        if key is not None and kept is not None and kept[0] == key:
            logger.info("Reusing the teacher outputs of the previous training run.")
            targets = kept[1]
        else:
            # the features come with the forecasts: they are kept even without feature-level
            # terms, so that the same outputs serve every run (a grid search over beta)
            targets = TeacherTargets(
                teacher,
                windows,
                horizon,
                storage,
                dtype,
                progress,
                self.stride,
                probe,
                forecasts,
                self.quantiles,
            )
        with_features = self.loss_fn.beta > 0
        targets.use_features = with_features
        if with_features and targets.feature_size is None:
            warnings.warn(
                f"the teacher {teacher!r} gives no hidden features, so the feature-level "
                f"terms (beta={self.loss_fn.beta}) are skipped; name a layer with "
                "teacher_feature_layer to use them, or set beta=0 to silence this.",
                UserWarning,
                stacklevel=3,
            )
        width = None
        if with_features and targets.feature_size is not None:
            width = (targets.feature_size, student_width)
        keeper = teacher if key is not None and isinstance(teacher, KeepsOutputs) else None
        return TrainingRun(self.loss_fn, targets, width, keeper, key)


class TrainingRun:
    """One training run of a student: the teacher's outputs, the feature regressor, the loss.

    Made by :meth:`Distillation.run`; the integrations say which windows a batch holds and
    where the loss enters their training step. On exit (or :meth:`close`), the teacher's
    outputs go back to the teacher adapter that computed them, for the next run on the same
    windows (a grid search or tuner fits many students with one teacher), replacing the ones it
    kept; outputs that no later run can reuse (online, or of unknown data) are released.

    Parameters
    ----------
    loss_fn
        The :class:`~tsdistill_plugin.core.DistillationLoss`.
    targets
        The teacher's outputs, or ``None`` for a run without distillation.
    regressor_width
        ``(teacher width, student width)`` of the feature regressor, or ``None`` without
        feature-level terms.
    keeper, key
        The teacher adapter that keeps the outputs after the run and what they depend on;
        ``None`` to release them.

    Examples
    --------
    >>> import torch
    >>> from tsdistill_plugin.core import Distillation, TorchTeacher
    >>> teacher = TorchTeacher(lambda x: x[:, -12:], input_len=48, horizon=12)
    >>> windows = torch.randn(100, 48, 3)
    >>> with Distillation(teacher, beta=0.0).run(windows, 12, torch.float32, 64) as run:
    ...     batch = run.targets.get(torch.arange(8), windows[:8])
    ...     total, terms = run.loss(torch.randn(8, 12, 3), torch.tensor(1.0), batch)
    >>> sorted(terms)
    ['feature_period', 'feature_scale', 'prediction_period', 'prediction_scale', 'supervised']
    """

    def __init__(
        self,
        loss_fn: DistillationLoss,
        targets: TeacherTargets | None,
        regressor_width: tuple[int, int] | None = None,
        keeper: KeepsOutputs | None = None,
        key: tuple | None = None,
    ) -> None:
        self.loss_fn, self.targets = loss_fn, targets
        self._width, self._regressor = regressor_width, None
        self._keeper, self._key = keeper, key

    @property
    def regressor(self) -> FeatureRegressor | None:
        """The feature regressor (``None`` without feature-level terms).

        A :class:`~tsdistill_plugin.core.FeatureRegressor` that trains with the student (the
        integration makes it a submodule of its Lightning module for the run) and is never
        saved. It is built when first asked for: Darts builds its Lightning module inside its
        own ``fit``, after its seeding, and the regressor's initialization then follows the
        student's there.
        """
        if self._regressor is None and self._width is not None:
            self._regressor = FeatureRegressor(*self._width)
        return self._regressor

    def __enter__(self) -> TrainingRun:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __getstate__(self) -> dict:
        """Pickle for the processes of a ``ddp_spawn`` run: they never keep the outputs."""
        return {**self.__dict__, "_keeper": None, "_key": None}

    def close(self) -> None:
        """End the run: hand the outputs to the teacher for the next run, or release them."""
        targets, self.targets, self._regressor, self._width = self.targets, None, None, None
        if targets is None:
            return
        keeper = self._keeper
        if keeper is None:
            targets.close()
            return
        if keeper.kept_outputs is not None and keeper.kept_outputs[1] is not targets:
            keeper.kept_outputs[1].close()
        keeper.kept_outputs = (self._key, targets)

    def loss(
        self,
        prediction: Tensor,
        supervised: Tensor,
        teacher: TargetBatch | None,
        features: Tensor | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """The training step's loss and its named terms.

        Parameters
        ----------
        prediction
            The student's forecast ``[batch, horizon, channels]`` (``[batch, horizon,
            channels, quantiles]`` for a probabilistic student), in the same space as the
            teacher's.
        supervised
            The supervised loss the library computed (its own loss function and weights).
        teacher
            The teacher's outputs for the batch (:meth:`TeacherTargets.get`; the terms are
            computed on the rows it has outputs for), or ``None``.
        features
            The student's features ``[batch, channels, hidden]``.

        Returns
        -------
        tuple[Tensor, dict[str, Tensor]]
            The total and every term of :data:`~tsdistill_plugin.core.TERM_NAMES`.
        """
        if teacher is not None and teacher.rows is not None:
            prediction = prediction[teacher.rows]
            features = None if features is None else features[teacher.rows]
        use_features = teacher is not None and teacher.features is not None and self.regressor
        return self.loss_fn(
            prediction,
            supervised=supervised,
            teacher_prediction=None if teacher is None else teacher.prediction,
            features=features if use_features else None,
            teacher_features=self.regressor(teacher.features) if use_features else None,
        )


def log_terms(
    module: nn.Module, total: Tensor, terms: dict[str, Tensor], batch_size: int, **options: Any
) -> None:
    """Log a training step's terms as ``train_<term>`` and the total as ``train_total``.

    ``module`` is the student's Lightning module; ``options`` are its library's own options of
    ``LightningModule.log``.
    """
    for name, value in (*terms.items(), ("total", total)):
        module.log(
            f"train_{name}", value.detach(), batch_size=batch_size, sync_dist=True, **options
        )
