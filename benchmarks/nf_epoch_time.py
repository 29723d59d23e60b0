"""NeuralForecast integration: training time with a cached teacher, and predict latency.

Run: ``python benchmarks/nf_epoch_time.py`` (CPU; ``--accelerator gpu`` on a GPU machine;
``--input-size 720 --teacher-hidden 128 --teacher-layers 3`` for the paper's PatchTST).

On ETTh1's training split (7 series, standardized with train statistics), with a PatchTST
teacher fitted first, it prints:

1. Seconds per training step of ``DistilledMLP`` without a teacher, with the teacher's
   outputs cached (the default) and with the teacher run online on every step, and the ratios
   to no teacher; seconds per epoch (one pass over all training windows at
   ``windows_batch_size`` windows per step) follow from the step time. The one-off time to
   compute the cache is printed separately. Target: cached / no teacher close to 1.
2. ``nf.predict()`` latency for the 7 series, student vs teacher, NeuralForecast's overhead
   included (median of repeated calls), and the networks' own forward time for the 7 windows.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import statistics
import time
import warnings
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
from neuralforecast import NeuralForecast
from neuralforecast.models import PatchTST

from tsdistill_plugin.benchmark import load_dataset
from tsdistill_plugin.neuralforecast import DistilledMLP
from tsdistill_plugin.neuralforecast import _distill as distill_module


class StepTimer(pl.Callback):
    """Wall-clock seconds of each training step (forward, loss, backward, optimizer)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:  # noqa: ANN001
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        if module.device.type == "cuda":
            torch.cuda.synchronize(module.device)
        self.seconds.append(time.perf_counter() - self._start)


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


def student_step_seconds(
    args: argparse.Namespace, df: pd.DataFrame, teacher: object
) -> tuple[float, float]:
    """Median step time of a student fit, and the seconds spent before the first step."""
    student = DistilledMLP(
        h=args.h,
        input_size=args.input_size,
        teacher=teacher,
        max_steps=args.steps,
        windows_batch_size=args.windows_batch_size,
        callbacks=[StepTimer()],
        **trainer_kwargs(args),
    )
    start = time.perf_counter()
    nf = NeuralForecast(models=[student], freq="h")
    nf.fit(df)
    total = time.perf_counter() - start
    timer = nf.models[0].trainer_kwargs["callbacks"][0]  # NeuralForecast trained a deep copy
    warm = timer.seconds[args.warmup :]
    return statistics.median(warm), total - sum(timer.seconds)


