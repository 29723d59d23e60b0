"""What a benchmark run does: :class:`BenchmarkConfig`.

Its fields are also the options of ``tsdistill benchmark``.

Each field's metadata holds its command-line help and the ``argparse`` keywords the option needs
(``type``, ``choices``, ``nargs``, and ``flag`` where the option is not ``--field-name``); the
parser is built from the fields (:func:`tsdistill_plugin.benchmark.cli.add_config_options`),
so every default is written once, here.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field
from typing import Any

from .backends import BACKENDS
from .backends.reference import AUTO, FOUNDATION_TEACHERS, TEACHERS
from .data import BUILTIN, DATASETS


def positive_int(text: str) -> int:
    """``argparse`` type of a positive integer option."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def distillation_weight(text: str) -> float | str:
    """``argparse`` type of ``--alpha``/``--beta``: a non-negative number or ``auto``."""
    if text.lower() == AUTO:
        return AUTO
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value < math.inf:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"expected a number >= 0 or 'auto', got {text}")
    return value


def _option(default: Any, help: str, **argparse_keywords: Any) -> Any:
    """A field with a default and its command-line description (see the module docstring)."""
    return field(default=default, metadata={"help": help, **argparse_keywords})


_DATASETS = ", ".join([BUILTIN, *(spec.name for spec in DATASETS.values())])


