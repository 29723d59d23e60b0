"""``tsdistill benchmark`` end to end on tiny configurations, and its errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tsdistill_plugin import data
from tsdistill_plugin.backends.reference import (
    TrainingPlan,
    default_teacher,
    student_settings,
    teacher_config,
)
from tsdistill_plugin.benchmark import BenchmarkConfig, resolve_plans
from tsdistill_plugin.cli import main
from tsdistill_plugin.data import load_dataset

ROW_KEYS = {
    "role", "model", "horizon", "mse", "mae", "params", "latency_ms", "train_seconds",
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
        for key in ("mse", "mae", "latency_ms", "train_seconds"):
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


@pytest.mark.slow
def test_darts_benchmark_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "report"
    args = ["benchmark", *TINY, "--horizon", "8", "12", "--teacher", "itransformer", "--onnx"]
    assert main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "MLP, distilled" in printed and "average over horizons [8, 12]" in printed
    result = _check_outputs(out, "darts", [8, 12])
    assert result["dataset"] == "co2" and result["teacher"] == "itransformer"
    assert result["alpha"] == 0.1 and result["beta"] == 0.1  # the demo series' own defaults
    assert [a["role"] for a in result["average"]] == ["teacher", "mlp", "distilled", "dlinear"]
    for row in result["results"]:
        if row["role"] in ("mlp", "distilled"):  # the ONNX export computes the same forecasts
            assert row["onnx_latency_ms"] > 0 and row["onnx_max_abs_diff"] < 1e-4


@pytest.mark.slow
def test_neuralforecast_benchmark_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "report"
    args = ["benchmark", *TINY, "--backend", "neuralforecast", "--horizon", "12"]
    assert main([*args, "--teacher", "nhits", "--alpha", "0.5", "--out", str(out)]) == 0
    result = _check_outputs(out, "neuralforecast", [12])
    assert result["alpha"] == 0.5
    assert result["wall_seconds"] > sum(r["train_seconds"] for r in result["results"])


def _error(args: list[str], capsys: pytest.CaptureFixture) -> str:
    assert main(["benchmark", *args]) == 2
    return capsys.readouterr().err


def test_unknown_dataset(capsys: pytest.CaptureFixture) -> None:
    assert "unknown dataset 'ETTh7'" in _error(["--dataset", "ETTh7"], capsys)


def test_missing_file_offline(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    def refuse(*args: object, **kwargs: object) -> None:
        raise data.urllib.error.URLError("offline")

    monkeypatch.setattr(data.urllib.request, "urlopen", refuse)
    message = _error(["--dataset", "weather"], capsys)
    assert "weather.csv was not found" in message and "--data-dir" in message


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


def test_reference_settings_and_epoch_caps(data_dir: Path) -> None:
    etth1 = load_dataset("ETTh1", data_dir)
    plans = resolve_plans(BenchmarkConfig(dataset="ETTh1"), etth1)
    assert plans["mlp"] == TrainingPlan(lr=0.01, epochs=100, batch_size=32, patience=5)
    assert plans["teacher"] == TrainingPlan(lr=1e-4, epochs=10, batch_size=32, patience=5)
    assert teacher_config("itransformer", "ETTh1").arch["width"] == 256
    assert teacher_config("iTransformer", "weather").arch["layers"] == 3
    assert (student_settings("ETTh1").alpha, student_settings("ETTh1").beta) == (2.0, 2.0)
    assert (student_settings("weather").alpha, student_settings("weather").beta) == (0.1, 0.1)
    assert (student_settings("exchange_rate").alpha, student_settings("exchange_rate").beta) == (
        1.0,
        1.0,
    )  # not one of the reference's data sets: its generic alpha = beta = 1
    assert default_teacher("co2") == "tide" and default_teacher("ETTh1") == "itransformer"
    capped = resolve_plans(BenchmarkConfig(epochs=3, teacher_epochs=1), etth1)
    assert capped["teacher"].epochs == 1
    assert capped["mlp"].epochs == capped["distilled"].epochs == capped["dlinear"].epochs == 3
