"""``tsdistill benchmark`` end to end on tiny configurations, its options and its errors."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from benchmark_helpers import closed_port_url
from torch import nn

from tsdistill_plugin.benchmark import BenchmarkConfig, load_dataset
from tsdistill_plugin.benchmark.backends.base import RestoreBestEpoch
from tsdistill_plugin.benchmark.backends.reference import (
    TrainingPlan,
    default_teacher,
    default_weights,
    student_settings,
    teacher_config,
)
from tsdistill_plugin.benchmark.cli import config_from
from tsdistill_plugin.benchmark.data import DATASETS, ENV_VAR
from tsdistill_plugin.benchmark.experiment import resolve_plans, resolve_teachers
from tsdistill_plugin.cli import build_parser, main

ROW_KEYS = {
    "role", "model", "horizon", "mse", "mae", "val_mse", "params", "latency_ms", "train_seconds",
}  # fmt: skip
TINY = ["--epochs", "1", "--hidden-size", "16", "--lookback", "52"]


def _check_outputs(out: Path, backend: str, horizons: list[int]) -> dict:
    result = json.loads((out / "results.json").read_text())
    assert {"dataset", "lookback", "backend", "teacher", "seed", "results"} <= result.keys()
    assert result["backend"] == backend and result["lookback"] == 52
    rows = result["results"]
    assert [(r["role"], r["horizon"]) for r in rows] == [
        (role, h) for h in horizons for role in ("teacher", "mlp", "distilled", "dlinear")
    ]
    for row in rows:
        assert ROW_KEYS <= row.keys()
        for key in ("mse", "mae", "val_mse", "latency_ms", "train_seconds"):
            assert math.isfinite(row[key]) and row[key] > 0, (row["role"], key)
        assert isinstance(row["params"], int) and row["params"] > 0
    by_role = {r["role"]: r for r in rows if r["horizon"] == horizons[0]}
    # both students are the same DMLP: 2 (L d + d + d H + H) + 4 N parameters
    h = horizons[0]
    assert by_role["mlp"]["params"] == 2 * (52 * 16 + 16 + 16 * h + h) + 4
    assert by_role["distilled"]["params"] == by_role["mlp"]["params"]
    assert by_role["distilled"]["cache_seconds"] > 0
    assert by_role["mlp"]["cache_seconds"] is None
    for h in horizons:
        for kind in ("forecasts", "periods"):
            png = out / f"{kind}_H{h}.png"
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    report = (out / "report.md").read_text()
    assert report.startswith("# TimeDistill benchmark: co2")
    assert "Command: `tsdistill benchmark" in report and "forecasts_H" in report
    return result


def _check_served(result: dict, out: Path) -> None:
    """The students served through ``to_onnx`` + ``Predictor``, every model but DLinear
    through its library's ``predict``, and the report reads them."""
    for row in result["results"]:
        served, onnx = row["predict_ms"], row["onnx_ms"]
        if row["role"] == "dlinear":
            assert served is None and onnx is None
            continue
        assert served["one"] > 0 and served["batch"] > 0, row["role"]
        if row["role"] == "teacher":
            assert onnx is None and row["onnx_max_abs_diff"] is None
            continue
        # the exported graph forecasts what PyTorch forecasts, and serves faster than the
        # library's predict (a Lightning trainer per call)
        assert row["onnx_max_abs_diff"] < 1e-4
        assert 0 < onnx["one"] < served["one"] and 0 < onnx["batch"] < served["batch"]
    report = (out / "report.md").read_text()
    assert "| predict ms 1/32 | ONNX ms 1/32 |" in report
    assert "keeps" in report and "(plain - distilled) / (plain - teacher)" in report
    assert "served, the distilled student exported by to_onnx" in report


STAGES = [
    r"H=8 teacher itransformer: training, at most 1 epochs",
    r"H=8 teacher itransformer: evaluating on \d+ validation and \d+ test windows",
    r"H=8 MLP, no distillation: training",
    r"H=8 MLP, no distillation: evaluating",
    r"H=8 MLP, distilled \(alpha 0.1, beta 0.1\): training",
    r"teacher outputs for \d+ training windows",
    r"H=8 MLP, distilled \(alpha 1, beta 1\): training",
    r"H=8 MLP, distilled \(alpha 4, beta 0, imitation\): training",
    r"H=8 MLP, distilled: alpha [\d.]+, beta [\d.]+(, imitation)? chosen on validation",
    r"H=8 MLP, distilled: evaluating",
    r"H=8 DLinear: training",
    r"H=8 DLinear: evaluating",
    r"H=8: timing the models",
    r"H=8: exporting the students with to_onnx",
    r"H=12 teacher itransformer: training",
]
"""Stage messages of a default-weights run (``co2``: chosen on validation) at horizons 8 and
12, in order."""


