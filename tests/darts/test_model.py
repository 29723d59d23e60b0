"""DistilledMLPModel inside Darts: cache correctness, the Darts API, saving, copies, training."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd
import pytest
import pytorch_lightning as pl
import torch
from darts import TimeSeries
from darts.models import TiDEModel
from darts_helpers import H, L, small
from pytorch_lightning.callbacks import EarlyStopping
from pytorch_lightning.loggers import CSVLogger

from tsdistill_plugin.core import TERM_NAMES, forecast_horizon
from tsdistill_plugin.darts import DistilledMLPModel


def student(**kwargs: object) -> DistilledMLPModel:
    return DistilledMLPModel(**small(hidden_size=32, batch_size=64, **kwargs))


def windows_as_series(series: TimeSeries, count: int, step: int) -> list[TimeSeries]:
    """``count`` input windows of length ``L`` from ``series``, ``step`` apart."""
    return [series[i * step : i * step + L] for i in range(count)]


@pytest.fixture(scope="module")
def tide(train: TimeSeries) -> TiDEModel:
    return TiDEModel(L, H, hidden_size=16, decoder_output_dim=4, **small()).fit(train)


class _CompareWithTeacher(pl.Callback):
    """Compares each training batch's cached teacher outputs with a direct teacher call."""

    def __init__(self, model: DistilledMLPModel) -> None:
        self.model = model
        self.max_diff = 0.0
        self.indices: list[np.ndarray] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        cached = pl_module.training_run.targets.cache[batch.window_index]
        direct = forecast_horizon(self.model.teacher, batch.past_target, H)
        for a, b in ((cached.prediction, direct.prediction), (cached.features, direct.features)):
            self.max_diff = max(self.max_diff, float((a - b).abs().max()))
        self.indices.append(batch.window_index.numpy())


def test_cached_teacher_outputs_match_a_direct_call_on_every_training_batch(tide, train):
    model = student(teacher=tide)
    callback = _CompareWithTeacher(model)
    model.trainer_params["callbacks"] = [callback]  # the very object the trainer will call
    model.fit(train)
    seen = np.concatenate(callback.indices)
    assert len(callback.indices) == 7 and sorted(seen) == list(range(len(train) - L - H + 1))
    assert not np.array_equal(seen, np.sort(seen))  # shuffled, so the index really matters
    assert callback.max_diff < 1e-6


class _KeepBatches(pl.Callback):
    """Keeps every training batch's inputs, truth and cached teacher forecasts."""

    def __init__(self) -> None:
        self.batches: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        targets = pl_module.training_run.targets.get(batch.window_index, batch.past_target)
        self.batches.append((batch.past_target, batch.future_target, targets.prediction))


def test_cached_teacher_targets_are_the_teachers_historical_forecasts_of_the_same_window(
    tide, train
):
    callback = _KeepBatches()
    model = student(teacher=tide, alpha=1.0, beta=0.0)
    model.trainer_params["callbacks"] = [callback]
    model.fit(train)
    past, future, cached = (torch.cat(parts) for parts in zip(*callback.batches, strict=True))
    values = train.values().astype(np.float32)
    starts = {values[i : i + L].tobytes(): i for i in range(len(values) - L - H + 1)}
    start = np.array([starts[window.numpy().tobytes()] for window in past])
    assert sorted(start) == list(range(len(values) - L - H + 1))
    own = tide.historical_forecasts(
        train, start=L, start_format="position", forecast_horizon=H, retrain=False,
        last_points_only=False, overlap_end=False,
    )  # fmt: skip
    own = np.stack([forecast.values() for forecast in own])  # forecast i starts at row L + i
    truth = np.stack([values[i + L : i + L + H] for i in start])
    np.testing.assert_allclose(future.numpy(), truth, atol=0)
    np.testing.assert_allclose(cached.numpy(), own[start], atol=1e-5)
    # a window's neighbour's forecast is measurably different: the check can fail
    assert np.abs(cached.numpy()[start > 0] - own[start[start > 0] - 1]).max() > 1e-3


def test_beta_zero_trains_no_feature_regressor_and_no_feature_terms(tide, train):
    model = student(teacher=tide, beta=0.0)
    model.fit(train, max_samples_per_ts=64)
    assert model.model.regressor is None
    assert model.trainer.callback_metrics["train_feature_scale"] == 0
    assert model.trainer.callback_metrics["train_prediction_scale"] > 0


def test_each_loss_term_is_logged_by_name_every_epoch(tide, train, tmp_path):
    model = student(teacher=tide, n_epochs=2)
    model.trainer_params["logger"] = CSVLogger(tmp_path)
    model.fit(train, max_samples_per_ts=128)
    metrics = pd.read_csv(next(tmp_path.rglob("metrics.csv")))
    per_epoch = metrics.dropna(subset=["train_supervised"])
    assert per_epoch["epoch"].tolist() == [0, 1]
    for name in TERM_NAMES:
        assert f"train_{name}" in model.trainer.progress_bar_metrics
        assert (per_epoch[f"train_{name}"] > 0).all()

    # saved right after training, the checkpoint holds the optimizer state, but neither the
    # training-only feature regressor's weights nor its optimizer moments
    path = tmp_path / "student.pt"
    model.save(str(path))
    checkpoint = torch.load(f"{path}.ckpt", weights_only=False)
    assert not any(key.startswith("regressor.") for key in checkpoint["state_dict"])
    saved = checkpoint["optimizer_states"][0]
    assert len(saved["param_groups"][0]["params"]) == len(list(model.model.student.parameters()))
    assert len(saved["state"]) == len(list(model.model.student.parameters()))


