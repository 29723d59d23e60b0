"""Sizes and constructor arguments shared by the Darts integration tests."""

from __future__ import annotations

import pytorch_lightning as pl

L, H = 48, 12
"""Student lookback and horizon of these tests."""

QUIET = {
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "logger": False,
    "enable_checkpointing": False,
    "accelerator": "cpu",
}


def small(**kwargs: object) -> dict:
    """Constructor arguments of a tiny, quiet, seeded Darts torch model."""
    return {"n_epochs": 1, "random_state": 0, "pl_trainer_kwargs": dict(QUIET), **kwargs}


class KeepTeacherSource(pl.Callback):
    """Keeps the training module's teacher source (the cache), which the model drops after
    training; install with ``model.trainer_params["callbacks"] = [callback]``."""

    def __init__(self) -> None:
        self.source = None

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.source = pl_module.teacher_source
