"""``tsdistill benchmark`` with several teachers, foundation-model teachers and distillation
weights chosen on the validation split."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tsdistill_plugin.benchmark import load_dataset
from tsdistill_plugin.benchmark.backends import get_backend
from tsdistill_plugin.benchmark.backends.base import Fitted, StudentSetup, TimedTeacher
from tsdistill_plugin.benchmark.backends.reference import TeacherConfig, TrainingPlan
from tsdistill_plugin.benchmark.cli import config_from
from tsdistill_plugin.benchmark.experiment import _truth_spectra
from tsdistill_plugin.benchmark.progress import Progress
from tsdistill_plugin.benchmark.weights import (
    IMITATION,
    IMITATION_PLAN,
    Setting,
    candidates,
    search,
)
from tsdistill_plugin.cli import build_parser, main
from tsdistill_plugin.core import TeacherEnsemble, TorchTeacher
from tsdistill_plugin.core.teacher import AdaptiveTeacher, FittableTeacher

TINY = ["--epochs", "1", "--hidden-size", "16", "--latency-runs", "2", "--quiet"]


def _run(args: list[str], out: Path) -> dict:
    assert main(["benchmark", *TINY, *args, "--out", str(out)]) == 0
    return json.loads((out / "results.json").read_text())


def _error(args: list[str], capsys: pytest.CaptureFixture) -> str:
    assert main(["benchmark", "--quiet", *args]) == 2
    return capsys.readouterr().err


# -- options --------------------------------------------------------------------------------


def test_several_teachers_and_auto_weights_parse() -> None:
    args = build_parser().parse_args(
        ["benchmark", "--teacher", "iTransformer", "patchtst", "tide", "--teacher-weights",
         "validation", "--alpha", "auto", "--beta", "0.5", "--teacher-dir", "weights",
         "--accept-license"]
    )  # fmt: skip
    config = config_from(args)
    assert config.teacher == ("itransformer", "patchtst", "tide")
    assert (config.teacher_weights, config.alpha, config.beta) == ("validation", "auto", 0.5)
    assert config.teacher_dir == "weights" and config.accept_license


@pytest.mark.parametrize("value", ["-1", "nan", "often"])
def test_bad_weights_are_rejected(value: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["benchmark", "--alpha", value])
    assert f"expected a number >= 0 or 'auto', got {value}" in capsys.readouterr().err


def test_teacher_weights_must_be_mean_or_validation(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["benchmark", "--teacher-weights", "median"])
    assert "invalid choice: 'median'" in capsys.readouterr().err


def test_a_teacher_named_twice(capsys: pytest.CaptureFixture) -> None:
    message = _error(["--teacher", "tide", "nhits", "tide"], capsys)
    assert "--teacher names tide more than once" in message


def test_unknown_teacher_lists_the_foundation_models(capsys: pytest.CaptureFixture) -> None:
    message = _error(["--teacher", "tide", "chronos3"], capsys)
    assert "unknown teacher 'chronos3'" in message and "chronos2" in message


def test_a_foundation_model_darts_cannot_import(capsys: pytest.CaptureFixture) -> None:
    # TiRex needs the optional tirex-ts package, which is not installed here
    message = _error(["--teacher", "tirex"], capsys)
    assert "Darts cannot import TiRexModel" in message and "optional dependency" in message


def test_a_licensed_foundation_model_asks_for_its_license(capsys: pytest.CaptureFixture) -> None:
    message = _error(["--teacher", "timesfm3", "--lookback", "32", "--horizon", "8"], capsys)
    assert "TimesFM3Model asks its users to accept its license" in message
    assert "--accept-license" in message


def test_a_foundation_context_shorter_than_the_lookback(
    models_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    checkpoint = models_dir / "tiny_chronos2"
    args = ["--teacher", "chronos2", "--teacher-dir", str(checkpoint), "--lookback", "52"]
    message = _error([*args, "--horizon", "8"], capsys)
    assert "--teacher chronos2 cannot forecast this task" in message
    assert "context_length 21" in message and "--lookback" in message


# -- the weight grid ------------------------------------------------------------------------


def test_candidates_start_with_no_distillation_and_hold_the_reference() -> None:
    imitation = [(4, 0, IMITATION)]
    assert candidates("auto", "auto", (1.0, 1.0)) == [
        (0, 0, "reference"), (0.1, 0.1, "reference"), (1, 1, "reference"), *imitation,
    ]  # fmt: skip
    assert candidates("auto", "auto", (2.0, 2.0))[3] == (2.0, 2.0, "reference")  # ETTh1's
    assert [s[:2] for s in candidates("auto", 0.5, (1.0, 0.5))] == [
        (0, 0), (0, 0.5), (0.1, 0.5), (1, 0.5),
    ]  # fmt: skip
    assert [s[:2] for s in candidates(0.2, "auto", (1.0, 0.1))] == [
        (0, 0), (0.2, 0), (0.2, 0.1), (0.2, 1),
    ]  # fmt: skip
    assert candidates(0.2, 0.3, (1.0, 1.0)) == [(0.2, 0.3, "reference")]


def test_the_imitation_recipe_is_its_objective_and_plan_and_the_reference_keeps_the_spec() -> None:
    spec = StudentSetup(64, "mean", 0.0, 0.0, TrainingPlan(lr=0.01, epochs=100))
    assert Setting(1.0, 0.5).student(spec) == replace(spec, alpha=1.0, beta=0.5)
    student = Setting(4.0, 0.0, IMITATION).student(spec, epochs=7)
    assert (student.alpha, student.beta, student.scale_levels, student.period_weight) == (
        4.0, 0.0, 0, 0.0,
    )  # fmt: skip
    assert student.plan == replace(IMITATION_PLAN, epochs=7) and not student.plan.halving
    assert (student.hidden_size, student.norm) == (64, "mean")


def _fitted(name: str, seconds: float = 1.0) -> Fitted:
    return Fitted(name, name, seconds, 1, module=torch.nn.Linear(1, 1))


def test_search_keeps_the_lowest_validation_loss_and_reuses_the_plain_student() -> None:
    scores = {"plain": 0.5, "0.1": 0.4, "0.5": 0.4, "1": 0.6}
    fitted = []

    def fit(setting: Setting) -> Fitted:
        fitted.append(setting[:2])
        return _fitted(f"{setting.alpha:g}")

    chosen, best, tried = search(
        [Setting(0.0, 0.0), Setting(0.1, 0.1), Setting(0.5, 0.5), Setting(1.0, 1.0)],
        _fitted("plain"),
        fit,
        lambda f: scores[f.model],
    )
    assert fitted == [(0.1, 0.1), (0.5, 0.5), (1.0, 1.0)]  # (0, 0) is the plain student
    assert chosen.model == "0.1" and best is tried[1]  # the earlier of two equal scores
    assert [c.val_loss for c in tried] == [0.5, 0.4, 0.4, 0.6]
    assert not tried[0].distils and all(c.distils for c in tried[1:])


def test_search_keeps_no_distillation_when_nothing_beats_it() -> None:
    chosen, best, _ = search(
        [Setting(0.0, 0.0), Setting(1.0, 1.0)],
        _fitted("plain"),
        lambda s: _fitted("1"),
        lambda f: 0.3,
    )
    assert chosen.model == "plain" and (best.alpha, best.beta) == (0.0, 0.0)


# -- the teacher wrapper and the spectra ----------------------------------------------------


def _mean_teacher(horizon: int) -> TorchTeacher:
    return TorchTeacher(lambda x: x.mean(1, keepdim=True).expand(-1, horizon, -1), 16, horizon)


def test_timed_teacher_passes_on_what_the_lifecycle_needs(etth1: pd.DataFrame) -> None:
    ensemble = TeacherEnsemble(
        [_mean_teacher(4), TorchTeacher(lambda x: x[:, -4:], 16, 4)], weights="validation"
    )
    timed = TimedTeacher(ensemble, Progress(enabled=False), n_windows=10)
    assert isinstance(timed, FittableTeacher) and not timed.is_fitted  # weights not fitted yet
    frames = [etth1.iloc[:200][["OT"]]]
    timed.fit(frames, [etth1.iloc[200:300][["OT"]]])
    assert timed.is_fitted and ensemble.weights is not None
    assert math.isclose(float(ensemble.weights.sum()), 1.0, rel_tol=1e-5)
    x = torch.tensor(etth1.iloc[:16][["OT"]].to_numpy())[None]
    assert timed.forecast(x).prediction.shape == (1, 4, 1) and timed.seconds > 0

    from darts.models import NaiveDrift

    from tsdistill_plugin.teachers import as_teacher

    adaptive = TimedTeacher(as_teacher(NaiveDrift()), Progress(enabled=False), n_windows=10)
    assert isinstance(adaptive, AdaptiveTeacher) and adaptive.input_len is None
    adaptive.bind(30, 5)  # a local model takes the student's lengths
    assert (adaptive.input_len, adaptive.horizon) == (30, 5)
    plain = TimedTeacher(_mean_teacher(4), Progress(enabled=False), n_windows=10)
    assert plain.is_fitted  # a teacher that cannot be fitted is ready
    plain.bind(32, 8)  # and does not adapt
    assert (plain.input_len, plain.horizon) == (16, 4)


def test_truth_spectrum_peaks_at_the_period_of_a_sine() -> None:
    steps = np.arange(400, dtype=np.float32)
    series = np.sin(2 * np.pi * steps / 13)[:, None]
    windows = np.lib.stride_tricks.sliding_window_view(series, 52, axis=0).transpose(0, 2, 1)
    periods, amplitudes = _truth_spectra(windows, batch=64)
    assert amplitudes.shape == periods.shape == (26,)
    assert np.argmax(amplitudes) + 1 == 4 and np.argmax(periods) + 1 == 4  # 52 / 13 = bin 4
    assert math.isclose(periods.sum(), 1.0, rel_tol=1e-6)


# -- end to end -----------------------------------------------------------------------------


def _count_teacher_fits(backend: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the teachers the ``backend`` backend fits from now on, in order."""
    fits = []
    cls = type(get_backend(backend))
    fit_teacher = cls.fit_teacher

    def counted(self: object, config: TeacherConfig, *args: object, **kwargs: object) -> Fitted:
        fits.append(config.name)
        return fit_teacher(self, config, *args, **kwargs)

    monkeypatch.setattr(cls, "fit_teacher", counted)
    return fits


