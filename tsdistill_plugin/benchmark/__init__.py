"""The TimeDistill experiment, kept apart from the library.

Data sets and their splits, one backend per library, the run, its report and figures, and the
``tsdistill benchmark`` command.

Nothing in :mod:`tsdistill_plugin.darts` or :mod:`tsdistill_plugin.neuralforecast` imports this
package.

>>> from tsdistill_plugin.benchmark import BenchmarkConfig, run_benchmark, write_outputs
>>> result = run_benchmark(BenchmarkConfig(dataset="ETTh1", horizons=(96,)))  # doctest: +SKIP
>>> write_outputs(result, Path("report"))  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "BenchmarkConfig": "config",
    "BenchmarkResult": "experiment",
    "Dataset": "data",
    "DatasetNotFoundError": "data",
    "Progress": "progress",
    "console_table": "report",
    "load_dataset": "data",
    "run_benchmark": "experiment",
    "write_outputs": "report",
}
"""Public names and their modules, imported on first use: the ``tsdistill`` command builds its
parser from the config without loading torch, the libraries or the experiment."""

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
