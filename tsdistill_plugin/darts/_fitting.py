"""Helpers of ``DistilledMLPModel.fit``: the shared teacher, input checks, indexed samples.

The training step reads each window's teacher outputs from a cache by the window's position in
Darts' training dataset. Darts collates samples by the fields of its batch class and drops any
other, so the window index travels in :class:`IndexedSample` / :class:`IndexedBatch` (subclasses
with one more field) through :func:`collate_indexed`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from darts import TimeSeries
from darts.utils.data.torch_datasets.utils import (
    TorchTrainingBatch,
    TorchTrainingSample,
    _batch_collate_fn_train,
    _collate_samples,
)
from torch.utils.data import Dataset

from ..core.teacher import FittableTeacher, Teacher


class SharedTeacher:
    """The teacher of a student and of every copy Darts makes of it.

    Deep copies (``untrained_model``, retraining in ``historical_forecasts``) return the same
    object, so they share the fitted teacher. Pickling (``save``) keeps no teacher: a saved
    student loads without the teacher's library.

    Parameters
    ----------
    teacher
        The wrapped teacher, or ``None``.

    Attributes
    ----------
    fitted_until
        Latest time step of the series the teacher was fitted on by a student, or ``None``.
    """

    def __init__(self, teacher: Teacher | None) -> None:
        self.teacher = teacher
        self.fitted_until: pd.Timestamp | int | None = None

    def __deepcopy__(self, memo: dict) -> SharedTeacher:
        return self

    def __getstate__(self) -> dict:
        return {"teacher": None, "fitted_until": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)


def frames_from_series(series: Sequence[TimeSeries]) -> list[pd.DataFrame]:
    """``TimeSeries`` to library-neutral frames: time index, one column per component."""
    return [s.to_dataframe(copy=True) for s in series]


def latest_time(series: Sequence[TimeSeries]) -> pd.Timestamp | int:
    """The latest end time of ``series``."""
    return max(s.end_time() for s in series)


def check_series(series: Sequence[TimeSeries], name: str, min_length: int) -> None:
    """Reject NaN, too-short series and series whose components differ from the first's.

    Parameters
    ----------
    series
        The series handed to ``fit``.
    name
        Argument name for the error message.
    min_length
        ``input_chunk_length + output_chunk_length``.
    """
    width = series[0].n_components
    for i, s in enumerate(series):
        values = s.values(copy=False)
        if np.isnan(values).any():
            raise ValueError(
                f"{name}[{i}] contains NaN; the student and its teacher need complete series. "
                "Fill the gaps first, e.g. with "
                "darts.dataprocessing.transformers.MissingValuesFiller."
            )
        if len(s) < min_length:
            raise ValueError(
                f"{name}[{i}] has {len(s)} time steps, fewer than input_chunk_length + "
                f"output_chunk_length = {min_length}; pass a longer series or shorter chunk "
                "lengths."
            )
        if s.n_components != width:
            raise ValueError(
                f"{name}[{i}] has {s.n_components} components but {name}[0] has {width}; all "
                "series of one student must have the same components."
            )


def check_teacher(teacher: Teacher, input_len: int, horizon: int, n_components: int) -> None:
    """Check that a (fitted) teacher can teach a student of these sizes.

    Raises
    ------
    ValueError
        When the teacher was built for other components, reads more steps than the student's
        lookback, or forecasts fewer steps than the student's horizon and cannot be rolled out
        (``teacher.can_extend`` is false).
    """
    if teacher.n_channels is not None and teacher.n_channels != n_components:
        raise ValueError(
            f"the teacher forecasts {teacher.n_channels} components but the series have "
            f"{n_components}; pass a teacher fitted on (or built for) series with the same "
            "components, or an unfitted one for the student to fit."
        )
    if teacher.input_len > input_len:
        raise ValueError(
            f"the teacher reads {teacher.input_len} steps but input_chunk_length is {input_len}; "
            f"set input_chunk_length >= {teacher.input_len} or use a teacher with a shorter "
            "lookback."
        )
    if teacher.horizon < horizon and not getattr(teacher, "can_extend", True):
        raise ValueError(
            f"the teacher forecasts {teacher.horizon} steps, fewer than output_chunk_length="
            f"{horizon}, and cannot be rolled out autoregressively; set output_chunk_length <= "
            f"{teacher.horizon} or use a teacher with a longer horizon."
        )


def fit_teacher(
    shared: SharedTeacher,
    teacher: Teacher,
    series: Sequence[TimeSeries],
    val_series: Sequence[TimeSeries] | None,
    refit: bool,
) -> None:
    """Fit an unfitted teacher on the student's series, or warn when a fitted one saw later data.

    Parameters
    ----------
    shared
        The student's shared teacher; records how far the data went when it was fitted.
    teacher
        The teacher to use for this fit (``shared.teacher`` or, with ``refit``, a fresh copy).
    series, val_series
        The student's training and validation series.
    refit
        Whether ``teacher`` is a fresh copy for this training slice.
    """
    if isinstance(teacher, FittableTeacher) and not teacher.is_fitted:
        val = frames_from_series(val_series) if val_series else None
        teacher.fit(frames_from_series(series), val)
        if not refit:
            shared.fitted_until = latest_time(series)
        return
    seen = shared.fitted_until
    end = latest_time(series)
    if refit or seen is None or type(seen) is not type(end) or not end < seen:
        return
    warnings.warn(
        f"the teacher was fitted on data up to {seen}, after the end of this training slice "
        f"({end}): its forecasts have seen the future of the slice (look-ahead in a retraining "
        "backtest). Pass refit_teacher=True to refit the teacher on each training slice.",
        UserWarning,
        stacklevel=4,
    )


def fresh_teacher(teacher: Teacher) -> Teacher:
    """An unfitted copy of ``teacher`` for ``refit_teacher=True``."""
    untrained = getattr(teacher, "untrained", None)
    if untrained is None:
        raise TypeError(
            f"refit_teacher=True needs a teacher that can be re-created unfitted, but "
            f"{type(teacher).__name__} has no untrained(); pass a Darts or NeuralForecast "
            "model as the teacher, or refit_teacher=False."
        )
    return untrained()


@dataclass(slots=True)
class IndexedSample(TorchTrainingSample):
    """A training sample that knows its position in the training dataset."""

    window_index: np.ndarray | None = None


@dataclass(slots=True)
class IndexedBatch(TorchTrainingBatch):
    """A training batch with the dataset positions of its samples, ``[batch]``."""

    window_index: torch.Tensor | None = None


class IndexedDataset(Dataset):
    """Darts' training dataset whose samples carry their index (the teacher cache's key)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> IndexedSample:
        sample = self.dataset[index]
        fields = {name: getattr(sample, name) for name in TorchTrainingSample.__dataclass_fields__}
        return IndexedSample(**fields, window_index=np.asarray(index, dtype=np.int64))


def collate_indexed(samples: list[TorchTrainingSample]) -> TorchTrainingBatch:
    """Collate indexed training samples into an :class:`IndexedBatch`; others as Darts does."""
    if isinstance(samples[0], IndexedSample):
        return _collate_samples(samples, IndexedBatch)
    return _batch_collate_fn_train(samples)


class PastTargets(Sequence):
    """The input windows ``[L, channels]`` of a training dataset, by sample index."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> np.ndarray:
        return self.dataset[index].past_target


def windows_warning(teacher: Teacher, n_windows: int, limit: int = 2000) -> None:
    """Warn when a teacher refitted per window (a local model) would run on many windows."""
    if getattr(teacher, "is_local", False) and n_windows > limit:
        warnings.warn(
            f"the local teacher is refitted on each of {n_windows} training windows, which is "
            f"slow; thin them with fit(..., stride=k) (e.g. k={math.ceil(n_windows / limit)}) "
            "or fit(..., max_samples_per_ts=n).",
            UserWarning,
            stacklevel=4,
        )
