"""NeuralForecast quick start: ``DistilledMLP`` with a PatchTST teacher on ETTh1, beside the same
MLP trained alone, in one ``NeuralForecast`` object, evaluated by ``cross_validation``.

Run from the repository root. The data set is read from ``$TSDISTILL_DATA`` (``../shared/data``
in this project's layout) or downloaded once from its public source::

    TSDISTILL_DATA=../shared/data .venv/bin/python examples/neuralforecast_quickstart.py

The seven ETTh1 columns become seven series in NeuralForecast's long format. The last 2,000
hours, a small PatchTST and a hundred-odd steps keep it to about half a minute on a CPU (a
NeuralForecast training step builds every window of its series, so its cost grows with their
length).
"""

from __future__ import annotations

import logging
import time

from neuralforecast import NeuralForecast
from neuralforecast.models import PatchTST

from tsdistill_plugin.benchmark import load_dataset
from tsdistill_plugin.neuralforecast import DistilledMLP

LOOKBACK, HORIZON = 96, 24
QUIET = {"enable_progress_bar": False, "enable_model_summary": False, "logger": False}
logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)  # no device banners

data = load_dataset("ETTh1")  # standardized with the statistics of the protocol's train split
frame = data.frame.iloc[-2000:]
df = frame.rename_axis("ds").reset_index().melt("ds", var_name="unique_id", value_name="y")

teacher = PatchTST(
    h=HORIZON,
    input_size=LOOKBACK,
    hidden_size=32,
    n_heads=4,
    linear_hidden_size=64,
    windows_batch_size=128,
    max_steps=60,
    random_seed=0,
    **QUIET,
)
nf = NeuralForecast(
    models=[
        DistilledMLP(HORIZON, LOOKBACK, max_steps=120, alias="MLP", random_seed=0, **QUIET),
        DistilledMLP(teacher=teacher, max_steps=120, alias="DistilledMLP", random_seed=0, **QUIET),
    ],
    freq="h",
)
start = time.perf_counter()
# the last 4 x HORIZON hours are held out and forecast in 4 windows; the teacher is fitted on
# exactly the rows the students train on
cv = nf.cross_validation(df, n_windows=4, step_size=HORIZON)
seconds = time.perf_counter() - start
for model in ("MLP", "DistilledMLP"):
    print(f"{model:13s} cross-validation MSE {((cv[model] - cv['y']) ** 2).mean():.4f}")
print(f"cross_validation (teacher and both students trained): {seconds:.0f} s")
