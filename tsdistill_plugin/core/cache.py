"""Teacher outputs computed once per training window and read back by window index.

The reference runs the frozen teacher on every batch of every epoch; computing its forecasts
(and features) once makes distillation cost about what training the MLP alone costs.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
import warnings
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from .teacher import Teacher, TeacherOutput, forecast_horizon

logger = logging.getLogger(__name__)

Storage = Literal["auto", "memory", "disk"]
DEFAULT_MEMORY_BUDGET = 2 * 1024**3
"""Bytes of teacher outputs kept in memory before ``storage="auto"`` moves them to disk."""
SLOW_FILL_SECONDS = 300.0
"""Estimated fill time above which the cache warns that the teacher is slow for these windows."""


class TeacherCache:
    """A teacher's forecasts (and features) for a fixed set of input windows.

    Parameters
    ----------
    teacher
        The teacher to run.
    windows
        The student's input windows: anything with ``len()`` whose items are arrays or tensors
        ``[input_len, channels]`` (a ``[n_windows, input_len, channels]`` array works).
    horizon
        Forecast steps kept per window (the student's horizon).
    batch_size
        Windows per teacher call.
    storage
        ``"memory"``, ``"disk"`` (a memory-mapped file in a temporary directory, removed when
        the cache is closed or garbage-collected) or ``"auto"``: memory when the outputs fit in
        ``memory_budget`` bytes, otherwise disk.
    memory_budget
        Byte budget of ``storage="auto"``.
    dtype
        Dtype of the stored outputs.
    device
        Device of the windows handed to the teacher; by default the CPU.
    progress
        Show a progress bar while computing.

    Attributes
    ----------
    storage
        ``"memory"`` or ``"disk"``: where the outputs ended up.
    nbytes
        Size of the stored outputs.
    estimated_seconds
        The fill time expected from the first batch (logged before the rest is computed).
    """

    def __init__(
        self,
        teacher: Teacher,
        windows: Sequence,
        horizon: int,
        batch_size: int = 256,
        storage: Storage = "auto",
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
        progress: bool = True,
    ) -> None:
        if storage not in ("auto", "memory", "disk"):
            raise ValueError(f"storage must be 'auto', 'memory' or 'disk', got {storage!r}.")
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
        n_windows = len(windows)
        if n_windows == 0:
            raise ValueError("windows is empty; the teacher cache needs at least one window.")
        self._windows = windows
        self._teacher = teacher
        self._horizon = horizon
        self._dtype = dtype
        self._device = torch.device(device) if device is not None else torch.device("cpu")
        self._directory: Path | None = None

        start = time.perf_counter()
        first = self._run(range(min(batch_size, n_windows)))
        self.estimated_seconds = _estimate(
            n_windows, len(first.prediction), time.perf_counter() - start
        )
        row_bytes = sum(_row_nbytes(t, dtype) for t in first if t is not None)
        self.nbytes = row_bytes * n_windows
        if storage == "auto":
            storage = "memory" if self.nbytes <= memory_budget else "disk"
        self.storage = storage
        self.predictions = self._allocate("predictions", first.prediction, n_windows)
        self.features = (
            self._allocate("features", first.features, n_windows)
            if first.features is not None
            else None
        )
        logger.info(
            "TeacherCache: %d windows, %.1f MB of teacher outputs, kept %s%s.",
            n_windows,
            self.nbytes / 1e6,
            "in memory" if storage == "memory" else "on disk in ",
            "" if self._directory is None else str(self._directory),
        )
        starts = range(0, n_windows, batch_size)
        for start in tqdm(starts, desc="teacher forecasts", disable=not progress, leave=False):
            indices = range(start, min(start + batch_size, n_windows))
            output = first if start == 0 else self._run(indices)
            self._store(self.predictions, indices, output.prediction)
            if self.features is not None:
                self._store(self.features, indices, output.features)

    def _run(self, indices: range) -> TeacherOutput:
        x = torch.stack([torch.as_tensor(np.asarray(self._windows[i])) for i in indices])
        return forecast_horizon(self._teacher, x.to(self._device, self._dtype), self._horizon)

    def _allocate(self, name: str, example: Tensor, n_windows: int) -> Tensor | np.memmap:
        shape = (n_windows, *example.shape[1:])
        if self.storage == "memory":
            return torch.empty(shape, dtype=self._dtype)
        if self._directory is None:
            self._directory = Path(tempfile.mkdtemp(prefix="tsdistill-cache-"))
            self._finalizer = weakref.finalize(self, shutil.rmtree, self._directory, True)
        numpy_dtype = torch.empty((), dtype=self._dtype).numpy().dtype
        return np.memmap(self._directory / f"{name}.npy", numpy_dtype, mode="w+", shape=shape)

    @staticmethod
    def _store(buffer: Tensor | np.memmap, indices: range, values: Tensor) -> None:
        values = values.detach().to("cpu")
        if isinstance(buffer, np.memmap):
            buffer[indices.start : indices.stop] = values.numpy()
        else:
            buffer[indices.start : indices.stop] = values.to(buffer.dtype)

    def __len__(self) -> int:
        return len(self.predictions)

    def __getitem__(self, index: int | Sequence[int] | np.ndarray | Tensor) -> TeacherOutput:
        """Teacher outputs of the windows at ``index``, as CPU tensors.

        Parameters
        ----------
        index
            One window index, or a 1-D collection of them.

        Returns
        -------
        TeacherOutput
            ``prediction`` ``[horizon, channels]`` (or ``[len(index), horizon, channels]``) and
            ``features`` likewise, or ``None``.
        """
        if isinstance(index, Tensor):
            index = index.cpu().numpy()
        return TeacherOutput(
            _gather(self.predictions, index),
            None if self.features is None else _gather(self.features, index),
        )

    def close(self) -> None:
        """Release the stored outputs and remove the temporary directory, if any."""
        self.predictions = self.features = None
        if self._directory is not None:
            self._finalizer()
            self._directory = None


def _estimate(n_windows: int, first_batch: int, seconds: float) -> float:
    """How long filling the cache will take, from the first batch: logged, and a warning when
    it is long."""
    estimate = seconds * n_windows / first_batch
    logger.info(
        "Teacher outputs for %d training windows: about %.0f s (the first %d took %.2f s).",
        n_windows,
        estimate,
        first_batch,
        seconds,
    )
    if estimate > SLOW_FILL_SECONDS:
        warnings.warn(
            f"the teacher needs about {estimate:.0f} s for the {n_windows} training windows "
            f"({seconds / first_batch * 1e3:.1f} ms per window); distil from fewer windows: "
            "teacher_stride=k (every k-th window), or thin the training windows themselves.",
            UserWarning,
            stacklevel=4,
        )
    return estimate


def _row_nbytes(example: Tensor, dtype: torch.dtype) -> int:
    return int(np.prod(example.shape[1:])) * torch.empty((), dtype=dtype).element_size()


def _gather(buffer: Tensor | np.memmap, index: int | Sequence[int] | np.ndarray) -> Tensor:
    if isinstance(buffer, np.memmap):
        return torch.from_numpy(np.array(buffer[index]))
    return buffer[torch.as_tensor(index, dtype=torch.long)]
