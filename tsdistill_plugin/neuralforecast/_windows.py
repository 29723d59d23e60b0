"""How the NeuralForecast students identify their training windows.

They also hand their data to the lifecycle.

NeuralForecast samples a step's windows as indices into all windows of the step's batch of
series. An index gives the window's position in time; the series are recognised by their content
(the loader shuffles them). Together they give the window's id: its position in the list of
every training window, for which the teacher's outputs were cached once before training.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd
from neuralforecast.tsdataset import TimeSeriesDataset
from numpy.lib.stride_tricks import sliding_window_view
from torch import Tensor

from ..core.distillation import TrainingData, data_digest
from ._compat import SampledWindows


def _fingerprint(values: np.ndarray) -> bytes:
    """A 128-bit digest of a series' exact values (how a batch's series are recognised)."""
    return hashlib.blake2b(np.ascontiguousarray(values).tobytes(), digest_size=16).digest()


def _series_values(dataset: TimeSeriesDataset) -> list[np.ndarray]:
    y = dataset.temporal[:, dataset.y_idx].numpy()
    return [y[a:b] for a, b in zip(dataset.indptr[:-1], dataset.indptr[1:], strict=True)]


def training_data(
    dataset: TimeSeriesDataset, val_size: int, test_size: int, lookback: int, multivariate: bool
) -> TrainingData:
    """The student's training data as the lifecycle sees it.

    Each series' training length and frames with a RangeIndex (NeuralForecast's dataset keeps
    no timestamps).

    A multivariate student's series become the channels of one frame; a univariate student's
    are one frame each. Validation frames carry ``lookback`` steps before their ``val_size``.
    """
    sizes = np.diff(dataset.indptr) - val_size - test_size

    def frames(validation: bool) -> list[pd.DataFrame] | None:
        if validation and not val_size:
            return None
        parts = []
        for values, end in zip(_series_values(dataset), sizes, strict=True):
            start = max(end - lookback, 0) if validation else 0
            parts.append((start, values[start : end + (val_size if validation else 0)]))
        if multivariate:
            parts = [(parts[0][0], np.stack([values for _, values in parts], axis=1))]
        return [
            pd.DataFrame(
                values.reshape(len(values), -1), index=pd.RangeIndex(start, start + len(values))
            )
            for start, values in parts
        ]

    return TrainingData(
        ends=tuple(int(size) for size in sizes),
        frames=lambda: frames(validation=False),
        val_frames=lambda: frames(validation=True),
        holds_out=test_size > 0,
        digest=data_digest(
            [dataset.temporal[:, dataset.y_idx].numpy(), np.asarray(dataset.indptr), sizes]
        ),
    )


class _RowWindows(Sequence):
    """Input windows ``[L, 1]`` ending at given rows of the stacked target.

    Zeros before a series starts, as NeuralForecast pads; a slice gives them stacked,
    ``[n, L, 1]``.
    """

    def __init__(self, y: np.ndarray, rows: np.ndarray, starts: np.ndarray, length: int) -> None:
        self.y, self.rows, self.starts, self.length = y, rows, starts, length

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int | slice) -> np.ndarray:
        single = not isinstance(index, slice)
        rows = self.rows[index : index + 1 or None] if single else self.rows[index]
        starts = self.starts[index : index + 1 or None] if single else self.starts[index]
        steps = rows[:, None] + np.arange(1 - self.length, 1)  # [n, L] rows of the target
        windows = np.where(steps >= starts[:, None], self.y[np.maximum(steps, 0)], 0)
        windows = windows.astype(np.float32)[..., None]
        return windows[0] if single else windows


class _PositionWindows(Sequence):
    """Input windows ``[L, n_series]`` of the target matrix ``[time, n_series]``.

    The matrix is left-padded with zeros; the ``i``-th window ends at row ``first + i``; a slice
    gives them stacked.
    """

    def __init__(self, matrix: np.ndarray, first: int, stop: int, length: int) -> None:
        padded = np.concatenate([np.zeros((length - 1, matrix.shape[1]), np.float32), matrix])
        # [positions, L, n_series], a view of ``padded``
        self.views = sliding_window_view(padded, length, axis=0).transpose(0, 2, 1)
        self.first, self.stop, self.length = first, stop, length

    def __len__(self) -> int:
        return self.stop - self.first

    def __getitem__(self, index: int | slice) -> np.ndarray:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            return self.views[self.first + start : self.first + stop : step]
        if not -len(self) <= index < len(self):
            raise IndexError(f"window {index} out of range for {len(self)} windows")
        return self.views[self.first + index % len(self)]


class TrainingWindows:
    """Every training window of a student's in-memory dataset, and each sampled window's id.

    Parameters
    ----------
    dataset
        The student's training dataset.
    input_size, step_size, start_padding_enabled, multivariate
        The student's settings that define its windows.
    val_size, test_size
        The tails NeuralForecast keeps out of training.

    Attributes
    ----------
    windows
        The input windows ``[input_size, channels]`` by id (what the teacher forecasts once):
        one per time step that can end the input of a training window.
    """

    def __init__(
        self,
        dataset: TimeSeriesDataset,
        input_size: int,
        step_size: int,
        start_padding_enabled: bool,
        multivariate: bool,
        val_size: int,
        test_size: int,
    ) -> None:
        self.input_size, self.step_size, self.multivariate = input_size, step_size, multivariate
        self.left_pad = input_size - 1 if start_padding_enabled else 0
        # the last input step of a training window is at least this far into its series
        self.first = input_size - 1 - self.left_pad
        y = dataset.temporal[:, dataset.y_idx].numpy()
        self.indptr = dataset.indptr
        sizes = np.diff(self.indptr)
        self.pad = dataset.max_size - sizes
        self._ids: dict[bytes, list[int]] = {}
        for i in range(len(sizes)):
            row = dataset[i]["temporal"][dataset.y_idx].numpy()
            self._ids.setdefault(_fingerprint(row), []).append(i)
        train_sizes = sizes - val_size - test_size
        if multivariate:
            matrix = np.zeros((dataset.max_size, len(sizes)), np.float32)
            for i, (a, b) in enumerate(zip(self.indptr[:-1], self.indptr[1:], strict=True)):
                matrix[dataset.max_size - (b - a) :, i] = y[a:b]
            stop = dataset.max_size - val_size - test_size
            self.windows: Sequence = _PositionWindows(matrix, self.first, stop, input_size)
        else:
            series_of_row = np.repeat(np.arange(len(sizes)), sizes)
            offsets = np.arange(len(y)) - self.indptr[:-1][series_of_row]
            train = offsets < train_sizes[series_of_row]
            rows = np.flatnonzero((offsets >= self.first) & train)
            self.slot_of_row = np.full(len(y), -1, dtype=np.int64)
            self.slot_of_row[rows] = np.arange(len(rows))
            starts = self.indptr[:-1][series_of_row[rows]]
            self.windows = _RowWindows(y, rows, starts, input_size)

    def teacher_forecasts(self, by_step: np.ndarray, horizon: int) -> np.ndarray:
        """A teacher's forecast of each window, by id, from its forecasts by padded step.

        Parameters
        ----------
        by_step
            :meth:`~tsdistill_plugin.neuralforecast.NeuralForecastTeacher.forecast_dataset`:
            the forecasts after each step of the padded time axis.
        horizon
            The student's ``h`` (at most the teacher's).

        Returns
        -------
        np.ndarray
            ``[n_windows, horizon, channels]``, NaN for windows whose forecast would need
            steps past the end of the data.
        """
        n_windows = len(self.windows)
        if self.multivariate:
            steps = self.first + np.arange(n_windows)  # each window's last input step
            known = steps < len(by_step)
            result = np.full((n_windows, horizon, by_step.shape[2]), np.nan, np.float32)
            result[known] = by_step[steps[known], :horizon]
            return result
        rows = self.windows.rows
        series = np.searchsorted(self.indptr, rows, side="right") - 1
        steps = rows - self.indptr[:-1][series] + self.pad[series]
        known = steps < by_step.shape[1]
        result = np.full((n_windows, horizon, 1), np.nan, np.float32)
        result[known, :, 0] = by_step[series[known], steps[known], :horizon]
        return result

    def batch_series(self, y: Tensor) -> np.ndarray:
        """Dataset index of each series of a batch, from its values ``[series, time]``.

        Identical series get distinct indices in order, so a batch maps one-to-one.
        """
        taken: dict[bytes, int] = {}
        ids = []
        for row in y.detach().cpu().numpy():
            key = _fingerprint(row)
            candidates = self._ids[key]
            ids.append(candidates[taken.get(key, 0) % len(candidates)])
            taken[key] = taken.get(key, 0) + 1
        return np.asarray(ids)

    def ids(
        self, sampled: SampledWindows, batch_series: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The ids of a step's sampled windows, and the batch's series order.

        For a multivariate student, the dataset index of each of the batch's series (the
        channel order of the windows); ``None`` otherwise.

        Parameters
        ----------
        sampled
            What the step sampled.
        batch_series
            :meth:`batch_series` of the step's batch.
        """
        index = sampled.window_index.cpu().numpy()
        start = index if self.multivariate else index % sampled.windows_per_series
        # last input step of each window, in the dataset's left-padded time axis
        position = start * self.step_size + self.input_size - 1 - self.left_pad
        if self.multivariate:
            return position - self.first, batch_series
        series = batch_series[index // sampled.windows_per_series]
        rows = self.indptr[:-1][series] + position - self.pad[series]
        return self.slot_of_row[rows], None
