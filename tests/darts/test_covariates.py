"""Covariates in Darts (issue 18): a student that reads past, future and static covariates and
encodings, and teachers that read them, each training window forecast by the teacher with
exactly the covariates it reads in its own ``predict`` of that window."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import pytorch_lightning as pl
import torch
from darts import TimeSeries
from darts.models import LinearRegressionModel, TiDEModel
from darts.utils.timeseries_generation import datetime_attribute_timeseries
from darts_helpers import H, L, small

from tsdistill_plugin.darts import DistilledMLPModel

REPO = Path(__file__).resolve().parents[2]
ENCODERS = {"datetime_attribute": {"future": ["hour"]}}
LOADS = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL"]


def student(**kwargs: object) -> DistilledMLPModel:
    return DistilledMLPModel(**small(hidden_size=16, batch_size=64, **kwargs))


def state(series: TimeSeries) -> tuple:
    return series.values(copy=True).tobytes(), list(series.time_index), list(series.columns)


@pytest.fixture(scope="module")
def target(frame: pd.DataFrame) -> TimeSeries:
    """OT over the first 500 hours."""
    return TimeSeries.from_dataframe(frame[["OT"]].iloc[:500])


@pytest.fixture(scope="module")
def loads(frame: pd.DataFrame) -> TimeSeries:
    """The six load columns over all 700 hours: OT's past covariates."""
    return TimeSeries.from_dataframe(frame[LOADS])


@pytest.fixture(scope="module")
def calendar(loads: TimeSeries) -> TimeSeries:
    """Hour of day and day of week (cyclic), all 700 hours: OT's future covariates."""
    hour = datetime_attribute_timeseries(loads, "hour", cyclic=True)
    day = datetime_attribute_timeseries(loads, "dayofweek", cyclic=True)
    return hour.stack(day).astype(np.float32)


@pytest.fixture(scope="module")
def tide(target: TimeSeries, loads: TimeSeries) -> TiDEModel:
    """A TiDE teacher fitted on OT with the loads as past covariates and an hour encoding."""
    model = TiDEModel(
        L, H, hidden_size=16, decoder_output_dim=4, add_encoders=ENCODERS, **small(n_epochs=2)
    )
    return model.fit(target, past_covariates=loads)


