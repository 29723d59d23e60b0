"""A retraining backtest of the distilled student without look-ahead: ``refit_teacher=True``.

Darts' ``backtest(..., retrain=True)`` trains a fresh copy of the model on every training slice
(the series up to each forecast point). A teacher fitted once on the whole series would have
seen the future of those slices, and the student warns when it is trained like that; with
``refit_teacher=True`` each copy fits a fresh copy of its teacher on exactly its own slice.

Data: the weekly US influenza-like-illness series (``national_illness``, 966 weeks, 7 columns),
standardized with the statistics of its first 70%. Run from the repository root::

    TSDISTILL_DATA=../shared/data .venv/bin/python examples/darts_backtest_refit_teacher.py
"""

from __future__ import annotations

import logging
import time
import warnings

import numpy as np
from darts import TimeSeries
from darts.metrics import mse
from darts.models import TSMixerModel

from tsdistill_plugin.benchmark import load_dataset
from tsdistill_plugin.darts import DistilledMLPModel

LOOKBACK, HORIZON = 52, 12  # a year of weeks in, a quarter out
QUIET = {"enable_progress_bar": False, "enable_model_summary": False}
logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)  # no device banners

data = load_dataset("national_illness")
series = TimeSeries.from_dataframe(data.frame)

teacher = TSMixerModel(
    LOOKBACK,
    HORIZON,
    hidden_size=32,
    use_reversible_instance_norm=True,
    n_epochs=5,
    random_state=0,
    pl_trainer_kwargs=QUIET,
)
student = {"n_epochs": 5, "random_state": 0, "pl_trainer_kwargs": QUIET}
models = {
    "MLP alone": DistilledMLPModel(LOOKBACK, HORIZON, teacher=None, **student),
    "MLP distilled": DistilledMLPModel(teacher=teacher, refit_teacher=True, **student),
}
first = data.val_end  # forecasts start where the protocol's test split starts
for name, model in models.items():
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        errors = model.backtest(
            series,
            start=first,
            forecast_horizon=HORIZON,
            stride=6 * HORIZON,  # a forecast (and a retraining) every 72 weeks
            retrain=True,
            metric=mse,
            reduction=None,
        )
    seconds = time.perf_counter() - start
    leaks = sum("leak" in str(w.message) for w in caught)
    per_slice = " ".join(f"{e:.3f}" for e in errors)
    print(
        f"{name:13s} backtest MSE {np.mean(errors):.4f} over {len(errors)} retrainings "
        f"[{per_slice}], look-ahead warnings: {leaks} ({seconds:.0f} s)"
    )
