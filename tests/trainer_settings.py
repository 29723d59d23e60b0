"""The Lightning trainer settings of the tests' models: on the CPU, quiet, writing nothing."""

from __future__ import annotations

QUIET = {
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "logger": False,
    "enable_checkpointing": False,
    "accelerator": "cpu",
}
"""Trainer keyword arguments: Darts' ``pl_trainer_kwargs``, or a NeuralForecast model's own
keyword arguments (copy the dict where a library may change it)."""
