"""The benchmark's outputs: the console table, ``report.md`` and ``results.json``."""

from __future__ import annotations

import json
from pathlib import Path

from .backends.reference import AUTO, TeacherConfig
from .config import BenchmarkConfig
from .experiment import ROLES, BenchmarkResult, HorizonRun, ModelResult


def _optional(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _cells(row: ModelResult) -> list[str]:
    return [
        row.label,
        row.model,
        str(row.horizon),
        f"{row.mse:.4f}",
        f"{row.mae:.4f}",
        f"{row.val_mse:.4f}",
        f"{row.params:,}",
        f"{row.latency_ms:.2f}",
        _optional(row.onnx_latency_ms, 2),
        f"{row.train_seconds:.1f}",
        "" if row.epochs is None else str(row.epochs),
        _optional(row.cache_seconds, 1),
    ]


HEADER = [
    "role", "model", "H", "MSE", "MAE", "val MSE", "params", "latency ms", "ONNX ms", "train s",
    "epochs", "cache s",
]  # fmt: skip


def _relative(new: float, old: float) -> str:
    return f"{100.0 * (new - old) / old:+.1f}%"


def _times(value: float, reference: float) -> str:
    if value <= reference:
        return f"{reference / value:.1f}x fewer"
    return f"{value / reference:.1f}x more"


def summary_lines(result: BenchmarkResult) -> list[str]:
    """One sentence per horizon comparing the distilled student with the other models.

    It is compared with the plain MLP, each teacher and DLinear, and its speed and size with
    the teachers' (together, when several: the student replaces them all).
    """
    lines = []
    for run in result.runs:
        by_key = run.by_key()
        student, plain, dlinear = by_key["distilled"], by_key["mlp"], by_key["dlinear"]
        teachers = run.teachers()
        versus = [
            f"{_relative(student.mse, t.mse)} vs the {t.label} ({t.mse:.4f})" for t in teachers
        ]
        latency = sum(t.latency_ms for t in teachers)
        params = sum(t.params for t in teachers)
        whom = "the teacher" if len(teachers) == 1 else f"the {len(teachers)} teachers together"
        lines.append(
            f"H={run.horizon}: distilled MSE {student.mse:.4f} is "
            f"{_relative(student.mse, plain.mse)} vs the plain MLP ({plain.mse:.4f}), "
            f"{', '.join(versus)} and {_relative(student.mse, dlinear.mse)} vs DLinear "
            f"({dlinear.mse:.4f}); the student forecasts a batch "
            f"{latency / student.latency_ms:.1f}x as fast as {whom} "
            f"({student.latency_ms:.2f} vs {latency:.2f} ms) and has "
            f"{_times(student.params, params)} parameters ({student.params:,} vs {params:,})."
        )
    return lines


def _pair(alpha: float, beta: float) -> str:
    return f"alpha {alpha:g}, beta {beta:g}"


def weight_lines(result: BenchmarkResult) -> list[str]:
    """Per horizon, the distillation weights used and, when chosen on validation, why.

    The why is every candidate's validation MSE; with several teachers, their weights.
    """
    lines = []
    names = ", ".join(result.config.teacher)
    for run in result.runs:
        if run.candidates:
            tried = "; ".join(f"({c.alpha:g}, {c.beta:g}) {c.val_mse:.4f}" for c in run.candidates)
            lines.append(
                f"H={run.horizon}: {_pair(run.alpha, run.beta)} chosen: the lowest validation "
                f"MSE of the candidates (alpha, beta) {tried}; (0, 0) is no distillation."
            )
        else:
            lines.append(f"H={run.horizon}: {_pair(run.alpha, run.beta)} (given).")
        if run.teacher_weights is not None and len(result.config.teacher) > 1:
            shares = ", ".join(f"{w:.3f}" for w in run.teacher_weights)
            lines.append(
                f"H={run.horizon}: teachers {names} weighted {shares} "
                f"({result.config.teacher_weights})."
            )
    return lines


def console_table(result: BenchmarkResult) -> str:
    """The results as a fixed-width text table, with the averages and the summary.

    Examples
    --------
    >>> from tsdistill_plugin.benchmark import BenchmarkConfig, console_table, run_benchmark
    >>> print(console_table(run_benchmark(BenchmarkConfig())))  # doctest: +SKIP
    """
    rows = [HEADER] + [_cells(row) for row in result.rows()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    text.insert(1, "  ".join("-" * w for w in widths))
    text.append("")
    text.append("average over horizons " + str([run.horizon for run in result.runs]) + ":")
    for avg in result.averages():
        text.append(f"  {avg['label']:<22} MSE {avg['mse']:.4f}  MAE {avg['mae']:.4f}")
    text.append("")
    text.append("distillation weights:")
    text.extend(f"  {line}" for line in weight_lines(result))
    text.append("")
    text.extend(summary_lines(result))
    text.append(f"\nwall time of the whole run: {result.wall_seconds:.0f} s")
    return "\n".join(text)


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _teacher_line(teacher: TeacherConfig, config: BenchmarkConfig) -> str:
    if teacher.plan is None:
        source = f"`{config.teacher_dir}`" if config.teacher_dir else "the model hub"
        return (
            f"  - {teacher.name}: Darts' {teacher.arch['model']}, a foundation model used "
            f"zero-shot (weights from {source}; nothing trained)."
        )
    plan = teacher.plan
    return (
        f"  - {teacher.name} {teacher.arch}: trained with Adam lr {plan.lr:g}, at most "
        f"{plan.epochs} epochs, batch {plan.batch_size}."
    )


def _weights_setup(result: BenchmarkResult) -> str:
    config = result.config
    given = f"alpha = {result.alpha}, beta = {result.beta}"
    text = f"Distillation weights {given}"
    if AUTO in (result.alpha, result.beta):
        text += (
            " (`auto`: chosen on the validation split among the candidates listed below, "
            "(0, 0), no distillation, always among them)"
        )
    if len(config.teacher) > 1:
        combined = {
            "mean": "their mean",
            "validation": "weights fitted on the validation split",
        }[config.teacher_weights]
        text += (
            f". The distilled student learns from the {len(config.teacher)} teachers at once, "
            f"their forecasts combined by {combined} and their features side by side"
        )
    return text + "."


def _candidate_table(run: HorizonRun) -> list[str]:
    rows = [
        [
            f"{c.alpha:g}",
            f"{c.beta:g}",
            f"{c.val_mse:.4f}",
            "" if c.epochs is None else str(c.epochs),
            f"{c.train_seconds:.1f}",
            f"{c.cache_seconds:.1f}" if c.distils else "",
            "chosen" if (c.alpha, c.beta) == (run.alpha, run.beta) else "",
        ]
        for c in run.candidates
    ]
    header = ["alpha", "beta", "val MSE", "epochs", "train s", "cache s", ""]
    return _markdown_table(header, rows)


def markdown(result: BenchmarkResult, figures: dict[int, dict[str, Path]]) -> str:
    """The report a person reads.

    Setup, results per horizon, averages, the distillation weights and why, figures.
    """
    config = result.config
    dataset = result.dataset
    sizes = dataset.split_sizes()
    plans = result.plans
    several = len(result.teachers) > 1
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
        f"- Teacher{'s, each fitted once and measured on its own' if several else ''}:",
        *(_teacher_line(teacher, config) for teacher in result.teachers),
        f"- Students (plain and distilled): DMLP, hidden size {result.hidden_size}; Adam lr "
        f"{plans['mlp'].lr:g} halved every epoch from the third, at most {plans['mlp'].epochs} "
        f"epochs, batch {plans['mlp'].batch_size}, early stopping on validation MSE with "
        f"patience {plans['mlp'].patience}, best epoch restored. {_weights_setup(result)}",
        f"- DLinear: kernel 25, shared weights across channels; lr {plans['dlinear'].lr:g}, "
        f"otherwise the students' plan.",
        "- Epochs cap (`--epochs`): "
        + ("none (the reference's maxima)" if config.epochs is None else str(config.epochs))
        + (
            ""
            if config.teacher_epochs is None
            else f"; teachers' cap (`--teacher-epochs`): {config.teacher_epochs}"
        )
        + ".",
        "",
        "MSE and MAE are on the standardized scale, averaged over every test window and "
        "channel; `val MSE` likewise over every validation window. Latency is the median of "
        f"{config.latency_runs} timed forward passes (after {config.warmup_runs} untimed ones) "
        f"on the same batch of {config.latency_batch} test windows for every model. Parameters "
        "are those used at inference (the distilled student's feature regressor only serves "
        "training). `cache s` is the time the distilled student spent computing the teachers' "
        "outputs for its training windows, included in its `train s`; when the weights are "
        "chosen on validation, both are those of the whole search.",
        "",
        "## Results",
        "",
    ]
    lines += _markdown_table(HEADER, [_cells(row) for row in result.rows()])
    lines += ["", "Averaged over the horizons run:", ""]
    lines += _markdown_table(
        ["role", "model", "MSE", "MAE", "val MSE"],
        [
            [a["label"], a["model"], f"{a['mse']:.4f}", f"{a['mae']:.4f}", f"{a['val_mse']:.4f}"]
            for a in result.averages()
        ],
    )
    lines += ["", "## Distillation weights", ""]
    lines += [f"- {line}" for line in weight_lines(result)]
    for run in result.runs:
        if run.candidates:
            lines += [
                "",
                f"Candidates at H={run.horizon}, each a student fitted on the training split "
                "and scored on every validation window (the test split is not looked at); the "
                "lowest validation MSE is chosen, the earlier on a tie. The teachers' outputs "
                "for the training windows are computed during the first distilled fit and "
                "reused by the others (their `cache s` is one window's forecast, by which the "
                "library checks that the teachers are unchanged).",
                "",
                *_candidate_table(run),
            ]
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
            f"Spectra of the test forecasts, H={horizon}: the mean rFFT amplitude per period "
            "and the period distribution that the multi-period term matches (its softmax at "
            "temperature 0.5), both on a log scale, the truth's leading periods named:",
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

    Examples
    --------
    >>> from pathlib import Path
    >>> from tsdistill_plugin.benchmark import BenchmarkConfig, run_benchmark, write_outputs
    >>> paths = write_outputs(run_benchmark(BenchmarkConfig()), Path("report"))  # doctest: +SKIP
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
