"""Fixtures for the NeuralForecast integration: ETTh1 slices in NF's long format, tiny models."""

from __future__ import annotations

import logging

import pandas as pd
import pytest
from long_format import to_long

pytest.importorskip("neuralforecast")

for _name in ("lightning_fabric", "pytorch_lightning", "lightning"):
    logging.getLogger(_name).setLevel(logging.ERROR)


@pytest.fixture(scope="session")
def etth1_wide(etth1: pd.DataFrame) -> pd.DataFrame:
    """The first 600 hours of standardized ETTh1, 7 columns."""
    return etth1.iloc[:600]


@pytest.fixture(scope="session")
def etth1_long(etth1_wide: pd.DataFrame) -> pd.DataFrame:
    """ETTh1's 7 columns as 7 series in NeuralForecast's long format (600 hours each)."""
    return to_long(etth1_wide)
