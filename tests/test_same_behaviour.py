"""One situation, one behaviour and one message, in Darts and in NeuralForecast.

Both students hold the core lifecycle, so a pre-fitted teacher with a student refitted on other
data, a slow (local) teacher and an incompatible teacher are handled the same way by both; each
case runs over both libraries. (A teacher with a shorter horizon is a row of the bad-input
matrix in both libraries, ``test_bad_inputs.py``.)
"""

from __future__ import annotations

import logging
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from trainer_settings import QUIET

pytest.importorskip("darts")
pytest.importorskip("neuralforecast")

from darts import TimeSeries  # noqa: E402
from darts.models import LinearRegressionModel, NaiveSeasonal  # noqa: E402

from tsdistill_plugin.core import cache as cache_module  # noqa: E402

L, H = 48, 16
LIBRARIES = ["darts", "neuralforecast"]
LOOKBACK_NAME = {"darts": "input_chunk_length", "neuralforecast": "input_size"}


class Student:
    """A tiny univariate student of one library, fitted on the first ``rows`` hours of OT."""

    def __init__(self, library: str, ot: pd.Series, teacher: object, **kwargs: object) -> None:
        self.library, self.ot = library, ot
        if library == "darts":
            from tsdistill_plugin.darts import DistilledMLPModel

            self.model = DistilledMLPModel(
                teacher=teacher,
                hidden_size=16,
                n_epochs=1,
                random_state=0,
                pl_trainer_kwargs=dict(QUIET),
                **kwargs,
            )
        else:
            from neuralforecast import NeuralForecast

            from tsdistill_plugin.neuralforecast import DistilledMLP

            student = DistilledMLP(teacher=teacher, hidden_size=16, max_steps=2, **QUIET, **kwargs)
            self.model = NeuralForecast(models=[student], freq="h")

    def fit(self, rows: int) -> None:
        part = self.ot.iloc[:rows]
        if self.library == "darts":
            self.model.fit(TimeSeries.from_series(part))
        else:
            frame = pd.DataFrame({"unique_id": "OT", "ds": part.index, "y": part.to_numpy()})
            self.model.fit(frame)


@pytest.fixture(scope="module")
def ot(etth1: pd.DataFrame) -> pd.Series:
    return etth1["OT"].iloc[:500]


def fitted_regression(ot: pd.Series, horizon: int = H) -> LinearRegressionModel:
    """A teacher fitted by the user on the whole series."""
    return LinearRegressionModel(lags=L, output_chunk_length=horizon).fit(
        TimeSeries.from_series(ot)
    )


@pytest.mark.parametrize("library", LIBRARIES)
def test_prefitted_teacher_and_a_student_refitted_on_other_data_warn_alike(library, ot):
    student = Student(library, ot, fitted_regression(ot), **lengths(library))
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*leak the slice's future.*")
        student.fit(400)  # the first fit: nothing to compare with
        student.fit(400)  # the same data again: no look-ahead
    with pytest.warns(UserWarning) as record:
        student.fit(300)  # a shorter slice, as in a retraining backtest
    messages = [str(w.message) for w in record if "leak" in str(w.message)]
    assert messages == [
        "the teacher was fitted before the student on data that may reach past the end of this "
        "training slice (as in a retraining backtest or cross_validation with a teacher fitted "
        "on the whole series): its forecasts can leak the slice's future into the student. Pass "
        "refit_teacher=True to fit a fresh teacher on each training slice."
    ]


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_slow_local_teacher_warns_alike(library, ot, monkeypatch):
    monkeypatch.setattr(cache_module, "SLOW_FILL_SECONDS", 0.0)
    student = Student(library, ot, NaiveSeasonal(K=24), **lengths(library))
    with pytest.warns(UserWarning, match="distil from fewer windows") as record:
        student.fit(300)
    message = next(str(w.message) for w in record if "distil from fewer" in str(w.message))
    # each library's training windows: Darts' end with a full horizon, NeuralForecast's may
    # end in the last H steps (its windows are padded there and masked)
    windows = 300 - L + 1 - (H if library == "darts" else 0)
    assert re.match(rf"the teacher needs about \d+ s for the {windows} training windows", message)


