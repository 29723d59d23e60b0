"""A fitted model's forecast through its library's own ``predict``, as a user runs it.

Each function takes the windows to forecast, ``[batch, lookback, channels]``, builds the input
the library's ``predict`` takes from them (beforehand, as a user holds it) and returns the call
that forecasts the ``horizon`` steps after each window: what
:mod:`~tsdistill_plugin.benchmark.serving` times. Each imports its library when called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd


def darts_predict(
    model: Any, horizon: int, windows: np.ndarray, **covariates: np.ndarray
) -> Callable[[], object]:
    """``model.predict(horizon, series=...)`` with one Darts ``TimeSeries`` per window.

    ``covariates`` are the windows' covariates by ``predict`` argument name
    (``past_covariates`` ``[batch, lookback, Cp]``, ``future_covariates`` ``[batch, lookback +
    horizon, Cf]``), each window's a series on the same integer time steps as its target.
    """
    from darts import TimeSeries

    inputs = {
        name: [TimeSeries.from_values(window) for window in values]
        for name, values in {"series": windows, **covariates}.items()
    }
    return lambda: model.predict(horizon, **inputs, verbose=False)


def darts_forecast(
    model: Any, horizon: int, windows: np.ndarray, **covariates: np.ndarray
) -> np.ndarray:
    """The forecasts of :func:`darts_predict`'s call, ``[batch, horizon, channels]``."""
    forecasts = darts_predict(model, horizon, windows, **covariates)()
    return np.stack([forecast.values(copy=False) for forecast in forecasts])


def _long_frame(windows: np.ndarray, freq: str | int) -> pd.DataFrame:
    """Windows ``[batch, lookback, channels]`` as NeuralForecast's long frame.

    One series per window and channel, ids ``"<window>_<channel>"`` zero-padded so that they
    sort window-major in channel order (NeuralForecast orders the series by id), at timestamps
    of frequency ``freq`` (an integer: integer time steps).
    """
    batch, length, channels = windows.shape
    if isinstance(freq, int):
        stamps = pd.Index(np.arange(length) * freq)
    else:
        stamps = pd.date_range("2000-01-01", periods=length, freq=freq)
    ids = [f"{window:06d}_{channel:06d}" for window in range(batch) for channel in range(channels)]
    return pd.DataFrame(
        {
            "unique_id": np.repeat(ids, length),
            "ds": np.tile(stamps.to_numpy(), batch * channels),
            "y": windows.transpose(0, 2, 1).reshape(-1),
        }
    )


def neuralforecast_predict(forecaster: Any, windows: np.ndarray) -> Callable[[], object]:
    """``forecaster.predict(df=...)`` (a fitted ``NeuralForecast`` holding one model).

    A univariate model forecasts every window's channels in one call; a multivariate one
    forecasts the series it was fitted on together, so one call per window.
    """
    (model,) = forecaster.models
    if model.MULTIVARIATE:
        frames = [_long_frame(window[None], forecaster.freq) for window in windows]
        return lambda: [forecaster.predict(df=frame) for frame in frames]
    frame = _long_frame(windows, forecaster.freq)
    return lambda: forecaster.predict(df=frame)
