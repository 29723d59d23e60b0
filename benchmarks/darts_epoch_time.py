"""Cost of distillation in Darts: one student epoch with a cached teacher vs. without a teacher.

On ETTh1 (train split, standardized with its own statistics; L=336, H=96, 7 channels) this
prints:

- the time of one training epoch of ``DistilledMLPModel`` (default student: hidden 512, batch
  32) with a cached NeuralForecast teacher (PatchTST or iTransformer) and without a teacher,
  and their ratio (target: <= 1.5), with all the terms and with the prediction-level terms only;
- the one-time cost of filling the teacher cache (the teacher's forecasts and features for
  every training window), and for comparison an epoch that runs the teacher on every batch
  instead (as the reference does);
- the size of the saved student (``.pt`` and ``.ckpt`` files).

Usage::

    python benchmarks/darts_epoch_time.py [--teacher patchtst|itransformer] [--epochs 2]
        [--threads 1] [--teacher-steps 20]

Each run trains ``--epochs`` epochs and reports the fastest epoch of each model in CPU
seconds of this process (wall seconds alongside): the machine may be shared, and with one
torch thread the CPU time measures the work itself. The teacher is trained only briefly: its
quality does not change the cost.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tsdistill_plugin.core import TeacherCache  # noqa: E402

DATA = Path(os.environ.get("TSDISTILL_DATA", REPO.parent / "shared" / "data"))
TRAIN_ROWS = 8640
LOOKBACK, HORIZON = 336, 96
QUIET = {
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "logger": False,
    "enable_checkpointing": False,
}


class EpochTimer(pl.Callback):
    """CPU seconds of this process (and wall-clock seconds) of each training epoch.

    With one torch thread and data loading in the main process, the CPU time is the work of
    the epoch, which other programs on a shared machine barely change; the wall time is
    printed alongside.
    """

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self.wall: list[float] = []

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = (time.process_time(), time.perf_counter())

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.seconds.append(time.process_time() - self._start[0])
        self.wall.append(time.perf_counter() - self._start[1])


def etth1_train() -> pd.DataFrame:
    frame = pd.read_csv(DATA / "ETTh1.csv", parse_dates=["date"], index_col="date")
    train = frame.iloc[:TRAIN_ROWS]
    return ((train - train.mean()) / train.std(ddof=0)).asfreq("h").astype("float32")


TEACHERS = {
    "patchtst": "NeuralForecast PatchTST (hidden 64, 2 layers, 4 heads)",
    "itransformer": "NeuralForecast iTransformer (reference's ETTh1 size: 2 layers, d = 256)",
}


def nf_teacher(name: str, steps: int):
    """A NeuralForecast teacher of :data:`TEACHERS`, trained for ``steps`` steps."""
    from neuralforecast.models import PatchTST, iTransformer

    common = {
        "h": HORIZON,
        "input_size": LOOKBACK,
        "max_steps": steps,
        "random_seed": 0,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "logger": False,
    }
    if name == "patchtst":
        return PatchTST(
            hidden_size=64, linear_hidden_size=128, n_heads=4, encoder_layers=2, **common
        )
    return iTransformer(n_series=7, hidden_size=256, d_ff=256, e_layers=2, **common)


def train_student(series, epochs: int, teacher=None, beta: float = 1.0, cache: str = "auto"):
    from tsdistill_plugin.darts import DistilledMLPModel

    timer = EpochTimer()
    model = DistilledMLPModel(
        input_chunk_length=LOOKBACK,
        output_chunk_length=HORIZON,
        teacher=teacher,
        beta=beta,
        teacher_cache=cache,
        n_epochs=epochs,
        batch_size=32,
        random_state=2021,
        pl_trainer_kwargs=dict(QUIET),
    )
    model.trainer_params["callbacks"] = [timer]
    start = time.perf_counter()
    model.fit(series)
    return model, timer, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: default)")
    parser.add_argument("--teacher-steps", type=int, default=20)
    parser.add_argument("--teacher", choices=tuple(TEACHERS), default="patchtst")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from darts import TimeSeries

    from tsdistill_plugin import as_teacher

    series = TimeSeries.from_dataframe(etth1_train())
    n_windows = len(series) - LOOKBACK - HORIZON + 1
    print(
        f"ETTh1 train split: {len(series)} rows, 7 channels, L={LOOKBACK}, H={HORIZON}, "
        f"{n_windows} training windows; torch threads {torch.get_num_threads()}"
    )

    start = time.perf_counter()
    teacher = as_teacher(nf_teacher(args.teacher, args.teacher_steps))
    teacher.fit([series.to_dataframe()])
    print(
        f"teacher: {TEACHERS[args.teacher]}, fitted for {args.teacher_steps} steps in "
        f"{time.perf_counter() - start:.1f} s"
    )

    values = series.values()
    windows = np.stack([values[i : i + LOOKBACK] for i in range(n_windows)])
    start = time.perf_counter(), time.process_time()
    cache = TeacherCache(teacher, windows, HORIZON, progress=False)
    fill = time.perf_counter() - start[0], time.process_time() - start[1]
    features = None if cache.features is None else list(cache.features.shape)
    print(
        f"cache fill (one-time): {fill[0]:.1f} s wall, {fill[1]:.1f} CPU s for {len(cache)} "
        f"windows, {cache.nbytes / 1e6:.0f} MB ({cache.storage}); predictions "
        f"{list(cache.predictions.shape)}, features {features}"
    )
    cache.close()

    runs = {
        "without teacher": (None, 1.0, "auto"),
        "cached teacher, alpha = beta = 1 (default)": (teacher, 1.0, "auto"),
        "cached teacher, prediction level only (beta = 0)": (teacher, 0.0, "auto"),
        "teacher run on every batch (the reference's way, teacher_cache='online')": (
            teacher,
            1.0,
            "online",
        ),
    }
    plain = None
    for label, (with_teacher, beta, cache) in runs.items():
        model, timer, fit = train_student(series, args.epochs, with_teacher, beta, cache)
        fastest = min(timer.seconds)
        plain = plain or fastest
        cpu = ", ".join(f"{seconds:.2f}" for seconds in timer.seconds)
        wall = ", ".join(f"{seconds:.2f}" for seconds in timer.wall)
        print(
            f"epoch {label}: {fastest:.2f} CPU s, ratio {fastest / plain:.2f} "
            f"(epochs: CPU {cpu} s, wall {wall} s; whole fit {fit:.1f} s wall, including "
            "the cache fill when there is a teacher)"
        )
        if beta and with_teacher is not None and cache == "auto":
            distilled = model
    print("target: ratio <= 1.5")

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "student.pt"
        distilled.save(str(path))
        pt, ckpt = path.stat().st_size, Path(f"{path}.ckpt").stat().st_size
        distilled.save(str(path), clean=True)
        clean = path.stat().st_size + Path(f"{path}.ckpt").stat().st_size
    parameters = sum(p.numel() for p in distilled.model.student.parameters())
    print(
        f"saved distilled student: {pt / 1e3:.0f} KB .pt + {ckpt / 1e6:.2f} MB .ckpt = "
        f"{(pt + ckpt) / 1e6:.2f} MB ({clean / 1e6:.2f} MB with save(clean=True)); "
        f"{parameters:,} student parameters"
    )


if __name__ == "__main__":
    main()
