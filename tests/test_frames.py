"""``check_frame``'s grid check: one regular grid per series at any pandas frequency (anchored
ones too), across a daylight-saving change, and for integer steps; the first break named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsdistill_plugin.frames import check_frame


def frame(*series: pd.Index) -> pd.DataFrame:
    """A long frame of the given time indexes, one series each (``s0``, ``s1``, ...)."""
    rows = [
        pd.DataFrame({"unique_id": f"s{i}", "ds": stamps, "y": np.arange(len(stamps), dtype=float)})
        for i, stamps in enumerate(series)
    ]
    return pd.concat(rows, ignore_index=True)


@pytest.mark.parametrize(
    ("freq", "first"),
    [("h", "2024-03-30"), ("MS", "2020-01-01"), ("W-MON", "2024-01-01"), ("B", "2024-01-05")],
)
def test_regular_series_pass(freq, first):
    stamps = pd.date_range(first, periods=60, freq=freq)
    df = frame(stamps, stamps[5:])
    check_frame(df.sample(frac=1, random_state=0), freq)  # raises if refused


def test_time_zone_across_daylight_saving():
    stamps = pd.date_range("2024-03-30", periods=72, freq="h", tz="Europe/Berlin")
    check_frame(frame(stamps), "h")
    with pytest.raises(ValueError, match="misses timestamps"):
        check_frame(frame(stamps.delete(30)), "h")


def test_the_first_break_of_the_first_broken_series_is_named():
    good = pd.date_range("2020-01-01", periods=30, freq="MS")
    gap = good.delete([10, 20])
    message = (
        r"series 's1' misses timestamps at freq='MS': after 2020-10-01 00:00:00 comes "
        r"2020-12-01 00:00:00 instead of 2020-11-01 00:00:00"
    )
    with pytest.raises(ValueError, match=message):
        check_frame(frame(good, gap, gap), "MS")


def test_a_series_off_the_anchor_is_named():
    with pytest.raises(
        ValueError, match=r"series 's1' starts at 2020-01-15 00:00:00, which is not"
    ):
        check_frame(
            frame(
                pd.date_range("2020-01-01", periods=12, freq="MS"),
                pd.date_range("2020-01-15", periods=12, freq="30D"),
            ),
            "MS",
        )


def test_integer_steps():
    check_frame(frame(pd.Index(np.arange(0, 40, 2)), pd.Index(np.arange(7, 47, 2))), 2)
    with pytest.raises(ValueError, match="after 8 comes 12 instead of 10"):
        check_frame(frame(pd.Index(np.r_[0:10:2, 12:30:2])), 2)
