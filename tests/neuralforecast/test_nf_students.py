"""DistilledMLP / DistilledMLPMultivariate inside NeuralForecast: fit, predict, cross_validation,
save / load, with NF teachers (fitted or not), a Darts teacher and no teacher."""

from __future__ import annotations

import copy
import json
import logging
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from neuralforecast import NeuralForecast
from neuralforecast.losses.pytorch import DistributionLoss, MQLoss
from neuralforecast.models import PatchTST, iTransformer
from nf_helpers import H, L
from trainer_settings import QUIET

from tsdistill_plugin.core import HalvingLR, forecast_horizon
from tsdistill_plugin.core.distillation import TargetBatch
from tsdistill_plugin.neuralforecast import DistilledMLP, DistilledMLPMultivariate
from tsdistill_plugin.neuralforecast.models import _DistilledBase

STUDENT = dict(hidden_size=32, max_steps=30, val_check_steps=10, **QUIET)


def _patchtst(**kwargs) -> PatchTST:
    return PatchTST(
        h=H,
        input_size=L,
        hidden_size=16,
        n_heads=2,
        encoder_layers=1,
        linear_hidden_size=32,
        max_steps=20,
        **QUIET,
        **kwargs,
    )


def _itransformer() -> iTransformer:
    return iTransformer(
        h=H,
        input_size=L,
        n_series=7,
        hidden_size=16,
        d_ff=16,
        n_heads=2,
        max_steps=20,
        **QUIET,
    )


@pytest.fixture(scope="module")
def fitted_patchtst(etth1_long) -> PatchTST:
    nf = NeuralForecast(models=[_patchtst()], freq="h")
    nf.fit(etth1_long)
    return nf.models[0]


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.slow
def test_unfitted_patchtst_teacher_fit_predict_cross_validation(etth1_long):
    user_teacher = _patchtst()
    student = DistilledMLP(teacher=user_teacher, **STUDENT)
    assert (student.h, student.input_size) == (H, L)  # defaults from the teacher
    nf = NeuralForecast(models=[student], freq="h")
    nf.fit(etth1_long)

    fitted = nf.models[0]
    assert fitted.teacher is student.teacher  # NF's deep copy shares the teacher
    assert fitted.teacher.is_fitted and not user_teacher.train_trajectories
    assert fitted.regressor is None  # training-only
    metrics = fitted.metrics
    for term in ("prediction_scale", "prediction_period", "feature_scale", "feature_period"):
        assert float(metrics[f"train_{term}_epoch"]) > 0
    forecast = nf.predict()
    assert forecast.shape == (7 * H, 3) and np.isfinite(forecast["DistilledMLP"]).all()

    with pytest.warns(UserWarning, match="leak the slice's future"):  # teacher saw the full df
        cv = nf.cross_validation(etth1_long, n_windows=2, step_size=H)
    assert len(cv) == 7 * 2 * H and cv["DistilledMLP"].notna().all()


@pytest.mark.slow
def test_itransformer_teacher_with_multivariate_student(etth1_long, tmp_path):
    student = DistilledMLPMultivariate(teacher=_itransformer(), **STUDENT)
    assert student.n_series == 7  # from the teacher
    nf = NeuralForecast(models=[student], freq="h")
    nf.fit(etth1_long, val_size=H)
    assert float(nf.models[0].metrics["train_feature_scale_epoch"]) > 0
    # the multivariate student is registered and rebuilt from its saved n_series (the
    # univariate one's fresh-process round trip is in tests/test_round_trips.py)
    forecast = nf.predict()["DistilledMLPMultivariate"].to_numpy()
    nf.save(str(tmp_path), overwrite=True)
    loaded = NeuralForecast.load(str(tmp_path))
    assert loaded.models[0].teacher is None and loaded.models[0].n_series == 7
    np.testing.assert_array_equal(loaded.predict()["DistilledMLPMultivariate"], forecast)
    cv = nf.cross_validation(etth1_long, n_windows=2, step_size=H, refit=True)
    assert len(cv) == 7 * 2 * H and cv["DistilledMLPMultivariate"].notna().all()


