"""Teacher outputs computed once per training window and read back by window index.

The reference runs the frozen teacher on every batch of every epoch; computing its forecasts
(and features) once makes distillation cost about what training the MLP alone costs.

Outputs over the memory budget go to a file that is written and read with plain file I/O, not
memory-mapped: the pages of a mapped file count as the process's resident memory once touched,
so a mapped cache read in random order over an epoch grows to its whole size in RAM. A cache is
picklable and cheap to pickle (a copy reads the same memory or file), which is how Lightning's
``ddp_spawn`` hands it to its worker processes.
"""

from __future__ import annotations

import io
import logging
import tempfile
import time
import warnings
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
MAX_BATCH_BYTES = 64 * 1024**2
"""Bytes of input windows per teacher call at most: wide windows get smaller batches."""
SLOW_FILL_SECONDS = 300.0
"""Estimated fill time above which the cache warns that the teacher is slow for these windows."""


class TeacherCache:
    """A teacher's forecasts (and features) for a fixed set of input windows.

    Parameters
    ----------
    teacher
        The teacher to run.
    windows
        The student's input windows ``[input_len, channels]`` by index: a sequence whose slice
        ``windows[a:b]`` gives the stacked windows ``[b - a, input_len, channels]`` (or a list
        of them), such as a ``[n_windows, input_len, channels]`` array or tensor.
    horizon
        Forecast steps kept per window (the student's horizon).
    batch_size
        Windows per teacher call (fewer when ``batch_size`` windows would take more than
        :data:`MAX_BATCH_BYTES`).
    storage
        ``"memory"``, ``"disk"`` (a file in a temporary directory, read back by window and
        removed when the cache is closed or garbage-collected; only the windows asked for are
        ever in memory) or ``"auto"``: memory when the outputs fit in ``memory_budget`` bytes,
        otherwise disk.
    memory_budget
        Byte budget of ``storage="auto"``.
    dtype
        Dtype of the stored outputs.
    device
        Device of the windows handed to the teacher; by default the CPU.
    progress
        Show a progress bar while computing.
    quantiles
        A probabilistic student's levels: a teacher that forecasts quantiles stores them
        (``[horizon, channels, quantiles]`` per window; see
        :func:`~tsdistill_plugin.core.forecast_horizon`).

    Attributes
    ----------
    storage
        ``"memory"`` or ``"disk"``: where the outputs ended up.
    nbytes
        Size of the stored outputs.
    estimated_seconds
        The fill time expected from the first batch (logged before the rest is computed).

    Examples
    --------
    >>> import torch
    >>> from tsdistill_plugin.core import TeacherCache, TorchTeacher
    >>> teacher = TorchTeacher(lambda x: x[:, -12:].flip(1), input_len=48, horizon=12)
    >>> windows = torch.randn(1000, 48, 3)  # [n_windows, input_len, channels]
    >>> cache = TeacherCache(teacher, windows, horizon=12, progress=False)
    >>> cache.storage, len(cache), cache.nbytes
    ('memory', 1000, 144000)
    >>> cache[[0, 5]].prediction.shape
    torch.Size([2, 12, 3])
    >>> torch.equal(cache[5].prediction, teacher.forecast(windows[5:6]).prediction[0])
    True
    >>> cache.close()

    On disk, only the windows asked for are read back:

    >>> cache = TeacherCache(teacher, windows, horizon=12, storage="disk", progress=False)
    >>> expected = teacher.forecast(windows[5:6]).prediction[0]
    >>> cache.storage, torch.equal(cache[5].prediction, expected)
    ('disk', True)
    >>> cache.close()
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
        quantiles: tuple[float, ...] | None = None,
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
        self._quantiles = quantiles
        self._dtype = dtype
        self._device = torch.device(device) if device is not None else torch.device("cpu")
        self._directory: tempfile.TemporaryDirectory | None = None
        window_bytes = getattr(windows[0], "nbytes", None) or np.asarray(windows[0]).nbytes
        batch_size = max(1, min(batch_size, MAX_BATCH_BYTES // max(window_bytes, 1)))

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
            "" if self._directory is None else self._directory.name,
        )
        starts = range(0, n_windows, batch_size)
        for start in tqdm(starts, desc="teacher forecasts", disable=not progress, leave=False):
            indices = range(start, min(start + batch_size, n_windows))
            output = first if start == 0 else self._run(indices)
            self._store(self.predictions, indices, output.prediction)
            if self.features is not None:
                self._store(self.features, indices, output.features)

    def _run(self, indices: range) -> TeacherOutput:
        batch = self._windows[indices.start : indices.stop]
        # windows may be a read-only view of the series: copy the batch rather than alias it
        x = batch if isinstance(batch, Tensor) else torch.tensor(np.asarray(batch))
        x = x.to(self._device, self._dtype)
        return forecast_horizon(self._teacher, x, self._horizon, self._quantiles)

    def _allocate(self, name: str, example: Tensor, n_windows: int) -> Tensor | RowFile:
        shape = (n_windows, *example.shape[1:])
        if self.storage == "memory":
            return torch.empty(shape, dtype=self._dtype)
        if self._directory is None:
            self._directory = tempfile.TemporaryDirectory(prefix="tsdistill-cache-")
        numpy_dtype = torch.empty((), dtype=self._dtype).numpy().dtype
        return RowFile(Path(self._directory.name) / f"{name}.bin", shape, numpy_dtype)

    @staticmethod
    def _store(buffer: Tensor | RowFile, indices: range, values: Tensor) -> None:
        values = values.detach().to("cpu")
        if isinstance(buffer, RowFile):
            buffer.write(indices.start, values.to(buffer.torch_dtype).numpy())
        else:
            buffer[indices.start : indices.stop] = values.to(buffer.dtype)

    def __getstate__(self) -> dict:
        """Return a copy for another process (``ddp_spawn``, data loader workers).

        It holds the stored outputs only (a memory cache's tensors travel through shared
        memory, a disk cache's by file name), never the teacher or the windows. The copy does
        not remove the files: this cache does, when closed.
        """
        state = dict(self.__dict__)
        for name in ("_windows", "_teacher"):
            state.pop(name, None)
        state["_directory"] = None
        return state

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
        for buffer in (self.predictions, self.features):
            if isinstance(buffer, RowFile):
                buffer.close()
        self.predictions = self.features = None
        if self._directory is not None:
            self._directory.cleanup()
            self._directory = None


def _estimate(n_windows: int, first_batch: int, seconds: float) -> float:
    """Estimate from the first batch how long filling the cache will take.

    The estimate is logged, and warned about when it is long.
    """
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


def _gather(buffer: Tensor | RowFile, index: int | Sequence[int] | np.ndarray) -> Tensor:
    if isinstance(buffer, RowFile):
        return torch.from_numpy(buffer[index])
    return buffer[torch.as_tensor(index, dtype=torch.long)]


class RowFile:
    """An array ``[rows, ...]`` in a binary file, written by blocks of rows and read by row.

    Reads go through ``readinto`` (no memory map), so only the rows asked for are in memory.
    Pickling keeps the path: a copy in another process reads the same file.

    Parameters
    ----------
    path
        The file (created, or truncated, to its full size).
    shape
        ``(rows, *row_shape)``.
    dtype
        NumPy dtype of the values.
    """

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.path, self.shape, self.dtype = Path(path), tuple(shape), np.dtype(dtype)
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        with open(self.path, "wb") as file:
            file.truncate(self.row_bytes * self.shape[0])
        self._reader: io.BufferedReader | None = None

    @property
    def torch_dtype(self) -> torch.dtype:
        """The torch dtype of the stored values."""
        return torch.from_numpy(np.empty(0, self.dtype)).dtype

    def __len__(self) -> int:
        return self.shape[0]

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_reader": None}

    def close(self) -> None:
        """Close the file (it is reopened by the next read)."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def write(self, start: int, values: np.ndarray) -> None:
        """Write ``values`` ``[n, *row_shape]`` as rows ``start`` to ``start + n``."""
        values = np.ascontiguousarray(values, dtype=self.dtype)
        if values.shape[1:] != self.shape[1:] or not 0 <= start <= len(self) - len(values):
            raise ValueError(f"rows {start}+{len(values)} {values.shape} do not fit {self.shape}")
        with open(self.path, "r+b") as file:
            file.seek(start * self.row_bytes)
            file.write(values.tobytes())

    def __getitem__(self, index: int | Sequence[int] | np.ndarray) -> np.ndarray:
        """Read the rows at ``index``.

        One index gives ``[*row_shape]``; a 1-D collection gives ``[n, *row_shape]``.
        """
        rows = np.asarray(index, dtype=np.int64)
        flat = rows.reshape(-1)
        if flat.size and (flat.min() < -len(self) or flat.max() >= len(self)):
            raise IndexError(f"row index out of range for {len(self)} rows")
        flat = flat % max(len(self), 1)
        out = np.empty((flat.size, *self.shape[1:]), self.dtype)
        if self._reader is None:
            self._reader = open(self.path, "rb")  # noqa: SIM115 (kept open across reads)
        buffer = memoryview(out.reshape(-1).view(np.uint8))
        size = self.row_bytes
        for position, row in enumerate(flat):
            self._reader.seek(int(row) * size)
            self._reader.readinto(buffer[position * size : (position + 1) * size])
        return out.reshape(*rows.shape, *self.shape[1:])
