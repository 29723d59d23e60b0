"""Scale: one distillation epoch on Electricity- and Traffic-sized panels, in both libraries.

Prints, per library and size: the training windows, the size of the teacher's cached outputs,
where they went (memory or disk, against the cache's memory budget), the time to fill the
cache, the time of one training epoch and the peak resident memory of the process.

The panels are synthetic at the real data sets' sizes (Electricity: 321 channels x 26,304
hourly steps; Traffic: 862 x 17,544; L=720, H=96): per channel, a daily and a weekly sinusoid
with random amplitudes and phases, a slow random walk and Gaussian noise, standardized. Memory
and time depend on the sizes, not on the values. The teacher is a cheap one (NLinear's
computation: a linear map of the window minus its last value, shared by the channels, not
trained): the point is the student's data path and the cache, not the teacher.

The student is narrow by default (``--hidden-size 64``; the reference's is 512): the epoch's
time grows with the width, its memory hardly (the weights are a few MB either way). Each run is
a separate process, so that its peak resident memory is its own. One epoch is one
pass of the library's loader: every window for Darts; for NeuralForecast, every series once
(``batch_size`` series per step, ``windows_batch_size`` windows sampled from them).

Usage::

    python benchmarks/scale.py                       # all libraries, both sizes
    python benchmarks/scale.py --sizes electricity --libraries darts
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tsdistill_plugin.core import TorchTeacher  # noqa: E402
from tsdistill_plugin.core.cache import DEFAULT_MEMORY_BUDGET  # noqa: E402

SIZES = {"electricity": (321, 26_304), "traffic": (862, 17_544)}
LIBRARIES = ("darts", "nf", "nf-multivariate")
LOOKBACK, HORIZON = 720, 96
TRAINER = {
    "accelerator": "cpu",
    "logger": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "enable_checkpointing": False,
}


def synthetic_panel(n_channels: int, n_steps: int, seed: int = 0) -> np.ndarray:
    """``[n_steps, n_channels]`` float32: daily and weekly cycles, a random walk and noise,
    standardized per channel."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_steps, dtype=np.float32)[:, None]
    panel = np.empty((n_steps, n_channels), np.float32)
    for start in range(0, n_channels, 64):
        k = min(64, n_channels - start)
        daily = rng.uniform(0.5, 2.0, k) * np.sin(2 * np.pi * t / 24 + rng.uniform(0, 6.3, k))
        weekly = rng.uniform(0.2, 1.0, k) * np.sin(2 * np.pi * t / 168 + rng.uniform(0, 6.3, k))
        walk = np.cumsum(rng.normal(0, 0.02, (n_steps, k)), axis=0)
        block = daily + weekly + walk + rng.normal(0, 0.3, (n_steps, k))
        panel[:, start : start + k] = (block - block.mean(0)) / block.std(0)
    return panel


class LinearTeacher(nn.Module):
    """NLinear's forecast: ``Linear(L -> H)`` on the window minus its last value, per channel."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(LOOKBACK, HORIZON)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, L, N] -> [B, H, N]
        last = x[:, -1:]
        return self.linear((x - last).transpose(1, 2)).transpose(1, 2) + last


def peak_rss() -> int:
    """Peak resident memory of this process so far, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


MEASURED: dict = {}
"""What :func:`probe` records (module-level: NeuralForecast trains a deep copy of the callback)."""


def probe():
    """A Lightning callback recording, into :data:`MEASURED`, the teacher cache the student
    trains with, the start of training and the epoch's time and steps."""
    import pytorch_lightning as pl

    class Probe(pl.Callback):
        def on_train_start(self, trainer, pl_module) -> None:
            MEASURED["train_start"] = time.perf_counter()
            cache = pl_module.training_run.targets.cache
            MEASURED.update(windows=len(cache), cache_bytes=cache.nbytes, storage=cache.storage)
            MEASURED["steps"] = 0

        def on_train_epoch_start(self, trainer, pl_module) -> None:
            MEASURED["epoch_start"] = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            MEASURED["steps"] += 1

        def on_train_end(self, trainer, pl_module) -> None:
            MEASURED["epoch_seconds"] = time.perf_counter() - MEASURED["epoch_start"]

    return Probe()


