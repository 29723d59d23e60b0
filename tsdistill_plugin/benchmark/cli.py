"""``tsdistill benchmark``: its options, derived from :class:`BenchmarkConfig`, and its run.

It trains the teacher, the plain MLP student, the distilled MLP student and DLinear on a data
set, prints a table and writes a Markdown report, PNG figures and ``results.json`` to ``--out``.
Run with no options it uses the weekly Mauna Loa CO2 series shipped with statsmodels and needs
no download.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import warnings
from pathlib import Path

from .config import BenchmarkConfig


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """One option per :class:`BenchmarkConfig` field, with the field's default and metadata.

    A boolean field is a flag (``--name``, and ``--no-name`` where it is on by default); a field
    with a default other than ``None`` says it in its help.
    """
    for item in dataclasses.fields(BenchmarkConfig):
        keywords = dict(item.metadata)
        flag = keywords.pop("flag", "--" + item.name.replace("_", "-"))
        if isinstance(item.default, bool):
            keywords["action"] = argparse.BooleanOptionalAction if item.default else "store_true"
        elif item.default is not None:
            keywords["help"] += " (default: %(default)s)"
        parser.add_argument(flag, dest=item.name, default=item.default, **keywords)


def config_from(args: argparse.Namespace) -> BenchmarkConfig:
    """The :class:`BenchmarkConfig` of parsed options."""
    fields = dataclasses.fields(BenchmarkConfig)
    return BenchmarkConfig(**{item.name: getattr(args, item.name) for item in fields})


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``benchmark`` subcommand to the ``tsdistill`` parser's ``commands``."""
    parser = commands.add_parser(
        "benchmark",
        help="train teacher, plain MLP, distilled MLP and DLinear; report test metrics",
        description=(
            "Train the teacher, the plain MLP student, the distilled MLP student and DLinear on "
            "a data set with the standard splits, and report test MSE/MAE (standardized), "
            "parameters, latency and training time. Defaults follow the TimeDistill reference."
        ),
    )
    add_config_options(parser)
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("tsdistill-report"),
        help="output folder (default: %(default)s)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log the libraries' training messages"
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="show no stages and progress bars (they go to standard error)",
    )
    parser.set_defaults(handler=run)


def _quiet_libraries() -> None:
    for name in ("pytorch_lightning", "lightning_fabric", "lightning", "darts", "neuralforecast"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="pytorch_lightning")
    warnings.filterwarnings("ignore", module="lightning_fabric")
    warnings.filterwarnings("ignore", message=".*pin_memory.*")


def run(args: argparse.Namespace, command: str) -> int:
    """Run ``tsdistill benchmark`` with parsed options; returns the exit status.

    Raises
    ------
    ValueError, FileNotFoundError
        Bad options or a missing data file (the dispatcher prints them).
    """
    from .experiment import run_benchmark
    from .progress import Progress
    from .report import console_table, write_outputs

    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s: %(message)s",
    )
    if not args.verbose:
        _quiet_libraries()
    if args.quiet:
        logging.getLogger("pooch").setLevel(logging.WARNING)  # "Downloading data from ..."
    result = run_benchmark(config_from(args), command, Progress(enabled=not args.quiet))
    print(console_table(result))
    paths = write_outputs(result, args.out)
    print(f"\nreport: {paths['report']}\nresults: {paths['json']}")
    return 0
