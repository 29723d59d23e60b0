"""Student forward throughput and the cost of the distillation terms in a training step.

Run: ``python benchmarks/core_throughput.py`` (CPU; add ``--device cuda`` on a GPU machine).

Prints the student's forward throughput (windows/s) at the reference's ETTh1 shape
(L=720, H=96, N=7, d=512, batch 256) and the median time of one training step with the full
``DistillationLoss`` (prediction- and feature-level terms, cached teacher outputs and a feature
regressor) against one with the MSE alone. Target: the distillation terms add at most 30%.
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
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
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
    args = parser.parse_args()
    device = torch.device(args.device)
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
    distillation, supervised_only = (
        DistillationLoss(alpha=2.0, beta=2.0),
        DistillationLoss(0.0, 0.0),
    )

    student.eval()

    def forward() -> None:
        with torch.no_grad():
            student(x)

    forward_seconds = median_seconds(forward, device, args.repeats)
    student.train()

    def mse_step() -> None:
        optimizer.zero_grad()
        loss, _ = supervised_only(student(x).prediction, y)
        loss.backward()
        optimizer.step()

    def distillation_step() -> None:
        optimizer.zero_grad()
        out = student(x)
        loss, _ = distillation(
            out.prediction, y, teacher_prediction, out.features, regressor(teacher_features)
        )
        loss.backward()
        optimizer.step()

    mse_seconds = median_seconds(mse_step, device, args.repeats)
    distill_seconds = median_seconds(distillation_step, device, args.repeats)
    print(
        f"device={device} threads={torch.get_num_threads()} L={length} H={h} N={n} d={d} batch={b}"
    )
    throughput = b / forward_seconds
    print(f"student forward: {forward_seconds * 1e3:.2f} ms/batch, {throughput:,.0f} windows/s")
    print(f"training step, MSE only:          {mse_seconds * 1e3:.2f} ms")
    print(f"training step, DistillationLoss:  {distill_seconds * 1e3:.2f} ms")
    overhead = distill_seconds / mse_seconds - 1
    print(f"distillation overhead: {overhead:+.1%} (target <= +30%)")


if __name__ == "__main__":
    main()
