"""Student forward throughput and the cost of the distillation terms in a training step.

Run: ``python benchmarks/core_throughput.py --threads 1`` (CPU; ``--device cuda`` on a GPU
machine; ``--profile`` adds a ``torch.profiler`` table of the full step; ``--fused-adam`` uses
Adam's fused implementation).

Prints the student's forward throughput (windows/s) at the reference's ETTh1 shape
(L=720, H=96, N=7, d=512, batch 256) and the time of one training step (forward, backward,
Adam; median and minimum) with the MSE alone, then with the prediction-level terms, the
feature-level terms (teacher features already at the student's width, as ``DistillationLoss``
takes them) and the feature regressor that maps cached teacher features to that width. The four
variants run in turn, one step each, so that a busy machine slows them alike. Times are process
CPU time on the CPU, synchronized wall time on a GPU. Target: the distillation terms add at
most 30%.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

import torch
from step_phases import Clock
from torch.profiler import ProfilerActivity, profile, record_function

from tsdistill_plugin.core import DMLP, DistillationLoss, FeatureRegressor

REGIONS: tuple[str, ...] = (
    "student forward",
    "regressor forward",
    "loss forward",
    "backward",
    "optimizer",
)
"""The parts of a training step that ``--profile`` reports."""


def interleaved_times(
    steps: dict[str, Callable[[], None]], clock: Clock, repeats: int, warmup: int = 3
) -> dict[str, tuple[float, float]]:
    """Median and minimum seconds of each step, the steps run in turn ``repeats`` times after
    warm-up (on a shared machine other processes only ever add time: the minimum is the
    least disturbed run)."""
    for _ in range(warmup):
        for step in steps.values():
            step()
    seconds: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = clock()
            step()
            seconds[name].append(clock() - start)
    return {name: (statistics.median(values), min(values)) for name, values in seconds.items()}


def multiply_adds(length: int, horizon: int, hidden: int, teacher_width: int) -> tuple[int, int]:
    """Matrix multiply-adds per channel-window of a training step: student, regressor.

    The student's two branches: ``L -> d`` (forward and weight gradient; its input needs no
    gradient) and ``d -> H`` (forward, weight and input gradients). The regressor: ``d_t -> d``
    (forward, weight gradient), ``d -> d`` (forward, weight and input gradients).
    """
    student = 2 * (2 * length * hidden + 3 * hidden * horizon)
    regressor = 2 * teacher_width * hidden + 3 * hidden * hidden
    return student, regressor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-len", type=int, default=720)
    parser.add_argument("--horizon", type=int, default=96)
    parser.add_argument("--channels", type=int, default=7)
    parser.add_argument("--hidden-size", type=int, default=512)
    parser.add_argument("--teacher-width", type=int, default=256, help="d_t of the cached features")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="print where the full step's time goes, by op"
    )
    parser.add_argument(
        "--fused-adam", action="store_true", help="Adam(fused=True): one kernel per parameter"
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    clock = Clock(device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    b, length, h, n, d = (
        args.batch_size,
        args.input_len,
        args.horizon,
        args.channels,
        args.hidden_size,
    )
    student = DMLP(length, h, n, hidden_size=d).to(device)
    regressor = FeatureRegressor(args.teacher_width, d).to(device)
    optimizer = torch.optim.Adam(
        [*student.parameters(), *regressor.parameters()], lr=0.01, fused=args.fused_adam or None
    )
    x, y = torch.randn(b, length, n, device=device), torch.randn(b, h, n, device=device)
    teacher_prediction = torch.randn(b, h, n, device=device)
    teacher_features = torch.randn(b, n, args.teacher_width, device=device)
    loss_fn = DistillationLoss(alpha=2.0, beta=2.0)
    mapped_features = torch.randn(b, n, d, device=device)

    student.eval()

    def forward() -> None:
        with torch.no_grad():
            student(x)

    forward_seconds = interleaved_times({"forward": forward}, clock, args.repeats)["forward"][0]
    student.train()

    def training_step(prediction_terms: bool, feature_terms: bool, regressor_on: bool) -> None:
        optimizer.zero_grad()
        with record_function(REGIONS[0]):
            out = student(x)
        with record_function(REGIONS[1]):
            features = regressor(teacher_features) if regressor_on else mapped_features
        with record_function(REGIONS[2]):
            loss, _ = loss_fn(
                out.prediction,
                y,
                teacher_prediction if prediction_terms else None,
                out.features if feature_terms else None,
                features if feature_terms else None,
            )
        with record_function(REGIONS[3]):
            loss.backward()
        with record_function(REGIONS[4]):
            optimizer.step()

    variants = {
        "MSE only": (False, False, False),
        "+ prediction-level terms": (True, False, False),
        "+ feature-level terms (DistillationLoss)": (True, True, False),
        "+ feature regressor": (True, True, True),
    }
    seconds = interleaved_times(
        {name: lambda flags=flags: training_step(*flags) for name, flags in variants.items()},
        clock,
        args.repeats,
    )
    print(
        f"device={device} threads={torch.get_num_threads()} L={length} H={h} N={n} d={d} "
        f"batch={b} teacher width={args.teacher_width} fused Adam={args.fused_adam}; times: "
        f"{clock.name}, over {args.repeats} interleaved steps"
    )
    throughput = b / forward_seconds
    print(f"student forward: {forward_seconds * 1e3:.2f} ms/batch, {throughput:,.0f} windows/s")
    baseline, fastest = seconds["MSE only"]
    print(f"{'training step (change vs MSE only)':56s} {'median':>17s}  {'minimum':>17s}")
    for name, (value, least) in seconds.items():
        print(
            f"training step, {name:41s} {value * 1e3:7.2f} ms {value / baseline - 1:+6.1%}  "
            f"{least * 1e3:7.2f} ms {least / fastest - 1:+6.1%}"
        )
    student_macs, regressor_macs = multiply_adds(length, h, d, args.teacher_width)
    print(
        f"matrix multiply-adds per channel-window and step: student {student_macs / 1e6:.2f} M, "
        f"feature regressor {regressor_macs / 1e6:.2f} M ({regressor_macs / student_macs:.0%} "
        "of the student's)"
    )
    print("target: the DistillationLoss terms add at most 30% to a training step")

    if args.profile:
        activities = [ProfilerActivity.CPU]
        if device.type == "cuda":
            activities.append(ProfilerActivity.CUDA)
        steps = 10
        with profile(activities=activities, record_shapes=True) as profiler:
            for _ in range(steps):
                training_step(True, True, True)
        regions = {event.key: event for event in profiler.key_averages() if event.key in REGIONS}
        print(f"\nprofile of {steps} full steps (with the regressor), per step:")
        for name in REGIONS:
            event = regions[name]
            device_time = (
                f", {event.device_time_total / steps / 1e3:.2f} ms on the device"
                if device.type == "cuda"
                else ""
            )
            print(f"  {name:18s} {event.cpu_time_total / steps / 1e3:7.2f} ms{device_time}")
        sort_by = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
        print(f"by op and input shapes, over the {steps} steps:")
        print(
            profiler.key_averages(group_by_input_shape=True).table(
                sort_by=sort_by, row_limit=40, max_name_column_width=36, max_shapes_column_width=60
            )
        )


if __name__ == "__main__":
    main()
