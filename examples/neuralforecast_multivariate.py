"""A multivariate teacher: NeuralForecast's iTransformer, which reads all seven ETTh1 channels
together, distilled into ``DistilledMLPMultivariate``, beside the same MLP trained alone.

A multivariate teacher forecasts every series from all of them at once, so its student must
see all series together too: ``DistilledMLPMultivariate`` (like NeuralForecast's
``MLPMultivariate``) takes ``n_series`` from its teacher. iTransformer's encoder output (one token
per series) feeds the feature-level distillation terms.

Run from the repository root (the data set is read from ``$TSDISTILL_DATA``)::

    TSDISTILL_DATA=../shared/data .venv/bin/python examples/neuralforecast_multivariate.py

The last 2,000 hours, lookback 96, horizon 24 and a small iTransformer keep it to about half a
minute on a CPU.
"""

from __future__ import annotations

import logging
import time

from neuralforecast import NeuralForecast
from neuralforecast.models import iTransformer

from tsdistill_plugin.benchmark import load_dataset
from tsdistill_plugin.neuralforecast import DistilledMLPMultivariate

LOOKBACK, HORIZON = 96, 24
QUIET = {"enable_progress_bar": False, "enable_model_summary": False, "logger": False}
logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)  # no device banners

data = load_dataset("ETTh1")  # standardized with the statistics of the protocol's train split
frame = data.frame.iloc[-2000:]
df = frame.rename_axis("ds").reset_index().melt("ds", var_name="unique_id", value_name="y")
n_series = df["unique_id"].nunique()

teacher = iTransformer(
    h=HORIZON,
    input_size=LOOKBACK,
    n_series=n_series,
    hidden_size=64,
    n_heads=4,
    e_layers=1,
    d_ff=128,
    max_steps=100,
    val_check_steps=50,
    random_seed=0,
    **QUIET,
)
student = {"max_steps": 200, "val_check_steps": 50, "random_seed": 0, **QUIET}
nf = NeuralForecast(
    models=[
        DistilledMLPMultivariate(HORIZON, LOOKBACK, n_series=n_series, alias="MLP", **student),
        # h, input_size and n_series come from the teacher
        DistilledMLPMultivariate(teacher=teacher, alias="DistilledMLP", **student),
    ],
    freq="h",
)
start = time.perf_counter()
# the last 4 x HORIZON hours are held out and forecast in 4 windows; the students fit the
# teacher on exactly their own training rows
cv = nf.cross_validation(df, n_windows=4, step_size=HORIZON)
seconds = time.perf_counter() - start

fitted_teacher = nf.models[1].teacher.model  # the fitted copy, shared by the student
print(f"teacher: {type(fitted_teacher).__name__} over {fitted_teacher.n_series} series")
for model in ("MLP", "DistilledMLP"):
    print(f"{model:13s} cross-validation MSE {((cv[model] - cv['y']) ** 2).mean():.4f}")
print(f"cross_validation (teacher and both students trained): {seconds:.0f} s")
