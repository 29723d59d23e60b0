"""NeuralForecast integration: training time with a cached teacher, and predict latency.

Run: ``python benchmarks/nf_epoch_time.py [--teacher patchtst|itransformer]`` (CPU, one torch
thread; ``--accelerator gpu`` on a GPU machine; ``--input-size 720 --teacher-hidden 128
--teacher-layers 3`` for the paper's PatchTST).

On ETTh1's training split (7 series, standardized with train statistics), with a teacher
fitted first (PatchTST, channel-independent, distilled into ``DistilledMLP``; or iTransformer,
multivariate, distilled into ``DistilledMLPMultivariate``), it prints:

1. Time per training step of the student without a teacher, with the teacher's outputs cached
   (the default) and with the teacher run online on every step, and the ratios to no teacher;
   time per epoch (one pass over all training windows at ``windows_batch_size`` windows per
   step) follows from the step time. A step is timed from one batch's start to the next's
   (NeuralForecast samples the step's windows inside ``training_step``). Times are process CPU
   time on the CPU, synchronized wall time on a GPU; the set-ups alternate over ``--rounds``
   rounds and each keeps its fastest median. Where the step's time goes is printed per
   set-up: Lightning's ``training_step`` (window sampling, the student, the teacher's outputs,
   the loss), ``backward``, ``optimizer``, the time between batches, and inside the step the
   cache lookup (``TeacherCache``), the feature regressor's and the distillation terms'
   forward, timed on the core's public classes, and the series recognition of the
   integration when it has one. The one-off cache computation is printed separately.
   Target: cached / no teacher at most 1.5.
2. ``nf.predict()`` latency for the 7 series, student vs teacher, NeuralForecast's overhead
   included (median of repeated calls), and the networks' own forward time.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from neuralforecast import NeuralForecast
from neuralforecast.models import PatchTST, iTransformer
from step_phases import PHASES, Clock, StepPhases, timed

from tsdistill_plugin.benchmark import load_dataset
from tsdistill_plugin.core import DistillationLoss, FeatureRegressor, TeacherCache
from tsdistill_plugin.neuralforecast import DistilledMLP, DistilledMLPMultivariate

REPO = Path(__file__).resolve().parents[1]
INSIDE_STEP = {
    "cache lookup": (TeacherCache, "__getitem__"),
    "regressor forward": (FeatureRegressor, "forward"),
    "distillation terms forward": (DistillationLoss, "forward"),
}
"""Parts of the training step timed on the core's public classes."""


def integration_parts(student: type) -> dict[str, tuple[type, str]]:
    """The NeuralForecast integration's own per-step work: recognising the batch's series,
    reading the teacher's outputs, and mapping both forecasts to the student's space."""
    from tsdistill_plugin.neuralforecast._windows import TrainingWindows

    return {
        "series recognition": (TrainingWindows, "batch_series"),
        "teacher outputs (ids + lookup + move)": (student, "_teacher_outputs"),
        "to student space": (student, "_in_student_space"),
    }


def long_format(frame: pd.DataFrame) -> pd.DataFrame:
    long = frame.rename_axis("ds").reset_index().melt(id_vars="ds", var_name="unique_id")
    return long.rename(columns={"value": "y"})[["unique_id", "ds", "y"]]


def trainer_kwargs(args: argparse.Namespace) -> dict:
    return dict(
        enable_progress_bar=False,
        logger=False,
        enable_model_summary=False,
        accelerator=args.accelerator,
    )


def make_teacher(args: argparse.Namespace, n_series: int):
    common = dict(
        h=args.h,
        input_size=args.input_size,
        max_steps=args.teacher_steps,
        windows_batch_size=128,
        **trainer_kwargs(args),
    )
    if args.teacher == "patchtst":
        return PatchTST(
            hidden_size=args.teacher_hidden,
            encoder_layers=args.teacher_layers,
            n_heads=4,
            linear_hidden_size=2 * args.teacher_hidden,
            **common,
        )
    return iTransformer(
        n_series=n_series,
        hidden_size=args.teacher_hidden,
        d_ff=args.teacher_hidden,
        e_layers=args.teacher_layers,
        **common,
    )


