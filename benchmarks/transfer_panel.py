"""The transfer panel: does a clearly better teacher make a better student? (issue 17)

Each case is a data set, lookback, horizon and teacher where the teacher beats the plain MLP by
at least 10% on the validation split. Each runs ``tsdistill benchmark`` as a user would with
``--alpha auto --beta auto`` (the weights and the recipe chosen on validation, see
:mod:`tsdistill_plugin.benchmark.weights`) and prints, on the test split, the teacher's, the
plain MLP's and the distilled student's MSE (standardized scale), the candidate chosen, and the
fraction of the teacher's advantage the student keeps, ``(plain - distilled) / (plain -
teacher)``.

Run (the benchmark CSVs from ``$TSDISTILL_DATA`` or ``--data-dir``)::

    python benchmarks/transfer_panel.py [--backend darts] [--cases co2-tide ...] [--seed 2021]

The cases were chosen by the teacher's advantage on the validation split alone, from runs of
the same command with ``--alpha 0 --beta 0`` over the shared data sets and statsmodels' series
(``docs/teachers.md`` lists those that fell short of 10%).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tsdistill_plugin.benchmark import BenchmarkConfig, run_benchmark  # noqa: E402
from tsdistill_plugin.benchmark.report import kept_fraction  # noqa: E402
from tsdistill_plugin.benchmark.weights import Setting  # noqa: E402


@dataclass(frozen=True)
class Case:
    """One panel case: the benchmark's data set (name or CSV path), lengths and teacher."""

    name: str
    dataset: str
    lookback: int
    horizon: int
    teacher: str


CASES: dict[str, Case] = {
    case.name: case
    for case in (
        Case("co2-tide", "co2", 104, 52, "tide"),
        Case("ili-tide", "national_illness", 36, 24, "tide"),
        Case("ili-nhits", "national_illness", 36, 24, "nhits"),
        Case("ili-tide-h36", "national_illness", 36, 36, "tide"),
    )
}
"""The cases, by name. CO2 ships with statsmodels; ILI (``national_illness``, weekly, 7
channels) is the benchmark CSV."""


def run_case(case: Case, backend: str, seed: int, data_dir: str | None) -> str:
    """One case through ``run_benchmark``; its line of the panel."""
    config = BenchmarkConfig(
        dataset=case.dataset,
        data_dir=data_dir,
        backend=backend,
        lookback=case.lookback,
        horizons=(case.horizon,),
        teacher=(case.teacher,),
        alpha="auto",
        beta="auto",
        seed=seed,
        onnx=False,
        latency_runs=1,
        warmup_runs=0,
    )
    started = time.perf_counter()
    result = run_benchmark(config)
    (run,) = result.runs
    rows = {row.key: row for row in run.results}
    teacher, plain, student = rows[f"teacher:{case.teacher}"], rows["mlp"], rows["distilled"]
    kept = kept_fraction(plain.mse, student.mse, teacher.mse)
    chosen = Setting(run.alpha, run.beta, run.recipe)
    return (
        f"| {case.name} | {case.teacher} | {(plain.val_mse - teacher.val_mse) / plain.val_mse:.0%} "
        f"| {teacher.mse:.4f} | {plain.mse:.4f} | {student.mse:.4f} | {chosen} | "
        f"{'-' if kept is None else f'{kept:.0%}'} | {time.perf_counter() - started:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="darts", choices=["darts", "neuralforecast"])
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), help="default: all")
    parser.add_argument("--seed", type=int, default=2021)
    parser.add_argument("--data-dir", help="folder of the benchmark CSVs")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    started = time.perf_counter()
    chosen = [CASES[name] for name in args.cases] if args.cases else list(CASES.values())
    print(
        f"backend {args.backend}, seed {args.seed}; test MSE (standardized); kept = (plain - "
        "distilled) / (plain - teacher)\n\n| case | teacher | teacher's val advantage | "
        "teacher | plain MLP | distilled | chosen (alpha, beta, recipe) | kept | s |\n"
        "|---|---|---|---|---|---|---|---|---|",
        flush=True,
    )
    for case in chosen:
        print(run_case(case, args.backend, args.seed, args.data_dir), flush=True)
    print(f"\npanel wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
