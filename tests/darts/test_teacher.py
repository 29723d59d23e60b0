"""DartsTeacher: exact forecasts, dtypes, features, medians, fitting without side effects."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from darts import TimeSeries
from darts.models import LinearRegressionModel, NHiTSModel, Theta, TiDEModel, TSMixerModel
from darts.utils.likelihood_models import QuantileRegression
from darts_helpers import H, L, small

from tsdistill_plugin import as_teacher
from tsdistill_plugin.core import AdaptiveTeacher, FittableTeacher
from tsdistill_plugin.darts import DartsTeacher


def windows(series: TimeSeries, count: int, length: int = L) -> torch.Tensor:
    """``count`` consecutive windows ``[count, length, channels]`` from the start of ``series``."""
    values = series.values(copy=False)
    return torch.as_tensor(np.stack([values[i : i + length] for i in range(count)]))


@pytest.fixture(scope="module")
def tide(train):
    return TiDEModel(L, H, hidden_size=16, decoder_output_dim=4, **small()).fit(train)


def test_torch_teacher_matches_predict_and_casts_dtypes(tide, val):
    teacher = as_teacher(tide)
    assert isinstance(teacher, DartsTeacher) and isinstance(teacher, FittableTeacher)
    assert (teacher.input_len, teacher.horizon, teacher.n_channels) == (L, H, 7)
    x = windows(val, 3)
    expected = np.stack(
        [tide.predict(H, series=TimeSeries.from_values(w.numpy())).values() for w in x]
    )
    for dtype in (torch.float32, torch.float64):
        output = teacher.forecast(x.to(dtype))
        assert output.prediction.dtype == dtype and output.prediction.shape == (3, H, 7)
        np.testing.assert_allclose(output.prediction.numpy(), expected, atol=1e-5)
    # TiDE's automatic features: one encoder vector per window, shared by the channels.
    assert output.features.shape == (3, 7, 16)


def test_tsmixer_features_are_per_channel_and_layer_name_picks_a_submodule(train, val):
    model = TSMixerModel(L, H, hidden_size=8, ff_size=8, num_blocks=1, **small())
    teacher = as_teacher(model)
    assert teacher.n_channels is None and not teacher.is_fitted
    teacher.fit([train.to_dataframe()])
    x = windows(val, 2)
    features = teacher.forecast(x).features
    assert features.shape == (2, 7, H)
    named = DartsTeacher(model, feature_layer=("fc_out", "channels_last")).forecast(x).features
    assert named.shape[:2] == (2, 7) and not torch.equal(named[:, :, :H], features)
    # a layer named without a layout must be [batch, channels, ...]; fc_out is not, and its
    # [batch, horizon, channels] output is refused rather than guessed
    with pytest.raises(ValueError, match="declared layout 'per_channel'"):
        DartsTeacher(model, feature_layer="fc_out").forecast(x)
    with pytest.raises(ValueError, match="not a submodule"):
        DartsTeacher(model, feature_layer="no_such_layer").forecast(x)


def test_probabilistic_teacher_gives_its_median(train, val):
    model = NHiTSModel(
        L,
        H,
        num_blocks=1,
        num_layers=1,
        layer_widths=16,
        likelihood=QuantileRegression([0.1, 0.5, 0.9]),
        **small(),
    )
    teacher = DartsTeacher(model)
    teacher.fit([train.to_dataframe()])
    x = windows(val, 1)
    output = teacher.forecast(x)
    quantiles = model.predict(
        H, series=TimeSeries.from_values(x[0].numpy()), predict_likelihood_parameters=True
    ).values()
    np.testing.assert_allclose(output.prediction[0].numpy(), quantiles[:, 1::3], atol=1e-5)
    assert output.features is None


def test_regression_teacher_reads_its_lags_and_matches_predict(train, val):
    model = LinearRegressionModel(lags=24, output_chunk_length=6)
    teacher = as_teacher(model)
    assert (teacher.input_len, teacher.horizon, teacher.n_channels) == (24, 6, None)
    teacher.fit([train.to_dataframe()])
    assert teacher.n_channels == 7
    x = windows(val, 2, length=24)
    expected = model.predict(6, series=TimeSeries.from_values(x[1].numpy())).values()
    np.testing.assert_allclose(teacher.forecast(x).prediction[1].numpy(), expected, atol=1e-5)


def test_local_teacher_refits_each_window_without_fitting_the_users_model(val):
    model = Theta(seasonality_period=24)
    teacher = as_teacher(model)
    assert isinstance(teacher, AdaptiveTeacher) and teacher.is_fitted and teacher.horizon is None
    assert not isinstance(as_teacher(LinearRegressionModel(lags=4)), AdaptiveTeacher)
    teacher.bind(L, H)
    x = windows(val.univariate_component("OT"), 2)
    output = teacher.forecast(x)
    expected = Theta(seasonality_period=24).fit(
        TimeSeries.from_values(x[1].numpy().astype("float64"))
    )
    np.testing.assert_allclose(
        output.prediction[1].numpy(), expected.predict(H).values(), atol=1e-5
    )
    assert not model._fit_called


def test_fitted_teacher_module_is_left_as_it_was(tide, val):
    module = tide.model
    module.train()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    as_teacher(tide).forecast(windows(val, 2))
    assert module.training
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())


def test_teachers_with_encoders_are_known_to_read_covariates():
    teacher = DartsTeacher(TiDEModel(L, H, add_encoders={"cyclic": {"future": ["hour"]}}))
    assert teacher.uses_covariates
    assert not DartsTeacher(TiDEModel(L, H)).uses_covariates
