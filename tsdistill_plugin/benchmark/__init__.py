"""The TimeDistill experiment, apart from the library: data sets and their splits, one backend
per library, the run, its report and figures, and the ``tsdistill benchmark`` command.

Nothing in :mod:`tsdistill_plugin.darts` or :mod:`tsdistill_plugin.neuralforecast` imports this
package.

>>> from tsdistill_plugin.benchmark import BenchmarkConfig, run_benchmark, write_outputs
>>> result = run_benchmark(BenchmarkConfig(dataset="ETTh1", horizons=(96,)))  # doctest: +SKIP
>>> write_outputs(result, Path("report"))  # doctest: +SKIP
"""

from .config import BenchmarkConfig
from .data import Dataset, DatasetNotFoundError, load_dataset
from .experiment import BenchmarkResult, run_benchmark
from .progress import Progress
from .report import console_table, write_outputs

__all__ = [
    "BenchmarkConfig",
    "BenchmarkResult",
    "Dataset",
    "DatasetNotFoundError",
    "Progress",
    "console_table",
    "load_dataset",
    "run_benchmark",
    "write_outputs",
]
