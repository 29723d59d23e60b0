"""Several teachers: a Darts TiDE and a linear regression teach one MLP student on ETTh1, their
forecasts combined with weights fitted on the validation split.

``teacher=[a, b, ...]`` fits (or checks) each teacher and fills its cache once;
``teacher_weights="validation"`` then picks non-negative weights summing to one that make the
weighted teacher forecast closest to the validation data (``"mean"`` gives equal weights; a
list gives your own). The student distils from the weighted forecast, and from the members'
hidden features side by side where they have some (TiDE does, the regression does not).

Run from the repository root (the data set is read from ``$TSDISTILL_DATA``)::

    TSDISTILL_DATA=../shared/data .venv/bin/python examples/darts_several_teachers.py

The last four months of the training split, lookback 96, horizon 24 and two small teachers keep
it to about half a minute on a CPU.
"""

from __future__ import annotations

import logging
import time

from darts import TimeSeries
from darts.metrics import mse
from darts.models import LinearRegressionModel, TiDEModel

from tsdistill_plugin.benchmark import load_dataset
from tsdistill_plugin.darts import DistilledMLPModel

LOOKBACK, HORIZON = 96, 24
QUIET = {"enable_progress_bar": False, "enable_model_summary": False}
logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)  # no device banners

data = load_dataset("ETTh1")
train = TimeSeries.from_dataframe(data.split("train").iloc[-4 * 30 * 24 :])
val = TimeSeries.from_dataframe(data.split("val", lookback=LOOKBACK))
test = TimeSeries.from_dataframe(data.split("test", lookback=LOOKBACK))

teachers = [
    TiDEModel(
        LOOKBACK,
        HORIZON,
        hidden_size=64,
        use_reversible_instance_norm=True,
        n_epochs=3,
        random_state=0,
        pl_trainer_kwargs=QUIET,
    ),
    LinearRegressionModel(lags=LOOKBACK, output_chunk_length=HORIZON),
]
student = {"n_epochs": 3, "random_state": 0, "pl_trainer_kwargs": QUIET}
models = {
    "MLP alone": DistilledMLPModel(LOOKBACK, HORIZON, teacher=None, **student),
    "MLP distilled": DistilledMLPModel(teacher=teachers, teacher_weights="validation", **student),
}
backtest = {"start": LOOKBACK, "forecast_horizon": HORIZON, "stride": HORIZON, "metric": mse}
for name, model in models.items():
    start = time.perf_counter()
    model.fit(train, val_series=val)  # fits both teachers, then their weights on `val`
    seconds = time.perf_counter() - start
    error = model.backtest(test, retrain=False, **backtest)
    print(f"{name:29s} test MSE {error:.4f}  (fit {seconds:.0f} s)")

ensemble = models["MLP distilled"].teacher
for member, weight in zip(ensemble.members, ensemble.weights.tolist(), strict=True):
    name = type(member.model).__name__
    error = member.model.backtest(test, retrain=False, **backtest)
    print(f"teacher {name:21s} test MSE {error:.4f}, weight {weight:.3f}")
