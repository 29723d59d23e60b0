"""Fixtures of the Darts integration tests: small slices of real ETTh1 and tiny models."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

pytest.importorskip("darts")

from darts import TimeSeries  # noqa: E402
from darts_helpers import L  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _quiet_training_logs() -> None:
    for name in ("pytorch_lightning", "lightning_fabric", "darts"):
        logging.getLogger(name).setLevel(logging.ERROR)


@pytest.fixture(scope="session")
def frame(etth1: pd.DataFrame) -> pd.DataFrame:
    """The first 700 hours of standardized ETTh1, 7 channels."""
    return etth1.iloc[:700]


@pytest.fixture(scope="session")
def train(frame: pd.DataFrame) -> TimeSeries:
    """500 hours: 441 training windows of L=48, H=12."""
    return TimeSeries.from_dataframe(frame.iloc[:500])


@pytest.fixture(scope="session")
def val(frame: pd.DataFrame) -> TimeSeries:
    """The 200 hours after ``train`` (with the lookback overlap the protocol uses)."""
    return TimeSeries.from_dataframe(frame.iloc[500 - L :])
