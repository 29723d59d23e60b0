"""The TimeDistill experiment: teacher, plain MLP, distilled MLP and DLinear on one data set.

For every horizon, :func:`run_benchmark` fits the four models with one backend (Darts or
NeuralForecast) on the training split, validating on the validation split, and measures on the
test split, identically for every model and library:

- MSE and MAE on the standardized scale over every stride-1 test window and channel (each
  window's forecast starts at its own step; none is dropped), per horizon and averaged;
- trainable parameters used at inference (a distilled student's feature regressor, which only
  serves training, is not counted);
- latency: median wall time of one forward pass on the same batch of test windows on the same
  device, over repeated runs after warm-up, the models taking turns so that a change of load
  on the machine affects them alike;
- training wall time, and for the distilled student the part spent computing the teacher's
  outputs for the training windows (``cache_seconds``).
"""

from __future__ import annotations

import functools
import logging
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .backends import get_backend
from .backends.base import (
    Backend,
    Fitted,
    Predictor,
    StudentSpec,
    Task,
    TimedTeacher,
    predictor,
    seed_everything,
    trainable_parameters,
)
from .backends.reference import (
    DLINEAR_LR,
    STUDENT_LR,
    TrainingPlan,
    default_teacher,
    student_settings,
    teacher_config,
)
from .core.losses import period_distribution
from .core.student import DMLP
from .data import Dataset, load_dataset
from .teachers import as_teacher

logger = logging.getLogger(__name__)

ROLES: tuple[str, ...] = ("teacher", "mlp", "distilled", "dlinear")
"""The models of the experiment, in the order they are trained and reported."""

N_EXAMPLES = 3
"""Test windows drawn in the forecast figure."""


@dataclass(frozen=True)
class BenchmarkConfig:
    """What to run; ``None`` fields take the data set's or the reference's defaults.

    Attributes
    ----------
    dataset
        A data set name or a CSV path (see :func:`~tsdistill_plugin.data.load_dataset`).
    data_dir
        Folder searched first for the data file.
    backend
        ``"darts"`` or ``"neuralforecast"``.
    lookback
        Input length (default: the data set's; 720 for the reference's data sets).
    horizons
        Forecast lengths, one experiment each (default: the data set's first standard horizon).
    teacher
        ``itransformer``, ``patchtst``, ``tide``, ``tsmixer`` or ``nhits`` (default: the
        data set's, see :func:`~tsdistill_plugin.backends.reference.default_teacher`).
    alpha, beta
        Distillation weights (default: the reference's per data set).
    epochs
        Cap on every model's maximum epochs (default: the reference's plans uncapped).
    teacher_epochs
        Cap on the teacher's epochs alone (default: ``epochs``).
    seed
        Random seed of every model.
    device
        Lightning accelerator: ``"cpu"``, ``"cuda"``, ``"mps"`` or ``"auto"``.
    hidden_size
        Student width (default: the reference's per data set, 512).
    latency_batch, latency_runs, warmup_runs
        Windows per timed forward pass, timed runs (the median is reported) and untimed ones
        before them.
    eval_batch
        Windows per forward pass when computing the test metrics.
    onnx
        Also export the students with ``torch.onnx`` and time them with ``onnxruntime``.
    threads
        Torch intra-op threads for training and inference (default: torch's own choice). On a
        machine shared with other jobs, 1 avoids threads spinning while they wait for a core.
    """

    dataset: str = "co2"
    data_dir: str | None = None
    backend: str = "darts"
    lookback: int | None = None
    horizons: tuple[int, ...] | None = None
    teacher: str | None = None
    alpha: float | None = None
    beta: float | None = None
    epochs: int | None = None
    teacher_epochs: int | None = None
    seed: int = 2021
    device: str = "cpu"
    hidden_size: int | None = None
    latency_batch: int = 32
    latency_runs: int = 30
    warmup_runs: int = 5
    eval_batch: int = 512
    onnx: bool = False
    threads: int | None = None


@dataclass
class ModelResult:
    """One model's figures at one horizon (the rows of ``results.json``)."""

    role: str
    model: str
    horizon: int
    mse: float
    mae: float
    params: int
    latency_ms: float
    train_seconds: float
    epochs: int | None = None
    cache_seconds: float | None = None
    onnx_latency_ms: float | None = None
    onnx_max_abs_diff: float | None = None


