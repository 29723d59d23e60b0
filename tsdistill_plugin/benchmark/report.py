"""The benchmark's outputs: the console table, ``report.md`` and ``results.json``."""

from __future__ import annotations

import json
from pathlib import Path

from .experiment import ROLE_NAMES, ROLES, BenchmarkResult, ModelResult


def _optional(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _cells(row: ModelResult) -> list[str]:
    return [
        ROLE_NAMES[row.role],
        row.model,
        str(row.horizon),
        f"{row.mse:.4f}",
        f"{row.mae:.4f}",
        f"{row.params:,}",
        f"{row.latency_ms:.2f}",
        _optional(row.onnx_latency_ms, 2),
        f"{row.train_seconds:.1f}",
        "" if row.epochs is None else str(row.epochs),
        _optional(row.cache_seconds, 1),
    ]


HEADER = [
    "role", "model", "H", "MSE", "MAE", "params", "latency ms", "ONNX ms", "train s", "epochs",
    "cache s",
]  # fmt: skip


def _relative(new: float, old: float) -> str:
    return f"{100.0 * (new - old) / old:+.1f}%"


def _times(value: float, reference: float) -> str:
    if value <= reference:
        return f"{reference / value:.1f}x fewer"
    return f"{value / reference:.1f}x more"


def summary_lines(result: BenchmarkResult) -> list[str]:
    """One sentence per horizon comparing the distilled student with the plain MLP, the
    teacher and DLinear, and its speed with the teacher's."""
    lines = []
    for run in result.runs:
        by_role = {row.role: row for row in run.results}
        student, plain, teacher = by_role["distilled"], by_role["mlp"], by_role["teacher"]
        lines.append(
            f"H={run.horizon}: distilled MSE {student.mse:.4f} is "
            f"{_relative(student.mse, plain.mse)} vs the plain MLP ({plain.mse:.4f}), "
            f"{_relative(student.mse, teacher.mse)} vs the teacher ({teacher.mse:.4f}) and "
            f"{_relative(student.mse, by_role['dlinear'].mse)} vs DLinear "
            f"({by_role['dlinear'].mse:.4f}); the student forecasts a batch "
            f"{teacher.latency_ms / student.latency_ms:.1f}x as fast as the teacher "
            f"({student.latency_ms:.2f} vs {teacher.latency_ms:.2f} ms) and has "
            f"{_times(student.params, teacher.params)} parameters ({student.params:,} vs "
            f"{teacher.params:,})."
        )
    return lines


def console_table(result: BenchmarkResult) -> str:
    """The results as a fixed-width text table, with the averages and the summary."""
    rows = [HEADER] + [_cells(row) for row in result.rows()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    text.insert(1, "  ".join("-" * w for w in widths))
    text.append("")
    text.append("average over horizons " + str([run.horizon for run in result.runs]) + ":")
    for avg in result.averages():
        text.append(f"  {ROLE_NAMES[avg['role']]:<22} MSE {avg['mse']:.4f}  MAE {avg['mae']:.4f}")
    text.append("")
    text.extend(summary_lines(result))
    text.append(f"\nwall time of the whole run: {result.wall_seconds:.0f} s")
    return "\n".join(text)


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def markdown(result: BenchmarkResult, figures: dict[int, dict[str, Path]]) -> str:
    """The report a person reads: setup, results per horizon, averages, figures."""
    config = result.config
    dataset = result.dataset
    sizes = dataset.split_sizes()
    plans = result.plans
    lines = [
        f"# TimeDistill benchmark: {dataset.name}, lookback {result.lookback}",
        "",
        f"Command: `{result.command}`" if result.command else "",
        "",
        "## Setup",
        "",
        f"- Data: `{dataset.source}`, {dataset.n_channels} "
        f"channel{'s' if dataset.n_channels > 1 else ''}; splits train / val / test = "
        f"{sizes['train']} / {sizes['val']} / {sizes['test']} rows, standardized with "
        "the training split's mean and standard deviation; validation and test windows start "
        "`lookback` steps before their split, stride 1, none dropped.",
        f"- Backend: {config.backend}; device {result.device}; seed {config.seed}.",
        f"- Teacher: {config.teacher} {result.teacher_arch}; trained with Adam lr "
        f"{plans['teacher'].lr:g}, at most {plans['teacher'].epochs} epochs, batch "
        f"{plans['teacher'].batch_size}.",
        f"- Students (plain and distilled): DMLP, hidden size {result.hidden_size}; Adam lr "
        f"{plans['mlp'].lr:g} halved every epoch from the third, at most {plans['mlp'].epochs} "
        f"epochs, batch {plans['mlp'].batch_size}, early stopping on validation MSE with "
        f"patience {plans['mlp'].patience}, best epoch restored. Distillation weights alpha = "
        f"{result.alpha:g}, beta = {result.beta:g}.",
        f"- DLinear: kernel 25, shared weights across channels; lr {plans['dlinear'].lr:g}, "
        f"otherwise the students' plan.",
        "- Epochs cap (`--epochs`): "
        + ("none (the reference's maxima)" if config.epochs is None else str(config.epochs))
        + (
            ""
            if config.teacher_epochs is None
            else f"; teacher's cap (`--teacher-epochs`): {config.teacher_epochs}"
        )
        + ".",
        "",
        "MSE and MAE are on the standardized scale, averaged over every test window and "
        f"channel. Latency is the median of {config.latency_runs} timed forward passes (after "
        f"{config.warmup_runs} untimed ones) on the same batch of {config.latency_batch} test "
        "windows for every model. Parameters are the trainable ones used at inference (the "
        "distilled student's feature regressor only serves training). `cache s` is the time "
        "the distilled student spent computing the teacher's outputs for its training "
        "windows, included in its `train s`.",
        "",
        "## Results",
        "",
    ]
    lines += _markdown_table(HEADER, [_cells(row) for row in result.rows()])
    lines += ["", "Averaged over the horizons run:", ""]
    lines += _markdown_table(
        ["role", "model", "MSE", "MAE"],
        [
            [ROLE_NAMES[a["role"]], a["model"], f"{a['mse']:.4f}", f"{a['mae']:.4f}"]
            for a in result.averages()
        ],
    )
    lines += ["", "## Reading the results", ""]
    lines += [f"- {line}" for line in summary_lines(result)]
    lines += [
        f"- Wall time of the whole run (data, training, evaluation): {result.wall_seconds:.0f} s."
    ]
    lines += ["", "## Figures", ""]
    for horizon, paths in figures.items():
        lines += [
            f"Forecasts on test windows, H={horizon} (last channel):",
            "",
            f"![forecasts H={horizon}]({paths['forecasts'].name})",
            "",
            f"Period distributions of the test forecasts, H={horizon} (what the multi-period "
            "term matches):",
            "",
            f"![periods H={horizon}]({paths['periods'].name})",
            "",
        ]
    return "\n".join(lines)


def write_outputs(result: BenchmarkResult, out: Path) -> dict[str, Path]:
    """Write ``results.json``, the figures and ``report.md`` into ``out``.

    Returns
    -------
    dict[str, Path]
        ``{"json": ..., "report": ...}``.
    """
    from .plots import write_figures

    out.mkdir(parents=True, exist_ok=True)
    figures = write_figures(result, out)
    json_path = out / "results.json"
    json_path.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    report_path = out / "report.md"
    report_path.write_text(markdown(result, figures) + "\n")
    return {"json": json_path, "report": report_path}


__all__ = ["ROLES", "console_table", "markdown", "write_outputs"]
