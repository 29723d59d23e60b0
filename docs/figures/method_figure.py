"""Draw docs/figures/method.png: what the two distillation terms look at, on a real ETTh1 window.

Left: the 96 hours of ETTh1's HULL channel that open the test split (standardized with the
training statistics) and the three average-pooled copies that the multi-scale term also compares
(kernel = stride = 2, as ``DistillationLoss``'s defaults). Right: the period distribution of the
same window, ``tsdistill_plugin.core.period_distribution``, at the reference's temperature 0.5 and
at 4. The data comes from ``$TSDISTILL_DATA`` (the project's ``../shared/data``) or is downloaded
by the benchmark's loader.

    TSDISTILL_DATA=../shared/data python docs/figures/method_figure.py
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from tsdistill_plugin.benchmark import load_dataset  # noqa: E402
from tsdistill_plugin.core import period_distribution  # noqa: E402

CHANNEL = "HULL"
HORIZON = 96
LEVELS = 3
TEMPERATURES = (0.5, 4.0)
OUT = Path(__file__).with_name("method.png")


def main() -> None:
    data = load_dataset("ETTh1")
    window = data.frame[CHANNEL].iloc[data.val_end : data.val_end + HORIZON]
    x = torch.tensor(window.to_numpy(), dtype=torch.float32)

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6), constrained_layout=True)
    left.plot(range(HORIZON), x, color="black", lw=1.2, label="original (96 steps)")
    pooled = x[None, None]
    for level in range(1, LEVELS + 1):
        pooled = F.avg_pool1d(pooled, kernel_size=2, stride=2)
        width = 2**level
        steps = torch.arange(pooled.shape[-1]) * width
        left.step(
            torch.cat([steps, steps[-1:] + width]),
            torch.cat([pooled[0, 0], pooled[0, 0, -1:]]),
            where="post",
            lw=1.4,
            label=f"pooled {level}x ({pooled.shape[-1]} steps)",
        )
    left.set(
        title=f"Multi-scale: ETTh1 {CHANNEL}, hours from {window.index[0]:%Y-%m-%d %H:%M}",
        xlabel="hour of the window",
        ylabel="standardized value",
    )
    left.legend(fontsize=8, loc="upper right")

    periods = HORIZON / torch.arange(1, HORIZON // 2 + 1)
    bar = 0.38
    for i, temperature in enumerate(TEMPERATURES):
        p = period_distribution(x[None, :, None], dim=1, temperature=temperature)[0, :, 0]
        positions = torch.arange(len(p)) + (i - 0.5) * bar
        right.bar(positions, p, width=bar, label=f"temperature {temperature:g}")
        top = p.topk(3)
        leading = ", ".join(
            f"{float(periods[i]):.3g} h: {float(v):.3f}" for v, i in zip(*top, strict=True)
        )
        print(f"temperature {temperature:g}: leading periods {leading}")
    shown = 12
    right.set_xticks(range(shown), [f"{float(period):.3g}" for period in periods[:shown]])
    right.set_xlim(-0.6, shown - 0.4)
    right.set(
        title="Multi-period: its period distribution",
        xlabel=f"period (hours); the {shown} longest of {len(periods)}",
        ylabel="probability",
    )
    right.legend(fontsize=8)
    fig.savefig(OUT, dpi=110)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
