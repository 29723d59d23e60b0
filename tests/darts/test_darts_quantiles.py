"""The probabilistic Darts student: ``likelihood=QuantileRegression(...)`` on ETTh1's OT,
distilled from a quantile TiDE and from a point TiDE."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import torch
from darts import TimeSeries
from darts.metrics import mic, mql
from darts.models import ConformalQRModel, TiDEModel
from darts.utils.likelihood_models import GaussianLikelihood, QuantileRegression
from darts_helpers import H, KeepTeacherTargets, L, small

from tsdistill_plugin import as_teacher
from tsdistill_plugin.darts import DistilledMLPModel

LEVELS = [0.1, 0.5, 0.9]


@pytest.fixture(scope="module")
def ot(etth1: pd.DataFrame) -> TimeSeries:
    """900 hours of ETTh1's OT, standardized: 700 to train, 200 to test."""
    return TimeSeries.from_series(etth1["OT"].iloc[:900])


@pytest.fixture(scope="module")
def quantile_tide(ot: TimeSeries) -> TiDEModel:
    """A tiny TiDE fitted on the training part with five quantiles (the student has three)."""
    likelihood = QuantileRegression([0.05, 0.1, 0.5, 0.9, 0.95])
    return TiDEModel(L, H, hidden_size=16, **small(n_epochs=3, likelihood=likelihood)).fit(ot[:700])


def student(teacher: object = None, **kwargs: object) -> DistilledMLPModel:
    settings = small(**{"n_epochs": 3, "likelihood": QuantileRegression(LEVELS), **kwargs})
    return DistilledMLPModel(L, H, teacher=teacher, hidden_size=16, **settings)


@pytest.fixture(scope="module")
def distilled(ot: TimeSeries, quantile_tide: TiDEModel) -> tuple[DistilledMLPModel, object]:
    """A quantile student distilled from the quantile TiDE, and its teacher's cached outputs."""
    model = student(quantile_tide)
    keep = KeepTeacherTargets()
    model.trainer_params["callbacks"] = [keep]
    model.fit(ot[:700])
    return model, keep.outputs


def test_a_quantile_teacher_teaches_its_quantiles_at_the_students_levels(
    distilled, quantile_tide, ot
):
    model, outputs = distilled
    assert outputs.prediction.shape == (700 - L - H + 1, H, 1, 3)
    # the teacher's own 0.1, 0.5 and 0.9 (among its five) for the first training window
    window = torch.from_numpy(ot[:L].values(copy=False).astype("float32"))[None]
    own = as_teacher(quantile_tide).forecast_quantiles(window, tuple(LEVELS)).prediction
    expected = quantile_tide.predict(H, series=ot[:L], predict_likelihood_parameters=True)
    expected = expected.values(copy=False)[:, [1, 2, 3]]
    np.testing.assert_allclose(own[0, :, 0].numpy(), expected, atol=1e-5)
    # the cache holds the teacher's quantiles of every training window, this one among them
    gaps = (outputs.prediction[:, :, 0] - torch.from_numpy(expected)).abs().amax(dim=(1, 2))
    assert gaps.min() < 1e-5
    assert model.supports_probabilistic_prediction


def test_the_interpolation_of_other_levels_is_said(ot, quantile_tide, caplog):
    model = student(quantile_tide, n_epochs=1)
    with caplog.at_level(logging.INFO, logger="tsdistill_plugin.core.quantiles"):
        model.fit(ot[:300])
    assert "forecasts the quantiles [0.05, 0.1, 0.5, 0.9, 0.95]" in caplog.text
    assert "[0.1, 0.5, 0.9] are read from them, interpolated linearly" in caplog.text


def test_quantile_forecasts_are_ordered_and_named_as_darts_names_them(distilled, ot):
    model, _ = distilled
    forecast = model.predict(H, series=ot[:700], predict_likelihood_parameters=True)
    assert list(forecast.components) == ["OT_q0.100", "OT_q0.500", "OT_q0.900"]  # Darts 0.48
    values = forecast.values(copy=False)
    assert (np.diff(values, axis=1) >= 0).all() and (values[:, 2] > values[:, 0]).all()
    sampled = model.predict(H, series=ot[:700], num_samples=500, random_state=0)
    assert sampled.n_samples == 500
    # Darts samples between the quantiles: its sample quantiles are the forecast ones
    np.testing.assert_allclose(
        np.quantile(sampled.all_values(copy=False)[:, 0], LEVELS, axis=-1).T, values, atol=0.1
    )


def test_backtest_with_darts_probabilistic_metrics(distilled, ot, quantile_tide):
    model, _ = distilled
    kwargs = {"start": 700, "forecast_horizon": H, "stride": H, "retrain": False}

    def scores(forecaster):
        forecasts = forecaster.historical_forecasts(
            ot, num_samples=200, last_points_only=False, **kwargs
        )
        loss = forecaster.backtest(
            ot, historical_forecasts=forecasts, metric=mql, metric_kwargs={"q": LEVELS}
        )
        coverage = forecaster.backtest(
            ot, historical_forecasts=forecasts, metric=mic, metric_kwargs={"q_interval": (0.1, 0.9)}
        )
        return np.asarray(loss), float(coverage)

    loss, coverage = scores(model)
    assert loss.shape == (3,) and np.isfinite(loss).all()
    assert 0.5 <= coverage <= 1.0  # a 10-90% interval on 200 unseen hours
    teacher_loss, _ = scores(quantile_tide)
    assert loss.mean() < 2 * teacher_loss.mean()


