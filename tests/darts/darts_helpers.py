"""Sizes and constructor arguments shared by the Darts integration tests."""

from __future__ import annotations

import numpy as np
import pytorch_lightning as pl
from trainer_settings import QUIET

L, H = 48, 12
"""Student lookback and horizon of these tests."""


def small(**kwargs: object) -> dict:
    """Constructor arguments of a tiny, quiet, seeded Darts torch model."""
    return {"n_epochs": 1, "random_state": 0, "pl_trainer_kwargs": dict(QUIET), **kwargs}


class KeepTeacherTargets(pl.Callback):
    """Keeps a copy of the teacher's cached outputs of every training window (the model
    releases the cache after training) as ``outputs``; install with
    ``model.trainer_params["callbacks"] = [callback]``."""

    def __init__(self) -> None:
        self.outputs = None

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        cache = pl_module.training_run.targets.cache
        self.outputs = cache[np.arange(len(cache))]
