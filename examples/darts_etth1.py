"""Distill a Darts TSMixer into the MLP student on ETTh1, then use the student like any Darts model.

Run from the repository root (the data are read from ``$TSDISTILL_DATA`` or ``../shared/data``)::

    TSDISTILL_DATA=../shared/data .venv/bin/python examples/darts_etth1.py

Small settings (lookback 96, horizon 24, a few epochs) so that it finishes in a few minutes on a
laptop CPU; ``tsdistill benchmark`` runs the paper's protocol.
"""

from __future__ import annotations

from darts import TimeSeries
from darts.metrics import mse
from darts.models import TSMixerModel

from tsdistill_plugin.benchmark import load_dataset
from tsdistill_plugin.darts import DistilledMLPModel

LOOKBACK, HORIZON = 96, 24

data = load_dataset("ETTh1")  # the standard splits, standardized with train statistics
train = TimeSeries.from_dataframe(data.split("train"))
val = TimeSeries.from_dataframe(data.split("val", lookback=LOOKBACK))
test = TimeSeries.from_dataframe(data.split("test", lookback=LOOKBACK))

teacher = TSMixerModel(LOOKBACK, HORIZON, hidden_size=64, n_epochs=3, random_state=0)
models = {
    "plain MLP": DistilledMLPModel(LOOKBACK, HORIZON, teacher=None, n_epochs=5, random_state=0),
    "distilled MLP": DistilledMLPModel(teacher=teacher, n_epochs=5, random_state=0),
}
for name, model in models.items():
    model.fit(train, val_series=val)  # the distilled model fits its teacher first
    forecasts = model.historical_forecasts(
        test,
        start=LOOKBACK,
        forecast_horizon=HORIZON,
        stride=HORIZON,
        retrain=False,
        last_points_only=False,
    )
    errors = [mse(test, forecast) for forecast in forecasts]
    print(f"{name:14s} test MSE over {len(errors)} windows: {sum(errors) / len(errors):.4f}")

models["distilled MLP"].save("distilled_mlp.pt")  # a small file without the teacher
reloaded = DistilledMLPModel.load("distilled_mlp.pt")
print("reloaded forecast:", reloaded.predict(n=HORIZON, series=val).values()[:2])
