"""Several teachers as one (TeacherEnsemble), weights fitted on validation, and teacher_stride."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from tsdistill_plugin import as_teacher
from tsdistill_plugin.core import Distillation, TeacherEnsemble, TorchTeacher, forecast_horizon
from tsdistill_plugin.core.distillation import TeacherTargets
from tsdistill_plugin.core.ensemble import simplex_least_squares

L, H = 24, 6


class Lagged(nn.Module):
    """Forecasts ``[B, H, N]``: the window's last ``H`` steps times ``scale``, with a hidden
    layer ``[B, N, width]`` to distil features from."""

    def __init__(self, scale: float, width: int = 4) -> None:
        super().__init__()
        self.scale = scale
        self.hidden = nn.Linear(L, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.hidden(x.transpose(1, 2))
        return self.scale * x[:, -H:]


def teacher(scale: float, features: bool = False, horizon: int = H) -> TorchTeacher:
    layer = "hidden" if features else None
    return TorchTeacher(Lagged(scale), L, horizon, feature_layer=layer)


def frames(etth1: pd.DataFrame, rows: slice) -> list[pd.DataFrame]:
    return [etth1.iloc[rows][["HUFL", "OT"]].reset_index(drop=True)]


def test_mean_and_given_weights_combine_the_forecasts():
    x = torch.randn(3, L, 2)
    equal = TeacherEnsemble([teacher(1.0), teacher(3.0)]).forecast(x).prediction
    torch.testing.assert_close(equal, 2.0 * x[:, -H:])
    given = TeacherEnsemble([teacher(1.0), teacher(3.0)], weights=[3, 1]).forecast(x).prediction
    torch.testing.assert_close(given, 1.5 * x[:, -H:])


def test_features_of_the_members_that_have_them_sit_side_by_side():
    x = torch.randn(3, L, 2)
    output = TeacherEnsemble([teacher(1.0, True), teacher(2.0), teacher(3.0, True)]).forecast(x)
    assert output.features.shape == (3, 2, 8)
    assert TeacherEnsemble([teacher(1.0), teacher(2.0)]).forecast(x).features is None


def test_a_member_with_a_shorter_horizon_is_rolled_out():
    x = torch.randn(2, L, 1)
    short = teacher(1.0, horizon=3)
    ensemble = TeacherEnsemble([teacher(1.0), short])
    expected = (x[:, -H:] + forecast_horizon(short, x, H).prediction) / 2
    torch.testing.assert_close(ensemble.forecast(x).prediction, expected)


def test_simplex_least_squares_finds_the_best_convex_combination():
    target = torch.randn(500)
    good, bad = target + 0.1 * torch.randn(500), torch.randn(500)
    weights = simplex_least_squares(torch.stack([bad, good]), target)
    assert weights.sum().item() == pytest.approx(1.0) and (weights >= 0).all()
    assert weights[1] > 0.95
    # the optimum of two forecasts with independent errors of variances 1 and 4
    a, b = target + torch.randn(500), target + 2 * torch.randn(500)
    weights = simplex_least_squares(torch.stack([a, b]), target)
    expected = float((b - target).square().mean() - ((a - target) * (b - target)).mean())
    expected /= float((a - b).square().mean())
    assert weights[0].item() == pytest.approx(expected, abs=1e-4)


def test_validation_weights_prefer_the_better_teacher_and_errors_are_reported(etth1):
    # ETTh1 is persistent: repeating the last steps beats a damped copy of them
    ensemble = TeacherEnsemble([teacher(0.2), teacher(1.0)], weights="validation")
    assert not ensemble.is_fitted
    with pytest.raises(ValueError, match="fitted on the validation split"):
        ensemble.forecast(torch.randn(1, L, 2))
    ensemble.fit(frames(etth1, slice(0, 400)), frames(etth1, slice(400, 700)))
    assert ensemble.is_fitted and ensemble.weights[1] > ensemble.weights[0]
    errors = ensemble.validation_errors
    assert set(errors) == {
        "0: " + repr(ensemble.members[0]),
        "1: " + repr(ensemble.members[1]),
        "ensemble",
    }
    assert errors["ensemble"] <= min(v for k, v in errors.items() if k != "ensemble") + 1e-6
    with pytest.raises(ValueError, match="needs validation data"):
        TeacherEnsemble([teacher(1.0)], weights="validation").fit(frames(etth1, slice(0, 400)))


@pytest.mark.parametrize(
    ("teachers", "weights", "message"),
    [
        ([], "mean", "the teacher list is empty"),
        ([teacher(1.0)], [1.0, 2.0], "must be 1 finite, non-negative numbers"),
        ([teacher(1.0), teacher(2.0)], [1.0, -1.0], "must be 2 finite, non-negative"),
        ([teacher(1.0), teacher(2.0)], [0.0, 0.0], "not all zero"),
        ([teacher(1.0), teacher(2.0)], "median", "must be 'mean', 'validation'"),
    ],
)
def test_bad_teacher_lists_and_weights(teachers, weights, message):
    with pytest.raises(ValueError, match=message):
        TeacherEnsemble(teachers, weights)


def test_teachers_built_for_different_channels_are_refused():
    three = TorchTeacher(Lagged(1.0), L, H, n_channels=3)
    seven = TorchTeacher(Lagged(1.0), L, H, n_channels=7)
    with pytest.raises(ValueError, match="built for different numbers of channels"):
        as_teacher([three, seven])


def test_a_stride_caches_every_kth_window_and_selects_the_batch_rows_that_have_one():
    member = teacher(2.0, features=True)
    windows = np.random.default_rng(0).normal(size=(10, L, 2)).astype("float32")
    targets = TeacherTargets(member, windows, H, "memory", torch.float32, False, stride=3)
    assert len(targets.cache) == 4  # windows 0, 3, 6, 9
    ids = torch.tensor([5, 6, 0, 7])
    batch = targets.get(ids, torch.from_numpy(windows[ids.numpy()]))
    assert batch.rows.tolist() == [1, 2]
    torch.testing.assert_close(batch.prediction, 2.0 * torch.from_numpy(windows[[6, 0], -H:]))
    assert targets.get(torch.tensor([1, 2]), torch.from_numpy(windows[[1, 2]])) is None


def test_terms_are_computed_on_the_rows_that_have_teacher_outputs():
    windows = np.random.default_rng(1).normal(size=(8, L, 1)).astype("float32")
    prediction = torch.randn(4, H, 1)
    strided = Distillation(teacher(1.0), alpha=1.0, beta=0.0, levels=1, stride=2)
    with strided.run(windows, H, torch.float32, student_width=16) as run:
        batch = run.targets.get(torch.tensor([0, 1, 2, 3]), torch.from_numpy(windows[:4]))
        _, terms = run.loss(prediction, torch.tensor(0.0), batch)
    full = Distillation(teacher(1.0), alpha=1.0, beta=0.0, levels=1)
    with full.run(windows, H, torch.float32, student_width=16) as run:
        rows = run.targets.get(torch.tensor([0, 2]), torch.from_numpy(windows[[0, 2]]))
        _, expected = run.loss(prediction[[0, 2]], torch.tensor(0.0), rows)
    torch.testing.assert_close(terms["prediction_scale"], expected["prediction_scale"])


@pytest.mark.parametrize("stride", [0, -2, 1.5, True])
def test_bad_strides_are_refused(stride):
    with pytest.raises(ValueError, match="teacher_stride must be a positive integer"):
        Distillation(teacher(1.0), stride=stride)
