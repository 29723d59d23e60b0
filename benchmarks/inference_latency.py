"""Inference cost per batch: the DMLP student against the teachers it replaces.

Run: ``python benchmarks/inference_latency.py`` (CPU; ``--device cuda`` on a GPU machine).

Forecasting cost does not depend on the weights' values, so every network is freshly built (no
training) at the reference's ETTh1 shape: lookback 720, horizon 96, 7 channels, a batch of 32
windows. Teachers: NeuralForecast's PatchTST (its defaults) and iTransformer (the reference's
ETTh1 configuration, 2 layers of width 256, method.md section 3). Students: the DMLP at the
reference's width 512 and at a smaller width, in PyTorch and exported with ``torch.onnx`` to
onnxruntime. Each figure is the median over repeated runs after warm-up, in process CPU time
(robust when other processes share the cores) and in wall time.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

from tsdistill_plugin.core import DMLP


def _nf_network(x: Tensor, model: nn.Module, channel_independent: bool) -> Callable[[], None]:
    """A NeuralForecast network's forward pass on ``x`` ``[B, L, N]``, as ``predict`` runs it."""
    batch, length, channels = x.shape
    if channel_independent:
        x = x.transpose(1, 2).reshape(batch * channels, length, 1)
    windows = dict(
        insample_y=x, insample_mask=torch.ones_like(x), futr_exog=None, hist_exog=None,
        stat_exog=None,
    )  # fmt: skip
    model.eval()

    def run() -> None:
        with torch.no_grad():
            model(windows)

    return run


def _torch_module(x: Tensor, module: nn.Module) -> Callable[[], None]:
    module.eval()

    def run() -> None:
        with torch.no_grad():
            module(x)

    return run


class _Forecast(nn.Module):
    """The student's forecast alone, the graph that is exported to ONNX."""

    def __init__(self, student: DMLP) -> None:
        super().__init__()
        self.student = student

    def forward(self, x: Tensor) -> Tensor:
        return self.student(x).prediction


def _onnx(x: Tensor, student: DMLP) -> Callable[[], None]:
    import onnxruntime

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Forecast(student).eval(), (x.cpu(),), buffer, input_names=["x"], dynamo=False
        )
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = onnxruntime.InferenceSession(buffer.getvalue(), options, ["CPUExecutionProvider"])
    feed = {"x": x.cpu().numpy()}
    reference = student.eval()(x).prediction.detach().cpu().numpy()
    difference = np.abs(session.run(None, feed)[0] - reference).max()
    if difference > 1e-3:
        raise RuntimeError(f"the ONNX export differs from PyTorch by {difference:.2e}")
    return lambda: session.run(None, feed)


def _time(run: Callable[[], None], device: torch.device, repeats: int) -> tuple[float, float]:
    """Median (CPU ms, wall ms) of ``run`` after warm-up."""
    for _ in range(5):
        run()
    cpu, wall = [], []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        cpu.append(time.process_time() - start_cpu)
        wall.append(time.perf_counter() - start_wall)
    return statistics.median(cpu) * 1e3, statistics.median(wall) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-len", type=int, default=720)
    parser.add_argument("--horizon", type=int, default=96)
    parser.add_argument("--channels", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--small-width", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)

    from neuralforecast.models import PatchTST, iTransformer

    length, horizon, channels = args.input_len, args.horizon, args.channels
    x = torch.randn(args.batch_size, length, channels, device=device)
    patchtst = PatchTST(h=horizon, input_size=length, max_steps=1, accelerator="cpu")
    itransformer = iTransformer(
        h=horizon, input_size=length, n_series=channels, hidden_size=256, d_ff=256, e_layers=2,
        max_steps=1, accelerator="cpu",
    )  # fmt: skip
    students = {
        width: DMLP(length, horizon, channels, hidden_size=width).to(device)
        for width in (512, args.small_width)
    }
    models: dict[str, tuple[nn.Module, Callable[[], None]]] = {
        "PatchTST (NF defaults)": (patchtst, _nf_network(x, patchtst.to(device), True)),
        "iTransformer (ETTh1 reference)": (
            itransformer,
            _nf_network(x, itransformer.to(device), False),
        ),
    }
    for width, student in students.items():
        models[f"DMLP student, width {width}"] = (student, _torch_module(x, student))
        if device.type == "cpu":
            models[f"DMLP student, width {width}, ONNX"] = (student, _onnx(x, student))

    print(
        f"device={device} threads={torch.get_num_threads()} L={length} H={horizon} "
        f"N={channels} batch={args.batch_size} repeats={args.repeats}"
    )
    times = {name: _time(run, device, args.repeats) for name, (_, run) in models.items()}
    reference_cpu = times["PatchTST (NF defaults)"][0]
    print(f"{'model':36s} {'params':>10s} {'CPU ms':>8s} {'wall ms':>8s} {'PatchTST/x':>10s}")
    for name, (module, _) in models.items():
        params = sum(p.numel() for p in module.parameters() if p.requires_grad)
        cpu, wall = times[name]
        print(f"{name:36s} {params:10,d} {cpu:8.2f} {wall:8.2f} {reference_cpu / cpu:9.1f}x")
    print("target: the student at least 5x faster per batch than a PatchTST teacher on the CPU")


if __name__ == "__main__":
    main()