def run_darts(panel: np.ndarray, probe, hidden_size: int) -> None:
    import pandas as pd
    from darts import TimeSeries

    from tsdistill_plugin.darts import DistilledMLPModel

    index = pd.date_range("2016-07-01", periods=len(panel), freq="h")
    series = TimeSeries.from_times_and_values(index, panel)
    model = DistilledMLPModel(
        LOOKBACK,
        HORIZON,
        teacher=teacher(),
        hidden_size=hidden_size,
        beta=0.0,
        n_epochs=1,
        batch_size=32,
        random_state=0,
        pl_trainer_kwargs={**TRAINER, "callbacks": [probe]},
    )
    MEASURED["fit_start"] = time.perf_counter()
    model.fit(series)
    model.predict(HORIZON)


def run_nf(panel: np.ndarray, probe, hidden_size: int, multivariate: bool) -> None:
    import pandas as pd
    from neuralforecast import NeuralForecast

    from tsdistill_plugin.neuralforecast import DistilledMLP, DistilledMLPMultivariate

    n_steps, n_series = panel.shape
    frame = pd.DataFrame(
        {
            "unique_id": np.repeat(np.arange(n_series), n_steps),
            "ds": np.tile(np.arange(n_steps), n_series),
            "y": panel.T.reshape(-1),
        }
    )
    common = dict(
        h=HORIZON,
        input_size=LOOKBACK,
        teacher=teacher(),
        hidden_size=hidden_size,
        beta=0.0,
        random_seed=0,
        callbacks=[probe],
        **TRAINER,
    )
    if multivariate:
        steps = 1  # the loader's one batch holds every series
        student = DistilledMLPMultivariate(
            n_series=n_series, max_steps=steps, val_check_steps=steps, **common
        )
    else:
        batch_size = 4  # series per step: NeuralForecast unfolds every window of each
        steps = math.ceil(n_series / batch_size)
        student = DistilledMLP(
            batch_size=batch_size, max_steps=steps, val_check_steps=steps, **common
        )
    nf = NeuralForecast(models=[student], freq=1)
    MEASURED["fit_start"] = time.perf_counter()
    nf.fit(frame)
    nf.predict()


def teacher() -> TorchTeacher:
    torch.manual_seed(0)
    return TorchTeacher(LinearTeacher(), LOOKBACK, HORIZON)


def run_one(library: str, size: str, hidden_size: int) -> dict:
    """One library on one size, in this process; the figures as a dict."""
    torch.set_num_threads(1)
    panel = synthetic_panel(*SIZES[size])
    rss_data = peak_rss()
    start = time.perf_counter()
    if library == "darts":
        run_darts(panel, probe(), hidden_size)
    else:
        run_nf(panel, probe(), hidden_size, multivariate=library == "nf-multivariate")
    return {
        "library": library,
        "size": size,
        "windows": MEASURED["windows"],
        "cache_bytes": MEASURED["cache_bytes"],
        "storage": MEASURED["storage"],
        "budget_bytes": DEFAULT_MEMORY_BUDGET,
        "fill_seconds": MEASURED["train_start"] - MEASURED["fit_start"],
        "epoch_seconds": MEASURED["epoch_seconds"],
        "steps": MEASURED["steps"],
        "total_seconds": time.perf_counter() - start,
        "rss_after_data": rss_data,
        "peak_rss": peak_rss(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES))
    parser.add_argument("--libraries", nargs="+", choices=LIBRARIES, default=list(LIBRARIES))
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--one", nargs=2, metavar=("LIBRARY", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(*args.one, args.hidden_size)))
        return
    gib = 1024**3
    print(
        f"L={LOOKBACK}, H={HORIZON}, student hidden_size={args.hidden_size}, 1 CPU thread, "
        f"cache memory budget {DEFAULT_MEMORY_BUDGET / gib:.1f} GiB; synthetic panels."
    )
    header = (
        f"{'library':16} {'size':12} {'windows':>10} {'cache GiB':>9} {'cache in':>8} "
        f"{'fill s':>7} {'steps':>6} {'epoch s':>8} {'peak RSS GiB':>12}"
    )
    print(header)
    for size in args.sizes:
        for library in args.libraries:
            command = [sys.executable, __file__, "--one", library, size]
            command += ["--hidden-size", str(args.hidden_size)]
            done = subprocess.run(
                command, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": ""}
            )
            if done.returncode != 0:
                print(f"{library:16} {size:12} failed:\n{done.stderr[-3000:]}")
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            print(
                f"{library:16} {size:12} {r['windows']:>10,} {r['cache_bytes'] / gib:>9.2f} "
                f"{r['storage']:>8} {r['fill_seconds']:>7.1f} {r['steps']:>6} "
                f"{r['epoch_seconds']:>8.1f} {r['peak_rss'] / gib:>12.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