def make_student(args: argparse.Namespace, teacher: object, n_series: int, **kwargs):
    """The student that fits the teacher: univariate for PatchTST, multivariate else."""
    if args.windows_batch_size:
        kwargs["windows_batch_size"] = args.windows_batch_size
    common = dict(h=args.h, input_size=args.input_size, teacher=teacher, **kwargs)
    if args.teacher == "patchtst":
        return DistilledMLP(**common, **trainer_kwargs(args))
    return DistilledMLPMultivariate(n_series=n_series, **common, **trainer_kwargs(args))


class Setup:
    """One set-up of the student: its fits' median step times and breakdowns."""

    def __init__(self, teacher: object, online: bool = False) -> None:
        self.teacher, self.online = teacher, online
        self.fits: list[dict[str, float]] = []
        self.setups: list[float] = []
        self.inside: dict[str, list[float]] = {}

    def fit(self, args: argparse.Namespace, df: pd.DataFrame, n_series: int, clock: Clock) -> None:
        phases = StepPhases(clock)
        cache = {"teacher_cache": "online"} if self.online else {}
        student = make_student(
            args, self.teacher, n_series, max_steps=args.steps, callbacks=[phases], **cache
        )
        nf = NeuralForecast(models=[student], freq="h")
        parts = {} if self.teacher is None else {**INSIDE_STEP, **integration_parts(type(student))}
        start = time.perf_counter()
        with timed(parts, self.inside, clock):
            nf.fit(df)
        total = time.perf_counter() - start
        # NeuralForecast trained a deep copy of the student: its callbacks hold the timings
        timer = nf.models[0].trainer_kwargs["callbacks"][0]
        self.fits.append(timer.medians(skip=args.warmup))
        self.setups.append(total - sum(timer.phases["step"]))

    @property
    def step(self) -> float:
        return min(fit["step"] for fit in self.fits)


