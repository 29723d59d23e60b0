"""Darts quick start: distil a TSMixer into the MLP student on ETTh1, beside the same MLP
trained alone, then save and reload the student like any Darts model.

Run from the repository root. The data set is read from ``$TSDISTILL_DATA`` (``../shared/data``
in this project's layout) or downloaded once from its public source::

    TSDISTILL_DATA=../shared/data .venv/bin/python examples/darts_quickstart.py

Small settings (the last four months of the training split, lookback 96, horizon 24, three
epochs) keep it under half a minute on a CPU; ``tsdistill benchmark`` runs the paper's protocol.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

from darts import TimeSeries
from darts.metrics import mse
from darts.models import TSMixerModel

from tsdistill_plugin.benchmark import load_dataset
from tsdistill_plugin.darts import DistilledMLPModel

LOOKBACK, HORIZON = 96, 24
BATCH = 64
QUIET = {"enable_progress_bar": False, "enable_model_summary": False}
logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)  # no device banners

data = load_dataset("ETTh1")  # the standard splits, standardized with train statistics
train = TimeSeries.from_dataframe(data.split("train").iloc[-4 * 30 * 24 :])
val = TimeSeries.from_dataframe(data.split("val", lookback=LOOKBACK))
test = TimeSeries.from_dataframe(data.split("test", lookback=LOOKBACK))

teacher = TSMixerModel(
    LOOKBACK,
    HORIZON,
    hidden_size=64,
    use_reversible_instance_norm=True,  # each window normalized, as the student's norm="mean"
    n_epochs=3,
    batch_size=BATCH,
    random_state=0,
    pl_trainer_kwargs=QUIET,
)
student = {"n_epochs": 3, "batch_size": BATCH, "random_state": 0, "pl_trainer_kwargs": QUIET}
models = {
    "MLP alone": DistilledMLPModel(LOOKBACK, HORIZON, teacher=None, **student),
    "MLP distilled": DistilledMLPModel(teacher=teacher, **student),  # L and H: the teacher's
}
for name, model in models.items():
    start = time.perf_counter()
    model.fit(train, val_series=val)  # the distilled model fits its teacher first
    seconds = time.perf_counter() - start
    # one forecast every HORIZON steps over the test split, the student never retrained
    error = model.backtest(
        test, start=LOOKBACK, forecast_horizon=HORIZON, stride=HORIZON, retrain=False, metric=mse
    )
    print(f"{name:14s} test MSE {error:.4f}  (fit {seconds:.0f} s)")

error = teacher.backtest(
    test, start=LOOKBACK, forecast_horizon=HORIZON, stride=HORIZON, retrain=False, metric=mse
)
print(f"{'teacher TSMixer':14s} test MSE {error:.4f}")

with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "student.pt"
    models["MLP distilled"].save(str(path))  # the student alone: the teacher is not saved
    size = sum(f.stat().st_size for f in Path(folder).iterdir())
    reloaded = DistilledMLPModel.load(str(path))
    before = models["MLP distilled"].predict(HORIZON, series=val).values()
    after = reloaded.predict(HORIZON, series=val).values()
    difference = abs(after - before).max()
    print(f"saved student: {size / 1e6:.1f} MB; reloaded forecasts differ by {difference:.1e}")
