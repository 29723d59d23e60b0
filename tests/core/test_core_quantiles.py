"""Probabilistic students in the core: the quantile head, the pinball loss, the quantile
objective, teachers' quantiles at the student's levels, and training on ETTh1."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from tsdistill_plugin.core import (
    DMLP,
    Distillation,
    DistillationLoss,
    QuantileDistillationLoss,
    TeacherOutput,
    TorchTeacher,
    forecast_horizon,
    multi_scale_loss,
)
from tsdistill_plugin.core.quantiles import check_quantiles, interpolate_quantiles, pinball_loss

LEVELS = (0.1, 0.5, 0.9)


def windows_of(values: np.ndarray, length: int, count: int) -> torch.Tensor:
    return torch.from_numpy(np.stack([values[i : i + length] for i in range(count)]))


class BandTeacher:
    """Repeats the window's last value, with quantiles ``width * (q - 0.5)`` around it."""

    input_len, horizon, n_channels, probabilistic, quantile_levels = 96, 24, None, True, None

    def __init__(self, width: float) -> None:
        self.width = width
        self.asked: list[tuple[float, ...]] = []

    def forecast(self, x: torch.Tensor) -> TeacherOutput:
        return TeacherOutput(x[:, -1:].expand(-1, self.horizon, -1).clone(), None)

    def forecast_quantiles(self, x: torch.Tensor, quantiles: tuple[float, ...]) -> TeacherOutput:
        self.asked.append(quantiles)
        offsets = self.width * (torch.tensor(quantiles, dtype=x.dtype) - 0.5)
        return TeacherOutput(self.forecast(x).prediction[..., None] + offsets, None)


@pytest.mark.parametrize("norm", ["mean", "revin", "none"])
def test_the_quantile_head_is_ordered_and_sized(norm):
    torch.manual_seed(0)
    student = DMLP(48, 12, 3, hidden_size=16, norm=norm, quantiles=LEVELS)
    output = student(torch.randn(8, 48, 3) * 5 + 2)
    assert output.prediction.shape == (8, 12, 3, 3)
    assert (output.prediction.diff(dim=-1) >= 0).all()
    point = DMLP(48, 12, 3, hidden_size=16, norm=norm)
    extra = sum(p.numel() for p in student.parameters()) - sum(
        p.numel() for p in point.parameters()
    )
    assert extra == 2 * (16 * 12 * 2 + 12 * 2)  # each head gives Q - 1 = 2 more values a step


def test_a_point_student_is_built_as_before():
    # the same seed gives the same weights and the same forecast with quantiles=None
    torch.manual_seed(3)
    before = DMLP(48, 12, 3, hidden_size=16)
    torch.manual_seed(3)
    after = DMLP(48, 12, 3, hidden_size=16, quantiles=None)
    x = torch.randn(4, 48, 3)
    assert torch.equal(before(x).prediction, after(x).prediction)
    assert before(x).prediction.shape == (4, 12, 3)


def test_the_mean_level_is_added_to_every_quantile():
    torch.manual_seed(0)
    student = DMLP(48, 12, 2, hidden_size=16, quantiles=LEVELS).eval()
    x = torch.randn(2, 48, 2)
    shifted = student(x + 7.0).prediction - student(x).prediction
    assert torch.allclose(shifted, torch.full_like(shifted, 7.0), atol=1e-5)


@pytest.mark.parametrize(
    "levels, message",
    [
        ([0.9, 0.5, 0.1], "strictly increasing"),
        ([0.1, 0.1, 0.5], "strictly increasing"),
        ([0.0, 0.5, 1.0], "strictly between 0 and 1"),
        ([0.1, 0.9], "must include the median 0.5"),
        ([], "non-empty list"),
        ("0.5", "non-empty list"),
    ],
)
def test_bad_levels_are_explained(levels, message):
    with pytest.raises(ValueError, match=message):
        check_quantiles(levels)


def test_pinball_loss_matches_numpy(etth1):
    rng = np.random.default_rng(0)
    target = etth1.to_numpy()[: 96 * 4].reshape(4, 96, 7)
    prediction = target[..., None] + rng.normal(size=(4, 96, 7, 3)).astype("float32")
    levels = np.array(LEVELS)
    error = target[..., None] - prediction
    expected = np.maximum(levels * error, (levels - 1) * error).mean()
    value = pinball_loss(torch.from_numpy(prediction), torch.from_numpy(target), LEVELS)
    assert value.item() == pytest.approx(expected, rel=1e-5)


def test_interpolation_matches_numpy_and_clamps_outside_the_range():
    rng = np.random.default_rng(1)
    source = [0.1, 0.25, 0.5, 0.75, 0.9]
    values = np.sort(rng.normal(size=(6, len(source))), axis=-1)
    target = [0.05, 0.1, 0.2, 0.5, 0.8, 0.95]
    got = interpolate_quantiles(torch.from_numpy(values), source, target).numpy()
    expected = np.stack([np.interp(target, source, row) for row in values])
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    same = torch.from_numpy(values)
    assert interpolate_quantiles(same, source, source) is same


