"""Distill a NeuralForecast PatchTST into ``DistilledMLP`` on ETTh1, in NeuralForecast's API.

Run from the repository root (the data are read from ``$TSDISTILL_DATA`` or ``../shared/data``)::

    TSDISTILL_DATA=../shared/data .venv/bin/python examples/neuralforecast_etth1.py

The seven ETTh1 columns become seven series in NeuralForecast's long format; small settings keep
it to a few minutes on a CPU.
"""

from __future__ import annotations

from neuralforecast import NeuralForecast
from neuralforecast.models import PatchTST

from tsdistill_plugin.benchmark import load_dataset
from tsdistill_plugin.neuralforecast import DistilledMLP

LOOKBACK, HORIZON = 96, 24

data = load_dataset("ETTh1")
frame = data.frame.iloc[: data.val_end]  # train + validation rows only
df = frame.rename_axis("ds").reset_index().melt("ds", var_name="unique_id", value_name="y")

teacher = PatchTST(h=HORIZON, input_size=LOOKBACK, max_steps=100, random_seed=0)
nf = NeuralForecast(
    models=[
        DistilledMLP(h=HORIZON, input_size=LOOKBACK, max_steps=300, alias="MLP", random_seed=0),
        DistilledMLP(teacher=teacher, max_steps=300, alias="DistilledMLP", random_seed=0),
    ],
    freq="h",
)
cv = nf.cross_validation(df, n_windows=4, step_size=HORIZON, val_size=HORIZON)
for model in ("MLP", "DistilledMLP"):
    print(f"{model:13s} cross-validation MSE: {((cv[model] - cv['y']) ** 2).mean():.4f}")