@dataclass
class HorizonRun:
    """Everything measured at one horizon.

    Attributes
    ----------
    horizon
        Forecast length.
    results
        One :class:`ModelResult` per role.
    examples
        Plot data: ``"index"`` (test window numbers), ``"history"`` ``[examples, time]``,
        ``"truth"`` ``[examples, horizon]`` and one ``[examples, horizon]`` array per role, all
        for the last channel.
    periods
        Mean period distribution over test windows and channels, ``[horizon // 2]`` per role
        and for ``"truth"`` (see :func:`~tsdistill_plugin.core.period_distribution`).
    """

    horizon: int
    results: list[ModelResult] = field(default_factory=list)
    examples: dict[str, np.ndarray] = field(default_factory=dict)
    periods: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class BenchmarkResult:
    """The resolved configuration and the measurements of every horizon."""

    dataset: Dataset
    config: BenchmarkConfig
    lookback: int
    alpha: float
    beta: float
    hidden_size: int
    teacher_arch: dict[str, Any]
    plans: dict[str, TrainingPlan]
    runs: list[HorizonRun]
    command: str = ""
    wall_seconds: float = 0.0

    def rows(self) -> list[ModelResult]:
        """Every model's results, horizon by horizon."""
        return [row for run in self.runs for row in run.results]

    def averages(self) -> list[dict[str, Any]]:
        """MSE and MAE of each role averaged over the horizons run."""
        out = []
        for role in ROLES:
            rows = [r for r in self.rows() if r.role == role]
            out.append(
                {
                    "role": role,
                    "model": rows[0].model,
                    "mse": statistics.fmean(r.mse for r in rows),
                    "mae": statistics.fmean(r.mae for r in rows),
                    "horizons": [r.horizon for r in rows],
                }
            )
        return out

    def to_json(self) -> dict[str, Any]:
        """The content of ``results.json``."""
        return {
            "dataset": self.dataset.name,
            "lookback": self.lookback,
            "backend": self.config.backend,
            "teacher": self.config.teacher,
            "seed": self.config.seed,
            "horizons": [run.horizon for run in self.runs],
            "alpha": self.alpha,
            "beta": self.beta,
            "hidden_size": self.hidden_size,
            "device": self.config.device,
            "epochs_cap": self.config.epochs,
            "teacher_epochs_cap": self.config.teacher_epochs,
            "command": self.command,
            "wall_seconds": self.wall_seconds,
            "splits": self.dataset.split_sizes(),
            "n_channels": self.dataset.n_channels,
            "teacher_arch": self.teacher_arch,
            "plans": {role: asdict(plan) for role, plan in self.plans.items()},
            "machine": {
                "platform": platform.platform(),
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
            },
            "results": [asdict(row) for row in self.rows()],
            "average": self.averages(),
        }


def resolve_plans(config: BenchmarkConfig, dataset: Dataset) -> dict[str, TrainingPlan]:
    """Training plans per role: the reference's, capped at ``config.epochs`` (the teacher's
    at ``config.teacher_epochs`` when given)."""
    settings = student_settings(dataset.name)
    student = TrainingPlan(lr=STUDENT_LR, epochs=settings.epochs, batch_size=settings.batch_size)
    teacher = teacher_config(config.teacher or default_teacher(dataset.name), dataset.name).plan
    plans = {
        "teacher": teacher,
        "mlp": student,
        "distilled": student,
        "dlinear": replace(student, lr=DLINEAR_LR),
    }
    caps = {"teacher": config.teacher_epochs or config.epochs}
    return {role: plan.capped(caps.get(role, config.epochs)) for role, plan in plans.items()}


def _interleaved_ms(
    functions: dict[str, Callable[[], object]], runs: int, warmup: int
) -> dict[str, float]:
    """Median wall time in ms of each function, timed in turns (one call of each per round) so
    that a load change on the machine affects every function alike."""
    for _ in range(warmup):
        for function in functions.values():
            function()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(runs):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: 1000.0 * statistics.median(values) for name, values in times.items()}


