"""A foundation-model teacher: Darts' ``Chronos2Model`` teaches the MLP student zero-shot.

A foundation model needs no training: as a teacher it reads the end of each training window (as
much as its context length takes) and forecasts the student's horizon, rolling itself out when
its own output is shorter. Its forecast tokens feed the feature-level terms.

This script loads a *tiny Chronos-2 checkpoint with random weights* (2 layers, width 8, context
21, made for tests; ``$TSDISTILL_MODELS/tiny_chronos2``, ``../shared/models`` in this project's
layout), so it runs offline in seconds but its forecasts mean nothing: the figures printed show
the mechanics (shapes, the rollout, the training and saving path), not what Chronos-2 can teach.
On a machine with access to the model hub, leave out ``local_dir`` and Darts downloads the real
``amazon/chronos-2`` weights (install the ``foundation`` extra); the rest is the same.

Run from the repository root (the data set is read from ``$TSDISTILL_DATA``)::

    TSDISTILL_DATA=../shared/data .venv/bin/python examples/darts_foundation_teacher.py
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path

from darts import TimeSeries
from darts.metrics import mse
from darts.models import Chronos2Model

from tsdistill_plugin.benchmark import load_dataset
from tsdistill_plugin.darts import DistilledMLPModel

LOOKBACK, HORIZON = 96, 24
QUIET = {"enable_progress_bar": False, "enable_model_summary": False}
MODELS = Path(
    os.environ.get("TSDISTILL_MODELS", Path(__file__).resolve().parents[2] / "shared/models")
)
logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)  # no device banners

data = load_dataset("ETTh1")
train = TimeSeries.from_dataframe(data.split("train").iloc[-1000:])
test = TimeSeries.from_dataframe(data.split("test", lookback=LOOKBACK).iloc[: LOOKBACK + 480])

# the tiny checkpoint reads at most 21 steps and forecasts at most 77; the real one 8,192 / 1,024
teacher = Chronos2Model(
    input_chunk_length=21,
    output_chunk_length=14,  # shorter than the student's horizon: the teacher is rolled out
    local_dir=MODELS / "tiny_chronos2",
    pl_trainer_kwargs=QUIET,
)
student = DistilledMLPModel(
    LOOKBACK,
    HORIZON,
    teacher=teacher,
    hidden_size=128,
    n_epochs=3,
    random_state=0,
    pl_trainer_kwargs=QUIET,
)
start = time.perf_counter()
student.fit(train)  # the teacher forecasts every training window once, then the student trains
seconds = time.perf_counter() - start
adapter = student.teacher
print(
    f"teacher {type(adapter.model).__name__}: reads {adapter.input_len} steps, forecasts "
    f"{adapter.horizon} per call, {adapter.n_channels} channels; student fit {seconds:.0f} s"
)
metrics = student.trainer.callback_metrics
terms = ", ".join(
    f"{name} {float(metrics[f'train_{name}']):.4f}"
    for name in ("supervised", "prediction_scale", "feature_scale")
)
print(f"last epoch's loss terms: {terms}")

backtest = {"start": LOOKBACK, "forecast_horizon": HORIZON, "stride": HORIZON, "metric": mse}
print(f"student test MSE {student.backtest(test, retrain=False, **backtest):.4f}")
error = adapter.model.backtest(test, retrain=False, **backtest)
print(f"teacher test MSE {error:.4f} (random weights)")

with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "student.pt"
    student.save(str(path))  # the student alone: Chronos-2 is not saved with it
    reloaded = DistilledMLPModel.load(str(path))
    before = student.predict(HORIZON, series=train).values()
    after = reloaded.predict(HORIZON, series=train).values()
    difference = abs(after - before).max()
    print(f"reloaded student (teacher {reloaded.teacher}): forecasts differ by {difference:.1e}")
