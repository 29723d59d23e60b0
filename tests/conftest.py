"""Shared fixtures: the real benchmark data in ``../shared/data`` (or ``$TSDISTILL_DATA``), the
small model checkpoints in ``../shared/models`` (or ``$TSDISTILL_MODELS``), and one local Spark
session for the Spark tests."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("TSDISTILL_DATA", REPO.parent / "shared" / "data"))
MODELS_DIR = Path(os.environ.get("TSDISTILL_MODELS", REPO.parent / "shared" / "models"))

# The tests train tiny models: with more torch threads than free cores (CI shares 2 cores with
# the data loaders), spin-waiting makes them 10-100x slower, so the whole suite uses one thread.
torch.set_num_threads(1)

# --doctest-modules would import every folder's conftest.py as a module named "conftest", which
# fails for two folders in one call (pytest tests/darts tests/neuralforecast); they hold no
# doctests, and pytest loads them as conftests all the same.
collect_ignore_glob = ["*/conftest.py"]

# ETTh1 protocol (../shared/data/README.md): 12 months of hourly rows for training.
ETTH1_TRAIN_ROWS = 8640


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA_DIR / "ETTh1.csv").exists():
        pytest.fail(
            f"benchmark data not found in {DATA_DIR}; set TSDISTILL_DATA to the folder holding "
            "ETTh1.csv (../shared/data in this project's layout)."
        )
    return DATA_DIR


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """The folder of the tests' model checkpoints (``tiny_chronos2``, ...)."""
    if not (MODELS_DIR / "tiny_chronos2" / "model.safetensors").exists():
        pytest.fail(
            f"model checkpoints not found in {MODELS_DIR}; set TSDISTILL_MODELS to the folder "
            "holding tiny_chronos2 (../shared/models in this project's layout)."
        )
    return MODELS_DIR


@pytest.fixture(scope="session")
def etth1(data_dir: Path) -> pd.DataFrame:
    """ETTh1, all 7 columns, standardized with train-split statistics, indexed by hour."""
    frame = pd.read_csv(data_dir / "ETTh1.csv", parse_dates=["date"], index_col="date")
    train = frame.iloc[:ETTH1_TRAIN_ROWS]
    standardized = (frame - train.mean()) / train.std(ddof=0)
    return standardized.asfreq("h").astype("float32")


def java_runtime() -> str | None:
    """The ``java`` Spark would start (``$JAVA_HOME/bin/java``, else the one on ``PATH``)."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """One local Spark session (2 cores) for the whole run; skipped only where Java is absent.

    pyspark is a test dependency (``install.sh`` installs the ``spark`` extra): without it the
    Spark tests fail rather than skip.
    """
    if java_runtime() is None:
        pytest.skip(
            "Spark needs a Java runtime (17 or newer) and there is none (no $JAVA_HOME/bin/java, "
            "no java on PATH); Debian: apt-get install openjdk-17-jre-headless"
        )
    from pyspark.sql import SparkSession

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYSPARK_PYTHON", sys.executable)  # the workers: this interpreter
        session = (
            SparkSession.builder.master("local[2]")
            .appName("tsdistill_plugin tests")
            .config("spark.sql.shuffle.partitions", "4")  # not 200 tasks for tiny data
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.ui.enabled", "false")
            .getOrCreate()
        )
        session.sparkContext.setLogLevel("ERROR")
        yield session
        session.stop()
