"""Timing helpers shared by the benchmarks: a clock, step phases, and timed methods.

- :class:`Clock`: process CPU time on the CPU (with one torch thread, the work itself, which
  other programs sharing the cores barely change), wall time on an accelerator, synchronized.
- :class:`StepPhases`: where a Lightning training step spends its time, from public callback
  hooks only, so it works for any integration.
- :func:`timed`: the time spent in given methods of given classes, e.g. the public
  ``DistillationLoss.forward`` of ``tsdistill_plugin.core``.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator

import pytorch_lightning as pl
import torch

PHASES: tuple[str, ...] = ("training_step", "backward", "optimizer", "between batches")
"""``training_step``: the forward pass, teacher outputs and loss (``on_train_batch_start`` to
``on_before_backward``); ``backward``; ``optimizer``: its step (to ``on_train_batch_end``);
``between batches``: fetching and collating the next batch, moving it to the device,
Lightning's logging and, at epoch boundaries, its epoch-end work (``on_train_batch_end`` to the
next ``on_train_batch_start``)."""


class Clock:
    """Seconds of work: process CPU time on the CPU, synchronized wall time on a GPU.

    Parameters
    ----------
    device
        Where the timed work runs.
    """

    def __init__(self, device: torch.device | str) -> None:
        self.device = torch.device(device)
        self.cpu = self.device.type == "cpu"
        self.name = "CPU s (process)" if self.cpu else f"wall s ({self.device.type}, synchronized)"

    def __call__(self) -> float:
        if self.cpu:
            return time.process_time()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()


class StepPhases(pl.Callback):
    """Per-batch time of each of :data:`PHASES` and of whole steps, and epoch times.

    Parameters
    ----------
    clock
        The :class:`Clock` to read.

    Attributes
    ----------
    phases
        Seconds of each phase, one entry per batch; ``"step"``: from one batch's start to the
        next's (all four phases).
    epochs, wall_epochs
        Seconds of each training epoch on ``clock`` and in wall time.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.phases: dict[str, list[float]] = {name: [] for name in (*PHASES, "step")}
        self.epochs: list[float] = []
        self.wall_epochs: list[float] = []
        self._marks: dict[str, float] = {}

    def _phase(self, start: str, phase: str, end: str) -> float:
        """Record ``phase`` as the time since mark ``start`` (if set) and set mark ``end``."""
        now = self.clock()
        if start in self._marks:
            self.phases[phase].append(now - self._marks[start])
        self._marks[end] = now
        return now

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # the batch marks carry over: with NeuralForecast every step is an epoch of its own
        self._marks.update(wall=time.perf_counter(), epoch=self.clock())

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:  # noqa: ANN001
        now = self._phase("batch_end", "between batches", "batch_end")
        if "batch" in self._marks:
            self.phases["step"].append(now - self._marks["batch"])
        self._marks["batch"] = now

    def on_before_backward(self, trainer, pl_module, loss) -> None:  # noqa: ANN001
        self._phase("batch", "training_step", "backward")

    def on_after_backward(self, trainer, pl_module) -> None:  # noqa: ANN001
        self._phase("backward", "backward", "optimizer")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        self._phase("optimizer", "optimizer", "batch_end")

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.epochs.append(self.clock() - self._marks["epoch"])
        self.wall_epochs.append(time.perf_counter() - self._marks["wall"])

    def medians(self, skip: int = 3) -> dict[str, float]:
        """Median seconds per batch of each phase and of the step, leaving out the first
        ``skip`` batches (warm-up)."""
        return {
            name: statistics.median(values[skip:] or values) if values else float("nan")
            for name, values in self.phases.items()
        }


@contextlib.contextmanager
def timed(
    methods: dict[str, tuple[type, str]], seconds: dict[str, list[float]], clock: Clock
) -> Iterator[None]:
    """Append the seconds of every call of each method to ``seconds[label]``.

    Parameters
    ----------
    methods
        ``label -> (class, method name)``; the class attribute is replaced while the context
        is open, so every instance (and every copy a library makes) is timed.
    seconds
        Filled with one list per label.
    clock
        The :class:`Clock` to read.
    """

    def wrap(method: Callable, label: str) -> Callable:
        def timed_method(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            start = clock()
            try:
                return method(*args, **kwargs)
            finally:
                seconds[label].append(clock() - start)

        return timed_method

    originals = {
        label: (cls, name, cls.__dict__.get(name)) for label, (cls, name) in methods.items()
    }
    for label, (cls, name) in methods.items():
        seconds.setdefault(label, [])
        setattr(cls, name, wrap(getattr(cls, name), label))
    try:
        yield
    finally:
        for cls, name, original in originals.values():
            if original is None:
                delattr(cls, name)
            else:
                setattr(cls, name, original)