@pytest.mark.parametrize("library", LIBRARIES)
def test_an_incompatible_teacher_is_one_clear_error_alike(library, ot):
    teacher = LinearRegressionModel(lags=2 * L, output_chunk_length=H)
    name = LOOKBACK_NAME[library]
    with pytest.raises(ValueError) as error:
        Student(library, ot, teacher, **lengths(library))
    assert str(error.value) == (
        f"the teacher reads {2 * L} steps but the student's {name} is {L}; give the student "
        f"{name} >= {2 * L} (or leave it None to take the teacher's)."
    )


@pytest.mark.parametrize("library", LIBRARIES)
def test_horizons_under_eight_fit_and_forecast_with_the_default_pooling_alike(library, ot, caplog):
    horizon_name = "output_chunk_length" if library == "darts" else "h"
    for horizon in (1, 3, 7):
        teacher = fitted_regression(ot, horizon=horizon)
        with caplog.at_level(logging.INFO, logger="tsdistill_plugin.core.distillation"):
            student = Student(library, ot, teacher, beta=0.0, **lengths(library, horizon))
        levels = {1: 0, 3: 1, 7: 2}[horizon]
        assert (
            f"{horizon_name}={horizon} allows {levels} pooling levels of the multi-scale terms "
            f"(the reference's 3 need {horizon_name} >= 8): using {levels}" in caplog.text
        )
        student.fit(300)
        if library == "darts":
            forecast = student.model.predict(horizon).values()
        else:
            forecast = student.model.predict()["DistilledMLP"].to_numpy()
        assert forecast.shape[0] == horizon and np.isfinite(forecast).all()
    with pytest.raises(ValueError, match=rf"scale_levels=3 needs {horizon_name} >= 2 \*\* scale"):
        Student(library, ot, None, scale_levels=3, **lengths(library, 7))