def _evaluate(
    forecast: Predictor,
    x: np.ndarray,
    y: np.ndarray,
    batch: int,
    device: torch.device,
) -> tuple[float, float, np.ndarray, np.ndarray]:
    """MSE, MAE, the mean period distribution and the forecasts of the example windows."""
    squared = absolute = 0.0
    period_sum: Tensor | None = None
    examples = _example_indices(len(x))
    picked = []
    for start in range(0, len(x), batch):
        xb = torch.from_numpy(np.ascontiguousarray(x[start : start + batch])).to(device)
        yb = torch.from_numpy(np.ascontiguousarray(y[start : start + batch])).to(device)
        prediction = forecast(xb).to(torch.float64)
        error = prediction - yb.to(torch.float64)
        squared += float(error.square().sum())
        absolute += float(error.abs().sum())
        periods = period_distribution(prediction, dim=1).sum(dim=(0, 2))
        period_sum = periods if period_sum is None else period_sum + periods
        picked += [
            prediction[i - start, :, -1].cpu() for i in examples if start <= i < start + batch
        ]
    count = y.size
    periods = (period_sum / (len(x) * y.shape[2])).cpu().numpy()
    return squared / count, absolute / count, periods, torch.stack(picked).numpy()


def _example_indices(n_windows: int) -> list[int]:
    return sorted({int(i) for i in np.linspace(0, n_windows - 1, N_EXAMPLES)})


def _truth_periods(y: np.ndarray, batch: int) -> np.ndarray:
    total = None
    for start in range(0, len(y), batch):
        yb = torch.from_numpy(np.ascontiguousarray(y[start : start + batch])).to(torch.float64)
        periods = period_distribution(yb, dim=1).sum(dim=(0, 2))
        total = periods if total is None else total + periods
    return (total / (len(y) * y.shape[2])).numpy()


class _DMLPForecast(nn.Module):
    """A DMLP returning only its forecast (what ONNX exports)."""

    def __init__(self, student: DMLP) -> None:
        super().__init__()
        self.student = student

    def forward(self, x: Tensor) -> Tensor:
        return self.student(x).prediction


def _onnx_session(
    module: nn.Module, batch: Tensor, reference: Tensor
) -> tuple[Callable[[], object], float] | None:
    """Export the DMLP inside ``module`` with ``torch.onnx`` and load it in ``onnxruntime``.

    Returns
    -------
    tuple or None
        A function running the session on ``batch`` and the largest absolute difference of its
        output from ``reference`` (PyTorch's forecast), or ``None`` when there is no DMLP.
    """
    import io

    import onnxruntime

    student = next((m for m in module.modules() if isinstance(m, DMLP)), None)
    if student is None:
        return None
    buffer = io.BytesIO()
    sample = batch.cpu().float()
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation and trace notes
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _DMLPForecast(student).eval(),
            (sample,),
            buffer,
            input_names=["x"],
            output_names=["forecast"],
            dynamic_axes={"x": {0: "batch"}, "forecast": {0: "batch"}},
            dynamo=False,
        )
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = onnxruntime.InferenceSession(
        buffer.getvalue(), options, providers=["CPUExecutionProvider"]
    )
    feed = {"x": sample.numpy()}
    diff = float(np.abs(session.run(None, feed)[0] - reference.cpu().numpy()).max())
    return (lambda: session.run(None, feed)), diff


def _measure(
    role: str,
    fitted: Fitted,
    backend: Backend,
    task: Task,
    config: BenchmarkConfig,
    test: tuple[np.ndarray, np.ndarray],
    run: HorizonRun,
) -> ModelResult:
    """Test metrics of one fitted model (latency is filled in by :func:`_time_models`)."""
    device = torch.device("cuda" if config.device == "cuda" else "cpu")
    x, y = test
    mse, mae, periods, examples = _evaluate(predictor(fitted), x, y, config.eval_batch, device)
    run.periods[role] = periods
    run.examples[role] = examples
    result = ModelResult(
        role=role,
        model=fitted.name,
        horizon=task.horizon,
        mse=mse,
        mae=mae,
        params=trainable_parameters(backend.module(fitted)),
        latency_ms=float("nan"),
        train_seconds=fitted.train_seconds,
        epochs=fitted.epochs,
        cache_seconds=fitted.cache_seconds,
    )
    logger.info(
        "H=%d %-9s %-22s MSE %.4f MAE %.4f params %d train %.1f s",
        task.horizon, role, fitted.name, mse, mae, result.params, fitted.train_seconds,
    )  # fmt: skip
    return result