def test_darts_api_end_to_end(tide, train, val, frame, tmp_path):
    second = TimeSeries.from_dataframe(frame.iloc[100:400])
    model = student(teacher=tide, n_epochs=3)
    stop = EarlyStopping("val_loss", patience=0, mode="min", min_delta=10.0)
    model.trainer_params["callbacks"] = [stop]
    before = {k: v.clone() for k, v in tide.model.state_dict().items()}
    model.fit([train, second], val_series=val)
    assert all(torch.equal(before[k], v) for k, v in tide.model.state_dict().items())
    assert model.epochs_trained == 2 and stop.stopped_epoch == 1  # early stopping on val_loss

    forecast = model.predict(n=2 * H, series=val)
    assert (
        forecast.values().shape == (2 * H, 7) and forecast.start_time() == val.end_time() + val.freq
    )
    assert np.isfinite(forecast.values()).all()
    several = model.predict(n=H, series=[val, second])
    assert len(several) == 2

    hist = model.historical_forecasts(val, start=L, forecast_horizon=H, stride=H, retrain=False)
    assert len(hist) == (len(val) - L - H) // H + 1
    error = model.backtest(val, start=L, forecast_horizon=H, stride=H, retrain=False)
    assert np.isfinite(error)
    residuals = model.residuals(val, start=L, forecast_horizon=H, stride=H, retrain=False)
    assert residuals[0].n_components == 7

    # the teacher's description is recorded (the exporter writes it); the teacher itself is
    # neither a submodule nor a hyperparameter, and copies share it
    assert model.training_provenance["teacher"] == "DartsTeacher(TiDEModel, fitted)"
    assert "teacher" not in model.model.hparams
    assert {name.split(".")[0] for name, _ in model.model.named_modules() if name} <= {
        "student",
        "distillation",
        "regressor",
        "criterion",
        "train_criterion",
        "val_criterion",
        "train_metrics",
        "val_metrics",
    }
    assert copy.deepcopy(model).teacher is model.teacher
    path = tmp_path / "student.pt"
    model.save(str(path))
    fresh = model.untrained_model()
    assert fresh.teacher is model.teacher
    fresh.load_weights(str(path))
    np.testing.assert_array_equal(fresh.predict(n=2 * H, series=val).values(), forecast.values())


def test_univariate_baseline_is_reproducible_with_random_state(train, val):
    univariate = train.univariate_component("OT")
    forecasts = [
        student(input_chunk_length=L, output_chunk_length=H, random_state=seed)
        .fit(univariate)
        .predict(n=H, series=val.univariate_component("OT"))
        .values()
        for seed in (1, 1, 2)
    ]
    assert forecasts[0].shape == (H, 1)
    np.testing.assert_array_equal(forecasts[0], forecasts[1])
    assert not np.array_equal(forecasts[0], forecasts[2])


def test_default_optimizer_and_learning_rate_schedule_are_the_references(train):
    model = student(input_chunk_length=L, output_chunk_length=H, n_epochs=3)
    model.fit(train, max_samples_per_ts=64)
    scheduler = model.trainer.lr_scheduler_configs[0].scheduler
    assert model.trainer.optimizers[0].defaults["lr"] == 0.01
    assert scheduler.get_last_lr() == [pytest.approx(0.01 * 0.5**2)]  # after 3 epochs

    custom = student(
        input_chunk_length=L,
        output_chunk_length=H,
        optimizer_kwargs={"lr": 0.003},
        lr_scheduler_cls=torch.optim.lr_scheduler.StepLR,
        lr_scheduler_kwargs={"step_size": 10},
    ).fit(train, max_samples_per_ts=64)
    assert custom.trainer.optimizers[0].defaults["lr"] == 0.003
    assert isinstance(
        custom.trainer.lr_scheduler_configs[0].scheduler, torch.optim.lr_scheduler.StepLR
    )


def test_distillation_brings_the_student_closer_to_the_teacher(tide, train, val):
    inputs = windows_as_series(val, count=12, step=12)
    target = np.stack([f.values() for f in tide.predict(H, series=inputs)])

    def distance(alpha: float, beta: float) -> float:
        model = student(teacher=tide, alpha=alpha, beta=beta, n_epochs=2).fit(train)
        forecasts = np.stack([f.values() for f in model.predict(H, series=inputs)])
        return float(np.mean((forecasts - target) ** 2))

    assert distance(1.0, 1.0) < distance(0.0, 0.0)


def test_float64_series_with_float32_teacher_and_the_reverse(tide, train, val):
    double = train.astype(np.float64)
    model = student(teacher=tide).fit(double)
    assert model.model.dtype == torch.float64
    assert model.predict(H, series=val.astype(np.float64)).dtype == np.float64

    double_teacher = TiDEModel(L, H, hidden_size=8, **small()).fit(double)
    model = student(teacher=double_teacher).fit(train)
    assert model.model.dtype == torch.float32
    assert np.isfinite(model.predict(H, series=val).values()).all()


def test_retraining_backtest_warns_about_look_ahead_and_refit_teacher_avoids_it(train):
    series = train[:300]
    teacher = TiDEModel(L, H, hidden_size=8, **small())
    model = student(teacher=teacher)
    model.fit(series)  # fits the unfitted teacher on the whole series
    shared = model.teacher
    assert shared.is_fitted and teacher._fit_called and model.untrained_model().teacher is shared
    backtest = {"start": 240, "forecast_horizon": H, "stride": 24, "retrain": True}
    with pytest.warns(UserWarning, match="leak the slice's future"):
        model.backtest(series, **backtest)

    fresh_teacher = TiDEModel(L, H, hidden_size=8, **small())
    refitting = student(teacher=fresh_teacher, refit_teacher=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*leak the slice's future.*")
        refitting.backtest(series, **backtest)
    assert not fresh_teacher._fit_called  # each slice fitted its own copy
