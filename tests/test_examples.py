"""The scripts in ``examples/`` run as a user runs them, and print real, finite figures.

Each script runs in a fresh interpreter (this one's), in an empty working folder that must stay
empty (the scripts write only to temporary folders), importing this checkout's package.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
NUMBER = r"([-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?|nan|inf)"


def run_example(name: str, data_dir: Path, folder: Path) -> str:
    """Run ``examples/<name>.py`` in ``folder``; its standard output."""
    env = {
        **os.environ,
        "TSDISTILL_DATA": str(data_dir),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        # one torch thread, as the tests in this process (conftest): CI's 2 cores are shared
        "OMP_NUM_THREADS": "1",
    }
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py")],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"{name} failed:\n{result.stderr[-4000:]}"
    assert not any(folder.iterdir()), f"{name} wrote {sorted(p.name for p in folder.iterdir())}"
    return result.stdout


def figures(output: str, label: str) -> list[float]:
    """Every number that follows ``label`` in ``output``, each asserted finite."""
    values = [float(v) for v in re.findall(re.escape(label) + r"\s*" + NUMBER, output)]
    assert values, f"no {label!r} figure in:\n{output}"
    assert all(math.isfinite(v) for v in values), output
    return values


def assert_students_scored(output: str, label: str = "test MSE") -> None:
    """Both the plain and the distilled student printed a positive, finite error."""
    for student in ("MLP alone", "MLP distilled"):
        line = next((row for row in output.splitlines() if row.startswith(student)), None)
        assert line is not None, f"no line for {student!r} in:\n{output}"
        assert figures(line, label)[0] > 0


@pytest.mark.slow
def test_darts_quickstart(data_dir, tmp_path):
    output = run_example("darts_quickstart", data_dir, tmp_path)
    assert_students_scored(output)
    assert figures(output, "teacher TSMixer test MSE")[0] > 0
    assert figures(output, "reloaded forecasts differ by") == [0.0]


@pytest.mark.slow
def test_darts_backtest_refit_teacher(data_dir, tmp_path):
    output = run_example("darts_backtest_refit_teacher", data_dir, tmp_path)
    assert_students_scored(output, "backtest MSE")
    # a teacher refitted on every training slice has seen no data after it
    assert re.search(r"MLP distilled.*look-ahead warnings: 0 ", output), output
    assert figures(output, "over") == [3.0, 3.0]  # retrainings


@pytest.mark.slow
def test_neuralforecast_quickstart(data_dir, tmp_path):
    output = run_example("neuralforecast_quickstart", data_dir, tmp_path)
    assert len(figures(output, "cross-validation MSE")) == 2


@pytest.mark.slow
def test_neuralforecast_multivariate(data_dir, tmp_path):
    output = run_example("neuralforecast_multivariate", data_dir, tmp_path)
    assert "teacher: iTransformer over 7 series" in output
    assert len(figures(output, "cross-validation MSE")) == 2


@pytest.mark.slow
def test_darts_statistical_teacher(data_dir, tmp_path):
    output = run_example("darts_statistical_teacher", data_dir, tmp_path)
    assert_students_scored(output)
    assert figures(output, "teacher ExpSmoothing   test MSE")[0] > 0


@pytest.mark.slow
def test_darts_foundation_teacher(data_dir, tmp_path):
    output = run_example("darts_foundation_teacher", data_dir, tmp_path)
    assert "teacher Chronos2Model: reads 21 steps" in output
    assert figures(output, "prediction_scale")[0] > 0 and figures(output, "feature_scale")[0] > 0
    assert len(figures(output, "test MSE")) == 2
    assert figures(output, "forecasts differ by") == [0.0]


@pytest.mark.slow
def test_darts_several_teachers(data_dir, tmp_path):
    output = run_example("darts_several_teachers", data_dir, tmp_path)
    assert_students_scored(output)
    weights = figures(output, "weight")
    assert len(weights) == 2 and sum(weights) == pytest.approx(1.0, abs=2e-3)  # 3 decimals


@pytest.mark.slow
def test_export_and_serve(data_dir, tmp_path):
    output = run_example("export_and_serve", data_dir, tmp_path)
    assert figures(output, "Predictor - Darts:")[0] < 1e-4
    assert figures(output, "test MSE")[0] > 0
    assert figures(output, "Predictor")[-1] > 0  # the time of one forecast, in ms
