"""Darts foundation models as zero-shot teachers, with Darts' tiny Chronos-2 test checkpoint.

The checkpoint has random weights: its forecasts mean nothing, so these tests check that the
adapter reproduces Darts' own forecasts, shapes, layouts and the distillation paths, never
accuracy.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from darts import TimeSeries
from darts_helpers import QUIET, small

pytest.importorskip("huggingface_hub", reason="Darts' foundation models need the foundation extra")

from darts.models import Chronos2Model  # noqa: E402
from darts.utils.likelihood_models import QuantileRegression  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from tsdistill_plugin import as_teacher  # noqa: E402
from tsdistill_plugin.core import FittableTeacher, TeacherCache, forecast_horizon  # noqa: E402
from tsdistill_plugin.darts import DartsTeacher, DistilledMLPModel, foundation  # noqa: E402

CONTEXT, OUTPUT = 21, 14
"""The tiny checkpoint's context length, and an output length shorter than its maximum (77)."""


@pytest.fixture(scope="module")
def checkpoint(models_dir: Path) -> Path:
    path = models_dir / "tiny_chronos2"
    if not (path / "model.safetensors").exists():
        pytest.fail(
            f"tiny Chronos-2 checkpoint not found in {path}; set TSDISTILL_MODELS to the folder "
            "holding tiny_chronos2 (../shared/models in this project's layout)."
        )
    return path


def chronos(checkpoint: Path, input_chunk_length=CONTEXT, **kwargs) -> Chronos2Model:
    return Chronos2Model(
        input_chunk_length,
        OUTPUT,
        local_dir=checkpoint,
        pl_trainer_kwargs=dict(QUIET),
        **kwargs,
    )


def windows(frame: pd.DataFrame, starts: list[int], length: int) -> torch.Tensor:
    """Windows ``[len(starts), length, channels]`` of ``frame`` starting at ``starts``."""
    values = frame.to_numpy()
    return torch.as_tensor(np.stack([values[s : s + length] for s in starts]))


def darts_predict(model: Chronos2Model, x: torch.Tensor, n: int, **kwargs) -> np.ndarray:
    """Darts' own ``predict`` of ``n`` steps after each window, ``[batch, n, channels]``."""
    series = [TimeSeries.from_values(window.numpy()) for window in x]
    return np.stack([p.values() for p in model.predict(n, series=series, **kwargs)])


@pytest.fixture(scope="module")
def teacher(checkpoint, frame) -> DartsTeacher:
    """A Chronos-2 teacher set up on the 7 channels of ETTh1."""
    teacher = as_teacher(chronos(checkpoint))
    teacher.fit([frame.iloc[:300]])
    return teacher


def test_foundation_model_is_a_zero_shot_teacher(checkpoint, frame):
    model = chronos(checkpoint)
    teacher = as_teacher(model)
    assert isinstance(teacher, DartsTeacher) and isinstance(teacher, FittableTeacher)
    assert isinstance(teacher._forecaster, foundation.FoundationForecaster)
    assert (teacher.input_len, teacher.horizon, teacher.n_channels) == (CONTEXT, OUTPUT, None)
    assert not teacher.is_fitted
    teacher.fit([frame.iloc[:300]])
    assert teacher.is_fitted and teacher.n_channels == 7
    weights = load_file(checkpoint / "model.safetensors")
    state = model.model.state_dict()
    assert all(torch.equal(state[name], value) for name, value in weights.items())


def test_multivariate_forecasts_equal_darts_predict(teacher, frame):
    x = windows(frame, [300, 350, 420], CONTEXT)
    expected = darts_predict(teacher.model, x, OUTPUT)
    for dtype in (torch.float32, torch.float64):
        output = teacher.forecast(x.to(dtype))
        assert output.prediction.dtype == dtype and output.prediction.shape == (3, OUTPUT, 7)
        np.testing.assert_allclose(output.prediction.numpy(), expected, atol=1e-5)


def test_univariate_forecasts_equal_darts_predict(checkpoint, frame):
    series = frame[["OT"]]
    teacher = as_teacher(chronos(checkpoint))
    teacher.fit([series.iloc[:300]])
    assert teacher.n_channels == 1
    x = windows(series, [300, 400], CONTEXT)
    expected = darts_predict(teacher.model, x, OUTPUT)
    np.testing.assert_array_equal(teacher.forecast(x).prediction.numpy(), expected)


def test_longer_lookback_and_horizon_are_read_and_rolled_out_like_predict(teacher, frame):
    lookback, horizon = 48, 3 * OUTPUT
    teacher.bind(lookback, horizon)
    assert teacher.input_len == CONTEXT  # the model's whole context, from the end of each window
    x = windows(frame, [300, 380], lookback)
    output = forecast_horizon(teacher, x, horizon)
    assert output.prediction.shape == (2, horizon, 7)
    # Darts reads the last 21 steps and feeds its forecasts back, 14 steps at a time
    expected = darts_predict(teacher.model, x, horizon)
    np.testing.assert_allclose(output.prediction.numpy(), expected, atol=1e-5)