def _auto_device() -> str:
    """The device Lightning's ``accelerator="auto"`` trains on here."""
    if torch.cuda.is_available():
        return "cuda:0"
    return "mps:0" if torch.backends.mps.is_available() else "cpu"


@pytest.mark.slow
def test_darts_benchmark_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "report"
    args = ["benchmark", *TINY, "--horizon", "8", "12", "--teacher", "itransformer", "--onnx"]
    assert main([*args, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "MLP, distilled" in captured.out and "average over horizons [8, 12]" in captured.out
    assert "[0:" not in captured.out  # progress goes to standard error only
    # each stage is said as it starts, with the time so far, in order
    lines = captured.err.replace("\r", "\n")  # bars redraw their line with carriage returns
    stages = re.findall(r"^\[\d+:\d\d:\d\d\] (.*)$", lines, flags=re.MULTILINE)
    position = 0
    for pattern in STAGES:
        found = [i for i, line in enumerate(stages) if i >= position and re.match(pattern, line)]
        assert found, (pattern, stages)
        position = found[0] + 1
    assert "batch/s" in captured.err or "s/batch" in captured.err  # the training bars
    result = _check_outputs(out, "darts", [8, 12])
    assert result["dataset"] == "co2" and result["teacher"] == ["itransformer"]
    assert result["alpha"] == result["beta"] == "auto"  # the demo series' own defaults
    assert [len(w["candidates"]) for w in result["weights"]] == [4, 4]
    assert result["device"] == _auto_device()  # --device auto is the default
    assert f"device {_auto_device()}" in (out / "report.md").read_text()
    assert [a["role"] for a in result["average"]] == ["teacher", "mlp", "distilled", "dlinear"]
    assert "## Distillation weights" in (out / "report.md").read_text()
    _check_served(result, out)


@pytest.mark.slow
def test_neuralforecast_benchmark_end_to_end_quietly(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "report"
    args = ["benchmark", *TINY, "--backend", "neuralforecast", "--horizon", "12", "--quiet"]
    args += ["--teacher", "nhits", "--alpha", "0.5", "--beta", "0.5", "--device", "cpu"]
    args += ["--out", str(out)]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "MLP, distilled" in captured.out
    assert "training" not in captured.err and "batch" not in captured.err  # --quiet: nothing
    result = _check_outputs(out, "neuralforecast", [12])
    assert result["alpha"] == 0.5 and result["device"] == "cpu"
    assert result["weights"][0]["candidates"] == []  # weights given: no search
    assert result["weights"][0]["alpha"] == result["weights"][0]["beta"] == 0.5
    _check_served(result, out)  # NeuralForecast.predict: NHITS at once, the student per window


def _error(args: list[str], capsys: pytest.CaptureFixture) -> str:
    assert main(["benchmark", *args]) == 2
    return capsys.readouterr().err


def test_unknown_dataset(capsys: pytest.CaptureFixture) -> None:
    assert "unknown dataset 'ETTh7'" in _error(["--dataset", "ETTh7"], capsys)


def test_missing_file_offline(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    url = closed_port_url("weather.csv.gz")
    monkeypatch.setitem(DATASETS, "weather", dataclasses.replace(DATASETS["weather"], url=url))
    message = _error(["--dataset", "weather", "--quiet"], capsys)
    assert f"weather.csv could not be downloaded from {url}" in message
    assert "--data-dir" in message and "$TSDISTILL_DATA" in message


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device(capsys: pytest.CaptureFixture) -> None:
    message = _error(["--device", "cuda", "--quiet"], capsys)
    assert "device='cuda' is not available on this machine" in message and "'auto'" in message


def test_lookback_plus_horizon_longer_than_a_split(capsys: pytest.CaptureFixture) -> None:
    message = _error(["--lookback", "1500", "--horizon", "104"], capsys)
    assert "the train split has 1598 rows" in message


def test_unknown_teacher(capsys: pytest.CaptureFixture) -> None:
    message = _error(["--teacher", "transformerx"], capsys)
    assert "unknown teacher 'transformerx'" in message and "itransformer" in message


def test_unknown_backend_is_rejected_by_the_parser(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["benchmark", "--backend", "sklearn"])
    assert "invalid choice: 'sklearn'" in capsys.readouterr().err


def test_every_option_defaults_to_its_config_field() -> None:
    parser = build_parser()
    args = parser.parse_args(["benchmark"])
    for item in dataclasses.fields(BenchmarkConfig):
        assert getattr(args, item.name) == item.default, item.name
    assert config_from(args) == BenchmarkConfig()
    assert BenchmarkConfig().threads == 1 and BenchmarkConfig().device == "auto"


def test_options_parse_into_the_config() -> None:
    args = build_parser().parse_args(
        ["benchmark", "--horizon", "8", "12", "--teacher", "iTransformer", "--onnx",
         "--threads", "2", "--alpha", "0.5", "--data-dir", "here", "--device", "cpu"]
    )  # fmt: skip
    config = config_from(args)
    assert config.horizons == (8, 12) and config.teacher == ("itransformer",) and config.onnx
    assert BenchmarkConfig().onnx  # served latency is part of the default report
    assert not config_from(build_parser().parse_args(["benchmark", "--no-onnx"])).onnx
    assert (config.threads, config.alpha, config.data_dir, config.device) == (2, 0.5, "here", "cpu")


@pytest.mark.parametrize("option", ["--threads", "--lookback", "--epochs", "--horizon"])
def test_non_positive_integers_are_rejected(option: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["benchmark", option, "0"])
    assert "expected a positive integer, got 0" in capsys.readouterr().err


OPTIONS = [
    "--dataset", "--data-dir", "--backend", "--lookback", "--horizon", "--teacher", "--alpha",
    "--beta", "--epochs", "--teacher-epochs", "--seed", "--device", "--hidden-size",
    "--latency-batch", "--onnx", "--no-onnx", "--threads", "--out", "--verbose", "--quiet",
    "--teacher-weights", "--teacher-dir", "--accept-license",
]  # fmt: skip
"""Options of ``tsdistill benchmark`` that users rely on."""


def test_python_dash_m_runs_the_command_with_its_options() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tsdistill_plugin", "benchmark", "--help"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0
    missing = [option for option in OPTIONS if not re.search(rf"{option}\b", done.stdout)]
    assert not missing


class _Drifting(pl.LightningModule):
    """One weight ``w`` that training raises by 1 per epoch; the validation loss ``(w - 2)^2``
    is lowest after the second epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))

    def training_step(self, batch: list[torch.Tensor], index: int) -> torch.Tensor:
        return -self.w  # SGD with lr 1: w += 1

    def validation_step(self, batch: list[torch.Tensor], index: int) -> None:
        self.log("val_loss", (self.w - 2.0) ** 2)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=1.0)


def test_restore_best_epoch_loads_the_best_validation_weights(tmp_path: Path) -> None:
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(1, 1)))
    module = _Drifting()
    callback = RestoreBestEpoch("val_loss")
    trainer = pl.Trainer(
        max_epochs=5, callbacks=[callback], logger=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, accelerator="cpu",
        default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(module, loader, loader)
    assert float(trainer.callback_metrics["val_loss"]) == 9.0  # the last epoch: w = 5
    assert module.w.item() == 2.0  # the best epoch's weight, restored
    assert callback.best_score == 0.0


def test_reference_settings_and_epoch_caps(data_dir: Path) -> None:
    etth1 = load_dataset("ETTh1", data_dir)
    plans = resolve_plans(BenchmarkConfig(dataset="ETTh1"), etth1)
    assert plans["mlp"] == TrainingPlan(lr=0.01, epochs=100, batch_size=32, patience=5)
    (teacher,) = resolve_teachers(BenchmarkConfig(dataset="ETTh1"), etth1)
    assert teacher.plan == TrainingPlan(lr=1e-4, epochs=10, batch_size=32, patience=5)
    assert teacher_config("itransformer", "ETTh1").arch["width"] == 256
    assert teacher_config("iTransformer", "weather").arch["layers"] == 3
    assert (student_settings("ETTh1").alpha, student_settings("ETTh1").beta) == (2.0, 2.0)
    assert (student_settings("weather").alpha, student_settings("weather").beta) == (0.1, 0.1)
    assert (student_settings("exchange_rate").alpha, student_settings("exchange_rate").beta) == (
        1.0,
        1.0,
    )  # not one of the reference's data sets: its generic alpha = beta = 1
    assert default_teacher("co2") == "tide" and default_teacher("ETTh1") == "itransformer"
    assert default_weights("co2") == ("auto", "auto") and default_weights("ETTh1") == (2.0, 2.0)
    config = BenchmarkConfig(epochs=3, teacher_epochs=1, teacher=("itransformer", "tide"))
    capped = resolve_plans(config, etth1)
    assert [t.plan.epochs for t in resolve_teachers(config, etth1)] == [1, 1]
    assert capped["mlp"].epochs == capped["distilled"].epochs == capped["dlinear"].epochs == 3
