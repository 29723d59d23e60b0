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
        [--rounds 2] [--threads 1] [--teacher-steps 20] [--accelerator cpu|gpu]

Each set-up trains ``--epochs`` epochs per round, the set-ups alternate over ``--rounds``
rounds (in reverse order every other round), and each reports its fastest epoch. On the CPU the
times are CPU seconds of this process (wall seconds alongside): the machine may be shared, and
with one torch thread the CPU time measures the work itself. On a GPU (``--accelerator gpu``)
they are synchronized wall seconds. Each set-up also prints where a batch's time goes (median
per batch): Lightning's ``training_step`` (the student's forward, the cache lookup, the
regressor, the loss), ``backward``, ``optimizer`` and the time between batches (fetching and
collating a batch), and, inside the step, the cache lookup (``TeacherCache``), the feature
regressor's forward and the forward of the distillation terms (``DistillationLoss``), timed on
the core's public classes. The teacher is trained only briefly: its quality does not change the
cost.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from step_phases import PHASES, Clock, StepPhases, timed

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tsdistill_plugin.core import DistillationLoss, FeatureRegressor, TeacherCache  # noqa: E402

DATA = Path(os.environ.get("TSDISTILL_DATA", REPO.parent / "shared" / "data"))
TRAIN_ROWS = 8640
LOOKBACK, HORIZON = 336, 96
QUIET = {
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "logger": False,
    "enable_checkpointing": False,
}
INSIDE_STEP = {
    "cache lookup": (TeacherCache, "__getitem__"),
    "regressor forward": (FeatureRegressor, "forward"),
    "distillation terms forward": (DistillationLoss, "forward"),
}
"""Parts of the training step timed on the core's public classes."""


def etth1_train() -> pd.DataFrame:
    frame = pd.read_csv(DATA / "ETTh1.csv", parse_dates=["date"], index_col="date")
    train = frame.iloc[:TRAIN_ROWS]
    return ((train - train.mean()) / train.std(ddof=0)).asfreq("h").astype("float32")


TEACHERS = {
    "patchtst": "NeuralForecast PatchTST (hidden 64, 2 layers, 4 heads)",
    "itransformer": "NeuralForecast iTransformer (reference's ETTh1 size: 2 layers, d = 256)",
}


def nf_teacher(name: str, steps: int, accelerator: str):
    """A NeuralForecast teacher of :data:`TEACHERS`, trained for ``steps`` steps."""
    from neuralforecast.models import PatchTST, iTransformer

    common = {
        "h": HORIZON,
        "input_size": LOOKBACK,
        "max_steps": steps,
        "random_seed": 0,
        "accelerator": accelerator,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "logger": False,
    }
    if name == "patchtst":
        return PatchTST(
            hidden_size=64, linear_hidden_size=128, n_heads=4, encoder_layers=2, **common
        )
    return iTransformer(n_series=7, hidden_size=256, d_ff=256, e_layers=2, **common)


class Run:
    """One set-up of the student: its fits' fastest epoch and per-batch breakdown."""

    def __init__(self, teacher: object, beta: float, cache: str) -> None:
        self.teacher, self.beta, self.cache = teacher, beta, cache
        self.epochs: list[float] = []
        self.wall: list[float] = []
        self.phases: list[dict[str, float]] = []
        self.inside: dict[str, list[float]] = {}
        self.model = None

    def fit(self, series, epochs: int, accelerator: str, clock: Clock) -> None:  # noqa: ANN001
        from tsdistill_plugin.darts import DistilledMLPModel

        phases = StepPhases(clock)
        model = DistilledMLPModel(
            input_chunk_length=LOOKBACK,
            output_chunk_length=HORIZON,
            teacher=self.teacher,
            beta=self.beta,
            teacher_cache=self.cache,
            n_epochs=epochs,
            batch_size=32,
            random_state=2021,
            pl_trainer_kwargs={**QUIET, "accelerator": accelerator},
        )
        model.trainer_params["callbacks"] = [phases]
        with timed(INSIDE_STEP, self.inside, clock):
            model.fit(series)
        self.epochs += phases.epochs
        self.wall += phases.wall_epochs
        self.phases.append(phases.medians())
        self.model = model

    def report(self, label: str, plain: float, clock: Clock) -> None:
        fastest = min(self.epochs)
        cpu = ", ".join(f"{seconds:.2f}" for seconds in self.epochs)
        wall = ", ".join(f"{seconds:.2f}" for seconds in self.wall)
        print(
            f"epoch {label}: {fastest:.2f} s, ratio {fastest / plain:.2f} (epochs: {cpu} s", end=""
        )
        print(f"; wall {wall} s)" if clock.cpu else ")")
        phases = {name: min(fit[name] for fit in self.phases) for name in PHASES}
        inside = {name: statistics.median(values) for name, values in self.inside.items() if values}
        parts = ", ".join(f"{name} {1e3 * seconds:.2f}" for name, seconds in phases.items())
        print(f"    per batch (ms, median): {parts}")
        if inside:
            parts = ", ".join(f"{name} {1e3 * seconds:.2f}" for name, seconds in inside.items())
            print(f"    inside training_step (ms, median per call): {parts}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per set-up")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: default)")
    parser.add_argument("--teacher-steps", type=int, default=20)
    parser.add_argument("--teacher", choices=tuple(TEACHERS), default="patchtst")
    parser.add_argument("--accelerator", default="cpu", help="Lightning accelerator: cpu, gpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    clock = Clock("cpu" if args.accelerator == "cpu" else "cuda")

    from darts import TimeSeries

    from tsdistill_plugin import as_teacher

    series = TimeSeries.from_dataframe(etth1_train())
    n_windows = len(series) - LOOKBACK - HORIZON + 1
    print(
        f"ETTh1 train split: {len(series)} rows, 7 channels, L={LOOKBACK}, H={HORIZON}, "
        f"{n_windows} training windows; torch threads {torch.get_num_threads()}; accelerator "
        f"{args.accelerator}; times in {clock.name}"
    )

    start = time.perf_counter()
    teacher = as_teacher(nf_teacher(args.teacher, args.teacher_steps, args.accelerator))
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
        "without teacher": Run(None, 1.0, "auto"),
        "cached teacher, alpha = beta = 1 (default)": Run(teacher, 1.0, "auto"),
        "cached teacher, prediction level only (beta = 0)": Run(teacher, 0.0, "auto"),
        "teacher run on every batch (the reference's way, teacher_cache='online')": Run(
            teacher, 1.0, "online"
        ),
    }
    for round_ in range(args.rounds):
        order = list(runs.values()) if round_ % 2 == 0 else list(reversed(runs.values()))
        for run in order:
            run.fit(series, args.epochs, args.accelerator, clock)
    plain = min(runs["without teacher"].epochs)
    for label, run in runs.items():
        run.report(label, plain, clock)
    print("target: ratio <= 1.5")

    distilled = runs["cached teacher, alpha = beta = 1 (default)"].model
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
