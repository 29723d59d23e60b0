"""Shared constants of the NeuralForecast tests (a uniquely named module, importable next to
the Darts tests' helpers)."""

from __future__ import annotations

import pandas as pd

H = 24
L = 96
TRAINER = dict(
    enable_progress_bar=False,
    logger=False,
    enable_model_summary=False,
    enable_checkpointing=False,
    accelerator="cpu",
)


def to_long(frame: pd.DataFrame) -> pd.DataFrame:
    """Wide frame (DatetimeIndex, one column per series) -> ``unique_id, ds, y``."""
    long = frame.rename_axis("ds").reset_index().melt(id_vars="ds", var_name="unique_id")
    return long.rename(columns={"value": "y"})[["unique_id", "ds", "y"]]