def test_a_variable_length_model_reads_a_shorter_lookback_whole(checkpoint, frame):
    model = chronos(checkpoint, input_chunk_length=(7, CONTEXT))
    teacher = as_teacher(model)
    teacher.fit([frame.iloc[:300]])
    teacher.bind(15, OUTPUT)
    assert teacher.input_len == 15
    x = windows(frame, [300, 333], 15)
    # Darts left-pads a short series with NaN to 21 steps, which Chronos-2 masks out
    expected = darts_predict(model, x, OUTPUT)
    np.testing.assert_allclose(teacher.forecast(x).prediction.numpy(), expected, atol=1e-5)
    with pytest.raises(ValueError, match=r"input_chunk_length=\(5, 21\)"):
        teacher.bind(5, OUTPUT)
    with pytest.raises(ValueError, match="reads at least 21"):
        as_teacher(chronos(checkpoint)).bind(15, OUTPUT)


def test_probabilistic_model_gives_the_median_of_its_quantiles(checkpoint, frame, teacher):
    model = chronos(checkpoint, likelihood=QuantileRegression([0.1, 0.5, 0.9]))
    probabilistic = as_teacher(model)
    probabilistic.fit([frame.iloc[:300]])
    x = windows(frame, [300, 500], CONTEXT)
    quantiles = darts_predict(model, x, OUTPUT, predict_likelihood_parameters=True)
    median = probabilistic.forecast(x).prediction.numpy()
    np.testing.assert_allclose(median, quantiles[..., 1::3], atol=1e-5)  # q0.1, q0.5, q0.9 each
    assert not np.allclose(median, quantiles[..., 0::3], atol=1e-5)  # q0.1 is another forecast
    np.testing.assert_allclose(median, teacher.forecast(x).prediction.numpy(), atol=1e-5)


