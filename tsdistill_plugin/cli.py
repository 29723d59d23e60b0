"""The ``tsdistill`` command line (also ``python -m tsdistill_plugin``).

``tsdistill benchmark`` runs the TimeDistill experiment (teacher, plain MLP, distilled MLP,
DLinear) on a data set, prints a table and writes a Markdown report, PNG figures and
``results.json`` to ``--out``. Run with no arguments it uses the weekly Mauna Loa CO2 series
shipped with statsmodels and needs no download.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from .backends import BACKENDS
from .backends.reference import TEACHERS
from .export import cli as export_cli


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tsdistill``."""
    parser = argparse.ArgumentParser(
        prog="tsdistill", description="TimeDistill for Darts and NeuralForecast."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    bench = commands.add_parser(
        "benchmark",
        help="train teacher, plain MLP, distilled MLP and DLinear; report test metrics",
        description=(
            "Train the teacher, the plain MLP student, the distilled MLP student and DLinear on "
            "a data set with the standard splits, and report test MSE/MAE (standardized), "
            "parameters, latency and training time. Defaults follow the TimeDistill reference."
        ),
    )
    bench.add_argument(
        "--dataset",
        default="co2",
        help="co2 (default, ships with statsmodels), ETTh1, ETTh2, ETTm1, ETTm2, weather, "
        "exchange_rate, national_illness, electricity, traffic, or a CSV path with a 'date' "
        "column",
    )
    bench.add_argument(
        "--data-dir",
        help="folder holding the data set files (searched before $TSDISTILL_DATA and the cache)",
    )
    bench.add_argument("--backend", choices=sorted(BACKENDS), default="darts")
    bench.add_argument(
        "--lookback", type=_positive_int, help="input length (default: 720; co2: 104)"
    )
    bench.add_argument(
        "--horizon",
        type=_positive_int,
        nargs="+",
        help="one or several forecast lengths (default: 96; co2: 52)",
    )
    bench.add_argument(
        "--teacher",
        type=str.lower,
        help=f"teacher architecture: {', '.join(TEACHERS)} (default: itransformer; co2: tide)",
    )
    bench.add_argument("--alpha", type=float, help="prediction-level weight (default: reference)")
    bench.add_argument("--beta", type=float, help="feature-level weight (default: reference)")
    bench.add_argument(
        "--epochs",
        type=_positive_int,
        help="cap on every model's epochs (default: the reference's, e.g. 100 for students)",
    )
    bench.add_argument(
        "--teacher-epochs",
        type=_positive_int,
        help="cap on the teacher's epochs alone (default: --epochs)",
    )
    bench.add_argument("--seed", type=int, default=2021)
    bench.add_argument(
        "--device", default="cpu", choices=["cpu", "cuda", "mps", "auto"], help="default: cpu"
    )
    bench.add_argument(
        "--hidden-size",
        type=_positive_int,
        help="student width (default: the reference's, 512; smaller is faster)",
    )
    bench.add_argument(
        "--latency-batch", type=_positive_int, default=32, help="windows per timed batch"
    )
    bench.add_argument(
        "--onnx",
        action="store_true",
        help="also export the students with torch.onnx and time them with onnxruntime",
    )
    bench.add_argument(
        "--threads",
        type=_positive_int,
        default=1,
        help="torch intra-op threads (default 1: the models are small, and on a machine shared "
        "with other jobs more threads mostly wait for each other)",
    )
    bench.add_argument("--out", type=Path, default=Path("tsdistill-report"), help="output folder")
    bench.add_argument("-v", "--verbose", action="store_true", help="log training progress")
    export_cli.register(commands)
    return parser


def _quiet_libraries() -> None:
    for name in ("pytorch_lightning", "lightning_fabric", "lightning", "darts", "neuralforecast"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="pytorch_lightning")
    warnings.filterwarnings("ignore", module="lightning_fabric")
    warnings.filterwarnings("ignore", message=".*pin_memory.*")


def benchmark(args: argparse.Namespace, command: str) -> int:
    """Run ``tsdistill benchmark`` with parsed arguments; returns the exit status."""
    from .benchmark import BenchmarkConfig, run_benchmark
    from .report import console_table, write_outputs

    config = BenchmarkConfig(
        dataset=args.dataset,
        data_dir=args.data_dir,
        backend=args.backend,
        lookback=args.lookback,
        horizons=tuple(args.horizon) if args.horizon else None,
        teacher=args.teacher,
        alpha=args.alpha,
        beta=args.beta,
        epochs=args.epochs,
        teacher_epochs=args.teacher_epochs,
        seed=args.seed,
        device=args.device,
        hidden_size=args.hidden_size,
        latency_batch=args.latency_batch,
        onnx=args.onnx,
        threads=args.threads,
    )
    result = run_benchmark(config, command=command)
    print(console_table(result))
    paths = write_outputs(result, args.out)
    print(f"\nreport: {paths['report']}\nresults: {paths['json']}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tsdistill`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s: %(message)s",
    )
    if not args.verbose:
        _quiet_libraries()
    command = shlex.join(["tsdistill", *argv])
    try:
        if hasattr(args, "handler"):  # export, predict: tsdistill_plugin.export.cli
            return args.handler(args)
        return benchmark(args, command)
    except (ValueError, TypeError, FileNotFoundError) as error:
        print(f"tsdistill: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