@pytest.mark.parametrize("library", LIBRARIES)
def test_period_weight_zero_leaves_the_period_term_out_of_the_total_alike(library, ot):
    student = Student(
        library, ot, fitted_regression(ot), alpha=2.0, beta=0.0, period_weight=0.0,
        **lengths(library),
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*gives no hidden features.*")
        student.fit(300)
    if library == "darts":
        logged, suffix = student.model.trainer.callback_metrics, ""
    else:
        logged, suffix = student.model.models[0].metrics, "_epoch"
    names = ("total", "supervised", "prediction_scale", "prediction_period")
    term = {name: float(logged[f"train_{name}{suffix}"]) for name in names}
    period = term["prediction_period"]
    assert period > 0  # computed and logged, but not trained on
    expected = term["supervised"] + 2.0 * term["prediction_scale"]
    assert term["total"] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("library", LIBRARIES)
def test_covariates_reach_the_same_network_and_its_forecast_alike(library, etth1):
    """Two loads as past covariates (NF: ``hist_exog_list``) and the hour as a future one
    (``futr_exog_list``): the same DMLP, reading both, in either library."""
    import torch

    frame = etth1.iloc[:400]
    hour = np.sin(frame.index.hour.to_numpy() / 24 * 2 * np.pi).astype("float32")
    torch.manual_seed(0)
    if library == "darts":
        from tsdistill_plugin.darts import DistilledMLPModel

        target = TimeSeries.from_series(frame["OT"].iloc[:300])
        loads = TimeSeries.from_dataframe(frame[["HUFL", "MUFL"]])
        calendar = TimeSeries.from_times_and_values(frame.index, hour, columns=["hour"])
        model = DistilledMLPModel(
            hidden_size=16, n_epochs=1, random_state=0, pl_trainer_kwargs=dict(QUIET),
            **lengths(library),
        )  # fmt: skip
        model.fit(target, past_covariates=loads, future_covariates=calendar)
        student = model.model.student

        def forecast(scale: float) -> np.ndarray:
            future = calendar.with_values(calendar.values() * scale)
            return model.predict(H, past_covariates=loads, future_covariates=future).values()
    else:
        from neuralforecast import NeuralForecast

        from tsdistill_plugin.neuralforecast import DistilledMLP

        long = pd.DataFrame(
            {"unique_id": "OT", "ds": frame.index, "y": frame["OT"].to_numpy(), "hour": hour}
        ).assign(HUFL=frame["HUFL"].to_numpy(), MUFL=frame["MUFL"].to_numpy())
        nf_student = DistilledMLP(
            hidden_size=16, max_steps=2, hist_exog_list=["HUFL", "MUFL"],
            futr_exog_list=["hour"], **QUIET, **lengths(library),
        )  # fmt: skip
        nf = NeuralForecast(models=[nf_student], freq="h")
        nf.fit(long.iloc[:300])
        student = nf_student.dmlp
        future = long.iloc[300 : 300 + H][["unique_id", "ds", "hour"]]

        def forecast(scale: float) -> np.ndarray:
            scaled = future.assign(hour=future["hour"] * scale)
            return nf.predict(futr_df=scaled)["DistilledMLP"].to_numpy()

    assert student.covariate_sizes == (2, 1, 0)
    width = 16 * (L * 2 + (L + H) * 1 + 1)
    plain = 2 * (L * 16 + 16 + 16 * H + H) + 4
    assert sum(p.numel() for p in student.parameters()) == plain + width
    assert np.abs(forecast(2.0).ravel() - forecast(1.0).ravel()).max() > 1e-4


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_covariate_teacher_into_a_covariate_free_student_is_said_alike(library, etth1, caplog):
    """A teacher fitted with the hour as a future covariate (NF: ``futr_exog_list``) teaches a
    student that reads the target alone: allowed, said at INFO, the teacher's own forecasts."""
    frame = etth1.iloc[:400]
    hour = np.sin(frame.index.hour.to_numpy() / 24 * 2 * np.pi).astype("float32")
    with caplog.at_level(logging.INFO, logger="tsdistill_plugin"):
        if library == "darts":
            from tsdistill_plugin.darts import DistilledMLPModel

            target = TimeSeries.from_series(frame["OT"].iloc[:300])
            calendar = TimeSeries.from_times_and_values(frame.index, hour, columns=["hour"])
            teacher = LinearRegressionModel(
                lags=L, lags_future_covariates=[0], output_chunk_length=H
            ).fit(target, future_covariates=calendar)
            student = DistilledMLPModel(
                teacher=teacher, use_covariates=False, beta=0.0, hidden_size=16, n_epochs=1,
                random_state=0, pl_trainer_kwargs=dict(QUIET), **lengths(library),
            )  # fmt: skip
            student.fit(target, future_covariates=calendar)
            reads = student.model.student.covariates is not None
        else:
            from neuralforecast import NeuralForecast
            from neuralforecast.models import NHITS

            from tsdistill_plugin.neuralforecast import DistilledMLP

            long = pd.DataFrame(
                {"unique_id": "OT", "ds": frame.index, "y": frame["OT"].to_numpy(), "hour": hour}
            ).iloc[:300]
            nhits = NHITS(futr_exog_list=["hour"], max_steps=2, **QUIET, **lengths(library))
            fitted = NeuralForecast(models=[nhits], freq="h")
            fitted.fit(long)  # trains a copy
            student = DistilledMLP(
                teacher=fitted.models[0],
                beta=0.0,
                hidden_size=16,
                max_steps=2,
                **QUIET,
                **lengths(library),
            )
            NeuralForecast(models=[student], freq="h").fit(long)
            reads = student.dmlp.covariates is not None
    assert not reads
    assert re.search(
        r"reads (covariates|exogenous variables); the student .*reads its target", caplog.text
    )
    assert student.teacher.uses_covariates and student.teacher.kept_outputs is not None


def lengths(library: str, horizon: int = H) -> dict[str, int]:
    """The student's lookback and horizon in the library's argument names."""
    if library == "darts":
        return {"input_chunk_length": L, "output_chunk_length": horizon}
    return {"input_size": L, "h": horizon}
