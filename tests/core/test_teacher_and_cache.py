"""Teachers (TorchTeacher, feature mapping, horizon roll-out) and the teacher cache."""

from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from tsdistill_plugin import as_teacher
from tsdistill_plugin.core import (
    DMLP,
    FeatureLayout,
    TeacherCache,
    TorchTeacher,
    features_by_channel,
    forecast_horizon,
)


class Linear3d(nn.Module):
    """[B, L, N] -> [B, H, N] with one linear map over time, shared by channels."""

    def __init__(self, input_len: int, horizon: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(input_len, 16)
        self.head = nn.Linear(16, horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.hidden(x.transpose(1, 2)))).transpose(1, 2)


def windows_of(frame, input_len: int, count: int) -> np.ndarray:
    values = frame.to_numpy()
    return np.stack([values[i : i + input_len] for i in range(count)])


def test_torch_teacher_is_frozen_and_restores_mode():
    net = Linear3d(48, 12).train()
    teacher = TorchTeacher(net, input_len=48, horizon=12, feature_layer="hidden")
    x = torch.randn(5, 48, 3, requires_grad=True)
    out = teacher.forecast(x)
    assert out.prediction.shape == (5, 12, 3) and not out.prediction.requires_grad
    assert out.features.shape == (5, 3, 16)
    assert net.training
    assert all(p.requires_grad for p in net.parameters())


def test_torch_teacher_runs_in_its_own_dtype_and_returns_the_inputs():
    net = Linear3d(24, 6).double()
    teacher = TorchTeacher(net, input_len=24, horizon=6)
    x = torch.randn(2, 24, 2, dtype=torch.float32)
    out = teacher.forecast(x)
    assert out.prediction.dtype == torch.float32
    expected = net(x.double()).float()
    torch.testing.assert_close(out.prediction, expected)


def test_rollout_extends_a_short_teacher_and_slices_long_inputs():
    net = Linear3d(24, 6)
    teacher = TorchTeacher(net, input_len=24, horizon=6)
    x = torch.randn(3, 40, 2)
    out = forecast_horizon(teacher, x, horizon=14)
    assert out.prediction.shape == (3, 14, 2)
    with torch.no_grad():
        first = net(x[:, -24:])
        second = net(torch.cat([x[:, -18:], first], dim=1))
    torch.testing.assert_close(out.prediction[:, :6], first)
    torch.testing.assert_close(out.prediction[:, 6:12], second)
    with pytest.raises(ValueError, match="lookback"):
        forecast_horizon(teacher, torch.randn(3, 20, 2), horizon=6)


@pytest.mark.parametrize(
    ("layout", "shape", "expected"),
    [
        (FeatureLayout.PER_CHANNEL, (4, 3, 5, 2), (4, 3, 10)),
        (FeatureLayout.CHANNELS_IN_BATCH, (12, 7, 8), (4, 3, 56)),
        (FeatureLayout.CHANNELS_LAST, (4, 9, 3), (4, 3, 9)),
        (FeatureLayout.VARIATE_TOKENS, (4, 5, 8), (4, 3, 8)),
        (FeatureLayout.PER_WINDOW, (4, 32), (4, 3, 32)),
    ],
)
def test_features_by_channel_layouts(layout, shape, expected):
    assert features_by_channel(torch.randn(shape), layout, batch=4, n_channels=3).shape == expected


def test_features_by_channel_keeps_variate_tokens_in_order():
    tokens = torch.arange(4 * 5 * 2, dtype=torch.float32).reshape(4, 5, 2)
    mapped = features_by_channel(tokens, "variate_tokens", 4, 3)
    torch.testing.assert_close(mapped, tokens[:, :3])


def test_channels_folded_into_the_batch_keep_each_window_together():
    # [batch * channels, d] with the channels of window b at rows b*N .. b*N + N - 1
    folded = torch.arange(4 * 3, dtype=torch.float32).reshape(12, 1)
    mapped = features_by_channel(folded, FeatureLayout.CHANNELS_IN_BATCH, 4, 3)
    torch.testing.assert_close(mapped[1, :, 0], torch.tensor([3.0, 4.0, 5.0]))


@pytest.mark.parametrize(
    ("layout", "shape"),
    [
        # more tokens than channels is not "the first N tokens" unless declared so
        (FeatureLayout.PER_CHANNEL, (4, 5, 8)),
        (FeatureLayout.CHANNELS_IN_BATCH, (4, 8)),
        (FeatureLayout.PER_WINDOW, (4, 3, 8)),
        (FeatureLayout.VARIATE_TOKENS, (4, 2, 8)),
    ],
)
def test_features_that_do_not_fit_their_declared_layout_are_refused(layout, shape):
    with pytest.raises(ValueError, match=f"do not have the declared layout '{layout.value}'"):
        features_by_channel(torch.randn(shape), layout, batch=4, n_channels=3)


def test_unknown_layers_and_layouts_are_explained():
    with pytest.raises(ValueError, match="choose one of: hidden, head"):
        TorchTeacher(Linear3d(8, 2), input_len=8, horizon=2, feature_layer="encoder")
    with pytest.raises(ValueError, match="'per_channel'"):
        TorchTeacher(Linear3d(8, 2), 8, 2, feature_layer="hidden", feature_layout="tokens")
    with pytest.raises(ValueError, match=r"a \(name, layout\) pair"):
        as_teacher(Linear3d(8, 2), input_len=8, horizon=2, feature_layer=("hidden", "rows"))