class _KeepTargets(pl.Callback):
    """Keeps every training batch's input windows and cached teacher forecasts."""

    def __init__(self) -> None:
        self.batches: list[tuple[torch.Tensor, torch.Tensor]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        targets = pl_module.training_run.targets.get(batch.window_index, batch.past_target)
        self.batches.append((batch.past_target[..., 0], targets.prediction[..., 0]))

    def by_start(self, series: TimeSeries) -> dict[int, np.ndarray]:
        """The cached forecast of each window, by the window's start position in ``series``."""
        values = series.values()[:, 0].astype(np.float32)
        starts = {values[i : i + L].tobytes(): i for i in range(len(values) - L + 1)}
        return {
            starts[window.numpy().tobytes()]: cached.numpy()
            for past, forecasts in self.batches
            for window, cached in zip(past, forecasts, strict=True)
        }


def assert_teacher_forecasts(callback, teacher, target, n_windows, **covariates) -> None:
    """The cached forecasts are the teacher's own ``predict`` of each window."""
    cached = callback.by_start(target)
    assert sorted(cached) == list(range(n_windows))
    for start in (0, n_windows // 2, n_windows - 1):
        own = teacher.predict(H, series=target[: start + L], **covariates, show_warnings=False)
        np.testing.assert_allclose(cached[start], own.values()[:, 0], rtol=1e-5, atol=1e-6)
    # the neighbouring window's forecast differs measurably: the comparison can fail
    assert np.abs(cached[1] - cached[0]).max() > 1e-3


def test_tide_with_past_covariates_and_encoders_teaches_each_window_as_it_predicts_it(
    tide, target, loads
):
    before = state(loads)
    callback = _KeepTargets()
    model = student(teacher=tide, add_encoders=ENCODERS, beta=0.0)
    model.trainer_params["callbacks"] = [callback]
    model.fit(target, past_covariates=loads)
    assert_teacher_forecasts(callback, tide, target, len(target) - L - H + 1, past_covariates=loads)
    # the student reads the six loads and the hour encoding
    assert model.model.student.covariate_sizes == (6, 1, 0)
    assert model.uses_past_covariates and model.uses_future_covariates
    assert state(loads) == before


def test_student_with_covariates_through_the_darts_api(tide, target, loads, frame, tmp_path):
    before = state(loads)
    val = TimeSeries.from_dataframe(frame[["OT"]].iloc[500 - L : 640])  # loads reach 700
    model = student(teacher=tide, add_encoders=ENCODERS, n_epochs=2)
    model.fit(target, past_covariates=loads, val_series=val, val_past_covariates=loads)
    assert "covariate_sizes" in model.model.hparams

    # autoregressive, as Darts does it: the first output chunk is the one-shot forecast
    forecast = model.predict(n=3 * H, series=val, past_covariates=loads)
    assert len(forecast) == 3 * H and forecast.start_time() == val.end_time() + val.freq
    one_shot = model.predict(n=H, series=val, past_covariates=loads)
    np.testing.assert_allclose(forecast.values()[:H], one_shot.values(), rtol=1e-6)
    # the student reads the covariates: other loads give another forecast
    shifted = loads.with_values(loads.values() * 2.0)
    other = model.predict(n=H, series=val, past_covariates=shifted)
    assert np.abs(other.values() - one_shot.values()).max() > 1e-3

    start = len(val) - 4 * H
    hist = model.historical_forecasts(
        val,
        past_covariates=loads,
        start=start,
        forecast_horizon=H,
        stride=H,
        retrain=False,
        last_points_only=False,
    )
    assert len(hist) == 4
    first = model.predict(n=H, series=val[:start], past_covariates=loads)
    np.testing.assert_allclose(hist[0].values(), first.values(), rtol=1e-5)
    error = model.backtest(
        val, past_covariates=loads, start=start, forecast_horizon=H, stride=H, retrain=False
    )
    assert np.isfinite(error)
    residuals = model.residuals(
        val, past_covariates=loads, start=start, forecast_horizon=H, stride=H, retrain=False
    )
    assert len(residuals) == 4
    assert state(loads) == before

    # saved, then loaded by a fresh process: the same forecast to the last bit
    model.save(str(tmp_path / "student.pt"))
    val.to_pickle(str(tmp_path / "val.pkl"))
    loads.to_pickle(str(tmp_path / "loads.pkl"))
    np.save(tmp_path / "expected.npy", forecast.values())
    script = textwrap.dedent(
        """
        import json
        import numpy as np
        import torch
        from darts import TimeSeries
        from tsdistill_plugin.darts import DistilledMLPModel
        torch.set_num_threads(1)
        loaded = DistilledMLPModel.load("student.pt")
        forecast = loaded.predict(
            36, series=TimeSeries.from_pickle("val.pkl"),
            past_covariates=TimeSeries.from_pickle("loads.pkl"),
        )
        json.dump({"equal": bool(np.array_equal(forecast.values(), np.load("expected.npy")))},
                  open("result.json", "w"))
        """
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, check=True, capture_output=True
    )
    assert json.loads((tmp_path / "result.json").read_text())["equal"]


def test_linear_regression_with_future_covariate_lags_as_teacher(target, calendar):
    before = state(calendar)
    # the lag-0 calendar of each step: more lags of cyclic features are collinear, and their
    # large cancelling coefficients differ in float32 between Darts' two prediction paths
    teacher = LinearRegressionModel(lags=L, lags_future_covariates=[0], output_chunk_length=H)
    teacher.fit(target, future_covariates=calendar)
    callback = _KeepTargets()
    model = student(teacher=teacher, beta=0.0)
    model.trainer_params["callbacks"] = [callback]
    model.fit(target, future_covariates=calendar)
    assert model.model.student.covariate_sizes == (0, 4, 0)
    n_windows = len(target) - L - H + 1
    assert_teacher_forecasts(callback, teacher, target, n_windows, future_covariates=calendar)
    assert np.isfinite(model.predict(n=2 * H, future_covariates=calendar).values()).all()
    assert state(calendar) == before


def test_covariate_teacher_into_a_student_without_covariates(tide, target, loads, caplog):
    callback = _KeepTargets()
    model = student(teacher=tide, use_covariates=False, beta=0.0)
    model.trainer_params["callbacks"] = [callback]
    with caplog.at_level(logging.INFO, logger="tsdistill_plugin"):
        model.fit(target, past_covariates=loads)
    assert "reads covariates; the student (use_covariates=False) reads its target alone" in (
        caplog.text
    )
    assert model.model.student.covariates is None
    assert not model.uses_past_covariates
    assert_teacher_forecasts(callback, tide, target, len(target) - L - H + 1, past_covariates=loads)
    assert len(model.predict(n=H, series=target)) == H


def test_static_covariates_reach_the_student(frame):
    statics = pd.DataFrame({"site": [1.0]})
    series = [
        TimeSeries.from_dataframe(
            frame[[column]].iloc[:300].set_axis(["load"], axis=1)
        ).with_static_covariates(statics * i)
        for i, column in enumerate(["HUFL", "MUFL"])
    ]
    model = student(input_chunk_length=L, output_chunk_length=H).fit(series)
    assert model.model.student.covariate_sizes == (0, 0, 1)
    ignoring = student(input_chunk_length=L, output_chunk_length=H, use_static_covariates=False)
    assert ignoring.fit(series).model.student.covariates is None


def test_without_covariates_the_checkpoint_is_as_before(target):
    model = student(input_chunk_length=L, output_chunk_length=H).fit(target)
    assert "covariate_sizes" not in model.model.hparams
    assert model.model.student.covariates is None
    keys = {key.removeprefix("student.") for key in model.model.state_dict()}
    assert not any(key.startswith("covariates") for key in keys)


def test_an_unfitted_teacher_is_fitted_with_the_students_covariates(target, loads):
    teacher = TiDEModel(L, H, hidden_size=8, decoder_output_dim=2, **small())
    model = student(teacher=teacher, beta=0.0, n_epochs=1)
    model.fit(target, past_covariates=loads, max_samples_per_ts=32)
    assert teacher.uses_past_covariates and model.teacher.uses_covariates
    assert len(teacher.predict(H, series=target, past_covariates=loads)) == H


def test_a_quantile_teacher_with_covariates_gives_its_median(target, loads):
    from darts.utils.likelihood_models import QuantileRegression

    teacher = TiDEModel(
        L, H, hidden_size=8, decoder_output_dim=2, likelihood=QuantileRegression([0.1, 0.5, 0.9]),
        **small(),
    )  # fmt: skip
    teacher.fit(target, past_covariates=loads)
    callback = _KeepTargets()
    model = student(teacher=teacher, beta=0.0)
    model.trainer_params["callbacks"] = [callback]
    model.fit(target, past_covariates=loads)
    cached = callback.by_start(target)
    own = teacher.predict(
        H, series=target[:L], past_covariates=loads, predict_likelihood_parameters=True
    )
    median = own.values()[:, 1]  # OT_q0.1, OT_q0.5, OT_q0.9
    np.testing.assert_allclose(cached[0], median, rtol=1e-5, atol=1e-6)
    assert np.abs(own.values()[:, 0] - median).max() > 1e-3  # not the other quantiles
