"""A statistical teacher: Darts' ``ExponentialSmoothing`` (a local model) teaches the MLP student
the oil temperature of ETTh1, beside the same MLP trained alone.

A local model has no lookback of its own: as a teacher it is refitted on each training window of
the student's lookback and forecasts the student's horizon from it. That costs a fit per window,
so ``teacher_stride=k`` distils from every k-th window only (the supervised loss still uses all
of them). Such a teacher has no hidden features, so ``beta=0`` (prediction-level terms only).

Run from the repository root (the data set is read from ``$TSDISTILL_DATA``)::

    TSDISTILL_DATA=../shared/data .venv/bin/python examples/darts_statistical_teacher.py

One channel (``OT``), the last 1,000 training hours, lookback 96 and horizon 24 keep it to about
half a minute on a CPU.
"""

from __future__ import annotations

import logging
import time

from darts import TimeSeries
from darts.metrics import mse
from darts.models import ExponentialSmoothing
from darts.utils.utils import ModelMode, SeasonalityMode

from tsdistill_plugin.benchmark import load_dataset
from tsdistill_plugin.darts import DistilledMLPModel

LOOKBACK, HORIZON = 96, 24
TEACHER_STRIDE = 8  # the teacher is refitted on every 8th training window
QUIET = {"enable_progress_bar": False, "enable_model_summary": False}
logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)  # no device banners

data = load_dataset("ETTh1")
train = TimeSeries.from_dataframe(data.split("train").iloc[-1000:][["OT"]])
# the first 20 days of the test split, with the lookback before them
test = TimeSeries.from_dataframe(
    data.split("test", lookback=LOOKBACK).iloc[: LOOKBACK + 480][["OT"]]
)

# Holt-Winters with a damped additive trend and a daily additive season
teacher = ExponentialSmoothing(
    trend=ModelMode.ADDITIVE, damped=True, seasonal=SeasonalityMode.ADDITIVE, seasonal_periods=24
)
student = {"hidden_size": 128, "n_epochs": 5, "random_state": 0, "pl_trainer_kwargs": QUIET}
models = {
    "MLP alone": DistilledMLPModel(LOOKBACK, HORIZON, teacher=None, **student),
    "MLP distilled": DistilledMLPModel(
        LOOKBACK, HORIZON, teacher=teacher, teacher_stride=TEACHER_STRIDE, beta=0.0, **student
    ),
}
backtest = {"start": LOOKBACK, "forecast_horizon": HORIZON, "stride": HORIZON, "metric": mse}
for name, model in models.items():
    start = time.perf_counter()
    model.fit(train)
    seconds = time.perf_counter() - start
    error = model.backtest(test, retrain=False, **backtest)
    print(f"{name:22s} test MSE {error:.4f}  (fit {seconds:.0f} s)")

# the teacher on its own: refitted on each test window's lookback, as it was on the training ones
error = teacher.backtest(test, retrain=True, train_length=LOOKBACK, **backtest, show_warnings=False)
print(f"{'teacher ExpSmoothing':22s} test MSE {error:.4f}")