def test_a_declared_layout_reaches_the_features():
    net = Linear3d(8, 2)  # its "hidden" output is [batch, channels, 16]
    teacher = as_teacher(net, input_len=8, horizon=2, feature_layer=("hidden", "per_channel"))
    assert teacher.forecast(torch.randn(5, 8, 3)).features.shape == (5, 3, 16)
    wrong = as_teacher(net, input_len=8, horizon=2, feature_layer=("hidden", "channels_last"))
    with pytest.raises(ValueError, match="declared layout 'channels_last'"):
        wrong.forecast(torch.randn(5, 8, 4))


def test_as_teacher_wraps_modules_and_rejects_other_objects():
    teacher = as_teacher(Linear3d(8, 2), input_len=8, horizon=2)
    assert isinstance(teacher, TorchTeacher) and teacher.horizon == 2
    assert as_teacher(teacher) is teacher
    with pytest.raises(ValueError, match="needs input_len and horizon"):
        as_teacher(Linear3d(8, 2))
    with pytest.raises(TypeError, match="unsupported teacher type"):
        as_teacher("PatchTST")


@pytest.mark.parametrize("storage", ["memory", "disk"])
def test_cache_returns_exactly_what_the_teacher_returns(etth1, storage, caplog):
    windows = windows_of(etth1, 96, 300)
    teacher = TorchTeacher(Linear3d(96, 24), input_len=96, horizon=24, feature_layer="hidden")
    with caplog.at_level(logging.INFO, logger="tsdistill_plugin.core.cache"):
        cache = TeacherCache(
            teacher, windows, horizon=24, batch_size=64, storage=storage, progress=False
        )
    assert cache.storage == storage
    assert ("in memory" if storage == "memory" else "on disk") in caplog.text
    direct = teacher.forecast(torch.from_numpy(windows))
    index = np.array([0, 7, 299, 150, 7])
    cached = cache[index]
    torch.testing.assert_close(cached.prediction, direct.prediction[index], rtol=0, atol=0)
    torch.testing.assert_close(cached.features, direct.features[index], rtol=0, atol=0)
    torch.testing.assert_close(cache[3].prediction, direct.prediction[3], rtol=0, atol=0)
    directory = cache.predictions.path.parent if storage == "disk" else None
    cache.close()
    if directory is not None:
        assert not directory.exists()


def test_cache_goes_to_disk_over_its_memory_budget(etth1):
    windows = windows_of(etth1, 48, 100)  # 100 forecasts [8, 7] in float32: 22,400 bytes
    teacher = TorchTeacher(Linear3d(48, 8), input_len=48, horizon=8)
    within = TeacherCache(teacher, windows, horizon=8, memory_budget=10**6, progress=False)
    assert within.storage == "memory"
    over = TeacherCache(teacher, windows, horizon=8, memory_budget=1000, progress=False)
    assert over.storage == "disk" and over.features is None
    over.close()


def test_a_student_can_learn_from_a_cached_teacher(etth1):
    # End to end in the core: distillation pulls the student's forecasts towards the teacher's.
    from tsdistill_plugin.core import DistillationLoss

    torch.manual_seed(0)
    windows = windows_of(etth1, 96 + 24, 512)
    inputs, targets = torch.from_numpy(windows[:, :96]), torch.from_numpy(windows[:, 96:])
    teacher = TorchTeacher(Linear3d(96, 24), input_len=96, horizon=24)
    cache = TeacherCache(teacher, inputs, horizon=24, progress=False)

    def distance_after_training(alpha: float) -> float:
        torch.manual_seed(1)
        student = DMLP(96, 24, 7, hidden_size=32)
        optimizer = torch.optim.Adam(student.parameters(), lr=0.01)
        loss_fn = DistillationLoss(alpha=alpha, beta=0.0)
        for _ in range(3):
            for batch in torch.randperm(len(inputs)).split(64):
                out = student(inputs[batch])
                loss, _ = loss_fn(out.prediction, targets[batch], cache[batch].prediction)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        student.eval()
        with torch.no_grad():
            return torch.mean((student(inputs).prediction - cache.predictions) ** 2).item()

    assert distance_after_training(alpha=5.0) < distance_after_training(alpha=0.0)


@pytest.mark.slow
def test_core_import_leaves_the_libraries_out():
    code = (
        "import sys, tsdistill_plugin, tsdistill_plugin.core, tsdistill_plugin.teachers;"
        "print(sorted(m for m in ('darts', 'neuralforecast') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_the_cache_estimates_its_fill_time_and_warns_when_it_is_long(monkeypatch, caplog):
    from tsdistill_plugin.core import cache as cache_module

    teacher = TorchTeacher(Linear3d(16, 4), input_len=16, horizon=4)
    windows = np.random.default_rng(0).normal(size=(40, 16, 2)).astype("float32")
    clock = iter([10.0, 10.5])  # the first batch of 8 windows takes 0.5 s
    monkeypatch.setattr(cache_module.time, "perf_counter", lambda: next(clock))
    monkeypatch.setattr(cache_module, "SLOW_FILL_SECONDS", 2.0)
    with caplog.at_level(logging.INFO, logger="tsdistill_plugin.core.cache"):
        with pytest.warns(UserWarning, match=r"about 2 s for the 40 training windows"):
            cache = TeacherCache(teacher, windows, 4, batch_size=8, progress=False)
    assert cache.estimated_seconds == pytest.approx(0.5 * 40 / 8)
    assert any("40 training windows: about 2 s" in r.message for r in caplog.records)