def test_darts_teacher(etth1_long):
    darts_models = pytest.importorskip("darts.models")
    teacher = darts_models.NLinearModel(
        input_chunk_length=L,
        output_chunk_length=H,
        n_epochs=1,
        pl_trainer_kwargs={"enable_progress_bar": False, "accelerator": "cpu"},
    )
    nf = NeuralForecast(models=[DistilledMLP(teacher=teacher, **STUDENT)], freq="h")
    nf.fit(etth1_long)
    assert nf.models[0].teacher.is_fitted  # fitted on the student's training data first
    assert float(nf.models[0].metrics["train_prediction_scale_epoch"]) > 0


def test_no_teacher(etth1_long):
    nf = NeuralForecast(models=[DistilledMLP(h=H, input_size=L, **STUDENT)], freq="h")
    nf.fit(etth1_long)
    cv = nf.cross_validation(etth1_long, n_windows=2, step_size=H)
    assert len(cv) == 7 * 2 * H


def test_multivariate_student_sees_the_series_in_dataset_order(etth1_long):
    """Every training batch holds the series in the dataset's order (NeuralForecast 3 would
    shuffle them), so the per-series BatchNorm channel ``i`` always normalizes series ``i``."""
    seen = []

    class Recording(DistilledMLPMultivariate):
        def training_step(self, batch, batch_idx):
            seen.append(batch["temporal"][:, batch["y_idx"], 0].tolist())
            return super().training_step(batch, batch_idx)

    student = Recording(h=H, input_size=L, n_series=7, **{**STUDENT, "max_steps": 8})
    NeuralForecast(models=[student], freq="h").fit(etth1_long)
    first_values = etth1_long.sort_values(["unique_id", "ds"]).groupby("unique_id")["y"].first()
    expected = first_values.to_numpy(dtype=np.float32).tolist()
    assert len(seen) == 8 and all(order == expected for order in seen)


def _scheduler(student: torch.nn.Module) -> torch.optim.lr_scheduler.LRScheduler:
    return student.configure_optimizers()["lr_scheduler"]["scheduler"]


def test_default_schedule_halves_the_rate_every_validation_period_after_the_second():
    student = DistilledMLPMultivariate(h=H, input_size=L, n_series=7, val_check_steps=4)
    scheduler = _scheduler(student)
    assert isinstance(scheduler, HalvingLR) and scheduler.steps_per_epoch == 4
    rates = []
    for _ in range(13):
        rates.append(scheduler.get_last_lr()[0])
        scheduler.optimizer.step()
        scheduler.step()
    assert rates[7] == 0.01 and rates[8] == 0.005 and rates[12] == 0.0025


def test_other_schedules_stay_as_in_neuralforecast():
    kwargs = {"steps_per_epoch": 7}
    student = DistilledMLP(h=H, input_size=L, lr_scheduler_kwargs=kwargs)
    assert _scheduler(student).steps_per_epoch == 7 and kwargs == {"steps_per_epoch": 7}
    decays = _scheduler(DistilledMLP(h=H, input_size=L, max_steps=100, num_lr_decays=2))
    assert isinstance(decays, torch.optim.lr_scheduler.StepLR) and decays.step_size == 50
    constant = _scheduler(DistilledMLP(h=H, input_size=L, num_lr_decays=-1))
    assert isinstance(constant, torch.optim.lr_scheduler.StepLR) and constant.step_size >= 1e7
    mine = DistilledMLP(
        h=H,
        input_size=L,
        lr_scheduler=torch.optim.lr_scheduler.ExponentialLR,
        lr_scheduler_kwargs={"gamma": 0.9},
    )
    assert isinstance(_scheduler(mine), torch.optim.lr_scheduler.ExponentialLR)


@pytest.mark.slow
def test_fitted_teacher_is_untouched_and_distillation_pulls_towards_it(etth1_long, fitted_patchtst):
    before = _state(fitted_patchtst)
    train = etth1_long.groupby("unique_id").head(500)
    distances = {}
    for weight in (0.0, 2.0):
        student = DistilledMLP(
            teacher=fitted_patchtst, alpha=weight, beta=weight, **{**STUDENT, "max_steps": 60}
        )
        nf = NeuralForecast(models=[student], freq="h")
        nf.fit(train)
        forecast = nf.predict()["DistilledMLP"].to_numpy().reshape(7, H)
        window = train.pivot(index="ds", columns="unique_id", values="y").to_numpy()[-L:]
        teacher = nf.models[0].teacher.forecast(torch.tensor(window[None], dtype=torch.float32))
        distances[weight] = float(np.mean((forecast - teacher.prediction[0].numpy().T) ** 2))
    after = _state(fitted_patchtst)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert distances[2.0] < distances[0.0]