def predict_latency(nf: NeuralForecast, repeats: int) -> float:
    nf.predict()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        nf.predict()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def forward_latency(model: torch.nn.Module, windows: torch.Tensor, repeats: int) -> float:
    """Median seconds of the network alone on the last windows of the series."""
    batch = dict(
        insample_y=windows,
        insample_mask=torch.ones_like(windows),
        futr_exog=None,
        hist_exog=None,
        stat_exog=None,
    )
    model.eval()
    times = []
    with torch.no_grad():
        for _ in range(repeats + 3):
            start = time.perf_counter()
            model(batch)
            times.append(time.perf_counter() - start)
    return statistics.median(times[3:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ETTh1")
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("TSDISTILL_DATA", str(REPO.parent / "shared" / "data")),
    )
    parser.add_argument("--teacher", choices=("patchtst", "itransformer"), default="patchtst")
    parser.add_argument("--input-size", type=int, default=336)
    parser.add_argument("--h", type=int, default=96)
    parser.add_argument(
        "--teacher-hidden", type=int, default=None, help="default: 64 (PatchTST), 256"
    )
    parser.add_argument("--teacher-layers", type=int, default=2)
    parser.add_argument("--teacher-steps", type=int, default=20)
    parser.add_argument("--steps", type=int, default=40, help="student steps per measurement")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per set-up")
    parser.add_argument("--warmup", type=int, default=10, help="steps left out of the median")
    parser.add_argument(
        "--windows-batch-size", type=int, default=None, help="default: the student's"
    )
    parser.add_argument("--repeats", type=int, default=10, help="predict calls to time")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--accelerator", default="cpu")
    args = parser.parse_args()
    if args.teacher_hidden is None:
        args.teacher_hidden = 64 if args.teacher == "patchtst" else 256
    torch.set_num_threads(args.threads)
    clock = Clock("cpu" if args.accelerator == "cpu" else "cuda")
    warnings.filterwarnings("ignore")
    for name in ("lightning_fabric", "pytorch_lightning", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)

    data = load_dataset(args.dataset, data_dir=args.data_dir)
    train = data.split("train")
    df = long_format(train)
    n_series = train.shape[1]
    probe = make_student(args, None, n_series)
    per_series = len(train) - args.input_size - args.h + 1
    windows = per_series if probe.MULTIVARIATE else n_series * per_series
    steps_per_epoch = int(np.ceil(windows / probe.windows_batch_size))
    print(
        f"{args.dataset} train split: {n_series} series x {len(train)} rows, L={args.input_size}, "
        f"H={args.h}; student {type(probe).__name__}, {windows} windows, "
        f"{probe.windows_batch_size} per step ({steps_per_epoch} steps per epoch); torch "
        f"threads {args.threads}; accelerator {args.accelerator}; times in {clock.name}"
    )

    start = time.perf_counter()
    nf_teacher = NeuralForecast(models=[make_teacher(args, n_series)], freq="h")
    nf_teacher.fit(df)
    teacher = nf_teacher.models[0]
    print(
        f"{type(teacher).__name__} teacher (hidden {args.teacher_hidden}, "
        f"{args.teacher_layers} layers) fitted ({args.teacher_steps} steps) in "
        f"{time.perf_counter() - start:.1f} s"
    )

    setups = {
        "no teacher": Setup(None),
        "cached teacher": Setup(teacher),
        "online teacher": Setup(teacher, online=True),
    }
    for round_ in range(args.rounds):
        order = list(setups.values()) if round_ % 2 == 0 else list(reversed(setups.values()))
        for setup in order:
            setup.fit(args, df, n_series, clock)
    plain = setups["no teacher"].step
    print("\n1. Training time per step (median; the fastest of the rounds) and per epoch")
    for label, setup in setups.items():
        seconds = setup.step
        print(
            f"   {label:<15} {1e3 * seconds:8.2f} ms/step  {seconds * steps_per_epoch:8.1f} s/epoch"
            f"  ratio to no teacher {seconds / plain:5.2f}"
        )
        phases = {name: min(fit[name] for fit in setup.fits) for name in PHASES}
        parts = ", ".join(f"{name} {1e3 * value:.2f}" for name, value in phases.items())
        print(f"      per step (ms): {parts}")
        inside = {
            name: statistics.median(values) for name, values in setup.inside.items() if values
        }
        if inside:
            parts = ", ".join(f"{name} {1e3 * value:.2f}" for name, value in inside.items())
            print(f"      inside training_step (ms, median per call): {parts}")
    cached = setups["cached teacher"]
    print(
        f"   one-off setup before the first step with the cache (fitting nothing, computing the "
        f"teacher's outputs for all {windows} windows): {min(cached.setups):.1f} s wall"
    )
    print("   target: cached / no teacher at most 1.5")

    student_nf = NeuralForecast(
        models=[make_student(args, teacher, n_series, max_steps=50)], freq="h"
    )
    student_nf.fit(df)
    nf_teacher.dataset, nf_teacher.uids, nf_teacher.last_dates, nf_teacher.ds = (
        student_nf.dataset,
        student_nf.uids,
        student_nf.last_dates,
        student_nf.ds,
    )
    student_latency = predict_latency(student_nf, args.repeats)
    teacher_latency = predict_latency(nf_teacher, args.repeats)
    last = torch.tensor(train.to_numpy()[-args.input_size :].copy())  # [L, series]
    print(f"\n2. Latency for {n_series} series (median of {args.repeats})")
    print(
        f"   nf.predict(): student {1e3 * student_latency:.1f} ms, teacher "
        f"{1e3 * teacher_latency:.1f} ms, teacher / student {teacher_latency / student_latency:.2f}"
    )
    forwards = {}
    for name, model in (("student", student_nf.models[0]), ("teacher", teacher)):
        # multivariate networks take [1, L, series], channel-independent ones [series, L, 1]
        windows_in = last[None] if model.MULTIVARIATE else last.T[:, :, None].contiguous()
        forwards[name] = forward_latency(model, windows_in, args.repeats)
    print(
        f"   network forward on the last windows: student {1e3 * forwards['student']:.2f} ms, "
        f"teacher {1e3 * forwards['teacher']:.2f} ms, teacher / student "
        f"{forwards['teacher'] / forwards['student']:.2f}"
    )
    params = sum(p.numel() for p in student_nf.models[0].dmlp.parameters())
    teacher_params = sum(p.numel() for p in teacher.parameters())
    print(f"   parameters: student {params:,}, teacher {teacher_params:,}")


if __name__ == "__main__":
    main()
