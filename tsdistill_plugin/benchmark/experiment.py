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

import copy
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
from pytorch_lightning import seed_everything
from torch import Tensor, nn
from tqdm.auto import tqdm

from tsdistill_plugin.core.losses import period_distribution
from tsdistill_plugin.core.student import DMLP
from tsdistill_plugin.devices import check_accelerator
from tsdistill_plugin.teachers import as_teacher

from .backends import get_backend
from .backends.base import (
    Backend,
    Fitted,
    Predictor,
    StudentSpec,
    Task,
    TimedTeacher,
    predictor,
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
from .config import BenchmarkConfig
from .data import Dataset, load_dataset
from .progress import Progress

logger = logging.getLogger(__name__)

ROLES: tuple[str, ...] = ("teacher", "mlp", "distilled", "dlinear")
"""The models of the experiment, in the order they are trained and reported."""

ROLE_NAMES: dict[str, str] = {
    "teacher": "teacher",
    "mlp": "MLP, no distillation",
    "distilled": "MLP, distilled",
    "dlinear": "DLinear",
}
"""How the report and the progress messages name each role."""

N_EXAMPLES = 3
"""Test windows drawn in the forecast figure."""


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
    """The resolved configuration and the measurements of every horizon.

    ``device`` is where the models trained, were evaluated and timed (``config.device``
    resolved by Lightning, e.g. ``"cpu"`` or ``"cuda:0"``).
    """

    dataset: Dataset
    config: BenchmarkConfig
    lookback: int
    alpha: float
    beta: float
    hidden_size: int
    teacher_arch: dict[str, Any]
    plans: dict[str, TrainingPlan]
    runs: list[HorizonRun]
    device: str
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
            "device": self.device,
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


def _synchronize(device: torch.device) -> None:
    """Wait for the work queued on ``device`` (an accelerator runs asynchronously)."""
    if device.type != "cpu":
        torch.accelerator.synchronize(device)


def _interleaved_ms(
    functions: dict[str, Callable[[], object]], runs: int, warmup: int, device: torch.device
) -> dict[str, float]:
    """Median wall time in ms of each function, timed in turns (one call of each per round) so
    that a load change on the machine affects every function alike; each call is timed until
    the work it queued on ``device`` is done."""
    for _ in range(warmup):
        for function in functions.values():
            function()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(runs):
        for name, function in functions.items():
            _synchronize(device)
            start = time.perf_counter()
            function()
            _synchronize(device)
            times[name].append(time.perf_counter() - start)
    return {name: 1000.0 * statistics.median(values) for name, values in times.items()}


def _evaluate(
    forecast: Predictor,
    x: np.ndarray,
    y: np.ndarray,
    batch: int,
    device: torch.device,
    bar: tqdm,
) -> tuple[float, float, np.ndarray, np.ndarray]:
    """MSE, MAE, the mean period distribution and the forecasts of the example windows; ``bar``
    counts the windows done."""
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
        bar.update(len(xb))
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
            _DMLPForecast(copy.deepcopy(student).cpu()).eval(),  # where onnxruntime runs
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
    device: torch.device,
    backend: Backend,
    task: Task,
    config: BenchmarkConfig,
    test: tuple[np.ndarray, np.ndarray],
    run: HorizonRun,
    progress: Progress,
) -> ModelResult:
    """Test metrics of one fitted model on ``device`` (latency is filled in by
    :func:`_time_models`)."""
    x, y = test
    progress.stage(f"H={task.horizon} {ROLE_NAMES[role]}: evaluating on {len(x)} test windows")
    with progress.bar(len(x), "window") as bar:
        mse, mae, periods, examples = _evaluate(
            predictor(fitted), x, y, config.eval_batch, device, bar
        )
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
    device: torch.device,
) -> None:
    """Fill in the latencies: every model (and ONNX student) on the same batch, in turns."""
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
    times = _interleaved_ms(timers, config.latency_runs, config.warmup_runs, device)
    for name, ms in times.items():
        role, _, kind = name.partition("/")
        if kind:
            by_role[role].onnx_latency_ms = ms
        else:
            by_role[role].latency_ms = ms


def _fit(
    role: str,
    horizon: int,
    plan: TrainingPlan,
    train: Callable[..., Fitted],
    config: BenchmarkConfig,
    progress: Progress,
) -> tuple[Fitted, torch.device]:
    """Announce and seed one fit, run ``train(callbacks=...)`` with a progress bar, and return
    the fitted model with the device Lightning trained it on."""
    progress.stage(f"H={horizon} {ROLE_NAMES[role]}: training, at most {plan.epochs} epochs")
    monitor = progress.training()
    seed_everything(config.seed, verbose=False)
    return train(callbacks=[monitor]), monitor.device


def run_benchmark(
    config: BenchmarkConfig, command: str = "", progress: Progress | None = None
) -> BenchmarkResult:
    """Run the experiment described by ``config``.

    Parameters
    ----------
    config
        What to run.
    command
        The command line that asked for it (recorded in the results).
    progress
        Where to show each stage and its progress; by default nothing is shown.

    Returns
    -------
    BenchmarkResult
        Figures of every model at every horizon, with the data for the plots.

    Raises
    ------
    ValueError
        Unknown data set, backend or teacher, a device this machine lacks, or a lookback and
        horizon that do not fit the splits.
    """
    started = time.perf_counter()
    progress = progress or Progress(enabled=False)
    config = replace(config, teacher=config.teacher or default_teacher(config.dataset))
    teacher_config(config.teacher, config.dataset)  # fail fast on an unknown teacher
    check_accelerator(config.device, "device")
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    progress.stage(f"loading data set {config.dataset}")
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
        measure = functools.partial(
            _measure, backend=backend, task=task, config=config, test=test, run=run,
            progress=progress,
        )  # fmt: skip
        fit_teacher = functools.partial(backend.fit_teacher, teacher, task)
        fits["teacher"], device = _fit(
            "teacher", horizon, teacher.plan, fit_teacher, config, progress
        )
        run.results.append(measure("teacher", fits["teacher"], device))
        timed = TimedTeacher(
            as_teacher(fits["teacher"].model, feature_layer=fits["teacher"].feature_layer),
            progress,
            task.n_train_windows(),
        )
        spec = StudentSpec(hidden, settings.norm, alpha, beta, plans["mlp"])
        for role, source in (("mlp", None), ("distilled", timed)):
            fit_student = functools.partial(backend.fit_student, spec, source, task)
            fits[role], device = _fit(role, horizon, spec.plan, fit_student, config, progress)
            if source is not None:
                fits[role].cache_seconds = source.seconds
            run.results.append(measure(role, fits[role], device))
        fit_dlinear = functools.partial(backend.fit_dlinear, plans["dlinear"], task)
        fits["dlinear"], device = _fit(
            "dlinear", horizon, plans["dlinear"], fit_dlinear, config, progress
        )
        run.results.append(measure("dlinear", fits["dlinear"], device))
        progress.stage(
            f"H={horizon}: timing the models, {config.latency_runs} runs after "
            f"{config.warmup_runs} warm-up runs"
        )
        _time_models(fits, run.results, backend, config, test[0], device)
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
        device=str(device),
        command=command,
        wall_seconds=time.perf_counter() - started,
    )
