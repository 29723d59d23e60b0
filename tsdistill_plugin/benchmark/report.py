"""The benchmark's outputs: the console table, ``report.md`` and ``results.json``."""

from __future__ import annotations

import json
from pathlib import Path

from . import weights
from .backends.reference import AUTO, TeacherConfig
from .config import BenchmarkConfig
from .experiment import ROLE_NAMES, ROLES, BenchmarkResult, HorizonRun, ModelResult
from .serving import BUDGET_SECONDS, ServedLatency


def _optional(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _served(latency: ServedLatency | None) -> str:
    return "" if latency is None else f"{latency.one:.2f}/{latency.batch:.2f}"


def interval_name(quantiles: tuple[float, ...]) -> str:
    """The outermost interval of ``quantiles``, e.g. ``"10-90%"``."""
    return f"{100 * quantiles[0]:g}-{100 * quantiles[-1]:g}%"


def _cells(row: ModelResult, quantiles: tuple[float, ...] | None) -> list[str]:
    probabilistic = [] if quantiles is None else [
        _optional(row.quantile_loss, 4), _optional(row.coverage, 3)
    ]  # fmt: skip
    return [
        row.label,
        row.model,
        str(row.horizon),
        f"{row.mse:.4f}",
        f"{row.mae:.4f}",
        f"{row.val_mse:.4f}",
        *probabilistic,
        f"{row.params:,}",
        f"{row.latency_ms:.2f}",
        _served(row.predict_ms),
        _served(row.onnx_ms),
        f"{row.train_seconds:.1f}",
        "" if row.epochs is None else str(row.epochs),
        _optional(row.cache_seconds, 1),
    ]


def header(result: BenchmarkResult) -> list[str]:
    """The column names of the results table (the served columns: 1 window / a batch)."""
    config = result.config
    served = f"1/{config.latency_batch}"
    probabilistic = (
        [] if config.quantiles is None else ["MQL", f"{interval_name(config.quantiles)} cover"]
    )
    return [
        "role", "model", "H", "MSE", "MAE", "val MSE", *probabilistic, "params", "latency ms",
        f"predict ms {served}", f"ONNX ms {served}", "train s", "epochs", "cache s",
    ]  # fmt: skip


def result_rows(result: BenchmarkResult) -> list[list[str]]:
    """The cells of the results table, a row per model and horizon (see :func:`header`)."""
    return [_cells(row, result.config.quantiles) for row in result.rows()]


def _relative(new: float, old: float) -> str:
    return f"{100.0 * (new - old) / old:+.1f}%"


def _times(value: float, reference: float) -> str:
    if value <= reference:
        return f"{reference / value:.1f}x fewer"
    return f"{value / reference:.1f}x more"


def summary_lines(result: BenchmarkResult) -> list[str]:
    """Sentences per horizon comparing the distilled student with the other models.

    It is compared with the plain MLP, each teacher and DLinear, and its speed and size with
    the teachers' (together, when several: the student replaces them all); then the share of
    each teacher's advantage it keeps (:func:`kept_line`) and, when timed, its served speed
    (:func:`served_line`).
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
        lines += [kept_line(run.horizon, plain, student, teacher) for teacher in teachers]
        if "target_only" in by_key:
            alone = by_key["target_only"]
            lines.append(
                f"H={run.horizon}: reading the covariates, the distilled student's MSE is "
                f"{_relative(student.mse, alone.mse)} vs the distilled student that reads the "
                f"target alone ({alone.mse:.4f}), taught by the same teacher."
            )
        if student.quantile_loss is not None:
            lines.append(quantile_line(run.horizon, student, plain, teachers, result.config))
        if student.onnx_ms is not None:
            lines.append(served_line(run.horizon, student, teachers, result.config))
    return lines


def quantile_line(
    horizon: int,
    student: ModelResult,
    plain: ModelResult,
    teachers: list[ModelResult],
    config: BenchmarkConfig,
) -> str:
    """The distilled student's mean quantile loss and coverage against the others'."""
    interval = interval_name(config.quantiles)
    probabilistic = [t for t in teachers if t.quantile_loss is not None]
    versus = "".join(
        f", {_relative(student.quantile_loss, t.quantile_loss)} vs the {t.label} "
        f"({t.quantile_loss:.4f})"
        for t in probabilistic
    )
    covered = "".join(f", the {t.label} {t.coverage:.3f}" for t in probabilistic)
    point = [t.label for t in teachers if t.quantile_loss is None]
    taught = f" ({', '.join(point)}: point forecasts, the median taught)" if point else ""
    return (
        f"H={horizon}: distilled mean quantile loss {student.quantile_loss:.4f} is "
        f"{_relative(student.quantile_loss, plain.quantile_loss)} vs the plain MLP "
        f"({plain.quantile_loss:.4f}){versus}; {interval} interval coverage: distilled "
        f"{student.coverage:.3f}, plain {plain.coverage:.3f}{covered}{taught}."
    )


def kept_fraction(plain: float, distilled: float, teacher: float) -> float | None:
    """The share of the teacher's advantage the distilled student keeps.

    ``(plain - distilled) / (plain - teacher)`` of the three MSEs: 1 when the student is as
    good as the teacher, 0 when it is no better than the plain MLP, negative when worse;
    ``None`` when the teacher is not better than the plain MLP (no advantage to keep).

    Examples
    --------
    >>> from tsdistill_plugin.benchmark.report import kept_fraction
    >>> round(kept_fraction(plain=0.0061, distilled=0.0053, teacher=0.0045), 3)
    0.5
    >>> kept_fraction(plain=0.0040, distilled=0.0039, teacher=0.0045) is None
    True
    """
    if not plain > teacher:
        return None
    return (plain - distilled) / (plain - teacher)


def kept_line(horizon: int, plain: ModelResult, student: ModelResult, teacher: ModelResult) -> str:
    """How much of ``teacher``'s test-MSE advantage over the plain MLP the student keeps."""
    fraction = kept_fraction(plain.mse, student.mse, teacher.mse)
    if fraction is None:
        return (
            f"H={horizon}: the {teacher.label} is no better than the plain MLP "
            f"(MSE {teacher.mse:.4f} vs {plain.mse:.4f}): it has no advantage for the student "
            "to keep."
        )
    return (
        f"H={horizon}: the distilled student keeps {100.0 * fraction:.0f}% of the "
        f"{teacher.label}'s advantage over the plain MLP: (plain - distilled) / (plain - "
        f"teacher) = ({plain.mse:.4f} - {student.mse:.4f}) / ({plain.mse:.4f} - "
        f"{teacher.mse:.4f})."
    )


def served_line(
    horizon: int, student: ModelResult, teachers: list[ModelResult], config: BenchmarkConfig
) -> str:
    """The served student's speed against the teachers and itself through their libraries.

    For one window and a batch of ``config.latency_batch``: the distilled student exported by
    ``to_onnx`` and run by ``Predictor``, against each library's ``predict`` (the teachers'
    together when several).
    """
    served = student.onnx_ms
    batch = config.latency_batch

    def against(what: str, one: float, many: float) -> str:
        return (
            f"{one / served.one:.0f}x and {many / served.batch:.0f}x as fast as {what} "
            f"({one:.2f} and {many:.2f} ms)"
        )

    comparisons = []
    timed = [t for t in teachers if t.predict_ms is not None]
    if timed:
        whom = (
            f"the {timed[0].label} through its library's predict"
            if len(timed) == 1
            else f"the {len(timed)} teachers together through their libraries' predict"
        )
        one = sum(t.predict_ms.one for t in timed)
        many = sum(t.predict_ms.batch for t in timed)
        comparisons.append(against(whom, one, many))
    if student.predict_ms is not None:
        own = student.predict_ms
        what = f"its own {student.model} through the library's predict"
        comparisons.append(against(what, own.one, own.batch))
    return (
        f"H={horizon}: served, the distilled student exported by to_onnx forecasts one window "
        f"in {served.one:.3f} ms and {batch} in {served.batch:.3f} ms through Predictor "
        f"(ONNX Runtime on the CPU, {_threads(config)}): " + ", and ".join(comparisons) + "."
    )


def _threads(config: BenchmarkConfig) -> str:
    if config.threads is None:
        return "ONNX Runtime's default threads"
    return f"{config.threads} thread{'s' if config.threads > 1 else ''}"


def _setting(run: HorizonRun) -> str:
    return weights.Setting(run.alpha, run.beta, run.recipe).label


def weight_lines(result: BenchmarkResult) -> list[str]:
    """Per horizon, the distillation weights used and, when chosen on validation, why.

    The why is every candidate's validation MSE (mean quantile loss in a quantile run); with
    several teachers, their weights.
    """
    lines = []
    names = ", ".join(result.config.teacher)
    for run in result.runs:
        if run.candidates:
            tried = "; ".join(f"{c.setting} {c.val_loss:.4f}" for c in run.candidates)
            lines.append(
                f"H={run.horizon}: {_setting(run)} chosen: the lowest validation "
                f"{weights.measure(result.config.quantiles)} of the "
                f"candidates (alpha, beta) {tried}; (0, 0) is no distillation."
            )
        else:
            lines.append(f"H={run.horizon}: {_setting(run)} (given).")
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
    rows = [header(result), *result_rows(result)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    text.insert(1, "  ".join("-" * w for w in widths))
    text.append("")
    text.append("average over horizons " + str([run.horizon for run in result.runs]) + ":")
    for avg in result.averages():
        quantile = (
            ""
            if avg["quantile_loss"] is None
            else f"  MQL {avg['quantile_loss']:.4f}  cover {avg['coverage']:.3f}"
        )
        text.append(f"  {avg['label']:<28} MSE {avg['mse']:.4f}  MAE {avg['mae']:.4f}{quantile}")
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


def _quantile_setup(config: BenchmarkConfig) -> str:
    """What a quantile run measures."""
    levels = ", ".join(f"{q:g}" for q in config.quantiles)
    return (
        f"Quantile run (`--quantiles {' '.join(f'{q:g}' for q in config.quantiles)}`): the "
        f"teachers and students forecast the levels {levels} (Darts' `QuantileRegression`, "
        "NeuralForecast's `MQLoss`; a zero-shot foundation model its own quantile head), "
        "trained and early-stopped on the quantile loss; DLinear stays a point forecaster. "
        "MSE and MAE are the median's; `MQL` is the mean quantile (pinball) loss over the "
        f"levels, steps, channels and test windows, `{interval_name(config.quantiles)} cover` "
        "the share of true test values inside the outermost interval. A point teacher teaches "
        "the students' median only."
    )


def _covariate_setup(result: BenchmarkResult) -> str:
    """Which covariates a covariate run reads, and how its models are evaluated and timed."""
    config = result.config
    options = {
        "past_covariates": config.past_covariates,
        "future_covariates": config.future_covariates,
    }
    read = "; ".join(
        f"{name.replace('_', ' ')} (`--{name.replace('_', '-')} {options[name]}`): "
        f"{', '.join(columns)}"
        for name, columns in result.covariates.items()
    )
    width = (
        "flat (each covariate value a weight per hidden unit)"
        if config.covariate_width is None
        else f"`--covariate-width {config.covariate_width}` (each step's covariates projected "
        f"to {config.covariate_width} feature{'s' if config.covariate_width > 1 else ''} first)"
    )
    return (
        f"Covariate run: {read}; the covariate students' projection {width}. The past "
        "covariates are standardized with the training split's statistics; the calendar "
        "features are sines and cosines. Every model reads "
        "them (the teacher those it supports; DLinear with weights per input, as Darts' DLinear "
        f"reads covariates), except `{ROLE_NAMES['target_only']}`, distilled from the same "
        "teacher with the weights chosen for the distilled student, which reads the target "
        "alone. The teacher gives no features (its library forecasts its training windows "
        "with their covariates), so beta is 0. Every model forecasts the validation and test "
        "windows through Darts' `predict`, one series per window with its covariates; its "
        "`latency ms` is that forecast of the timed batch, the series built from the window "
        "arrays included (the models read covariates, so there is no forward pass on target "
        "windows alone)."
    )


def _served_setup(config: BenchmarkConfig) -> str:
    """What the served columns measure."""
    return (
        f"Served latency, `predict ms 1/{config.latency_batch}`: one call of the model's "
        "library `predict` (Darts' `predict`, `NeuralForecast.predict`; a multivariate "
        "NeuralForecast model is called once per window), its input built beforehand, for "
        f"one test window and for {config.latency_batch}; `ONNX ms` the same for the student "
        "exported with `tsdistill_plugin.export.to_onnx` and run by `Predictor.predict` "
        f"(ONNX Runtime on the CPU, {_threads(config)}). Each is the median of up to "
        f"{config.latency_runs} calls taking turns, within {BUDGET_SECONDS:g} s per batch "
        "size, after one untimed call."
    )


def _candidate_table(run: HorizonRun, config: BenchmarkConfig) -> list[str]:
    rows = [
        [
            f"{c.alpha:g}",
            f"{c.beta:g}",
            c.recipe,
            f"{c.val_loss:.4f}",
            "" if c.epochs is None else str(c.epochs),
            f"{c.train_seconds:.1f}",
            f"{c.cache_seconds:.1f}" if c.distils else "",
            "chosen" if c.setting == (run.alpha, run.beta, run.recipe) else "",
        ]
        for c in run.candidates
    ]
    measure = "val MSE" if config.quantiles is None else "val MQL"
    header = ["alpha", "beta", "recipe", measure, "epochs", "train s", "cache s", ""]
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
        f"channel{'s' if dataset.n_channels > 1 else ''}"
        f"{'' if config.target is None else ' (--target ' + ', '.join(config.target) + ')'}; "
        "splits train / val / test = "
        f"{sizes['train']} / {sizes['val']} / {sizes['test']} rows, standardized with "
        "the training split's mean and standard deviation; validation and test windows start "
        "`lookback` steps before their split, stride 1, none dropped.",
        f"- Backend: {config.backend}; device {result.device}; seed {config.seed}.",
        f"- Teacher{'s, each fitted once and measured on its own' if several else ''}:",
        *(_teacher_line(teacher, config) for teacher in result.teachers),
        f"- Students (plain and distilled): DMLP, hidden size {result.hidden_size}; Adam lr "
        f"{plans['mlp'].lr:g} halved every epoch from the third, at most {plans['mlp'].epochs} "
        f"epochs, batch {plans['mlp'].batch_size}, early stopping on validation "
        f"{'MSE' if config.quantiles is None else 'quantile loss'} with "
        f"patience {plans['mlp'].patience}, best epoch restored. {_weights_setup(result)}",
        f"- DLinear: kernel 25, "
        f"{'weights per input' if result.covariates else 'shared weights across channels'}; "
        f"lr {plans['dlinear'].lr:g}, otherwise the students' plan.",
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
        f"{config.latency_runs} timed {'forecasts' if result.covariates else 'forward passes'} "
        f"(after {config.warmup_runs} untimed ones) of the same batch of "
        f"{config.latency_batch} test windows for every model"
        f"{' (through Darts, see the covariate run below)' if result.covariates else ''}. "
        "Parameters "
        "are those used at inference (the distilled student's feature regressor only serves "
        "training). `cache s` is the time the distilled student spent computing the teachers' "
        "outputs for its training windows, included in its `train s`; when the weights are "
        "chosen on validation, both are those of the whole search.",
        *([] if config.quantiles is None else ["", _quantile_setup(config)]),
        *([] if not result.covariates else ["", _covariate_setup(result)]),
        *([] if not config.onnx else ["", _served_setup(config)]),
        "",
        "## Results",
        "",
    ]
    lines += _markdown_table(header(result), result_rows(result))
    lines += ["", "Averaged over the horizons run:", ""]
    averaged = ["role", "model", "MSE", "MAE", "val MSE"]
    if config.quantiles is not None:
        averaged += ["MQL", f"{interval_name(config.quantiles)} cover"]
    lines += _markdown_table(
        averaged,
        [
            [a["label"], a["model"], f"{a['mse']:.4f}", f"{a['mae']:.4f}", f"{a['val_mse']:.4f}"]
            + (
                []
                if config.quantiles is None
                else [_optional(a["quantile_loss"], 4), _optional(a["coverage"], 3)]
            )
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
                f"lowest validation {weights.measure(config.quantiles)} is chosen, the earlier "
                "on a tie. "
                "The teachers' outputs for the training windows are computed during the first "
                "distilled fit and reused by the others (their `cache s` is one window's "
                "forecast, by which the library checks that the teachers are unchanged).",
                "",
                *_candidate_table(run, config),
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
