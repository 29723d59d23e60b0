"""Every teacher family trains a DistilledMLPModel, and its cache holds its real forecasts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from darts import TimeSeries
from darts.models import LinearRegressionModel, Theta, TiDEModel
from darts_helpers import H, KeepTeacherTargets, L, small
from torch import nn

from tsdistill_plugin.core import TorchTeacher, forecast_horizon
from tsdistill_plugin.darts import DistilledMLPModel


def distill(teacher: object, series: TimeSeries, **fit_kwargs: object) -> DistilledMLPModel:
    model = DistilledMLPModel(
        **small(input_chunk_length=L, output_chunk_length=H, teacher=teacher, hidden_size=16)
    )
    return fit_keeping_cache(model, series, **fit_kwargs)


def fit_keeping_cache(model: DistilledMLPModel, series: TimeSeries, **fit_kwargs: object):
    """Fit, keeping the teacher's cached outputs on ``model.kept_outputs`` for inspection."""
    keep = KeepTeacherTargets()
    model.trainer_params["callbacks"] = [keep]
    model.fit(series, **fit_kwargs)
    model.kept_outputs = keep.outputs
    return model


def check_cache(
    model: DistilledMLPModel, series: TimeSeries, indices: list[int], stride: int = 1
) -> None:
    """The cached forecasts of some training windows equal a direct teacher call.

    Darts' training sample ``i`` is the window whose forecast ends ``i * stride`` steps before
    the end of the series.
    """
    outputs = model.kept_outputs
    assert model.model.training_run is None  # the run ended with training
    values = series.values(copy=False)
    starts = [len(series) - i * stride - H - L for i in indices]
    x = torch.as_tensor(np.stack([values[start : start + L] for start in starts]))
    direct = forecast_horizon(model.teacher, x, H).prediction
    np.testing.assert_allclose(outputs.prediction[indices].numpy(), direct.numpy(), atol=1e-5)
    assert model.trainer.callback_metrics["train_prediction_scale"] > 0


def test_darts_torch_teacher_fitted_by_the_student_on_its_series(train):
    teacher = TiDEModel(L, H, hidden_size=8, **small())
    model = distill(teacher, train)
    assert teacher._fit_called and model.teacher.model is teacher
    assert teacher.training_series == train  # fitted on exactly the student's series
    check_cache(model, train, [0, 100, 440])
    assert model.trainer.callback_metrics["train_feature_scale"] > 0


@pytest.mark.slow  # Darts predicts each of the 441 windows as a series, 3 times (4 -> 12 steps)
def test_darts_regression_teacher_with_a_shorter_horizon_is_rolled_out(train):
    teacher = LinearRegressionModel(lags=24, output_chunk_length=4)
    with pytest.warns(UserWarning, match="gives no hidden features"):
        model = distill(teacher, train)
    assert model.teacher.horizon == 4
    check_cache(model, train, [0, 7, 300])
    assert model.trainer.callback_metrics["train_feature_scale"] == 0  # no features


def test_darts_local_teacher_is_refitted_per_window_on_a_strided_series(train):
    series = train.univariate_component("OT")[:200]
    model = distill(Theta(seasonality_period=24), series, stride=20)
    assert len(model.kept_outputs.prediction) == 8  # 141 windows, every 20th
    check_cache(model, series, [0, 3, 7], stride=20)


def test_torch_teacher_module(train):
    linear = nn.Sequential(nn.Flatten(1), nn.Linear(L * 7, H * 7), nn.Unflatten(1, (H, 7)))
    model = distill(TorchTeacher(linear, input_len=L, horizon=H, n_channels=7), train)
    check_cache(model, train, [5, 50])


def test_neuralforecast_patchtst_teacher_with_automatic_features(train, val):
    pytest.importorskip("neuralforecast")
    from neuralforecast.models import PatchTST

    teacher = PatchTST(
        h=H,
        input_size=L,
        max_steps=5,
        hidden_size=16,
        linear_hidden_size=16,
        n_heads=2,
        encoder_layers=1,
        patch_len=8,
        stride=8,
        batch_size=8,
        windows_batch_size=64,
        random_seed=0,
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False,
        accelerator="cpu",
    )
    model = fit_keeping_cache(DistilledMLPModel(**small(teacher=teacher, hidden_size=16)), train)
    assert (model.input_chunk_length, model.output_chunk_length) == (L, H)  # the teacher's
    assert model.teacher.is_fitted
    check_cache(model, train, [0, 200])
    assert model.trainer.callback_metrics["train_feature_scale"] > 0
    assert model.predict(H, series=val).values().shape == (H, 7)
