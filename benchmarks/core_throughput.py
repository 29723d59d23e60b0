"""Student forward throughput and the cost of the distillation terms in a training step.

Run: ``python benchmarks/core_throughput.py`` (CPU; add ``--device cuda`` on a GPU machine).

Prints the student's forward throughput (windows/s) at the reference's ETTh1 shape
(L=720, H=96, N=7, d=512, batch 256) and the median time of one training step with the MSE
alone, then with the prediction-level terms, the feature-level terms (teacher features already
at the student's width, as ``DistillationLoss`` takes them) and the feature regressor that maps
cached teacher features to that width. Times are process CPU time on the CPU. Target: the
distillation terms add at most 30%.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from tsdistill_plugin.core import DMLP, DistillationLoss, FeatureRegressor


def median_seconds(
    step: Callable[[], None], device: torch.device, repeats: int, warmup: int = 3
) -> float:
    """Median time of ``step``: process CPU time on the CPU (robust when other processes share
    the cores), wall time on an accelerator."""
    clock = time.perf_counter if device.type == "cuda" else time.process_time
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = clock()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(clock() - start)
    return statistics.median(times)


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
    args = parser.parse_args()
    device = torch.device(args.device)
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
    optimizer = torch.optim.Adam([*student.parameters(), *regressor.parameters()], lr=0.01)
    x, y = torch.randn(b, length, n, device=device), torch.randn(b, h, n, device=device)
    teacher_prediction = torch.randn(b, h, n, device=device)
    teacher_features = torch.randn(b, n, args.teacher_width, device=device)
    loss_fn = DistillationLoss(alpha=2.0, beta=2.0)
    mapped_features = torch.randn(b, n, d, device=device)

    student.eval()

    def forward() -> None:
        with torch.no_grad():
            student(x)

    forward_seconds = median_seconds(forward, device, args.repeats)
    student.train()

    def training_step(prediction_terms: bool, feature_terms: bool, regressor_on: bool) -> None:
        optimizer.zero_grad()
        out = student(x)
        features = regressor(teacher_features) if regressor_on else mapped_features
        loss, _ = loss_fn(
            out.prediction,
            y,
            teacher_prediction if prediction_terms else None,
            out.features if feature_terms else None,
            features if feature_terms else None,
        )
        loss.backward()
        optimizer.step()

    variants = {
        "MSE only": (False, False, False),
        "+ prediction-level terms": (True, False, False),
        "+ feature-level terms (DistillationLoss)": (True, True, False),
        "+ feature regressor": (True, True, True),
    }
    seconds = {
        name: median_seconds(lambda flags=flags: training_step(*flags), device, args.repeats)
        for name, flags in variants.items()
    }
    print(
        f"device={device} threads={torch.get_num_threads()} L={length} H={h} N={n} d={d} "
        f"batch={b} teacher width={args.teacher_width}"
    )
    throughput = b / forward_seconds
    print(f"student forward: {forward_seconds * 1e3:.2f} ms/batch, {throughput:,.0f} windows/s")
    baseline = seconds["MSE only"]
    for name, value in seconds.items():
        print(f"training step, {name:41s} {value * 1e3:7.2f} ms  {value / baseline - 1:+6.1%}")
    print("target: the DistillationLoss terms add at most 30% to a training step")


if __name__ == "__main__":
    main()
