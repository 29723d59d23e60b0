"""Scoring a Spark table: ``predict_spark`` on local[N] against ``Predictor`` in one process.

Run: ``python benchmarks/spark_scoring.py`` (Java 17 and the ``spark`` extra; a few minutes).

The table: 10,000 real-derived series (``--series``), each a stretch of ``--length`` hours of
one of ETTh1's 7 columns, at its own offset with its own timestamps, in the long format
(``unique_id, ds, y``), written to parquet and read back by Spark (the data lives in a table).
The student: NeuralForecast's channel-independent ``DistilledMLP`` (lookback 96, horizon 24,
width 512), trained for a few steps without a teacher (scoring cost does not depend on accuracy)
and exported with ``to_onnx``.

Timed (median of ``--repeats`` after a warm-up run that starts Spark's Python workers):
``Predictor.load(path, threads=1).predict(frame)`` on the whole pandas frame in this process,
and ``predict_spark(table, path, threads=1)`` written to Spark's ``noop`` sink, which includes
its row-count job (also timed alone), and as a floor the same grouping of the rows into pandas
with a function that forecasts nothing. Each as wall time and as CPU time: this process's, and
for Spark that of the whole process tree (driver, JVM, Python workers), which a shared machine
does not inflate the way it inflates wall time. The per-core ratios: Spark's series per wall
second divided by the cores of ``local[N]``, and Spark's series per CPU second, each against
``Predictor``'s. Then the Spark forecasts are collected and compared with ``Predictor``'s.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

from tsdistill_plugin.export import Predictor, to_onnx
from tsdistill_plugin.export.spark import SERIES_PER_GROUP, predict_spark, recent_rows

LOOKBACK, HORIZON = 96, 24
DATA = Path(
    os.environ.get("TSDISTILL_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)


def panel(n_series: int, length: int) -> pd.DataFrame:
    """``n_series`` stretches of ETTh1's columns in the long format, each with its own end."""
    etth1 = pd.read_csv(DATA / "ETTh1.csv", parse_dates=["date"], index_col="date")
    values = etth1.to_numpy(dtype=np.float32)
    stamps = etth1.index.to_numpy()
    rng = np.random.default_rng(0)
    starts = rng.integers(0, len(etth1) - length, n_series)
    columns = np.arange(n_series) % values.shape[1]
    rows = starts[:, None] + np.arange(length)  # [series, length]
    return pd.DataFrame(
        {
            "unique_id": np.repeat([f"s{i:05d}" for i in range(n_series)], length),
            "ds": stamps[rows].reshape(-1),
            "y": values[rows, columns[:, None]].reshape(-1),
        }
    )