def test_darts_conformal_wrapper_calibrates_the_students_quantiles(distilled, ot):
    # ConformalQRModel reads the student's fit state, likelihood and sampled forecasts
    model, _ = distilled
    calibrated = ConformalQRModel(model, quantiles=LEVELS, cal_length=50, random_state=0)
    kwargs = {"start": 800, "start_format": "position", "forecast_horizon": H, "retrain": False}
    kwargs.update(last_points_only=False, predict_likelihood_parameters=True)
    conformal = calibrated.historical_forecasts(ot, **kwargs)
    own = model.historical_forecasts(ot, **kwargs)
    assert [f.time_index[0] for f in conformal] == [f.time_index[0] for f in own]
    assert list(conformal[0].components) == ["OT_q0.100", "OT_q0.500", "OT_q0.900"]
    conformal, own = (np.stack([f.values(copy=False) for f in fs]) for fs in (conformal, own))
    # symmetric: the outer quantiles move by one amount per step, the median is the model's
    # (the median of the wrapper's 500 samples from the student's quantiles)
    width = (own[..., 2] - own[..., 0]).mean()
    assert np.abs(conformal[..., 1] - own[..., 1]).mean() < 0.1 * width
    shift = (own[..., 0] - conformal[..., 0]) - (conformal[..., 2] - own[..., 2])
    assert np.abs(shift).mean() < 0.1 * width
    assert not np.allclose(conformal[..., 0], own[..., 0], atol=0.05 * width)


def test_a_point_teacher_teaches_the_median_only(ot, caplog):
    teacher = TiDEModel(L, H, hidden_size=16, **small(n_epochs=2)).fit(ot[:700])
    model = student(teacher, n_epochs=1)
    keep = KeepTeacherTargets()
    model.trainer_params["callbacks"] = [keep]
    with caplog.at_level(logging.INFO, logger="tsdistill_plugin.core.distillation"):
        model.fit(ot[:700])
    assert "distils its median from it" in caplog.text
    assert keep.outputs.prediction.shape == (700 - L - H + 1, H, 1)
    forecast = model.predict(H, series=ot[:700], predict_likelihood_parameters=True)
    assert (np.diff(forecast.values(copy=False), axis=1) >= 0).all()


def test_distillation_pulls_the_students_quantiles_to_the_teachers(ot, quantile_tide):
    teacher_forecast = quantile_tide.predict(
        H, series=[ot[: 700 + i] for i in range(0, 180, 12)], predict_likelihood_parameters=True
    )
    targets = np.stack([f.values(copy=False)[:, [1, 2, 3]] for f in teacher_forecast])

    def distance(alpha: float) -> float:
        model = student(quantile_tide, alpha=alpha, beta=0.0).fit(ot[:700])
        forecast = model.predict(
            H, series=[ot[: 700 + i] for i in range(0, 180, 12)], predict_likelihood_parameters=True
        )
        values = np.stack([f.values(copy=False) for f in forecast])
        return float(np.mean((values - targets) ** 2))

    assert distance(alpha=5.0) < distance(alpha=0.0)


def test_save_and_load_keep_the_quantile_forecasts(distilled, ot, tmp_path):
    model, _ = distilled
    path = str(tmp_path / "quantile_student.pt")
    model.save(path)
    loaded = DistilledMLPModel.load(path)
    kwargs = {"series": ot[:700], "predict_likelihood_parameters": True}
    before = model.predict(H, **kwargs).values(copy=False)
    np.testing.assert_array_equal(loaded.predict(H, **kwargs).values(copy=False), before)
    assert loaded.likelihood.quantiles == LEVELS


def test_a_likelihood_the_head_cannot_carry_is_refused():
    with pytest.raises(ValueError, match="its likelihood must be a QuantileRegression"):
        DistilledMLPModel(L, H, likelihood=GaussianLikelihood())


def test_a_gaussian_teacher_gives_the_exact_quantiles_of_its_distribution(ot):
    teacher = TiDEModel(L, H, hidden_size=16, **small(likelihood=GaussianLikelihood()))
    adapter = as_teacher(teacher.fit(ot[:300]))
    window = torch.from_numpy(ot[:L].values(copy=False).astype("float32"))[None]
    quantiles = adapter.forecast_quantiles(window, tuple(LEVELS)).prediction[0, :, 0]
    assert adapter.probabilistic and adapter.quantile_levels is None
    mean, std = teacher.predict(H, series=ot[:L], predict_likelihood_parameters=True).values().T
    z = 1.2815516  # the standard normal's 0.9 quantile
    expected = np.stack([mean - z * std, mean, mean + z * std], axis=-1)
    np.testing.assert_allclose(quantiles.numpy(), expected, atol=1e-5)
