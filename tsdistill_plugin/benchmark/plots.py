"""Figures of the benchmark report (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from .experiment import ROLES, BenchmarkResult, HorizonRun  # noqa: E402

COLORS = {
    "truth": "black",
    "teacher": "tab:blue",
    "mlp": "tab:orange",
    "distilled": "tab:green",
    "dlinear": "tab:purple",
}
LABELS = {
    "truth": "truth",
    "teacher": "teacher",
    "mlp": "MLP (no distillation)",
    "distilled": "distilled MLP",
    "dlinear": "DLinear",
}


def forecast_figure(result: BenchmarkResult, run: HorizonRun, path: Path) -> Path:
    """Forecasts of every model against the truth on a few test windows (last channel).

    Parameters
    ----------
    result
        The benchmark result (for titles).
    run
        The horizon's measurements.
    path
        PNG file to write.

    Returns
    -------
    Path
        ``path``.
    """
    examples = run.examples
    n = len(examples["index"])
    fig, axes = plt.subplots(n, 1, figsize=(10, 2.6 * n), squeeze=False)
    history = examples["history"].shape[1]
    past = np.arange(-history, 0)
    future = np.arange(run.horizon)
    channel = result.dataset.frame.columns[-1]
    for row, ax in enumerate(axes[:, 0]):
        ax.plot(past, examples["history"][row], color="grey", lw=1, label="input (last steps)")
        ax.plot(future, examples["truth"][row], color=COLORS["truth"], lw=1.5, label="truth")
        for role in ROLES:
            ax.plot(future, examples[role][row], color=COLORS[role], lw=1.1, label=LABELS[role])
        ax.axvline(0, color="grey", ls=":", lw=0.8)
        ax.set_ylabel(f"{channel} (standardized)")
        ax.set_title(f"test window {int(examples['index'][row])}", fontsize=9)
    axes[0, 0].legend(loc="upper left", fontsize=8, ncol=3)
    axes[-1, 0].set_xlabel("steps from the forecast origin")
    fig.suptitle(
        f"{result.dataset.name}, lookback {result.lookback}, horizon {run.horizon} "
        f"({result.config.backend}, teacher {result.config.teacher})"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def period_figure(result: BenchmarkResult, run: HorizonRun, path: Path) -> Path:
    """Mean period distributions of the teacher's and the students' forecasts (and of the
    truth) on the test windows: softmax of the rFFT amplitude over frequency, temperature 0.5,
    zero frequency dropped, as in the multi-period distillation term.

    Parameters
    ----------
    result
        The benchmark result (for titles).
    run
        The horizon's measurements.
    path
        PNG file to write.

    Returns
    -------
    Path
        ``path``.
    """
    fig, ax = plt.subplots(figsize=(9, 4))
    bins = np.arange(1, len(run.periods["truth"]) + 1)
    for role in ("truth", "teacher", "mlp", "distilled"):
        style = {"lw": 2.0, "ls": "--"} if role == "truth" else {"lw": 1.3}
        ax.plot(bins, run.periods[role], color=COLORS[role], label=LABELS[role], **style)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_xlabel(f"frequency bin k (period = {run.horizon}/k steps)")
    ax.set_ylabel("mean probability")
    ax.set_title(
        f"Period distributions of the test forecasts, {result.dataset.name} H={run.horizon}"
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_figures(result: BenchmarkResult, out: Path) -> dict[int, dict[str, Path]]:
    """Write both figures for every horizon into ``out``; returns their paths by horizon."""
    out.mkdir(parents=True, exist_ok=True)
    return {
        run.horizon: {
            "forecasts": forecast_figure(result, run, out / f"forecasts_H{run.horizon}.png"),
            "periods": period_figure(result, run, out / f"periods_H{run.horizon}.png"),
        }
        for run in result.runs
    }
