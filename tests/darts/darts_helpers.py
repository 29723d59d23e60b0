"""Sizes and constructor arguments shared by the Darts integration tests."""

from __future__ import annotations

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
