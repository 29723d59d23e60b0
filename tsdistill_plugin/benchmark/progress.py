"""What ``tsdistill benchmark`` shows while it runs.

Each stage as it starts, with the time since the run began, and a progress bar over the stage's
work (training batches, teacher windows, test windows). Everything goes to standard error, so
standard output keeps only the results table.
"""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from tqdm.auto import tqdm


class Progress:
    """Stage messages and progress bars of one benchmark run.

    Parameters
    ----------
    enabled
        ``False`` shows nothing (``tsdistill benchmark --quiet``).
    stream
        Where to write; standard error by default.

    Examples
    --------
    >>> import io
    >>> from tsdistill_plugin.benchmark import Progress
    >>> stream = io.StringIO()
    >>> progress = Progress(stream=stream)
    >>> progress.stage("loading data set co2")
    >>> print(stream.getvalue(), end="")
    [...] loading data set co2
    >>> Progress(enabled=False).stage("not shown")
    """

    def __init__(self, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.enabled = enabled
        self.stream = stream
        self._start = time.perf_counter()

    def elapsed(self) -> str:
        """Time since the run began, ``h:mm:ss``."""
        seconds = int(time.perf_counter() - self._start)
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"

    def stage(self, message: str) -> None:
        """Say that a stage starts, with the time so far."""
        if self.enabled:
            tqdm.write(f"[{self.elapsed()}] {message}", file=self.stream or sys.stderr)

    def bar(self, total: float | None, unit: str, description: str = "") -> tqdm:
        """A progress bar over ``total`` items of ``unit`` (``None``: unknown).

        It is removed when closed, and shows nothing when the progress is disabled.
        """
        return tqdm(
            total=total,
            unit=unit,
            desc=description,
            leave=False,
            dynamic_ncols=True,
            disable=not self.enabled,
            file=self.stream or sys.stderr,
        )

    def training(self) -> TrainingProgress:
        """A Lightning callback showing one fit's progress (see :class:`TrainingProgress`)."""
        return TrainingProgress(self)


class TrainingProgress(Callback):
    """A progress bar over a fit's training batches, with the epochs validated so far.

    It also records the device Lightning trained on.

    Parameters
    ----------
    progress
        The run's progress display.

    Attributes
    ----------
    device
        The device of the fit (Lightning's ``strategy.root_device``), known once training
        starts.
    epochs
        Validations run (once per epoch in both backends), the sanity check excluded.
    """

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.device: torch.device | None = None
        self.epochs = 0
        self._bar: tqdm | None = None

    def __deepcopy__(self, memo: dict) -> TrainingProgress:
        """Return the same callback.

        NeuralForecast deep-copies its models (with their trainer arguments) before fitting,
        and the copy must report here.
        """
        return self

    def __getstate__(self) -> dict:
        """Return the state without the open bar.

        NeuralForecast keeps the callbacks in its hyper-parameters, which every Lightning
        checkpoint pickles.
        """
        return {**self.__dict__, "_bar": None}

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Open the bar over the fit's batches and note the training device."""
        self.device = trainer.strategy.root_device
        total = trainer.estimated_stepping_batches
        self._bar = self.progress.bar(total if math.isfinite(total) else None, "batch")

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:
        """Advance the bar by one batch."""
        if self._bar is not None:
            self._bar.update(1)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Count one more validated epoch on the bar."""
        if self._bar is not None and not trainer.sanity_checking:
            self.epochs += 1
            self._bar.set_postfix_str(f"epoch {self.epochs}", refresh=False)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Close the bar."""
        self._close()

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        """Close the bar when training fails."""
        self._close()

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