def test_chronos2_features_are_the_forecast_tokens_of_each_channel(teacher, frame):
    x = windows(frame, [300, 320, 340], CONTEXT)
    features = teacher.forecast(x).features
    n_patches = -(-OUTPUT // 7)  # 2 forecast patches of 7 steps, d_model = 8
    assert features.shape == (3, 7, n_patches * 8)
    # one window alone gives its own rows: windows do not mix
    single = teacher.forecast(x[1:2]).features
    np.testing.assert_allclose(single.numpy(), features[1:2].numpy(), atol=1e-6)
    # permuting the channels permutes the feature rows: row n is channel n
    order = torch.tensor([6, 2, 0, 1, 5, 3, 4])
    permuted = teacher.forecast(x[:, :, order]).features
    np.testing.assert_allclose(permuted.numpy(), features[:, order].numpy(), atol=1e-5)


def test_large_batches_are_split_without_changing_the_forecasts(teacher, frame, monkeypatch):
    x = windows(frame, list(range(300, 340)), CONTEXT)
    whole = teacher.forecast(x)
    monkeypatch.setattr(foundation, "SERIES_PER_CALL", 3 * 7)  # 3 windows per pass
    split = teacher.forecast(x)
    np.testing.assert_allclose(split.prediction.numpy(), whole.prediction.numpy(), atol=1e-5)
    np.testing.assert_allclose(split.features.numpy(), whole.features.numpy(), atol=1e-5)


def test_undeclared_foundation_model_gives_no_features_unless_a_layer_is_named(checkpoint, frame):
    class OtherFoundationModel(Chronos2Model):
        """A foundation model with no declared feature layout."""

    teacher = DartsTeacher(OtherFoundationModel(CONTEXT, OUTPUT, local_dir=checkpoint, **small()))
    teacher.fit([frame.iloc[:300]])
    x = windows(frame, [300], CONTEXT)
    assert teacher.forecast(x).features is None
    # a named layer of a foundation module is [batch * channels, ...]: channels in the batch
    named = DartsTeacher(teacher.model, feature_layer="encoder").forecast(x).features
    assert named.shape[:2] == (1, 7)


def test_without_huggingface_hub_no_model_is_taken_for_a_foundation_model(monkeypatch, checkpoint):
    monkeypatch.setitem(sys.modules, "darts.models.forecasting.foundation_model", None)
    stand_in = foundation._foundation_model_class()
    assert not isinstance(chronos(checkpoint), stand_in)


def test_darts_student_distilled_from_chronos2_and_saved(checkpoint, frame, tmp_path):
    series = TimeSeries.from_dataframe(frame.iloc[:200])
    lookback, horizon = 48, 24  # longer than the model's context and output
    student = DistilledMLPModel(
        **small(
            input_chunk_length=lookback,
            output_chunk_length=horizon,
            teacher=chronos(checkpoint),
            hidden_size=16,
        )
    )
    student.fit(series)
    teacher = student.teacher
    assert teacher.is_fitted and teacher.input_len == CONTEXT
    metrics = student.trainer.callback_metrics
    assert metrics["train_prediction_scale"] > 0 and metrics["train_feature_scale"] > 0
    path = tmp_path / "student.pt"
    student.save(str(path))
    loaded = DistilledMLPModel.load(str(path))
    assert loaded.teacher is None
    np.testing.assert_array_equal(
        loaded.predict(horizon, series=series).values(),
        student.predict(horizon, series=series).values(),
    )


def test_cache_holds_the_teachers_rolled_out_forecasts(teacher, frame):
    teacher.bind(48, 24)
    x = windows(frame, list(range(300, 310)), 48)
    cache = TeacherCache(teacher, x.numpy(), 24, batch_size=4, progress=False)
    direct = darts_predict(teacher.model, x, 28)[:, :24]  # Darts rolls out 2 x 14 steps
    np.testing.assert_allclose(cache[list(range(10))].prediction.numpy(), direct, atol=1e-5)


def test_neuralforecast_student_distilled_from_chronos2_and_saved(checkpoint, etth1, tmp_path):
    pytest.importorskip("neuralforecast")
    from neuralforecast import NeuralForecast

    from tsdistill_plugin.neuralforecast import DistilledMLP

    wide = etth1.iloc[:300][["HUFL", "OT"]]
    long = wide.rename_axis("ds").reset_index().melt(id_vars="ds", var_name="unique_id")
    long = long.rename(columns={"value": "y"})[["unique_id", "ds", "y"]]
    student = DistilledMLP(
        h=24,
        input_size=48,
        teacher=chronos(checkpoint),
        hidden_size=16,
        max_steps=5,
        **QUIET,
    )
    nf = NeuralForecast(models=[student], freq="h")
    nf.fit(long)
    teacher = nf.models[0].teacher
    assert teacher.is_fitted and teacher.n_channels == 1  # one series at a time
    assert float(nf.models[0].metrics["train_prediction_scale_epoch"]) > 0
    forecast = nf.predict()
    nf.save(str(tmp_path), overwrite=True)
    loaded = NeuralForecast.load(str(tmp_path))
    assert loaded.models[0].teacher is None
    np.testing.assert_array_equal(
        loaded.predict()["DistilledMLP"].to_numpy(), forecast["DistilledMLP"].to_numpy()
    )


def test_chronos2_reads_the_students_past_covariates(checkpoint, frame):
    """Fitted by the student with its covariates, Chronos-2 forecasts each training window with
    them, as its own ``predict`` of that window."""
    target = TimeSeries.from_dataframe(frame[["OT"]].iloc[:120])
    loads = TimeSeries.from_dataframe(frame[["HUFL", "MUFL"]])
    model = chronos(checkpoint)
    student = DistilledMLPModel(
        CONTEXT, OUTPUT, teacher=model, beta=0.0, teacher_cache="memory", **small(hidden_size=8)
    )

    student.fit(target, past_covariates=loads)
    assert model.uses_past_covariates and student.teacher.uses_covariates
    assert student.model.student.covariate_sizes == (2, 0, 0)
    cached = student.teacher.kept_outputs[1].cache.predictions.numpy()
    n_windows = len(target) - CONTEXT - OUTPUT + 1
    assert cached.shape == (n_windows, OUTPUT, 1)
    for index in (0, n_windows - 1):  # Darts' dataset holds the last window first
        start = len(target) - OUTPUT - index
        own = model.predict(OUTPUT, series=target[:start], past_covariates=loads)
        np.testing.assert_allclose(cached[index], own.values(), rtol=1e-5, atol=1e-6)
    assert np.abs(cached[0] - cached[1]).max() > 1e-4  # windows differ: the check can fail


def test_chronos2_teaches_its_quantiles_to_a_quantile_student(checkpoint, frame):
    # the tiny checkpoint forecasts 0.01, 0.1, 0.5, 0.9, 0.99; its QuantileRegression asks for
    # three of them, and the student's 0.25 and 0.75 are read between them
    model = chronos(checkpoint, likelihood=QuantileRegression([0.1, 0.5, 0.9]))
    teacher = as_teacher(model)
    teacher.fit([frame.iloc[:300]])
    x = windows(frame, [300, 500], CONTEXT)
    own = darts_predict(model, x, OUTPUT, predict_likelihood_parameters=True)  # 7 x (q0.1, ...)
    own = own.reshape(2, OUTPUT, 7, 3)
    same = teacher.forecast_quantiles(x, (0.1, 0.5, 0.9)).prediction.numpy()
    np.testing.assert_allclose(same, own, atol=1e-5)
    between = teacher.forecast_quantiles(x, (0.25, 0.5, 0.75)).prediction.numpy()
    np.testing.assert_allclose(between[..., 0], (own[..., 0] * 5 + own[..., 1] * 3) / 8, atol=1e-5)
    series = TimeSeries.from_dataframe(frame[["OT"]].iloc[:200])
    student = DistilledMLPModel(
        **small(
            input_chunk_length=CONTEXT,
            output_chunk_length=OUTPUT,
            teacher=chronos(checkpoint, likelihood=QuantileRegression([0.1, 0.5, 0.9])),
            hidden_size=16,
            likelihood=QuantileRegression([0.25, 0.5, 0.75]),
            scale_levels=2,
        )
    )
    student.fit(series)
    forecast = student.predict(OUTPUT, series=series, predict_likelihood_parameters=True)
    assert forecast.n_components == 3
    assert (np.diff(forecast.values(copy=False), axis=1) >= 0).all()
