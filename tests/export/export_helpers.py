"""Sizes and helpers shared by the export tests (a uniquely named module, importable next to
the other test folders' helpers)."""

from __future__ import annotations

import warnings

import pandas as pd
from long_format import to_long
from trainer_settings import QUIET

L, H = 96, 24
"""Lookback and horizon of the students in these tests."""


def fit_nf(raw: pd.DataFrame, multivariate: bool, norm: str, scaler_type: str) -> object:
    """A fitted ``NeuralForecast`` with one tiny student (width 32, 5 steps) on 700 hours."""
    from neuralforecast import NeuralForecast

    from tsdistill_plugin.neuralforecast import DistilledMLP, DistilledMLPMultivariate

    kwargs = dict(
        h=H,
        input_size=L,
        hidden_size=32,
        norm=norm,
        scaler_type=scaler_type,
        max_steps=5,
        **QUIET,
    )
    model = (
        DistilledMLPMultivariate(n_series=7, **kwargs) if multivariate else DistilledMLP(**kwargs)
    )
    nf = NeuralForecast(models=[model], freq="h")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nf.fit(to_long(raw.iloc[:700]))
    return nf
