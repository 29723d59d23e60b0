"""NeuralForecast's long data format from the wide frames the tests slice out of ETTh1."""

from __future__ import annotations

import pandas as pd


def to_long(frame: pd.DataFrame) -> pd.DataFrame:
    """Wide frame (DatetimeIndex, one column per series) -> ``unique_id, ds, y``."""
    long = frame.rename_axis("ds").reset_index().melt(id_vars="ds", var_name="unique_id")
    return long.rename(columns={"value": "y"})[["unique_id", "ds", "y"]]
