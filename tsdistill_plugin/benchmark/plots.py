"""Figures of the benchmark report (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.axes
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from .experiment import ROLES, BenchmarkResult, HorizonRun  # noqa: E402

COLORS = {
    "truth": "black",
    "mlp": "tab:orange",
    "distilled": "tab:green",
    "target_only": "tab:red",
    "dlinear": "tab:purple",
}
TEACHER_COLORS = ("tab:blue", "tab:cyan", "tab:olive", "tab:brown", "tab:pink", "tab:gray")
"""Colours of the teachers, in the order of ``--teacher``."""
LABELS = {
    "truth": "truth",
    "mlp": "MLP (no distillation)",
    "distilled": "distilled MLP",
    "target_only": "distilled MLP, target only",
    "dlinear": "DLinear",
}
LEADING_PERIODS = 3
"""Periods of the truth's largest mean amplitudes named in the spectrum figure."""


def _styles(run: HorizonRun, roles: tuple[str, ...] = ROLES) -> dict[str, tuple[str, str]]:
    """Colour and legend label of each model of ``roles`` (teachers first), by row key."""
    styles = {}
    for row in run.results:
        if row.role not in roles:
            continue
        if row.role == "teacher":
            color = TEACHER_COLORS[len(styles) % len(TEACHER_COLORS)]
            styles[row.key] = (color, f"{row.label} ({row.model})")
        else:
            styles[row.key] = (COLORS[row.role], LABELS[row.role])
    return styles


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
    styles = _styles(run)
    for row, ax in enumerate(axes[:, 0]):
        ax.plot(past, examples["history"][row], color="grey", lw=1, label="input (last steps)")
        ax.plot(future, examples["truth"][row], color=COLORS["truth"], lw=1.5, label="truth")
        for key, (color, label) in styles.items():
            ax.plot(future, examples[key][row], color=color, lw=1.1, label=label)
        ax.axvline(0, color="grey", ls=":", lw=0.8)
        ax.set_ylabel(f"{channel} (standardized)")
        ax.set_title(f"test window {int(examples['index'][row])}", fontsize=9)
    axes[0, 0].legend(loc="upper left", fontsize=8, ncol=3)
    axes[-1, 0].set_xlabel("steps from the forecast origin")
    fig.suptitle(
        f"{result.dataset.name}, lookback {result.lookback}, horizon {run.horizon} "
        f"({result.config.backend}, teacher {' + '.join(result.config.teacher)})"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _period_axis(ax: matplotlib.axes.Axes, horizon: int, n_bins: int, leading: np.ndarray) -> None:
    """Draw a log axis of periods in steps, long periods on the left.

    Ticks go at the longest and shortest period and at the leading ones, which are marked.
    """
    ax.set_xscale("log")
    ax.invert_xaxis()
    ticks = sorted({float(horizon), horizon / n_bins, *(horizon / leading)})
    ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:.3g}"))
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    for period in horizon / leading:
        ax.axvline(period, color="grey", ls=":", lw=0.8)
    ax.set_xlabel(f"period in steps (the horizon, {horizon}, over the frequency bin)")


def period_figure(result: BenchmarkResult, run: HorizonRun, path: Path) -> Path:
    """Spectra of the teachers' and the students' test forecasts and of the truth.

    Left: the mean rFFT amplitude per period (zero frequency dropped), on a log scale, so that
    every period can be compared, not only the strongest. Right: the mean period distribution
    (softmax of the amplitudes at temperature 0.5, as in the multi-period distillation term),
    also on a log scale: on a smooth series it puts almost all its mass on the longest period,
    and a linear scale shows a single spike. The truth's leading periods are marked and named.

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
    fig, (amplitude_ax, period_ax) = plt.subplots(1, 2, figsize=(12, 4.4))
    bins = np.arange(1, len(run.periods["truth"]) + 1)
    periods = run.horizon / bins
    leading = bins[np.argsort(run.amplitudes["truth"])[::-1][:LEADING_PERIODS]]
    styles = {"truth": (COLORS["truth"], LABELS["truth"])}
    styles.update(_styles(run, ("teacher", "mlp", "distilled")))
    for key, (color, label) in styles.items():
        style = {"lw": 2.0, "ls": "--"} if key == "truth" else {"lw": 1.3}
        amplitude_ax.plot(periods, run.amplitudes[key], color=color, label=label, **style)
        period_ax.plot(periods, run.periods[key], color=color, label=label, **style)
    for ax in (amplitude_ax, period_ax):
        ax.set_yscale("log")
        _period_axis(ax, run.horizon, len(bins), leading)
    named = ", ".join(f"{run.horizon / k:.3g}" for k in leading)
    amplitude_ax.set_ylabel("mean amplitude |rFFT| (log scale)")
    amplitude_ax.set_title(f"Amplitude spectrum (the truth's leading periods: {named} steps)")
    amplitude_ax.legend(fontsize=8)
    period_ax.set_ylabel("mean probability (log scale)")
    period_ax.set_title("Period distribution (softmax, temperature 0.5)")
    fig.suptitle(f"Spectra of the test forecasts, {result.dataset.name} H={run.horizon}")
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
