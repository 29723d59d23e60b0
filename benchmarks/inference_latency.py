"""Inference cost per batch: the DMLP student against the teachers it replaces.

Run: ``python benchmarks/inference_latency.py`` (CPU; ``--device cuda`` on a GPU machine).

Forecasting cost does not depend on the weights' values, so the networks are built at the
reference's ETTh1 shape (lookback 720, horizon 96, 7 channels, a batch of 32 windows) without
real training. Teachers: NeuralForecast's PatchTST (its defaults) and iTransformer (the
reference's ETTh1 configuration, 2 layers of width 256, method.md section 3), freshly built.
Students: Darts ``DistilledMLPModel`` at the reference's width 512 and at a smaller width, fitted
for one epoch on a few windows of noise so that they are what a user exports: their DMLP in
PyTorch, and the file ``tsdistill_plugin.export.to_onnx`` writes run by
``tsdistill_plugin.export.Predictor`` (ONNX Runtime), the artefact that ships. Each figure is the
median over repeated runs after warm-up, in process CPU time (robust when other processes share
the cores) and in wall time.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn


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


def _fitted_student(length: int, horizon: int, channels: int, width: int) -> object:
    """A Darts ``DistilledMLPModel`` fitted one epoch on 64 windows of noise (CPU)."""
    from darts import TimeSeries

    from tsdistill_plugin.darts import DistilledMLPModel

    for name in ("pytorch_lightning", "lightning_fabric", "lightning", "darts"):
        logging.getLogger(name).setLevel(logging.ERROR)  # after the imports: Lightning sets them
    noise = np.random.default_rng(0).standard_normal((length + horizon + 63, channels))
    model = DistilledMLPModel(
        length, horizon, hidden_size=width, n_epochs=1, random_state=0,
        pl_trainer_kwargs={
            "accelerator": "cpu", "enable_progress_bar": False, "enable_model_summary": False,
            "logger": False, "enable_checkpointing": False,
        },
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(TimeSeries.from_values(noise.astype(np.float32)), verbose=False)
    return model


def _served(x: Tensor, model: object) -> Callable[[], None]:
    """``Predictor.predict`` on ``x`` of the student ``to_onnx`` exports from ``model``."""
    from tsdistill_plugin.export import Predictor, to_onnx

    with tempfile.TemporaryDirectory() as folder:  # the session holds the graph once loaded
        path = to_onnx(model, Path(folder) / "student.onnx")
        predictor = Predictor.load(path, threads=torch.get_num_threads(), device="cpu")
    windows = x.cpu().numpy()
    student = model.model.student.cpu().eval()
    with torch.no_grad():
        reference = student(x.cpu()).prediction.numpy()
    difference = np.abs(predictor.predict(windows) - reference).max()
    if difference > 1e-3:
        raise RuntimeError(f"the exported student differs from PyTorch by {difference:.2e}")
    return lambda: predictor.predict(windows)


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
        width: _fitted_student(length, horizon, channels, width)
        for width in (512, args.small_width)
    }
    models: dict[str, tuple[nn.Module, Callable[[], None]]] = {
        "PatchTST (NF defaults)": (patchtst, _nf_network(x, patchtst.to(device), True)),
        "iTransformer (ETTh1 reference)": (
            itransformer,
            _nf_network(x, itransformer.to(device), False),
        ),
    }
    for width, model in students.items():
        student = model.model.student.to(device)
        models[f"DMLP student, width {width}"] = (student, _torch_module(x, student))
        if device.type == "cpu":
            models[f"DMLP student, width {width}, Predictor"] = (student, _served(x, model))

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
