"""The transfer panel: does a clearly better teacher make a better student? (issue 17)

Each case is a data set, lookback, horizon and teacher where the teacher beats the plain MLP by
at least 10% on the validation split. Each runs ``tsdistill benchmark`` as a user would with
``--alpha auto --beta auto`` (the weights and the recipe chosen on validation, see
:mod:`tsdistill_plugin.benchmark.weights`) and prints, on the test split, the teacher's, the
plain MLP's and the distilled student's MSE (standardized scale), the candidate chosen, and the
fraction of the teacher's advantage the student keeps, ``(plain - distilled) / (plain -
teacher)``.

Run (the benchmark CSVs from ``$TSDISTILL_DATA`` or ``--data-dir``; CO2 ships with statsmodels,
El Nino is statsmodels' ``elnino`` written to a CSV in a temporary folder)::

    python benchmarks/transfer_panel.py [--backend darts] [--cases co2 ili ...] [--seed 2021]

The cases were chosen by their validation split alone (``--alpha 0 --beta 0`` runs of the same
command); their test splits were not looked at until the panel ran.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tsdistill_plugin.benchmark import BenchmarkConfig, run_benchmark  # noqa: E402
from tsdistill_plugin.benchmark.report import kept_fraction  # noqa: E402


@dataclass(frozen=True)
class Case:
    """One panel case: the benchmark's data set (name or CSV path), lengths and teacher."""

    name: str
    dataset: str
    lookback: int
    horizon: int
    teacher: str


def elnino_csv(folder: Path) -> str:
    """statsmodels' monthly El Nino sea surface temperatures (1950-2010) as a CSV in ``folder``."""
    import pandas as pd
    import statsmodels.api as sm

    wide = sm.datasets.elnino.load_pandas().data
    values = wide.iloc[:, 1:].to_numpy().ravel()
    dates = pd.date_range(f"{int(wide.YEAR.iloc[0])}-01-01", periods=len(values), freq="MS")
    path = folder / "elnino.csv"
    pd.DataFrame({"date": dates, "sst": values}).to_csv(path, index=False)
    return str(path)


def cases(folder: Path) -> dict[str, Case]:
    """The panel's cases by name (the El Nino CSV written to ``folder``)."""
    return {
        case.name: case
        for case in (
            Case("co2", "co2", 104, 52, "tide"),
            Case("ili", "national_illness", 36, 24, "tide"),
        )
    }


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
    chosen = next(
        c.setting for c in run.candidates if c.setting == (run.alpha, run.beta, run.recipe)
    )
    return (
        f"| {case.name} | {case.teacher} | {(plain.val_mse - teacher.val_mse) / plain.val_mse:.0%} "
        f"| {teacher.mse:.4f} | {plain.mse:.4f} | {student.mse:.4f} | {chosen} | "
        f"{'-' if kept is None else f'{kept:.0%}'} | {time.perf_counter() - started:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="darts", choices=["darts", "neuralforecast"])
    parser.add_argument("--cases", nargs="+", help="run only these cases (default: all)")
    parser.add_argument("--seed", type=int, default=2021)
    parser.add_argument("--data-dir", help="folder of the benchmark CSVs")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        panel = cases(Path(folder))
        chosen = [panel[name] for name in args.cases] if args.cases else list(panel.values())
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