def _unequal_lengths(df: pd.DataFrame) -> pd.DataFrame:
    """One series starts 150 hours late (NeuralForecast left-pads it with zeros)."""
    late = df[df.unique_id == "OT"].iloc[150:]
    return pd.concat([df[df.unique_id != "OT"], late], ignore_index=True)


@pytest.mark.parametrize(
    "multivariate, options, unequal",
    [
        (False, {}, False),
        (True, {}, False),
        (False, {"step_size": 3, "start_padding_enabled": True}, True),
        (True, {"step_size": 2}, True),
    ],
    ids=["univariate", "multivariate", "univariate-steps-padding-unequal", "multivariate-unequal"],
)
def test_cached_outputs_equal_the_teachers_online_forecasts(
    etth1_long, fitted_patchtst, monkeypatch, multivariate, options, unequal
):
    """Every window NeuralForecast samples gets the teacher output of exactly that window
    (including the series order of batches, which NF shuffles)."""
    checked = []
    original = _DistilledBase._teacher_outputs

    def outputs(self, batch, sampled):
        cached = original(self, batch, sampled)
        assert self.training_run.targets.cache is not None
        online = forecast_horizon(self.teacher, sampled.insample, self.h)
        torch.testing.assert_close(cached.prediction, online.prediction, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(cached.features, online.features, atol=1e-5, rtol=1e-5)
        checked.append(len(sampled.insample))
        return cached

    monkeypatch.setattr(_DistilledBase, "_teacher_outputs", outputs)
    cls = DistilledMLPMultivariate if multivariate else DistilledMLP
    extra = {"n_series": 7} if multivariate else {}
    student = cls(
        teacher=fitted_patchtst, batch_size=3, **extra, **options, **{**STUDENT, "max_steps": 4}
    )
    df = _unequal_lengths(etth1_long) if unequal else etth1_long
    NeuralForecast(models=[student], freq="h").fit(df, val_size=H)
    assert len(checked) == 4


def test_deep_copies_share_the_teacher_and_hparams_hold_none():
    student = DistilledMLP(teacher=_patchtst(), **STUDENT)
    assert "teacher" not in student.hparams and "teacher" not in student._hparams_initial
    assert student.hparams["h"] == H and student.hparams["input_size"] == L
    assert copy.deepcopy(student).teacher is student.teacher


@pytest.mark.slow
def test_refit_teacher_refits_per_window(etth1_long, fitted_patchtst, monkeypatch):
    fits = []
    from tsdistill_plugin.neuralforecast.teacher import NeuralForecastTeacher

    original = NeuralForecastTeacher.fit

    def fit(self, series, val_series=None):
        fits.append(min(len(frame) for frame in series))
        original(self, series, val_series)

    monkeypatch.setattr(NeuralForecastTeacher, "fit", fit)
    student = DistilledMLP(teacher=fitted_patchtst, refit_teacher=True, **STUDENT)
    nf = NeuralForecast(models=[student], freq="h")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*leak the slice's future.*")
        nf.cross_validation(etth1_long, n_windows=2, step_size=H, refit=True)
    assert fits == [600 - 2 * H, 600 - H]  # one fresh teacher per training window
    assert nf.models[0].teacher.model is not fitted_patchtst


@pytest.mark.parametrize(
    "loss", [MQLoss(quantiles=[0.9, 0.5, 0.1]), DistributionLoss("Normal")], ids=["mq", "normal"]
)
def test_probabilistic_student_distills_its_quantiles_or_its_median(
    etth1_long, fitted_patchtst, loss
):
    # the terms compare every quantile of MQLoss (in increasing order of the levels; the point
    # teacher then teaches their median), the Normal's location
    probe = DistilledMLP(teacher=fitted_patchtst, loss=loss, **STUDENT)
    windows = torch.randn(5, L, 1)
    probe.scaler.transform(x=windows.unsqueeze(2), mask=torch.ones(5, L, 1, 1))
    with torch.no_grad():
        out = probe.dmlp(windows)
        compared, _ = probe._in_student_space(out, TargetBatch(torch.zeros(5, H, 1), None, None), 0)
        raw = probe.loss.domain_map(probe._nf_layout(out.prediction))
    if isinstance(loss, MQLoss):
        levels = [round(q, 6) for q in loss.quantiles.tolist()]  # NeuralForecast's order
        expected = raw[..., [levels.index(q) for q in sorted(levels)]]
        assert (raw[..., levels.index(0.1)] <= raw[..., levels.index(0.9)]).all()
    else:
        expected = raw[0]
    torch.testing.assert_close(compared, expected)

    student = DistilledMLP(teacher=fitted_patchtst, loss=loss, **{**STUDENT, "max_steps": 10})
    nf = NeuralForecast(models=[student], freq="h")
    nf.fit(etth1_long)
    assert float(nf.models[0].metrics["train_prediction_scale_epoch"]) > 0
    forecast = nf.predict()
    assert np.isfinite(forecast.drop(columns=["unique_id", "ds"]).to_numpy()).all()


def test_saved_hyperparameters_are_plain(etth1_long, tmp_path):
    student = DistilledMLP(teacher=_patchtst(), alias="kd", **{**STUDENT, "max_steps": 2})
    path = tmp_path / "student.safetensors"
    student.save(str(path))
    header_len = int.from_bytes(path.read_bytes()[:8], "little")
    header = json.loads(path.read_bytes()[8 : 8 + header_len])
    hparams = json.loads(header["__metadata__"]["hyper_parameters"])
    assert "teacher" not in hparams and hparams["h"] == H
    loaded = DistilledMLP.load(str(path))
    assert loaded.teacher is None and loaded.alias == "kd"


def test_fitted_darts_teacher_is_used_as_is(etth1_wide, etth1_long):
    darts = pytest.importorskip("darts")
    from darts.models import NLinearModel

    teacher = NLinearModel(
        input_chunk_length=L,
        output_chunk_length=H,
        n_epochs=1,
        pl_trainer_kwargs={"enable_progress_bar": False, "accelerator": "cpu"},
    )
    # a multivariate teacher sees the series in NeuralForecast's order: sorted by unique_id
    teacher.fit(darts.TimeSeries.from_dataframe(etth1_wide[sorted(etth1_wide.columns)]))
    before = _state(teacher.model)
    student = DistilledMLPMultivariate(teacher=teacher, **STUDENT)  # 7 channels, like the teacher
    assert student.n_series == 7
    nf = NeuralForecast(models=[student], freq="h")
    nf.fit(etth1_long)
    after = _state(teacher.model)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert float(nf.models[0].metrics["train_prediction_period_epoch"]) > 0


@pytest.mark.slow
def test_auto_distilled_mlp_tunes_on_validation_starting_from_the_plain_student(etth1_long, caplog):
    from tsdistill_plugin.neuralforecast import AutoDistilledMLP

    def config(trial):
        space = AutoDistilledMLP.get_default_config(h=H, backend="optuna")(trial)
        return {**space, "hidden_size": 16, "max_steps": 3, **QUIET}

    teacher = _patchtst()
    auto = AutoDistilledMLP(h=H, teacher=teacher, config=config, num_samples=3)
    nf = NeuralForecast(models=[auto], freq="h")
    with caplog.at_level(logging.INFO, logger="tsdistill_plugin.core"):
        nf.fit(etth1_long.groupby("unique_id").head(400), val_size=H)
    trials = nf.models[0].results.trials
    assert trials[0].params["alpha"] == trials[0].params["beta"] == 0.0  # the plain student
    best = nf.models[0].results.best_trial
    fits = [r for r in caplog.records if "Fitting the teacher" in r.message]
    fills = [r for r in caplog.records if r.message.startswith("TeacherCache:")]
    assert len(fits) == 1  # the teacher is shared by every trial
    distilled_trials = sum(t.params["alpha"] + t.params["beta"] > 0 for t in trials)
    assert distilled_trials == 2
    # one fill shared by the distilling trials, and one for the final fit on all the data when
    # the best trial distils
    best_distils = best.params["alpha"] + best.params["beta"] > 0
    assert len(fills) == 1 + best_distils
    assert np.isfinite(nf.predict()["AutoDistilledMLP"].to_numpy()).all()
