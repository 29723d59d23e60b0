"""Export and serving: a distilled Darts student written to ONNX with ``to_onnx`` and served with
``Predictor``, which runs it with ONNX Runtime alone (no torch, Darts or NeuralForecast).

The exported graph takes raw windows in the data's scale and returns forecasts in that scale;
the lookback, horizon, channel names, frequency and teacher are stored in the file. The script
checks that the served forecasts equal Darts' own, times one forecast both ways, and scores every
test window of ETTh1 in one batched call.

Run from the repository root (the data set is read from ``$TSDISTILL_DATA``; needs the
``export`` extra)::

    TSDISTILL_DATA=../shared/data .venv/bin/python examples/export_and_serve.py
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import numpy as np
from darts import TimeSeries
from darts.models import LinearRegressionModel

from tsdistill_plugin.benchmark import load_dataset
from tsdistill_plugin.darts import DistilledMLPModel
from tsdistill_plugin.export import Predictor, to_onnx

LOOKBACK, HORIZON = 96, 24
QUIET = {"enable_progress_bar": False, "enable_model_summary": False}
logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)  # no device banners

data = load_dataset("ETTh1")
train = TimeSeries.from_dataframe(data.split("train").iloc[-4 * 30 * 24 :])
history = data.split("val").iloc[-LOOKBACK:]  # the last LOOKBACK hours before the test split

model = DistilledMLPModel(
    teacher=LinearRegressionModel(lags=LOOKBACK, output_chunk_length=HORIZON),
    beta=0.0,  # a regression model has no hidden features: prediction-level terms only
    hidden_size=128,
    n_epochs=3,
    random_state=0,
    pl_trainer_kwargs=QUIET,
)
model.fit(train)


def milliseconds(call: object, repeat: int = 20) -> float:
    """Median wall time of ``call()`` in milliseconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


with tempfile.TemporaryDirectory() as folder:
    path = to_onnx(model, Path(folder) / "student.onnx")
    size = path.stat().st_size
    predictor = Predictor.load(path, threads=1)  # from here on only ONNX Runtime runs

spec = predictor.spec
print(
    f"exported {size / 1e3:.0f} kB: lookback {spec.lookback}, horizon {spec.horizon}, "
    f"components {', '.join(spec.components)}, freq {spec.freq}, teacher {spec.teacher}"
)
served = predictor.predict(history)  # a frame indexed by the forecast's timestamps
darts_forecast = model.predict(HORIZON, series=TimeSeries.from_dataframe(history))
difference = np.abs(served.to_numpy() - darts_forecast.values()).max()
print(f"forecast from {served.index[0]} to {served.index[-1]}; Predictor - Darts: {difference:.1e}")

series = TimeSeries.from_dataframe(history)
darts_ms = milliseconds(lambda: model.predict(HORIZON, series=series, verbose=False))
onnx_ms = milliseconds(lambda: predictor.predict(history.to_numpy()))
print(f"one forecast: Darts predict {darts_ms:.2f} ms, Predictor {onnx_ms:.3f} ms")

x, y = data.windows("test", LOOKBACK, HORIZON)  # every test window, stride 1
start = time.perf_counter()
forecasts = predictor.predict(np.ascontiguousarray(x))  # [windows, horizon, channels]
seconds = time.perf_counter() - start
print(
    f"{len(x)} test windows in one call: {seconds * 1e3:.0f} ms, "
    f"test MSE {np.mean((forecasts - y) ** 2):.4f}"
)
