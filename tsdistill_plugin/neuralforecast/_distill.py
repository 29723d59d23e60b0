"""What the NeuralForecast students need around their teacher during ``fit``.

- :class:`TeacherRef` holds the teacher, is shared (not copied) by NeuralForecast's deep
  copies, fits an unfitted teacher on the student's training data and warns about look-ahead.
- :class:`Distiller` gives the teacher's outputs for the windows NeuralForecast samples in a
  training step: read back from a :class:`~tsdistill_plugin.core.TeacherCache` by window
  position and series, or computed online.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from neuralforecast.tsdataset import TimeSeriesDataset
from torch import Tensor

from ..core.cache import TeacherCache
from ..core.teacher import FittableTeacher, Teacher, TeacherOutput, forecast_horizon
from ..teachers import as_teacher
from .teacher import NeuralForecastTeacher

logger = logging.getLogger(__name__)


class TeacherRef:
    """The student's teacher, shared by every deep copy of the student.

    Parameters
    ----------
    teacher
        Anything :func:`~tsdistill_plugin.teachers.as_teacher` accepts.
    feature_layer
        Passed on to ``as_teacher``.
    """

    def __init__(self, teacher: object, feature_layer: str | None) -> None:
        self.teacher: Teacher = as_teacher(teacher, feature_layer=feature_layer)
        self.train_sizes: np.ndarray | None = None
        """Training length of each series when the student fitted the teacher, else None."""

    @classmethod
    def wrap(cls, teacher: object, feature_layer: str | None) -> TeacherRef | None:
        """``teacher`` in a ref (``None`` and refs are returned as they are)."""
        if teacher is None or isinstance(teacher, cls):
            return teacher
        return cls(teacher, feature_layer)

    def __deepcopy__(self, memo: dict) -> TeacherRef:
        return self

    @property
    def fittable(self) -> bool:
        return isinstance(self.teacher, FittableTeacher)

    def prepare(
        self,
        dataset: TimeSeriesDataset,
        val_size: int,
        test_size: int,
        multivariate: bool,
        refit: bool,
        first_sizes: np.ndarray | None,
    ) -> np.ndarray | None:
        """Fit the teacher on the student's training data when needed; warn about look-ahead.

        The teacher is fitted when it is unfitted, or afresh when ``refit`` is set. A teacher
        fitted beforehand may have seen the data after this fit's training cutoff, and a
        ``UserWarning`` says so: when the student fitted it on longer series, or when the user
        did and the student is now fitted with held-out test rows (``cross_validation``) or on
        series of other lengths than at its first fit (``cross_validation(refit=...)``).

        Returns
        -------
        numpy.ndarray or None
            The training length of each series (``None`` for file or spark data).
        """
        if not isinstance(dataset, TimeSeriesDataset):
            if self.fittable and (refit or not self.teacher.is_fitted):
                raise ValueError(
                    f"the student can fit its teacher only on an in-memory DataFrame, but the "
                    f"data comes as {type(dataset).__name__} (files or spark); fit the teacher "
                    "yourself first and pass refit_teacher=False."
                )
            return None
        sizes = np.diff(dataset.indptr) - val_size - test_size
        if self.fittable and (refit or not self.teacher.is_fitted):
            if refit and self.teacher.is_fitted:
                self.teacher = self.teacher.untrained()
            self._fit(dataset, val_size, test_size, multivariate)
            self.train_sizes = sizes
            return sizes
        if self.train_sizes is not None:
            seen_more = sizes.shape != self.train_sizes.shape or bool(
                np.any(self.train_sizes > sizes)
            )
        else:
            refitting = first_sizes is not None and not np.array_equal(first_sizes, sizes)
            seen_more = test_size > 0 or refitting
        if seen_more:
            warnings.warn(
                "the teacher was fitted before this training run"
                + (" on longer series" if self.train_sizes is not None else "")
                + ", so it may have seen the data after the student's training cutoff (for "
                "example a teacher fitted on the full df, used in cross_validation): its "
                "forecasts leak the future into the student. Pass refit_teacher=True to refit "
                "the teacher on each training window.",
                UserWarning,
                stacklevel=4,
            )
        return sizes

    def _fit(
        self, dataset: TimeSeriesDataset, val_size: int, test_size: int, multivariate: bool
    ) -> None:
        name = type(getattr(self.teacher, "model", self.teacher)).__name__
        logger.info("Fitting the %s teacher on the student's training data.", name)
        if isinstance(self.teacher, NeuralForecastTeacher):
            self.teacher.fit_dataset(dataset, val_size=val_size, test_size=test_size)
            return
        lookback = self.teacher.input_len or 0
        series, val_series = [], []
        for values in _series_values(dataset):
            train_end = len(values) - val_size - test_size
            series.append(values[:train_end])
            if val_size:
                val_series.append(values[max(train_end - lookback, 0) : train_end + val_size])
        if multivariate:
            series = [np.stack(series, axis=1)]
            val_series = [np.stack(val_series, axis=1)] if val_size else []
        to_frame = _frame
        self.teacher.fit([to_frame(v) for v in series], [to_frame(v) for v in val_series] or None)


def _fingerprint(values: np.ndarray) -> bytes:
    """A 128-bit digest of a series' exact values (how a batch's series are recognised)."""
    return hashlib.blake2b(np.ascontiguousarray(values).tobytes(), digest_size=16).digest()


def _series_values(dataset: TimeSeriesDataset) -> list[np.ndarray]:
    y = dataset.temporal[:, dataset.y_idx].numpy()
    return [y[a:b] for a, b in zip(dataset.indptr[:-1], dataset.indptr[1:], strict=True)]


def _frame(values: np.ndarray) -> pd.DataFrame:
    """A frame with a RangeIndex (the student's dataset carries no timestamps)."""
    return pd.DataFrame(values.reshape(len(values), -1))


class _RowWindows(Sequence):
    """Input windows ``[L, 1]`` ending at given rows of the stacked target (zeros before a
    series starts, as NeuralForecast pads)."""

    def __init__(self, y: np.ndarray, rows: np.ndarray, starts: np.ndarray, length: int) -> None:
        self.y, self.rows, self.starts, self.length = y, rows, starts, length

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> np.ndarray:
        end = self.rows[i] + 1
        begin = max(end - self.length, self.starts[i])
        window = np.zeros((self.length, 1), dtype=np.float32)
        window[self.length - (end - begin) :, 0] = self.y[begin:end]
        return window


class _PositionWindows(Sequence):
    """Input windows ``[L, n_series]`` of the left-padded target matrix ``[time, n_series]``."""

    def __init__(self, matrix: np.ndarray, n_positions: int, length: int) -> None:
        self.matrix = np.concatenate([np.zeros((length - 1, matrix.shape[1]), np.float32), matrix])
        self.n_positions, self.length = n_positions, length

    def __len__(self) -> int:
        return self.n_positions

    def __getitem__(self, position: int) -> np.ndarray:
        return self.matrix[position : position + self.length]


class Distiller:
    """Teacher outputs for the windows of a NeuralForecast training step.

    NeuralForecast samples a step's windows as indices into all windows of the step's batch of
    series (``BaseModel._sample_windows``'s ``final_condition[w_idxs]``). An index gives the
    window's position in time; the series are recognised by their content (the loader
    shuffles them). Together they pick the window's output from a
    :class:`~tsdistill_plugin.core.TeacherCache` computed once, before training, for every
    training window.

    Parameters
    ----------
    teacher
        The fitted teacher.
    dataset
        The student's training dataset.
    model
        The student (its ``input_size``, ``h``, ``step_size``, ``start_padding_enabled`` and
        ``MULTIVARIATE`` define the windows).
    val_size, test_size
        The tails NeuralForecast keeps out of training.
    progress
        Show a progress bar while the cache is computed.

    Attributes
    ----------
    cache
        The :class:`TeacherCache`, or ``None`` when the teacher runs online (the reason is
        logged).
    """

    def __init__(
        self,
        teacher: Teacher,
        dataset: object,
        model: object,
        val_size: int,
        test_size: int,
        progress: bool,
    ) -> None:
        self.teacher, self.input_size, self.h = teacher, model.input_size, model.h
        self.multivariate = model.MULTIVARIATE
        self.step_size = model.step_size
        self.left_pad = model.input_size - 1 if model.start_padding_enabled else 0
        self.cache: TeacherCache | None = None
        if not isinstance(dataset, TimeSeriesDataset):
            logger.info(
                "Teacher outputs are computed online, every step: the training data comes as "
                "%s (files or distributed), whose windows cannot be mapped to cached outputs.",
                type(dataset).__name__,
            )
            return
        y = dataset.temporal[:, dataset.y_idx].numpy()
        self.indptr = dataset.indptr
        sizes = np.diff(self.indptr)
        self.pad = dataset.max_size - sizes
        self._ids: dict[bytes, list[int]] = {}
        for i in range(len(sizes)):
            row = dataset[i]["temporal"][dataset.y_idx].numpy()
            self._ids.setdefault(_fingerprint(row), []).append(i)
        train_sizes = sizes - val_size - test_size
        if self.multivariate:
            matrix = np.zeros((dataset.max_size, len(sizes)), np.float32)
            for i, (a, b) in enumerate(zip(self.indptr[:-1], self.indptr[1:], strict=True)):
                matrix[dataset.max_size - (b - a) :, i] = y[a:b]
            n_positions = dataset.max_size - val_size - test_size
            windows: Sequence = _PositionWindows(matrix, n_positions, self.input_size)
        else:
            series_of_row = np.repeat(np.arange(len(sizes)), sizes)
            offsets = np.arange(len(y)) - self.indptr[:-1][series_of_row]
            rows = np.flatnonzero(offsets < train_sizes[series_of_row])
            self.slot_of_row = np.full(len(y), -1, dtype=np.int64)
            self.slot_of_row[rows] = np.arange(len(rows))
            starts = self.indptr[:-1][series_of_row[rows]]
            windows = _RowWindows(y, rows, starts, self.input_size)
        self.cache = TeacherCache(teacher, windows, self.h, progress=progress)

    @property
    def feature_size(self) -> int | None:
        """Width ``d`` of the teacher's features, or ``None`` without features."""
        if self.cache is not None:
            return None if self.cache.features is None else int(self.cache.features.shape[-1])
        channels = self.teacher.n_channels or 1
        probe = torch.zeros(1, self.teacher.input_len, channels)
        features = self.teacher.forecast(probe).features
        return None if features is None else int(features.shape[-1])

    def batch_series(self, y: Tensor) -> np.ndarray | None:
        """Dataset index of each series of a batch, from its values ``[series, time]``.

        Identical series get distinct indices in order, so a batch maps one-to-one.
        """
        if self.cache is None:
            return None
        taken: dict[bytes, int] = {}
        ids = []
        for row in y.detach().cpu().numpy():
            key = _fingerprint(row)
            candidates = self._ids[key]
            ids.append(candidates[taken.get(key, 0) % len(candidates)])
            taken[key] = taken.get(key, 0) + 1
        return np.asarray(ids)

    def outputs(
        self,
        insample: Tensor,
        window_index: Tensor,
        windows_per_series: int,
        batch_series: np.ndarray | None,
    ) -> TeacherOutput:
        """The teacher's outputs for sampled windows, in the batch's series order.

        Parameters
        ----------
        insample
            The windows' raw input ``[windows, input_size, series]``.
        window_index
            Each window's index among all windows of the batch (``final_condition[w_idxs]``).
        windows_per_series
            Windows per series in that enumeration (univariate students).
        batch_series
            :meth:`batch_series` of the batch, or ``None`` (online).

        Returns
        -------
        TeacherOutput
            ``prediction`` ``[windows, h, series]`` and ``features`` ``[windows, series, d]``
            or ``None``, on ``insample``'s device.
        """
        if self.cache is None or batch_series is None:
            return forecast_horizon(self.teacher, insample, self.h)
        index = window_index.cpu().numpy()
        start = index if self.multivariate else index % windows_per_series
        # last input step of each window, in the dataset's left-padded time axis
        position = start * self.step_size + self.input_size - 1 - self.left_pad
        if self.multivariate:
            output = self.cache[position]
            output = TeacherOutput(
                output.prediction[:, :, batch_series],
                None if output.features is None else output.features[:, batch_series],
            )
        else:
            series = batch_series[index // windows_per_series]
            rows = self.indptr[:-1][series] + position - self.pad[series]
            output = self.cache[self.slot_of_row[rows]]
        device = insample.device
        return TeacherOutput(
            output.prediction.to(device),
            None if output.features is None else output.features.to(device),
        )

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
