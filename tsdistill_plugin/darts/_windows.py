"""How the Darts student identifies its training windows and hands its data to the lifecycle.

The teacher's outputs are cached per training window and read back by the window's position in
Darts' training dataset. Darts collates samples by the fields of its batch class, so the
position travels in :class:`IndexedSample` / :class:`IndexedBatch` (subclasses with one more
field) through :func:`collate_indexed`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch
from darts import TimeSeries
from darts.utils.data import TorchTrainingDataset
from darts.utils.data.torch_datasets.utils import TorchTrainingBatch, TorchTrainingSample

from ..core.distillation import TrainingData, data_digest
from ._compat import collate_training_samples, end_of_output_index


@dataclasses.dataclass(slots=True)
class IndexedSample(TorchTrainingSample):
    """A training sample that knows its position in the training dataset.

    The position is a Python ``int``, not an array: Darts checks that a sample's arrays share
    one dtype and would warn about an integer one among the float windows.
    """

    window_index: int | None = None


@dataclasses.dataclass(slots=True)
class IndexedBatch(TorchTrainingBatch):
    """A training batch with the dataset positions of its samples, ``[batch]``."""

    window_index: torch.Tensor | None = None


class IndexedDataset(TorchTrainingDataset):
    """Darts' training dataset whose samples carry their index (the teacher cache's key)."""

    def __init__(self, dataset: TorchTrainingDataset) -> None:
        super().__init__()
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> IndexedSample:
        sample = self.dataset[index]
        fields = {f.name: getattr(sample, f.name) for f in dataclasses.fields(TorchTrainingSample)}
        return IndexedSample(**fields, window_index=int(index))


def collate_indexed(samples: list[TorchTrainingSample]) -> TorchTrainingBatch:
    """Collate training samples as Darts does, keeping the window indices of indexed ones."""
    batch = collate_training_samples(samples)
    if not isinstance(samples[0], IndexedSample):
        return batch
    fields = {f.name: getattr(batch, f.name) for f in dataclasses.fields(TorchTrainingBatch)}
    index = torch.tensor([sample.window_index for sample in samples], dtype=torch.int64)
    return IndexedBatch(**fields, window_index=index)


class PastTargets(Sequence):
    """The input windows ``[L, channels]`` of a training dataset, by sample index.

    A slice gives them stacked, ``[n, L, channels]``.
    """

    def __init__(self, dataset: TorchTrainingDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int | slice) -> np.ndarray:
        if isinstance(index, slice):
            return np.stack([self[i] for i in range(*index.indices(len(self)))])
        return self.dataset[index].past_target


def training_data(
    series: Sequence[TimeSeries],
    val_series: Sequence[TimeSeries] | None,
    covariates: dict[str, list[TimeSeries] | None] | None = None,
) -> TrainingData:
    """The student's training series as the lifecycle sees them: end times and frames.

    ``covariates`` are Darts ``fit`` arguments (``past_covariates``, ``val_future_covariates``,
    ...): they reach the teacher's ``fit`` and, when any is given, the data's digest (without
    them, the digest is of the target series alone, as it always was).
    """
    given = {name: value for name, value in (covariates or {}).items() if value is not None}
    arrays = [array for s in series for array in (s.values(copy=False), s.time_index.to_numpy())]
    for name in sorted(given):
        arrays.append(np.frombuffer(name.encode(), dtype=np.uint8))
        arrays.extend(
            array for s in given[name] for array in (s.values(copy=False), s.time_index.to_numpy())
        )
    return TrainingData(
        ends=tuple(s.end_time() for s in series),
        frames=lambda: [s.to_dataframe(copy=True) for s in series],
        val_frames=lambda: [s.to_dataframe(copy=True) for s in val_series] if val_series else None,
        digest=data_digest(arrays),
        covariates=(lambda: dict(given)) if given else None,
    )


def teacher_forecasts(
    dataset: TorchTrainingDataset,
    by_series: Sequence[tuple[int, np.ndarray]],
    horizon: int,
    teacher_name: str,
) -> np.ndarray:
    """The teacher's forecast of each sample of ``dataset``, ``[len(dataset), horizon, C]``.

    ``by_series`` holds, per series, the position of the first forecast's first step and the
    forecasts from there on (:meth:`~tsdistill_plugin.darts.DartsTeacher.forecast_series`).
    """
    rows = []
    for index in range(len(dataset)):
        series_index, end = end_of_output_index(dataset, index)
        first, forecasts = by_series[series_index]
        position = end - horizon - first
        if not 0 <= position < len(forecasts):
            raise ValueError(
                f"teacher {teacher_name} gives no forecast for the training window of series "
                f"{series_index} ending at position {end - horizon} (it needs more history or "
                "covariates than the student's window); give the student a longer "
                "input_chunk_length, or covariates that start earlier."
            )
        rows.append(forecasts[position])
    return np.stack(rows)
