"""``tsdistill benchmark --past-covariates rest --future-covariates calendar``: the "MS" task."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsdistill_plugin.benchmark import BenchmarkConfig, load_dataset
from tsdistill_plugin.benchmark.backends.base import Task
from tsdistill_plugin.benchmark.backends.library_predict import darts_forecast
from tsdistill_plugin.benchmark.covariates import calendar, covariate_sets
from tsdistill_plugin.benchmark.experiment import Windows
from tsdistill_plugin.cli import main

MS_TASK = ["--dataset", "ETTh1", "--target", "OT", "--past-covariates", "rest"]
TINY = ["--epochs", "1", "--hidden-size", "16", "--lookback", "48", "--horizon", "24"]
LOADS = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL"]


@pytest.mark.slow
def test_covariate_benchmark_on_the_ett_ms_task(data_dir: Path, tmp_path: Path) -> None:
    args = [*MS_TASK, "--future-covariates", "calendar", "--teacher", "tide", *TINY]
    args += ["--alpha", "1", "--beta", "0", "--data-dir", str(data_dir), "--out", str(tmp_path)]
    assert main(["benchmark", *args, "--quiet"]) == 0
    result = json.loads((tmp_path / "results.json").read_text())
    assert result["covariates"]["past_covariates"] == LOADS
    assert len(result["covariates"]["future_covariates"]) == 6  # hour, weekday, month: sin, cos
    rows = {row["role"]: row for row in result["results"]}
    assert list(rows) == ["teacher", "mlp", "distilled", "target_only", "dlinear"]
    for row in rows.values():
        assert math.isfinite(row["mse"]) and row["mse"] > 0, row["role"]
        assert math.isfinite(row["latency_ms"]), row["role"]
    # the covariate students read 12 more inputs per step than the one reading OT alone
    assert rows["distilled"]["params"] > rows["target_only"]["params"]
    for role in ("mlp", "distilled"):  # exported with their covariate inputs
        assert rows[role]["onnx_max_abs_diff"] < 1e-4
    assert result["weights"][0]["beta"] == 0  # a covariate teacher gives no features
    report = (tmp_path / "report.md").read_text()
    assert "Covariate run: past covariates (`--past-covariates rest`): HUFL" in report
    assert "vs the distilled student that reads the target alone" in report


def test_window_forecasts_equal_darts_historical_forecasts(data_dir: Path) -> None:
    """A window's covariates line up with its target: forecasting the benchmark's windows (one
    series per window on integer steps) gives Darts' own forecasts of the dated series."""
    from darts import TimeSeries
    from darts.models import TiDEModel

    config = BenchmarkConfig(
        dataset="ETTh1", target=("OT",), past_covariates="rest", future_covariates="calendar"
    )
    whole = load_dataset("ETTh1", data_dir)
    sets = covariate_sets(whole, config)
    dataset = whole.select(["OT"])
    task = Task(dataset, 48, 24, 2021, "cpu", covariates=sets)
    windows = Windows.of(task, "test")

    target = TimeSeries.from_dataframe(dataset.frame)
    past = TimeSeries.from_dataframe(sets["past_covariates"].frame)
    future = TimeSeries.from_dataframe(sets["future_covariates"].frame)
    model = TiDEModel(48, 24, hidden_size=16, n_epochs=1, random_state=0)
    kwargs = {"enable_progress_bar": False, "logger": False, "enable_model_summary": False}
    model.trainer_params.update(kwargs)
    model.fit(target, past_covariates=past, future_covariates=future, max_samples_per_ts=64)

    n = 4
    ours = darts_forecast(
        model,
        24,
        windows.x[:n],
        past_covariates=windows.covariates["past_covariates"][:n],
        future_covariates=windows.covariates["future_covariates"][:n],
    )
    theirs = model.historical_forecasts(
        target[: dataset.val_end + n - 1 + 24],
        past_covariates=past,
        future_covariates=future,
        start=dataset.val_end,
        start_format="position",
        forecast_horizon=24,
        retrain=False,
        last_points_only=False,
        verbose=False,
    )
    assert len(theirs) == n
    expected = np.stack([forecast.values() for forecast in theirs])
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)
    start = dataset.val_end
    loads = sets["past_covariates"].frame.to_numpy()
    for i in range(n):  # window i forecasts the test split's row i onward
        np.testing.assert_array_equal(
            windows.y[i, :, 0], dataset.frame["OT"].iloc[start + i :][:24]
        )
        np.testing.assert_array_equal(
            windows.covariates["past_covariates"][i], loads[start + i - 48 : start + i]
        )


def test_calendar_features_by_the_data_step() -> None:
    hourly = calendar(pd.date_range("2024-01-01", periods=30, freq="h"))
    assert list(hourly.columns[::2]) == ["hour_sin", "dayofweek_sin", "month_sin"]
    np.testing.assert_allclose(hourly["hour_sin"].iloc[6], 1.0, atol=1e-6)  # 06:00: a quarter day
    np.testing.assert_allclose(hourly["month_cos"].iloc[0], 1.0)  # January
    assert list(calendar(pd.date_range("2024-01-01", periods=30, freq="W")).columns) == [
        "month_sin",
        "month_cos",
    ]
    with pytest.raises(ValueError, match="no calendar feature varies at a step of"):
        calendar(pd.date_range("2000-01-01", periods=30, freq="YS"))


def _irregular_csv(data_dir: Path, tmp_path: Path) -> Path:
    frame = pd.read_csv(data_dir / "ETTh1.csv").iloc[:3000].drop(index=10)
    path = tmp_path / "irregular.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--dataset", "ETTh1", "--past-covariates", "rest"],
            "--past-covariates rest reads the columns outside --target, and there are none",
        ),
        (
            [*MS_TASK, "--backend", "neuralforecast"],
            "covariates (--past-covariates, --future-covariates) run with the Darts backend",
        ),
        ([*MS_TASK, "--quantiles", "0.1", "0.5", "0.9"], "covariates and --quantiles"),
        ([*MS_TASK, "--teacher", "tide", "nhits"], "name one --teacher"),
        ([*MS_TASK, "--teacher", "chronos2"], "not a zero-shot foundation model"),
        (["--dataset", "ETTh1", "--covariate-width", "1"], "this run has none"),
        (
            ["--dataset", "ETTh1", "--target", "OT", "--future-covariates", "calendar"]
            + ["--teacher", "nhits", *TINY],
            "teacher nhits (NHiTSModel) reads no future covariates",
        ),
        (["--future-covariates", "calendar"], "needs regular timestamps"),
    ],
)
def test_covariate_runs_refuse_what_they_cannot_do(
    args: list[str],
    message: str,
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    if "--dataset" not in args:
        args = ["--dataset", str(_irregular_csv(data_dir, tmp_path)), *args]
    out = ["--out", str(tmp_path / "report")]
    assert main(["benchmark", *args, "--data-dir", str(data_dir), *out, "--quiet"]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "report").exists()