def test_the_median_alone_is_the_point_objective_plus_pinball(etth1):
    # Q = 1 (the median): the alignment terms are DistillationLoss's, the supervised term the
    # pinball loss at 0.5, half the mean absolute error
    values = torch.from_numpy(etth1.to_numpy()[: 96 * 6].reshape(6, 96, 7))
    prediction, target, teacher = values[:2], values[2:4], values[4:]
    quantile, point = QuantileDistillationLoss([0.5], beta=0.0), DistillationLoss(beta=0.0)
    _, terms = quantile(prediction[..., None], target, teacher_prediction=teacher)
    _, expected = point(prediction, target, teacher_prediction=teacher)
    assert terms["supervised"].item() == pytest.approx(
        0.5 * (prediction - target).abs().mean().item(), rel=1e-6
    )
    for name in ("prediction_scale", "prediction_period"):
        assert terms[name].item() == pytest.approx(expected[name].item(), rel=1e-6)


def test_quantile_teachers_align_every_level_and_point_teachers_the_median(etth1):
    values = torch.from_numpy(etth1.to_numpy()[: 96 * 4].reshape(4, 96, 7))
    prediction = torch.sort(values[:2, ..., None] + torch.randn(2, 96, 7, 3), dim=-1).values
    teacher = torch.sort(values[2:, ..., None] + torch.randn(2, 96, 7, 3), dim=-1).values
    loss = QuantileDistillationLoss(LEVELS, beta=0.0)
    _, terms = loss(prediction, teacher_prediction=teacher)
    per_level = [multi_scale_loss(prediction[..., q], teacher[..., q], 1) for q in range(3)]
    assert terms["prediction_scale"].item() == pytest.approx(
        torch.stack(per_level).mean().item(), rel=1e-5
    )
    _, point = loss(prediction, teacher_prediction=teacher[..., 1])
    assert point["prediction_scale"].item() == pytest.approx(per_level[1].item(), rel=1e-6)
    assert point["prediction_period"].item() == pytest.approx(
        terms["prediction_period"].item(), rel=1e-6
    )
    with pytest.raises(ValueError, match=r"prediction must be \[batch, horizon, channels, 3\]"):
        loss(prediction[..., 0], teacher_prediction=teacher[..., 1])


def test_rollout_feeds_back_the_median():
    # a 24-step band teacher rolled out to 60: every call starts from its last median
    teacher = BandTeacher(width=2.0)
    x = torch.randn(3, 96, 2)
    prediction = forecast_horizon(teacher, x, 60, quantiles=LEVELS).prediction
    assert prediction.shape == (3, 60, 2, 3)
    expected = x[:, -1:, :, None] + torch.tensor([-0.8, 0.0, 0.8])
    assert torch.allclose(prediction, expected.expand(-1, 60, -1, -1))
    assert forecast_horizon(teacher, x, 60).prediction.shape == (3, 60, 2)  # a point student


def test_the_distillation_asks_quantile_teachers_for_the_students_levels(etth1, caplog):
    windows = windows_of(etth1.to_numpy(), 96, 64)
    band = BandTeacher(width=2.0)
    with Distillation(band, beta=0.0, quantiles=LEVELS).run(windows, 24, torch.float32, 16) as run:
        batch = run.targets.get(torch.arange(8), windows[:8])
    assert batch.prediction.shape == (8, 24, 7, 3) and set(band.asked) == {LEVELS}
    point = TorchTeacher(lambda x: x[:, -24:], input_len=96, horizon=24)
    with caplog.at_level(logging.INFO, logger="tsdistill_plugin.core.distillation"):
        with Distillation(point, beta=0.0, quantiles=LEVELS).run(
            windows, 24, torch.float32, 16
        ) as run:
            batch = run.targets.get(torch.arange(8), windows[:8])
    assert batch.prediction.shape == (8, 24, 7)
    assert "distils its median from it" in caplog.text
    state = Distillation(band, quantiles=LEVELS).__getstate__()
    assert state["quantiles"] == LEVELS and "quantiles" not in Distillation(band).__getstate__()


def band_width_after_training(etth1, alpha: float, supervised_weight: float) -> float:
    """Train a quantile student on ETTh1's OT; the mean 10-90% width of its forecasts."""
    values = etth1[["OT"]].to_numpy()
    windows = windows_of(values, 96 + 24, 600)
    inputs, targets = windows[:, :96], windows[:, 96:]
    teacher = BandTeacher(width=5.0)  # a band of 4 standard deviations: far wider than OT's
    torch.manual_seed(0)
    student = DMLP(96, 24, 1, hidden_size=16, quantiles=LEVELS)
    optimizer = torch.optim.Adam(student.parameters(), lr=0.01)
    loss_fn = QuantileDistillationLoss(
        LEVELS, alpha=alpha, beta=0.0, supervised_weight=supervised_weight
    )
    for _ in range(4):
        for batch in torch.randperm(len(inputs)).split(64):
            taught = teacher.forecast_quantiles(inputs[batch], LEVELS).prediction
            loss, _ = loss_fn(student(inputs[batch]).prediction, targets[batch], taught)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    student.eval()
    with torch.no_grad():
        forecast = student(inputs).prediction
    assert (forecast.diff(dim=-1) >= 0).all()
    return (forecast[..., 2] - forecast[..., 0]).mean().item()


def test_a_quantile_teacher_passes_its_band_on_to_the_student(etth1):
    alone = band_width_after_training(etth1, alpha=0.0, supervised_weight=1.0)
    taught = band_width_after_training(etth1, alpha=1.0, supervised_weight=0.0)
    assert alone < 1.5  # the truth alone: OT's own spread over a day, in standard deviations
    assert taught == pytest.approx(4.0, rel=0.25)  # the teacher's width, 5 * (0.9 - 0.1)