@dataclass(frozen=True)
class BenchmarkConfig:
    """What to run; ``None`` fields take the data set's or the reference's defaults.

    Attributes
    ----------
    dataset
        A data set name or a CSV path (see :func:`~tsdistill_plugin.benchmark.load_dataset`).
    data_dir
        Folder searched first for the data file.
    target
        Columns to forecast (e.g. ``("OT",)``: the univariate task on ETT's oil temperature);
        default every column.
    past_covariates, future_covariates
        Covariates the teacher and students read (:mod:`~tsdistill_plugin.benchmark.covariates`):
        ``"rest"``, the data set's columns outside ``target`` as past covariates; ``"calendar"``,
        calendar features of the timestamps as future covariates. ``None``: none (the target
        alone). A covariate run adds the distilled student that reads the target alone.
    covariate_width
        The covariate students' ``covariate_width``: each step's covariates projected to this
        many features first (``None``: the flat projection, the students' default).
    backend
        ``"darts"`` or ``"neuralforecast"``.
    lookback
        Input length (default: the data set's; 720 for the reference's data sets).
    horizons
        Forecast lengths, one experiment each (default: the data set's first standard horizon).
    teacher
        One or several of ``itransformer``, ``patchtst``, ``tide``, ``tsmixer``, ``nhits``
        (trained here) and Darts' foundation models ``chronos2``, ``timesfm2p5``, ...
        (zero-shot; see :data:`~tsdistill_plugin.benchmark.backends.reference.ALL_TEACHERS`).
        Several teachers teach one distilled student together; each is also measured on its
        own. Default: the data set's (see
        :func:`~tsdistill_plugin.benchmark.backends.reference.default_teacher`).
    teacher_weights
        How several teachers' forecasts are combined: ``"mean"`` or ``"validation"`` (weights
        fitted on the validation split; see :class:`~tsdistill_plugin.core.TeacherEnsemble`).
    teacher_dir
        Folder with a foundation model's weights (Darts' ``local_dir``); by default they come
        from the model hub.
    accept_license
        Accept the license of a foundation model that asks for it (TimesFM 3, TiRex).
    alpha, beta
        Distillation weights, or ``"auto"``: chosen on the validation split among a small grid
        that includes no distillation (see :mod:`~tsdistill_plugin.benchmark.weights`).
        Default: the reference's per data set; ``auto`` for ``co2``.
    quantiles
        Quantile levels (strictly increasing in (0, 1), 0.5 among them) that the teachers and
        students forecast: adds each one's mean quantile loss and the coverage of the outermost
        interval, and the weights are chosen on the validation quantile loss. ``None``: point
        forecasts.
    epochs
        Cap on every model's maximum epochs (default: the reference's plans uncapped).
    teacher_epochs
        Cap on the teacher's epochs alone (default: ``epochs``).
    seed
        Random seed of every model.
    device
        Lightning accelerator: ``"auto"`` (a GPU where there is one), ``"cpu"``, ``"cuda"`` or
        ``"mps"``. Evaluation and timing run on the device the models trained on.
    hidden_size
        Student width (default: the reference's per data set, 512).
    latency_batch, latency_runs, warmup_runs
        Windows per timed forward pass, timed runs (the median is reported) and untimed ones
        before them.
    eval_batch
        Windows per forward pass when computing the test metrics.
    onnx
        Export the students with :func:`~tsdistill_plugin.export.to_onnx` and time them
        through :class:`~tsdistill_plugin.export.Predictor`, beside the teachers and students
        through their library's ``predict``, for one window and ``latency_batch`` windows
        (``--no-onnx``: skip; see :mod:`~tsdistill_plugin.benchmark.serving`).
    threads
        Torch intra-op threads for training and inference (``None``: torch's own choice). 1 by
        default: the models are small, and on a machine shared with other jobs more threads
        mostly wait for each other.

    Examples
    --------
    >>> from tsdistill_plugin.benchmark import BenchmarkConfig
    >>> BenchmarkConfig().dataset, BenchmarkConfig().backend, BenchmarkConfig().seed
    ('co2', 'darts', 2021)
    >>> config = BenchmarkConfig(dataset="ETTh1", horizons=(96, 192), teacher=("itransformer",))
    >>> config.horizons, config.teacher
    ((96, 192), ('itransformer',))
    """

    dataset: str = _option(
        "co2",
        f"{_DATASETS}, or a CSV path with a 'date' column; co2 ships with statsmodels",
    )
    data_dir: str | None = _option(
        None, "folder holding the data set files (searched before $TSDISTILL_DATA and the cache)"
    )
    target: tuple[str, ...] | None = _option(
        None, "columns to forecast, e.g. OT (default: every column)", nargs="+"
    )
    past_covariates: str | None = _option(
        None,
        "past covariates of the teacher and students: rest, the columns outside --target "
        "(the ETT 'MS' task with --target OT; default: none)",
        choices=["rest"],
    )
    future_covariates: str | None = _option(
        None,
        "future covariates of the teacher and students: calendar, features of the timestamps "
        "(hour, day of week, month as sine and cosine; default: none)",
        choices=["calendar"],
    )
    covariate_width: int | None = _option(
        None,
        "the covariate students' covariate_width: each step's covariates projected to this "
        "many features first (default: the flat projection)",
        type=positive_int,
    )
    backend: str = _option("darts", "library that trains the models", choices=sorted(BACKENDS))
    lookback: int | None = _option(None, "input length (default: 720; co2: 104)", type=positive_int)
    horizons: tuple[int, ...] | None = _option(
        None,
        "one or several forecast lengths (default: 96; co2: 52)",
        flag="--horizon",
        metavar="HORIZON",
        type=positive_int,
        nargs="+",
    )
    teacher: tuple[str, ...] | None = _option(
        None,
        f"one or several teachers: {', '.join(TEACHERS)}, or the foundation models "
        f"{', '.join(FOUNDATION_TEACHERS)} (zero-shot); several teach one student together "
        "(default: itransformer; co2: tide)",
        type=str.lower,
        nargs="+",
    )
    teacher_weights: str = _option(
        "mean",
        "how several teachers' forecasts are combined: their mean, or weights fitted on the "
        "validation split",
        choices=["mean", "validation"],
    )
    teacher_dir: str | None = _option(
        None, "folder with a foundation teacher's weights (default: from the model hub)"
    )
    accept_license: bool = _option(
        False, "accept the license of a foundation teacher that asks for it (timesfm3, tirex)"
    )
    alpha: float | str | None = _option(
        None,
        "prediction-level weight, or auto: chosen on the validation split (default: the "
        "reference's; co2: auto)",
        type=distillation_weight,
    )
    beta: float | str | None = _option(
        None,
        "feature-level weight, or auto (default: the reference's; co2: auto)",
        type=distillation_weight,
    )
    quantiles: tuple[float, ...] | None = _option(
        None,
        "quantile levels, e.g. 0.1 0.5 0.9 (0.5 among them): teachers and students forecast "
        "them, and the report adds the mean quantile loss and the coverage of the outermost "
        "interval (default: point forecasts)",
        type=float,
        nargs="+",
    )
    epochs: int | None = _option(
        None,
        "cap on every model's epochs (default: the reference's, e.g. 100 for students)",
        type=positive_int,
    )
    teacher_epochs: int | None = _option(
        None, "cap on the teacher's epochs alone (default: --epochs)", type=positive_int
    )
    seed: int = _option(2021, "random seed of every model", type=int)
    device: str = _option(
        "auto",
        "where to train, evaluate and time the models; auto takes a GPU where there is one",
        choices=["auto", "cpu", "cuda", "mps"],
    )
    hidden_size: int | None = _option(
        None,
        "student width (default: the reference's, 512; smaller is faster)",
        type=positive_int,
    )
    latency_batch: int = _option(32, "windows per timed batch", type=positive_int)
    latency_runs: int = _option(
        30, "timed forward passes per model (the median is reported)", type=positive_int
    )
    warmup_runs: int = _option(5, "untimed forward passes before them", type=int)
    eval_batch: int = _option(
        512, "windows per forward pass when computing the test metrics", type=positive_int
    )
    onnx: bool = _option(
        True,
        "export the students with to_onnx and time them through Predictor (ONNX Runtime), "
        "beside the teachers and students through their library's predict (--no-onnx: skip)",
    )
    threads: int | None = _option(
        1,
        "torch intra-op threads (the models are small, and on a machine shared with other "
        "jobs more threads mostly wait for each other)",
        type=positive_int,
    )

    def __post_init__(self) -> None:
        for name in ("target", "horizons", "quantiles"):  # lists from the command line
            if getattr(self, name) is not None:
                object.__setattr__(self, name, tuple(getattr(self, name)))
        if isinstance(self.teacher, str):  # one teacher, named in Python
            object.__setattr__(self, "teacher", (self.teacher,))
        elif self.teacher is not None:
            object.__setattr__(self, "teacher", tuple(self.teacher))