def _time_models(
    fits: dict[str, Fitted],
    results: list[ModelResult],
    backend: Backend,
    config: BenchmarkConfig,
    x: np.ndarray,
) -> None:
    """Fill in the latencies: every model (and ONNX student) on the same batch, in turns."""
    device = torch.device("cuda" if config.device == "cuda" else "cpu")
    batch = torch.from_numpy(np.ascontiguousarray(x[: config.latency_batch])).to(device)
    forecasts = {role: predictor(fitted) for role, fitted in fits.items()}
    timers: dict[str, Callable[[], object]] = {
        role: functools.partial(forecast, batch) for role, forecast in forecasts.items()
    }
    by_role = {row.role: row for row in results}
    if config.onnx:
        for role in ("mlp", "distilled"):
            with torch.no_grad():
                reference = forecasts[role](batch)
            exported = _onnx_session(backend.module(fits[role]), batch, reference)
            if exported is not None:
                timers[f"{role}/onnx"], by_role[role].onnx_max_abs_diff = exported
    times = _interleaved_ms(timers, config.latency_runs, config.warmup_runs)
    for name, ms in times.items():
        role, _, kind = name.partition("/")
        if kind:
            by_role[role].onnx_latency_ms = ms
        else:
            by_role[role].latency_ms = ms


def run_benchmark(config: BenchmarkConfig, command: str = "") -> BenchmarkResult:
    """Run the experiment described by ``config``.

    Parameters
    ----------
    config
        What to run.
    command
        The command line that asked for it (recorded in the results).

    Returns
    -------
    BenchmarkResult
        Figures of every model at every horizon, with the data for the plots.

    Raises
    ------
    ValueError
        Unknown data set, backend or teacher, or a lookback and horizon that do not fit the
        splits.
    """
    started = time.perf_counter()
    config = replace(config, teacher=config.teacher or default_teacher(config.dataset))
    teacher_config(config.teacher, config.dataset)  # fail fast on an unknown teacher
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    dataset = load_dataset(config.dataset, config.data_dir)
    lookback = config.lookback or dataset.lookback
    horizons = config.horizons or dataset.horizons[:1]
    for horizon in horizons:
        dataset.check_window(lookback, horizon)
    backend = get_backend(config.backend)
    settings = student_settings(dataset.name)
    teacher = teacher_config(config.teacher, dataset.name)
    plans = resolve_plans(config, dataset)
    teacher = replace(teacher, plan=plans["teacher"])
    alpha = settings.alpha if config.alpha is None else config.alpha
    beta = settings.beta if config.beta is None else config.beta
    hidden = config.hidden_size or settings.hidden_size
    runs = []
    for horizon in horizons:
        task = Task(dataset, lookback, horizon, config.seed, config.device)
        test = dataset.windows("test", lookback, horizon)
        run = HorizonRun(horizon)
        run.periods["truth"] = _truth_periods(test[1], config.eval_batch)
        indices = _example_indices(len(test[0]))
        run.examples["index"] = np.asarray(indices)
        run.examples["history"] = np.asarray(test[0][indices, -min(lookback, 2 * horizon) :, -1])
        run.examples["truth"] = np.asarray(test[1][indices, :, -1])

        fits: dict[str, Fitted] = {}
        seed_everything(config.seed)
        fits["teacher"] = backend.fit_teacher(teacher, task)
        run.results.append(_measure("teacher", fits["teacher"], backend, task, config, test, run))
        timed = TimedTeacher(
            as_teacher(fits["teacher"].model, feature_layer=fits["teacher"].feature_layer)
        )

        spec = StudentSpec(hidden, settings.norm, alpha, beta, plans["mlp"])
        for role, source in (("mlp", None), ("distilled", timed)):
            seed_everything(config.seed)
            fits[role] = backend.fit_student(spec, source, task)
            if source is not None:
                fits[role].cache_seconds = source.seconds
            run.results.append(_measure(role, fits[role], backend, task, config, test, run))

        seed_everything(config.seed)
        fits["dlinear"] = backend.fit_dlinear(plans["dlinear"], task)
        run.results.append(_measure("dlinear", fits["dlinear"], backend, task, config, test, run))
        _time_models(fits, run.results, backend, config, test[0])
        logger.info(
            "H=%d latency ms: %s",
            horizon, ", ".join(f"{r.role} {r.latency_ms:.2f}" for r in run.results),
        )  # fmt: skip
        runs.append(run)
    return BenchmarkResult(
        dataset=dataset,
        config=config,
        lookback=lookback,
        alpha=alpha,
        beta=beta,
        hidden_size=hidden,
        teacher_arch=teacher.arch,
        plans=plans,
        runs=runs,
        command=command,
        wall_seconds=time.perf_counter() - started,
    )
