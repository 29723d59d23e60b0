"""The distillation objective against hand-computed cases and independent NumPy references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tsdistill_plugin.core import (
    TERM_NAMES,
    DistillationLoss,
    multi_period_loss,
    multi_scale_loss,
    period_distribution,
)


def numpy_pyramid(x: np.ndarray, axis: int, levels: int, window: int) -> list[np.ndarray]:
    """Average pooling with kernel = stride = window, dropping the incomplete tail."""
    scales = [x]
    for _ in range(levels):
        current = np.moveaxis(scales[-1], axis, -1)
        usable = current.shape[-1] // window * window
        pooled = current[..., :usable].reshape(*current.shape[:-1], -1, window).mean(-1)
        scales.append(np.moveaxis(pooled, -1, axis))
    return scales


def numpy_period_distribution(x: np.ndarray, axis: int, temperature: float) -> np.ndarray:
    spectrum = np.abs(np.fft.rfft(x, axis=axis))
    spectrum = np.take(spectrum, np.arange(1, x.shape[axis] // 2 + 1), axis=axis) / temperature
    spectrum = spectrum - spectrum.max(axis=axis, keepdims=True)
    return np.exp(spectrum) / np.exp(spectrum).sum(axis=axis, keepdims=True)


def numpy_kl_mean(p_teacher: np.ndarray, p_student: np.ndarray) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        pointwise = np.where(
            p_teacher > 0, p_teacher * (np.log(p_teacher) - np.log(p_student + 1e-8)), 0.0
        )
    return float(pointwise.mean())


def test_multi_scale_hand_computed_on_odd_length():
    # length 5, window 2: [1,2,3,4,5] pools to [1.5, 3.5] (the 5 is dropped), then to [2.5].
    student = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0]])
    teacher = torch.zeros(1, 5)
    expected = (np.mean([1, 4, 9, 16, 25]) + np.mean([1.5**2, 3.5**2]) + 2.5**2) / 3
    value = multi_scale_loss(student, teacher, dim=1, levels=2, window=2)
    assert value.item() == pytest.approx(expected, rel=1e-6)


@settings(max_examples=25, deadline=None)
@given(
    batch=st.integers(1, 3),
    length=st.integers(8, 41),
    channels=st.integers(1, 4),
    levels=st.integers(0, 3),
    window=st.integers(2, 3),
    dim=st.sampled_from([1, 2]),
    seed=st.integers(0, 10_000),
)
def test_multi_scale_matches_numpy(batch, length, channels, levels, window, dim, seed):
    assume(length // window**levels >= 1)
    rng = np.random.default_rng(seed)
    shape = (batch, length, channels) if dim == 1 else (batch, channels, length)
    a, b = rng.normal(size=shape), rng.normal(size=shape)
    expected = np.mean(
        [
            np.mean((sa - sb) ** 2)
            for sa, sb in zip(
                numpy_pyramid(a, dim, levels, window),
                numpy_pyramid(b, dim, levels, window),
                strict=True,
            )
        ]
    )
    value = multi_scale_loss(torch.from_numpy(a), torch.from_numpy(b), dim, levels, window)
    assert value.item() == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_period_distribution_drops_the_dc_bin():
    # A constant series has all its amplitude in the DC bin: without it, every period is equal.
    x = torch.full((1, 16, 1), 5.0)
    p = period_distribution(x, dim=1)
    assert p.shape == (1, 8, 1)
    torch.testing.assert_close(p, torch.full_like(p, 1 / 8))


def test_period_distribution_finds_the_period_of_a_sine():
    t = torch.arange(96, dtype=torch.float64)
    x = torch.sin(2 * torch.pi * t / 24).reshape(1, 96, 1)
    p = period_distribution(x, dim=1)
    # 96 / 24 = 4 cycles: rfft bin 4, i.e. index 3 once the DC bin is gone.
    assert int(p[0, :, 0].argmax()) == 3


@settings(max_examples=25, deadline=None)
@given(
    length=st.integers(4, 50),
    temperature=st.floats(0.05, 5.0),
    dim=st.sampled_from([1, 2]),
    seed=st.integers(0, 10_000),
)
def test_period_distribution_matches_numpy(length, temperature, dim, seed):
    shape = (2, length, 3) if dim == 1 else (2, 3, length)
    x = np.random.default_rng(seed).normal(size=shape)
    p = period_distribution(torch.from_numpy(x), dim, temperature)
    np.testing.assert_allclose(p.numpy(), numpy_period_distribution(x, dim, temperature), rtol=1e-9)
    np.testing.assert_allclose(p.sum(dim).numpy(), 1.0, rtol=1e-12)


def test_lower_temperature_sharpens():
    x = torch.randn(4, 96, 2, generator=torch.Generator().manual_seed(0))
    max_prob = [period_distribution(x, 1, tau).amax(dim=1).mean().item() for tau in (2.0, 0.5, 0.1)]
    assert max_prob[0] < max_prob[1] < max_prob[2]


@settings(max_examples=25, deadline=None)
@given(length=st.integers(4, 64), seed=st.integers(0, 10_000))
def test_multi_period_loss_matches_numpy(length, seed):
    rng = np.random.default_rng(seed)
    s, t = rng.normal(size=(3, length, 2)), rng.normal(size=(3, length, 2))
    expected = numpy_kl_mean(
        numpy_period_distribution(t, 1, 0.5), numpy_period_distribution(s, 1, 0.5)
    )
    value = multi_period_loss(torch.from_numpy(s), torch.from_numpy(t), dim=1)
    assert value.item() == pytest.approx(expected, rel=1e-8, abs=1e-15)


def test_kl_is_zero_for_equal_inputs_and_positive_otherwise():
    x = torch.randn(4, 96, 3, dtype=torch.float64)
    assert multi_period_loss(x, x, dim=1).item() == pytest.approx(0.0, abs=1e-7)
    assert multi_period_loss(x, torch.randn_like(x), dim=1).item() > 1e-4


def test_distillation_loss_total_and_terms():
    g = torch.Generator().manual_seed(0)
    pred, target, teacher = (torch.randn(4, 24, 3, generator=g) for _ in range(3))
    features, teacher_features = (
        torch.randn(4, 3, 32, generator=g),
        torch.randn(4, 3, 32, generator=g),
    )
    loss = DistillationLoss(alpha=2.0, beta=0.5)
    total, terms = loss(pred, target, teacher, features, teacher_features)
    assert tuple(terms) == TERM_NAMES
    assert terms["supervised"].item() == pytest.approx(torch.mean((pred - target) ** 2).item())
    assert terms["prediction_scale"].item() == pytest.approx(
        multi_scale_loss(pred, teacher, 1).item()
    )
    assert terms["feature_period"].item() == pytest.approx(
        multi_period_loss(features, teacher_features, 2).item()
    )
    expected = (
        terms["supervised"]
        + 2.0 * (terms["prediction_scale"] + terms["prediction_period"])
        + 0.5 * (terms["feature_scale"] + terms["feature_period"])
    )
    assert total.item() == pytest.approx(expected.item())


def test_default_weights_are_the_reference_objective_bit_for_bit():
    g = torch.Generator().manual_seed(1)
    pred, target, teacher = (torch.randn(4, 24, 3, generator=g) for _ in range(3))
    default, _ = DistillationLoss(alpha=2.0, beta=0.0)(pred, target, teacher)
    explicit, terms = DistillationLoss(alpha=2.0, beta=0.0, supervised_weight=1.0,
                                       period_weight=1.0)(pred, target, teacher)  # fmt: skip
    reference = terms["supervised"] + 2.0 * (terms["prediction_period"] + terms["prediction_scale"])
    assert default.item() == explicit.item() == reference.item()


def test_supervised_and_period_weights_scale_their_terms_only():
    g = torch.Generator().manual_seed(2)
    pred, target, teacher = (torch.randn(4, 24, 3, generator=g) for _ in range(3))
    features, teacher_features = (
        torch.randn(4, 3, 32, generator=g),
        torch.randn(4, 3, 32, generator=g),
    )
    loss = DistillationLoss(alpha=2.0, beta=0.5, supervised_weight=0.25, period_weight=3.0)
    total, terms = loss(pred, target, teacher, features, teacher_features)
    expected = (
        0.25 * terms["supervised"]
        + 2.0 * (3.0 * terms["prediction_period"] + terms["prediction_scale"])
        + 0.5 * (3.0 * terms["feature_period"] + terms["feature_scale"])
    )
    assert total.item() == pytest.approx(expected.item())
    assert terms["prediction_period"].item() > 0  # still reported, unweighted


def test_teacher_only_imitation_is_the_plain_mse_to_the_teacher():
    g = torch.Generator().manual_seed(3)
    pred, target, teacher = (torch.randn(4, 24, 3, generator=g) for _ in range(3))
    pred.requires_grad_(True)
    loss = DistillationLoss(alpha=1.5, beta=0.0, levels=0, supervised_weight=0.0, period_weight=0.0)
    total, _ = loss(pred, target, teacher)
    expected = 1.5 * F.mse_loss(pred, teacher)
    assert total.item() == pytest.approx(expected.item())
    (gradient,) = torch.autograd.grad(total, pred)
    (expected_gradient,) = torch.autograd.grad(expected, pred)
    torch.testing.assert_close(gradient, expected_gradient)


def test_absent_inputs_give_zero_terms_that_are_still_reported():
    pred, target = torch.randn(2, 16, 1), torch.randn(2, 16, 1)
    total, terms = DistillationLoss()(pred, target)
    assert set(terms) == set(TERM_NAMES)
    assert all(terms[name].item() == 0 for name in TERM_NAMES if name != "supervised")
    assert total.item() == pytest.approx(terms["supervised"].item())
    total, terms = DistillationLoss()(pred, None, teacher_prediction=target)
    assert terms["supervised"].item() == 0 and terms["prediction_scale"].item() > 0


def test_gradients_reach_student_and_regressor_but_not_teacher():
    from tsdistill_plugin.core import DMLP, FeatureRegressor, TorchTeacher

    teacher_net = torch.nn.Sequential(torch.nn.Flatten(1), torch.nn.Linear(48 * 2, 24 * 2))
    teacher = TorchTeacher(
        lambda x: teacher_net(x).reshape(-1, 24, 2), input_len=48, horizon=24, n_channels=2
    )
    student = DMLP(48, 24, 2, hidden_size=32)
    regressor = FeatureRegressor(16, 32)
    x, y = torch.randn(8, 48, 2), torch.randn(8, 24, 2)
    out = student(x)
    teacher_out = teacher.forecast(x)
    teacher_features = regressor(torch.randn(8, 2, 16))
    total, _ = DistillationLoss()(
        out.prediction, y, teacher_out.prediction, out.features, teacher_features
    )
    total.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in regressor.parameters())
    assert all(p.grad is None for p in teacher_net.parameters())


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: multi_scale_loss(torch.zeros(2, 8, 1), torch.zeros(2, 8, 1), dim=1, levels=4),
            "too short",
        ),
        (lambda: multi_scale_loss(torch.zeros(2, 8, 1), torch.zeros(2, 9, 1), dim=1), "same shape"),
        (
            lambda: multi_scale_loss(torch.zeros(2, 8, 1), torch.zeros(2, 8, 1), dim=1, window=0),
            "window",
        ),
        (lambda: period_distribution(torch.zeros(2, 8), dim=1, temperature=0.0), "temperature"),
        (lambda: period_distribution(torch.zeros(2, 8), dim=3), "out of range"),
        (lambda: DistillationLoss(temperature=-1.0), "temperature"),
        (lambda: DistillationLoss(alpha=-1.0), "alpha"),
        (lambda: DistillationLoss(supervised_weight=-1.0), "supervised_weight"),
        (lambda: DistillationLoss(period_weight=float("nan")), "period_weight"),
        (lambda: DistillationLoss()(torch.zeros(2, 8)), "prediction must be"),
        (lambda: DistillationLoss()(torch.zeros(2, 8, 1), torch.zeros(2, 4, 1)), "target"),
    ],
)
def test_bad_input_names_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# -- the implementation against a plain transcription of the formulas (method.md section 1) ----


def reference_multi_scale(student, teacher, dim, levels=3, window=2):
    """Pool each side with ``avg_pool1d`` along ``dim`` and average the per-scale MSEs."""
    a, b = student.movedim(dim, -1), teacher.movedim(dim, -1)
    total = F.mse_loss(a, b)
    for _ in range(levels):
        a, b = (
            F.avg_pool1d(x.reshape(-1, 1, x.shape[-1]), window).reshape(*x.shape[:-1], -1)
            for x in (a, b)
        )
        total = total + F.mse_loss(a, b)
    return total / (levels + 1)


def reference_multi_period(student, teacher, dim, temperature=0.5):
    """``kl_div(log(p_s + 1e-8), p_t, "mean")`` with the target's log from ``log_softmax``."""

    def logits(x):
        amplitude = torch.fft.rfft(x, dim=dim).abs()
        return amplitude.narrow(dim, 1, x.shape[dim] // 2) / temperature

    log_p_student = torch.log(torch.softmax(logits(student), dim=dim) + 1e-8)
    log_p_teacher = torch.log_softmax(logits(teacher), dim=dim)
    return (log_p_teacher.exp() * (log_p_teacher - log_p_student)).mean()


def reference_objective(alpha, beta, prediction, target, teacher_prediction, features, mapped):
    return (
        F.mse_loss(prediction, target)
        + alpha
        * (
            reference_multi_period(prediction, teacher_prediction, 1)
            + reference_multi_scale(prediction, teacher_prediction, 1)
        )
        + beta
        * (reference_multi_period(features, mapped, 2) + reference_multi_scale(features, mapped, 2))
    )


def etth1_step_tensors(etth1, dtype, horizon=96, hidden=512):
    """A distillation step on real ETTh1 windows: a DMLP student's forecast and features, the
    true future as the teacher's forecast, and a feature regressor applied to a second
    network's features (trainable, so the teacher side of the feature terms has gradients)."""
    from tsdistill_plugin.core import DMLP, FeatureRegressor

    torch.manual_seed(0)
    values = torch.tensor(etth1.to_numpy()[:2000], dtype=dtype)
    starts = torch.arange(0, 2000 - 336 - horizon, 97)[:16]
    x = torch.stack([values[s : s + 336] for s in starts])
    y = torch.stack([values[s + 336 : s + 336 + horizon] for s in starts])
    student = DMLP(336, horizon, 7, hidden_size=hidden).to(dtype)
    other = DMLP(336, horizon, 7, hidden_size=64).to(dtype)
    regressor = FeatureRegressor(64, hidden).to(dtype)
    out = student(x)
    with torch.no_grad():
        teacher_features = other(x).features
    leaves = [out.prediction, out.features, regressor(teacher_features)]
    leaves = [t.detach().requires_grad_(True) for t in leaves]
    return leaves, y


@pytest.mark.parametrize(
    ("dtype", "rtol"), [(torch.float64, 1e-10), (torch.float32, 2e-5)], ids=["float64", "float32"]
)
def test_objective_matches_the_reference_formulas_with_gradients(etth1, dtype, rtol):
    (prediction, features, mapped), target = etth1_step_tensors(etth1, dtype)
    teacher_prediction = target + 0.3 * torch.roll(target, 5, dims=1)
    total, _ = DistillationLoss(alpha=2.0, beta=2.0)(
        prediction, target, teacher_prediction, features, mapped
    )
    inputs = (prediction, features, mapped)
    grads = torch.autograd.grad(total, inputs)
    expected = reference_objective(
        2.0, 2.0, prediction, target, teacher_prediction, features, mapped
    )
    expected_grads = torch.autograd.grad(expected, inputs)
    torch.testing.assert_close(total, expected, rtol=rtol, atol=0.0)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        scale = expected_grad.abs().max()
        assert scale > 0
        torch.testing.assert_close(grad, expected_grad, rtol=0.0, atol=rtol * scale)


@pytest.mark.parametrize("length", [12, 13, 64, 95])
@pytest.mark.parametrize("dim", [1, 2])
def test_each_term_matches_its_reference_with_gradients_on_any_length(length, dim):
    # odd and even lengths: Nyquist bin or not, pooling tails dropped or not
    g = torch.Generator().manual_seed(length)
    shape = (3, length, 4) if dim == 1 else (3, 4, length)
    student = torch.randn(shape, generator=g, dtype=torch.float64, requires_grad=True)
    teacher = (3 * torch.randn(shape, generator=g, dtype=torch.float64)).requires_grad_(True)
    for term, reference in (
        (lambda s, t: multi_scale_loss(s, t, dim), lambda s, t: reference_multi_scale(s, t, dim)),
        (lambda s, t: multi_period_loss(s, t, dim), lambda s, t: reference_multi_period(s, t, dim)),
    ):
        value, expected = term(student, teacher), reference(student, teacher)
        grads = torch.autograd.grad(value, (student, teacher))
        expected_grads = torch.autograd.grad(expected, (student, teacher))
        torch.testing.assert_close(value, expected, rtol=1e-12, atol=1e-15)
        for grad, expected_grad in zip(grads, expected_grads, strict=True):
            torch.testing.assert_close(grad, expected_grad, rtol=1e-9, atol=1e-15)


def test_gradients_only_where_asked_and_none_through_a_constant_spectrum():
    # a constant series has a zero spectrum outside the DC bin: the amplitude's gradient there
    # is 0 (as torch.abs's), not NaN
    student = torch.full((2, 16, 3), 4.0, requires_grad=True)
    teacher = torch.randn(2, 16, 3)
    multi_period_loss(student, teacher, dim=1).backward()
    assert torch.isfinite(student.grad).all()
    assert teacher.grad is None


def test_underflowing_teacher_probabilities_match_the_reference_gradients():
    # float32, temperature 0.5, one dominant period: most teacher bins are exactly 0, where the
    # written-out backward must agree with autograd through log_softmax (zero contribution),
    # and stay finite where F.kl_div's gradients are NaN (method.md section 6)
    hidden_axis = torch.arange(512, dtype=torch.float32)
    g = torch.Generator().manual_seed(3)
    teacher = 20.0 * torch.sin(2 * torch.pi * 9 * hidden_axis / 512) + torch.randn(
        4, 7, 512, generator=g
    )
    teacher.requires_grad_(True)
    student = torch.randn(4, 7, 512, generator=g, requires_grad=True)
    assert (period_distribution(teacher, dim=2) == 0).float().mean() > 0.5
    value = multi_period_loss(student, teacher, dim=2)
    expected = reference_multi_period(student, teacher, dim=2)
    grads = torch.autograd.grad(value, (student, teacher))
    expected_grads = torch.autograd.grad(expected, (student, teacher))
    torch.testing.assert_close(value, expected, rtol=1e-5, atol=0.0)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        assert torch.isfinite(grad).all()
        torch.testing.assert_close(
            grad, expected_grad, rtol=0.0, atol=1e-5 * expected_grad.abs().max()
        )
