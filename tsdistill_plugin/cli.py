"""The ``tsdistill`` command line (also ``python -m tsdistill_plugin``).

A thin dispatcher: each feature's ``cli`` module has a ``register(commands)`` function that adds
its subcommands to ``commands`` (the parser's subparsers) and gives each one its handler,
``handler(args, command) -> exit status``, with ``parser.set_defaults(handler=...)``. Adding a
feature is adding its module to :func:`build_parser`.
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tsdistill`` with every feature's subcommands."""
    parser = argparse.ArgumentParser(
        prog="tsdistill", description="TimeDistill for Darts and NeuralForecast."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in ("tsdistill_plugin.benchmark.cli", "tsdistill_plugin.export.cli"):
        importlib.import_module(module).register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tsdistill`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.handler(args, shlex.join(["tsdistill", *argv]))
    except (ValueError, FileNotFoundError) as error:
        print(f"tsdistill: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
