"""``tsdistill benchmark --quantiles``: quantile teachers and students in both backends."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from tqdm.auto import tqdm

from tsdistill_plugin.benchmark.experiment import _evaluate
from tsdistill_plugin.cli import main

TINY = ["--epochs", "1", "--hidden-size", "16", "--lookback", "52", "--horizon", "12"]
QUANTILES = ["--quantiles", "0.1", "0.5", "0.9"]


def _run(out: Path, *args: str) -> dict:
    assert main(["benchmark", *TINY, *QUANTILES, "--quiet", *args, "--out", str(out)]) == 0
    return json.loads((out / "results.json").read_text())


def _check_quantile_rows(result: dict, out: Path) -> None:
    assert result["quantiles"] == [0.1, 0.5, 0.9]
    for row in result["results"]:
        if row["role"] == "dlinear":  # a point forecaster in every run
            assert row["quantile_loss"] is None and row["coverage"] is None
            continue
        assert math.isfinite(row["quantile_loss"]) and row["quantile_loss"] > 0, row["role"]
        assert 0 < row["coverage"] < 1, row["role"]
        if row["role"] != "teacher":  # exported [batch, H, N, Q] = the library's quantiles
            assert row["onnx_max_abs_diff"] < 1e-4
    report = (out / "report.md").read_text()
    assert "| MQL | 10-90% cover |" in report
    assert "Quantile run (`--quantiles 0.1 0.5 0.9`)" in report
    assert "distilled mean quantile loss" in report


@pytest.mark.slow
def test_darts_quantile_benchmark_chooses_weights_on_the_quantile_loss(tmp_path: Path) -> None:
    result = _run(tmp_path, "--teacher", "tide")
    _check_quantile_rows(result, tmp_path)
    weights = result["weights"][0]
    losses = [c["val_loss"] for c in weights["candidates"]]
    chosen = [c for c in weights["candidates"] if (c["alpha"], c["beta"], c["recipe"]) == (
        weights["alpha"], weights["beta"], weights["recipe"]
    )]  # fmt: skip
    assert chosen[0]["val_loss"] == min(losses)
    # what the search compares is the quantile loss, not the median's MSE
    mlp = next(r for r in result["results"] if r["role"] == "mlp")
    plain = weights["candidates"][0]
    assert (plain["alpha"], plain["beta"]) == (0, 0) and plain["val_loss"] != mlp["val_mse"]
    assert "lowest validation mean quantile loss" in (tmp_path / "report.md").read_text()


@pytest.mark.slow
def test_neuralforecast_quantile_benchmark(tmp_path: Path) -> None:
    args = ["--backend", "neuralforecast", "--teacher", "nhits", "--alpha", "1", "--beta", "0"]
    _check_quantile_rows(_run(tmp_path, *args), tmp_path)


def test_quantile_figures_of_a_known_forecast() -> None:
    """The mean pinball loss and the outer interval's coverage, worked by hand."""
    y = np.array([[[0.0], [1.0], [2.0], [3.0]]], dtype=np.float32)  # [1 window, 4 steps, 1]
    band = torch.tensor([-1.0, 0.5, 1.5])  # levels 0.1, 0.5, 0.9, the same at every step

    def forecast(x: torch.Tensor) -> torch.Tensor:
        return band.expand(len(x), 4, 1, 3)

    x = np.zeros((1, 8, 1), dtype=np.float32)
    with tqdm(disable=True) as bar:
        figures = _evaluate(
            lambda part: forecast(torch.from_numpy(x[part])),
            y,
            1,
            torch.device("cpu"),
            bar,
            (0.1, 0.5, 0.9),
        )
    levels = np.array([0.1, 0.5, 0.9])
    error = y[0, :, 0, None] - band.numpy()  # [4 steps, 3 levels]
    expected = np.maximum(levels * error, (levels - 1) * error).mean()
    assert figures.quantile_loss == pytest.approx(expected)
    assert figures.coverage == pytest.approx(2 / 4)  # 0 and 1 lie in [-1, 1.5]; 2, 3 do not
    assert figures.mse == pytest.approx(np.mean((y[0, :, 0] - 0.5) ** 2))  # the median's
    assert figures.loss == figures.quantile_loss


@pytest.mark.parametrize(
    ("levels", "message"),
    [
        (["0.9", "0.5", "0.1"], "--quantiles must be strictly increasing"),
        (["0.1", "0.9"], "--quantiles must include the median 0.5"),
        (["0.5", "1.5"], "--quantiles must lie strictly between 0 and 1"),
    ],
)
def test_bad_quantile_levels_are_refused(
    levels: list[str], message: str, capsys: pytest.CaptureFixture
) -> None:
    assert main(["benchmark", "--quantiles", *levels, "--quiet"]) == 2
    assert message in capsys.readouterr().err


def test_an_unknown_target_column_is_refused(data_dir: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["benchmark", "--dataset", "ETTh1", "--data-dir", str(data_dir), "--target", "OTX"]
    assert main([*args, "--quiet"]) == 2
    message = capsys.readouterr().err
    assert "--target OTX: no such column in data set 'ETTh1'" in message and "OT." in message