def export_student(frame: pd.DataFrame, path: Path) -> Path:
    """A briefly trained ``DistilledMLP`` of the first 50 series, exported."""
    from neuralforecast import NeuralForecast

    from tsdistill_plugin.neuralforecast import DistilledMLP

    for name in ("pytorch_lightning", "lightning_fabric", "lightning", "neuralforecast"):
        logging.getLogger(name).setLevel(logging.ERROR)
    model = DistilledMLP(
        h=HORIZON,
        input_size=LOOKBACK,
        hidden_size=512,
        scaler_type="standard",
        max_steps=20,
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False,
        enable_checkpointing=False,
        accelerator="cpu",
    )
    nf = NeuralForecast(models=[model], freq="h")
    train = frame[frame["unique_id"].isin(frame["unique_id"].unique()[:50])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nf.fit(train)
    return to_onnx(nf, path)


def tree_cpu() -> float:
    """CPU seconds of this process and its descendants (the JVM and Spark's Python workers)."""
    total = 0.0
    me = psutil.Process()
    for process in (me, *me.children(recursive=True)):
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def timed(step: Callable[[], object], repeats: int) -> tuple[float, float, float]:
    """Wall seconds of a warm-up call of ``step``, then the medians of ``repeats`` more calls'
    wall and CPU (process tree) seconds."""

    def once() -> tuple[float, float]:
        cpu, start = tree_cpu(), time.perf_counter()
        step()
        return time.perf_counter() - start, tree_cpu() - cpu

    first, _ = once()
    runs = [once() for _ in range(repeats)]
    return first, statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--length", type=int, default=2 * LOOKBACK, help="hours per series")
    parser.add_argument("--cores", type=int, default=2, help="Spark's local[N]")
    parser.add_argument("--series-per-group", type=int, default=SERIES_PER_GROUP)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # Spark's workers: this interpreter
    from pyspark.sql import SparkSession

    frame = panel(args.series, args.length)
    work = Path(tempfile.mkdtemp())
    path = export_student(frame, work / "student.onnx")
    # Spark reads microsecond timestamps; recent pyarrow writes nanoseconds unless told
    frame.to_parquet(work / "table.parquet", coerce_timestamps="us")
    print(
        f"{args.series:,} series x {args.length} hours ({len(frame):,} rows), lookback "
        f"{LOOKBACK}, horizon {HORIZON}; load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} CPUs"
    )

    predictor = Predictor.load(path, threads=1)
    _, local, local_cpu = timed(lambda: predictor.predict(frame), args.repeats)
    local_rate = args.series / local
    print(
        f"Predictor, one process, 1 thread: {local:.2f} s wall ({local_rate:,.0f} series/s), "
        f"{local_cpu:.2f} CPU s ({args.series / local_cpu:,.0f} series per CPU s)"
    )

    spark = (
        SparkSession.builder.master(f"local[{args.cores}]")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    table = spark.read.parquet(str(work / "table.parquet"))

    def score() -> None:
        result = predict_spark(table, path, threads=1, series_per_group=args.series_per_group)
        result.write.format("noop").mode("overwrite").save()

    def move_only() -> None:  # predict_spark's grouping into pandas, without the forecast
        groups = math.ceil(args.series / args.series_per_group)
        grouped = recent_rows(table, LOOKBACK, groups)
        nothing = grouped.applyInPandas(lambda f: f.iloc[:0, :3], table.schema)
        nothing.write.format("noop").mode("overwrite").save()

    warm, distributed, distributed_cpu = timed(score, args.repeats)
    _, counting, counting_cpu = timed(lambda: predict_spark(table, path), args.repeats)
    _, moving, moving_cpu = timed(move_only, args.repeats)
    rate = args.series / distributed
    per_core = rate / args.cores / local_rate
    per_cpu = local_cpu / distributed_cpu
    print(
        f"predict_spark, local[{args.cores}], 1 thread per task: {distributed:.2f} s wall "
        f"({rate:,.0f} series/s; warm-up run {warm:.2f} s), {distributed_cpu:.2f} CPU s "
        f"({args.series / distributed_cpu:,.0f} series per CPU s)"
    )
    print(
        f"  of which the row-count job: {counting:.2f} s wall, {counting_cpu:.2f} CPU s; "
        f"grouping the rows into pandas without forecasting: {moving:.2f} s wall, "
        f"{moving_cpu:.2f} CPU s"
    )
    print(
        f"per core against Predictor in one process: {per_core:.2f}x (wall / {args.cores} "
        f"cores), {per_cpu:.2f}x (CPU time)"
    )

    result = predict_spark(table, path, threads=1, series_per_group=args.series_per_group)
    collected = result.toPandas().sort_values(["unique_id", "ds"], ignore_index=True)
    expected = predictor.predict(frame).sort_values(["unique_id", "ds"], ignore_index=True)
    name = predictor.spec.name
    same_keys = all(
        (collected[c].to_numpy() == expected[c].to_numpy()).all() for c in ("unique_id", "ds")
    )
    difference = np.abs(collected[name].to_numpy() - expected[name].to_numpy()).max()
    print(
        f"forecasts: {len(collected):,} rows, same series and timestamps: {same_keys}, "
        f"max |Spark - Predictor| = {difference:.3g}"
    )
    for what, ratio in (("wall", per_core), ("CPU time", per_cpu)):
        print(f"  [{'met' if ratio >= 0.7 else 'MISSED'}] per core ({what}) {ratio:.2f}x >= 0.7x")
    spark.stop()


if __name__ == "__main__":
    main()
