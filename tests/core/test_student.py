"""The DMLP student: shapes, parameter counts, normalization modes, dtypes."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tsdistill_plugin.core import DMLP
from tsdistill_plugin.core.student import MovingAverageDecomposition


def trainable(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@settings(max_examples=20, deadline=None)
@given(
    batch=st.integers(1, 5),
    input_len=st.integers(2, 60),
    horizon=st.integers(1, 30),
    channels=st.integers(1, 5),
    hidden=st.integers(1, 40),
    norm=st.sampled_from(["mean", "revin", "none"]),
)
def test_shapes_and_parameter_count(batch, input_len, horizon, channels, hidden, norm):
    model = DMLP(input_len, horizon, channels, hidden_size=hidden, norm=norm)
    out = model(torch.randn(max(batch, 2), input_len, channels))
    assert out.prediction.shape == (max(batch, 2), horizon, channels)
    assert out.features.shape == (max(batch, 2), channels, hidden)
    expected = 2 * (input_len * hidden + hidden + hidden * horizon + horizon) + 4 * channels
    assert trainable(model) == expected + (2 * channels if norm == "revin" else 0)


def test_reference_parameter_count_for_etth1():
    # method.md section 2: 836,842 in the reference, which also registers 2N unused RevIN weights.
    assert trainable(DMLP(720, 96, 7, hidden_size=512)) == 836_828
    assert trainable(DMLP(720, 96, 7, hidden_size=512, norm="revin")) == 836_842


def test_mean_norm_is_shift_equivariant():
    torch.manual_seed(0)
    model = DMLP(48, 12, 3, hidden_size=16).eval()
    x = torch.randn(4, 48, 3)
    shifted = model(x + 7.5).prediction
    torch.testing.assert_close(shifted, model(x).prediction + 7.5, atol=1e-4, rtol=1e-5)


def test_revin_is_scale_and_shift_equivariant_at_init():
    torch.manual_seed(0)
    model = DMLP(48, 12, 3, hidden_size=16, norm="revin").eval()
    x = torch.randn(4, 48, 3)
    torch.testing.assert_close(
        model(3.0 * x - 2.0).prediction, 3.0 * model(x).prediction - 2.0, atol=1e-4, rtol=1e-4
    )


def test_no_norm_is_not_shift_equivariant():
    torch.manual_seed(0)
    model = DMLP(48, 12, 3, hidden_size=16, norm="none").eval()
    x = torch.randn(4, 48, 3)
    difference = model(x + 7.5).prediction - model(x).prediction - 7.5
    assert difference.abs().max() > 1e-2


def test_features_are_first_layer_outputs_before_batchnorm():
    torch.manual_seed(0)
    model = DMLP(48, 12, 2, hidden_size=8, norm="none").eval()
    x = torch.randn(3, 48, 2)
    seasonal, trend = model.decomposition(x.transpose(1, 2))
    expected = model.seasonal.embed(seasonal) + model.trend.embed(trend)
    torch.testing.assert_close(model(x).features, expected)


def test_decomposition_replicates_the_ends():
    x = torch.arange(10.0).reshape(1, 1, 10)
    seasonal, trend = MovingAverageDecomposition(5)(x)
    # first point: mean of [0, 0, 0, 1, 2] = 0.6; a linear interior is reproduced exactly.
    assert trend[0, 0, 0].item() == pytest.approx(0.6)
    torch.testing.assert_close(trend[0, 0, 2:8], x[0, 0, 2:8])
    torch.testing.assert_close(seasonal + trend, x)


@pytest.mark.parametrize("offset", [0.0, 1e4])
def test_decomposition_matches_average_pooling_of_the_padded_series(offset):
    torch.manual_seed(0)
    x = torch.randn(4, 3, 720) + offset
    padded = torch.cat([x[..., :1].expand(-1, -1, 12), x, x[..., -1:].expand(-1, -1, 12)], -1)
    expected = torch.nn.functional.avg_pool1d(padded.double(), 25, stride=1).float()
    seasonal, trend = MovingAverageDecomposition(25)(x)
    torch.testing.assert_close(trend, expected, rtol=1e-5, atol=1e-5 * max(offset, 1.0))
    torch.testing.assert_close(seasonal + trend, x)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtypes(dtype):
    model = DMLP(24, 6, 2, hidden_size=8).to(dtype)
    out = model(torch.randn(4, 24, 2, dtype=dtype))
    assert out.prediction.dtype == dtype and out.features.dtype == dtype


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"norm": "standard"}, "norm must be one of"),
        ({"hidden_size": 0}, "hidden_size"),
        ({"moving_avg": 4}, "moving_avg"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DMLP(24, 6, 2, **kwargs)


def test_wrong_input_shape_is_explained():
    with pytest.raises(ValueError, match=r"\[batch, 24, 2\]"):
        DMLP(24, 6, 2)(torch.randn(4, 24, 3))


def test_without_covariates_the_network_is_the_reference_one():
    torch.manual_seed(0)
    plain = DMLP(48, 12, 3, hidden_size=16)
    torch.manual_seed(0)
    explicit = DMLP(48, 12, 3, hidden_size=16, past_covariates=0, future_covariates=0)
    assert list(plain.state_dict()) == list(explicit.state_dict())
    assert not any(key.startswith("covariates") for key in plain.state_dict())
    x = torch.randn(4, 48, 3)
    assert torch.equal(plain(x).prediction, explicit(x).prediction)


def test_covariates_are_projected_into_both_branches():
    torch.manual_seed(0)
    L, H, N, d = 48, 12, 3, 16
    model = DMLP(
        L, H, N, hidden_size=d, past_covariates=2, future_covariates=1, static_covariates=4
    )
    base = 2 * (L * d + d + d * H + H) + 4 * N
    assert trainable(model) == base + (L * 2 + (L + H) * 1 + 4 + 1) * d
    model.eval()
    x, past = torch.randn(5, L, N), torch.randn(5, L, 2)
    future, static = torch.randn(5, L + H, 1), torch.randn(5, 4)
    out = model(x, past, future, static)
    assert out.prediction.shape == (5, H, N) and out.features.shape == (5, N, d)
    # the future covariates' horizon steps reach the forecast
    changed = future.clone()
    changed[:, -1] += 1.0
    assert not torch.allclose(model(x, past, changed, static).prediction, out.prediction)
    # the mean mode still shifts with the target's level alone, and not with the covariates'
    shifted = model(x + 3.0, past, future, static).prediction
    torch.testing.assert_close(shifted, out.prediction + 3.0, atol=1e-4, rtol=1e-5)
    moved = model(x, past - 2.0, future + 5.0, static).prediction
    torch.testing.assert_close(moved, out.prediction, atol=1e-4, rtol=1e-5)


def test_without_norm_the_covariates_levels_count():
    torch.manual_seed(0)
    model = DMLP(24, 6, 2, hidden_size=8, norm="none", past_covariates=1).eval()
    x, past = torch.randn(3, 24, 2), torch.randn(3, 24, 1)
    assert not torch.allclose(model(x, past + 2.0).prediction, model(x, past).prediction)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, r"past_covariates of shape \[4, 24, 2\]"),
        ({"past_covariates": torch.randn(4, 23, 2)}, r"got \[4, 23, 2\]"),
        (
            {"past_covariates": torch.randn(4, 24, 2), "static_covariates": torch.randn(4, 1)},
            "built without static_covariates",
        ),
    ],
)
def test_wrong_covariates_are_explained(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DMLP(24, 6, 2, past_covariates=2)(torch.randn(4, 24, 2), **kwargs)


def test_bad_covariate_count():
    with pytest.raises(ValueError, match="past_covariates"):
        DMLP(24, 6, 2, past_covariates=-1)


def test_covariate_width_projects_each_step_first():
    torch.manual_seed(0)
    L, H, d = 24, 6, 8
    model = DMLP(L, H, 2, hidden_size=d, past_covariates=5, future_covariates=3, covariate_width=2)
    base = 2 * (L * d + d + d * H + H) + 4 * 2
    assert trainable(model) == base + 5 * 2 + 3 * 2 + (L * 2 + (L + H) * 2 + 1) * d
    model.eval()
    x, past, future = torch.randn(4, L, 2), torch.randn(4, L, 5), torch.randn(4, L + H, 3)
    out = model(x, past, future).prediction
    # a change of the covariates that the per-step projection maps to zero changes nothing
    null = torch.linalg.svd(model.feature_projections["past_covariates"].weight).Vh[-1]
    moved = model(x, past + 3.0 * null, future).prediction
    torch.testing.assert_close(moved, out, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(model(x, past * 2.0, future).prediction, out)