@contextlib.contextmanager
def timed(cls: type, names: tuple[str, ...], seconds: list[float]) -> Iterator[None]:
    """Append the wall-clock seconds of every call of ``cls``'s methods ``names``."""
    originals = {name: getattr(cls, name) for name in names}

    def wrap(method):  # noqa: ANN001, ANN202
        def timed_method(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                seconds.append(time.perf_counter() - start)

        return timed_method

    for name, method in originals.items():
        setattr(cls, name, wrap(method))
    try:
        yield
    finally:
        for name, method in originals.items():
            setattr(cls, name, method)


@contextlib.contextmanager
def online_teacher() -> Iterator[None]:
    """Make the student treat its data as uncacheable, so the teacher runs on every step."""
    original = distill_module.TimeSeriesDataset
    distill_module.TimeSeriesDataset = type("Uncacheable", (), {})
    try:
        yield
    finally:
        distill_module.TimeSeriesDataset = original


def predict_latency(nf: NeuralForecast, repeats: int) -> float:
    nf.predict()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        nf.predict()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def forward_latency(model: torch.nn.Module, windows: torch.Tensor, repeats: int) -> float:
    """Median seconds of the network alone on 7 windows (channels folded into the batch)."""
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
    parser.add_argument("--input-size", type=int, default=336)
    parser.add_argument("--h", type=int, default=96)
    parser.add_argument("--teacher-hidden", type=int, default=64)
    parser.add_argument("--teacher-layers", type=int, default=2)
    parser.add_argument("--teacher-steps", type=int, default=20)
    parser.add_argument("--steps", type=int, default=40, help="student steps per measurement")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per set-up")
    parser.add_argument("--warmup", type=int, default=10, help="steps left out of the median")
    parser.add_argument("--windows-batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=10, help="predict calls to time")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--accelerator", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    for name in ("lightning_fabric", "pytorch_lightning", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)

    data = load_dataset(args.dataset)
    train = data.split("train")
    df = long_format(train)
    n_series = train.shape[1]
    windows = n_series * (len(train) - args.input_size - args.h + 1)
    steps_per_epoch = int(np.ceil(windows / args.windows_batch_size))
    print(
        f"{args.dataset} train split: {n_series} series x {len(train)} rows, L={args.input_size}, "
        f"H={args.h}, {windows} training windows, {args.windows_batch_size} per step "
        f"({steps_per_epoch} steps per epoch), torch threads={args.threads}"
    )

    teacher_model = PatchTST(
        h=args.h,
        input_size=args.input_size,
        hidden_size=args.teacher_hidden,
        encoder_layers=args.teacher_layers,
        n_heads=4,
        linear_hidden_size=2 * args.teacher_hidden,
        max_steps=args.teacher_steps,
        windows_batch_size=128,
        **trainer_kwargs(args),
    )
    start = time.perf_counter()
    nf_teacher = NeuralForecast(models=[teacher_model], freq="h")
    nf_teacher.fit(df)
    teacher = nf_teacher.models[0]
    seconds = time.perf_counter() - start
    print(f"PatchTST teacher fitted ({args.teacher_steps} steps) in {seconds:.1f} s")

    # Alternate the three set-ups over several rounds (in reverse order every other round) and
    # keep each one's fastest median: on a shared machine, other processes only ever add time.
    def no_teacher() -> float:
        return student_step_seconds(args, df, None)[0]

    def cached_teacher() -> float:
        with (
            timed(distill_module.Distiller, ("batch_series", "outputs"), lookups),
            timed(DistilledMLP, ("_distillation_terms",), terms),
        ):
            seconds, setup = student_step_seconds(args, df, teacher)
        setups.append(setup)
        return seconds

    def uncached_teacher() -> float:
        with online_teacher():
            return student_step_seconds(args, df, teacher)[0]

    runs = {
        "no teacher": no_teacher,
        "cached teacher": cached_teacher,
        "online teacher": uncached_teacher,
    }
    results: dict[str, list[float]] = {label: [] for label in runs}
    setups: list[float] = []
    lookups: list[float] = []
    terms: list[float] = []
    for round_ in range(args.rounds):
        order = list(runs) if round_ % 2 == 0 else list(reversed(runs))
        for label in order:
            results[label].append(runs[label]())
    plain = min(results["no teacher"])
    print("\n1. Training time per step (median) and per epoch")
    for label, rounds in results.items():
        seconds = min(rounds)
        print(
            f"   {label:<15} {1e3 * seconds:8.2f} ms/step  {seconds * steps_per_epoch:8.1f} s/epoch"
            f"  ratio to no teacher {seconds / plain:5.2f}"
        )
    print(f"   one-off cache computation (teacher on all {windows} windows): {min(setups):.1f} s")
    lookup = statistics.median(a + b for a, b in zip(lookups[::2], lookups[1::2], strict=True))
    print(f"   cache lookup per step (series digests + gather + move): {1e3 * lookup:.2f} ms")
    print(
        "   distillation terms per step (forward; backward adds about as much): "
        f"{1e3 * statistics.median(terms):.2f} ms"
    )

    student_nf = NeuralForecast(
        models=[
            DistilledMLP(
                h=args.h,
                input_size=args.input_size,
                teacher=teacher,
                max_steps=50,
                **trainer_kwargs(args),
            )
        ],
        freq="h",
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
    last = torch.tensor(train.to_numpy()[-args.input_size :].T[:, :, None].copy())
    student_forward = forward_latency(student_nf.models[0], last, args.repeats)
    teacher_forward = forward_latency(teacher, last, args.repeats)
    print(f"\n2. Latency for {n_series} series (median of {args.repeats})")
    print(
        f"   nf.predict(): student {1e3 * student_latency:.1f} ms, teacher "
        f"{1e3 * teacher_latency:.1f} ms, teacher / student {teacher_latency / student_latency:.2f}"
    )
    print(
        f"   network forward on {n_series} windows: student {1e3 * student_forward:.2f} ms, "
        f"teacher {1e3 * teacher_forward:.2f} ms, teacher / student "
        f"{teacher_forward / student_forward:.2f}"
    )
    params = sum(p.numel() for p in student_nf.models[0].dmlp.parameters())
    teacher_params = sum(p.numel() for p in teacher.parameters())
    print(f"   parameters: student {params:,}, teacher {teacher_params:,}")


if __name__ == "__main__":
    main()