@pytest.mark.slow
def test_auto_weights_are_chosen_on_validation_with_one_cache_fill(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    args = ["--lookback", "52", "--horizon", "8", "--teacher", "tide"]
    with caplog.at_level(logging.INFO, logger="tsdistill_plugin"):
        result = _run([*args, "--alpha", "auto", "--beta", "auto"], tmp_path)
    (weights,) = result["weights"]
    tried = weights["candidates"]
    assert [(c["alpha"], c["beta"], c["recipe"]) for c in tried] == [
        (0, 0, "reference"), (0.1, 0.1, "reference"), (1, 1, "reference"), (4, 0, IMITATION),
    ]  # fmt: skip
    best = min(tried, key=lambda c: c["val_loss"])  # a point run: the validation MSE
    chosen = (weights["alpha"], weights["beta"], weights["recipe"])
    assert chosen == (best["alpha"], best["beta"], best["recipe"])
    rows = {row["role"]: row for row in result["results"]}
    # the chosen student is the one measured, and (0, 0) is the plain MLP, not refitted
    assert rows["distilled"]["val_mse"] == pytest.approx(best["val_loss"], rel=1e-9)
    assert tried[0]["val_loss"] == pytest.approx(rows["mlp"]["val_mse"], rel=1e-9)
    assert rows["distilled"]["val_mse"] <= rows["mlp"]["val_mse"]
    # three distilled candidates, one teacher cache: filled by the first, reused by the others
    fills = [r for r in caplog.records if r.getMessage().startswith("TeacherCache:")]
    reuses = [r for r in caplog.records if "Reusing the teacher outputs" in r.getMessage()]
    assert len(fills) == 1 and len(reuses) == 2
    # the later candidates' teacher time is one window's forecast (the library's check that
    # the teacher is unchanged), not 1500 windows'
    assert 0 < 5 * tried[2]["cache_seconds"] < tried[1]["cache_seconds"]
    report = (tmp_path / "report.md").read_text()
    assert "## Distillation weights" in report
    assert f"{Setting(best['alpha'], best['beta'], best['recipe']).label} chosen" in report
    assert "| chosen |" in report


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["darts", "neuralforecast"])
def test_several_teachers_teach_one_student_and_are_fitted_once(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    args = ["--backend", backend, "--lookback", "24", "--horizon", "8", "--device", "cpu"]
    args += ["--teacher", "tide", "nhits", "--teacher-weights", "validation"]
    args += ["--alpha", "0.5", "--beta", "0.5"]
    fits = _count_teacher_fits(backend, monkeypatch)
    with caplog.at_level(logging.INFO, logger="tsdistill_plugin"):
        result = _run(args, tmp_path)
    assert fits == ["tide", "nhits"]  # each fitted once, by the benchmark
    rows = result["results"]
    assert [r["role"] for r in rows] == ["teacher", "teacher", "mlp", "distilled", "dlinear"]
    assert [r["teacher"] for r in rows[:2]] == ["tide", "nhits"]
    for row in rows:
        assert math.isfinite(row["val_mse"]) and row["val_mse"] > 0
    (weights,) = result["weights"]
    assert len(weights["teacher_weights"]) == 2
    assert sum(weights["teacher_weights"]) == pytest.approx(1.0, rel=1e-5)
    # the student distils from the fitted teachers: its lifecycle fits only their weights
    messages = [r.getMessage() for r in caplog.records]
    assert not any(m.startswith("Fitting teacher ") for m in messages)  # no member refitted
    assert sum(m.startswith("Teachers' validation MSE") for m in messages) == 1
    assert rows[3]["cache_seconds"] > 0
    table = (tmp_path / "report.md").read_text()
    assert "| teacher tide |" in table and "| teacher nhits |" in table
    assert "the 2 teachers together" in table and "weighted" in table


@pytest.mark.slow
def test_chronos2_teacher_zero_shot_from_a_local_checkpoint(
    models_dir: Path, tmp_path: Path
) -> None:
    checkpoint = models_dir / "tiny_chronos2"
    args = ["--teacher", "chronos2", "--teacher-dir", str(checkpoint), "--lookback", "21"]
    result = _run([*args, "--horizon", "8", "--alpha", "0.5", "--beta", "0.5"], tmp_path)
    teacher, plain, distilled, _ = result["results"]
    assert teacher["model"] == "Chronos2Model" and teacher["epochs"] == 0
    assert teacher["params"] == 5534  # the tiny checkpoint's, frozen (zero-shot)
    assert math.isfinite(teacher["mse"]) and teacher["val_mse"] > 0
    assert distilled["cache_seconds"] > 0 and distilled["mse"] != plain["mse"]
    assert result["teachers"][0]["plan"] is None
    report = (tmp_path / "report.md").read_text()
    assert "Chronos2Model, a foundation model used zero-shot" in report
    assert str(checkpoint) in report


@pytest.mark.slow
def test_the_etth1_several_teacher_command_runs_on_a_slice(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--dataset ETTh1 --teacher itransformer patchtst tide --device auto`` on its first
    1500 rows, with a short lookback: the ETTh1 settings (teacher sizes, alpha = beta = 2) and
    the code path of the full run, in seconds."""
    frame = pd.read_csv(data_dir / "ETTh1.csv").iloc[:1500]
    path = tmp_path / "ETTh1.csv"  # the file's stem names the data set's settings
    frame.to_csv(path, index=False)
    fits = _count_teacher_fits("darts", monkeypatch)
    args = ["--dataset", str(path), "--lookback", "24", "--horizon", "8", "--device", "auto"]
    result = _run([*args, "--teacher", "itransformer", "patchtst", "tide"], tmp_path / "out")
    assert fits == ["itransformer", "patchtst", "tide"]  # each fitted once
    assert load_dataset(path).name == result["dataset"] == "ETTh1"
    assert result["alpha"] == result["beta"] == 2.0  # the reference's ETTh1 weights
    assert result["teachers"][0]["arch"]["width"] == 256  # the reference's ETTh1 iTransformer
    assert (
        len(result["results"]) == 6
        and result["weights"][0]["teacher_weights"] == [pytest.approx(1 / 3)] * 3
    )
