"""The TimeDistill experiment: teachers, plain MLP, distilled MLP and DLinear on one data set.

For every horizon, :func:`run_benchmark` fits the models with one backend (Darts or
NeuralForecast) on the training split, validating on the validation split: each teacher (one or
several; a foundation model is set up zero-shot), the plain MLP student, the MLP student
distilled from all the teachers at once (their forecasts combined by
:class:`~tsdistill_plugin.core.TeacherEnsemble`), with weights given or chosen on the validation
split (:mod:`~tsdistill_plugin.benchmark.weights`), and DLinear. It measures every model
identically, for every library:

- MSE and MAE on the standardized scale over every stride-1 test window and channel (each
  window's forecast starts at its own step; none is dropped), per horizon and averaged, and the
  MSE over every validation window likewise;
- with quantile levels (``--quantiles``), the teachers and students forecast them: the mean
  quantile loss and the coverage of the outermost interval over the same windows, the MSE and
  MAE of the median (DLinear stays a point forecaster);
- parameters used at inference (a distilled student's feature regressor, which only serves
  training, is not counted);
- latency: median wall time of one forward pass on the same batch of test windows on the same
  device, over repeated runs after warm-up, the models taking turns so that a change of load
  on the machine affects them alike;
- served latency (:mod:`~tsdistill_plugin.benchmark.serving`): the students exported with
  ``to_onnx`` and run by ``Predictor``, beside the teachers and students through their
  library's ``predict``, for one window and a batch;
- training wall time, and for the distilled student the part spent computing the teachers'
  outputs for the training windows (``cache_seconds``).
"""

from __future__ import annotations

import functools
import logging
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np
import torch
from pytorch_lightning import seed_everything
from torch import Tensor
from tqdm.auto import tqdm

from tsdistill_plugin.core.ensemble import TeacherEnsemble
from tsdistill_plugin.core.losses import period_distribution
from tsdistill_plugin.core.quantiles import check_quantiles, median_index, pinball_loss
from tsdistill_plugin.devices import check_accelerator
from tsdistill_plugin.teachers import as_teacher

from . import weights
from .backends import get_backend
from .backends.base import (
    Backend,
    Fitted,
    StudentSetup,
    Task,
    TimedTeacher,
    inference_parameters,
    lightning_device,
    predictor,
)
from .backends.foundation import fit_foundation_teacher, model_class
from .backends.reference import (
    DLINEAR_LR,
    STUDENT_LR,
    TeacherConfig,
    TrainingPlan,
    default_teacher,
    default_weights,
    student_settings,
    teacher_config,
)
from .config import BenchmarkConfig
from .covariates import covariate_sets, covariate_windows
from .data import Dataset, load_dataset
from .progress import Progress
from .serving import ServedLatency, export_students, served_latency
from .timing import interleaved_ms

logger = logging.getLogger(__name__)

ROLES: tuple[str, ...] = ("teacher", "mlp", "distilled", "target_only", "dlinear")
"""The kinds of models of the experiment, in the order they are trained and reported (there is
one ``teacher`` row per teacher; ``target_only``, the distilled student that reads the target
alone while its teacher reads the covariates, is in covariate runs only)."""

ROLE_NAMES: dict[str, str] = {
    "teacher": "teacher",
    "mlp": "MLP, no distillation",
    "distilled": "MLP, distilled",
    "target_only": "MLP, distilled, target only",
    "dlinear": "DLinear",
}
"""How the report and the progress messages name each role."""

N_EXAMPLES = 3
"""Test windows drawn in the forecast figure."""


@dataclass
class ModelResult:
    """One model's figures at one horizon (the rows of ``results.json``).

    ``teacher`` is a teacher row's ``--teacher`` name (``None`` for the other roles); ``key``
    tells the rows of one horizon apart. ``latency_ms`` is the forward pass on a batch;
    ``predict_ms`` the library's ``predict`` (teachers and students) and ``onnx_ms`` the
    exported student through ``Predictor``, for one window and a batch
    (:mod:`~tsdistill_plugin.benchmark.serving`), with ``onnx_max_abs_diff`` the largest
    difference of the exported student's forecast from PyTorch's on that batch. In a quantile
    run, ``mse`` and ``mae`` are the median's, and ``quantile_loss`` (mean pinball loss over
    levels, steps, channels and test windows) and ``coverage`` (share of true values inside
    the outermost interval) those of a model that forecasts the quantiles (``None`` for a point
    model, or in a point run).
    """

    role: str
    model: str
    horizon: int
    mse: float
    mae: float
    val_mse: float
    params: int
    latency_ms: float
    train_seconds: float
    epochs: int | None = None
    cache_seconds: float | None = None
    predict_ms: ServedLatency | None = None
    onnx_ms: ServedLatency | None = None
    onnx_max_abs_diff: float | None = None
    quantile_loss: float | None = None
    coverage: float | None = None
    teacher: str | None = None

    @property
    def key(self) -> str:
        """``teacher:<name>`` for a teacher, the role for the other models."""
        return row_key(self.role, self.teacher)

    @property
    def label(self) -> str:
        """How the report names the model: ``teacher <name>``, or the role's name."""
        return ROLE_NAMES[self.role] if self.teacher is None else f"teacher {self.teacher}"


def row_key(role: str, teacher: str | None = None) -> str:
    """The key of a model's row (see :attr:`ModelResult.key`)."""
    return role if teacher is None else f"{role}:{teacher}"


@dataclass
class HorizonRun:
    """Everything measured at one horizon.

    Attributes
    ----------
    horizon
        Forecast length.
    results
        One :class:`ModelResult` per model.
    alpha, beta, recipe
        The distilled student's weights and how it was trained (chosen on validation for
        ``auto``; see :mod:`~tsdistill_plugin.benchmark.weights`).
    candidates
        Every setting tried on validation (:class:`.weights.Candidate`), when a weight was
        ``auto``; empty when both were given.
    teacher_weights
        With several teachers, the weight of each one's forecast in the student's target (in
        the order of ``--teacher``), once known.
    examples
        Plot data: ``"index"`` (test window numbers), ``"history"`` ``[examples, time]``,
        ``"truth"`` ``[examples, horizon]`` and one ``[examples, horizon]`` array per model key,
        all for the last channel.
    periods
        Mean period distribution over test windows and channels, ``[horizon // 2]`` per model
        key and for ``"truth"`` (see :func:`~tsdistill_plugin.core.period_distribution`).
    amplitudes
        Mean rFFT amplitude over test windows and channels, zero frequency dropped,
        ``[horizon // 2]`` per model key and for ``"truth"``: what the period distribution is
        the softmax of.
    """

    horizon: int
    results: list[ModelResult] = field(default_factory=list)
    alpha: float = float("nan")
    beta: float = float("nan")
    recipe: str = weights.REFERENCE
    candidates: list[weights.Candidate] = field(default_factory=list)
    teacher_weights: list[float] | None = None
    examples: dict[str, np.ndarray] = field(default_factory=dict)
    periods: dict[str, np.ndarray] = field(default_factory=dict)
    amplitudes: dict[str, np.ndarray] = field(default_factory=dict)

    def by_key(self) -> dict[str, ModelResult]:
        """The results by :attr:`ModelResult.key`."""
        return {row.key: row for row in self.results}

    def teachers(self) -> list[ModelResult]:
        """The teachers' rows, in the order of ``--teacher``."""
        return [row for row in self.results if row.role == "teacher"]


@dataclass
class BenchmarkResult:
    """The resolved configuration and the measurements of every horizon.

    ``alpha`` and ``beta`` are the requested weights (a number or ``"auto"``; each horizon's
    :class:`HorizonRun` has those used). ``device`` is where the models trained, were evaluated
    and timed (``config.device`` resolved by Lightning, e.g. ``"cpu"`` or ``"cuda:0"``).
    ``covariates`` are the columns of each covariate the models read (``{"past_covariates":
    [...], "future_covariates": [...]}``; empty: none).

    Examples
    --------
    >>> from tsdistill_plugin.benchmark import BenchmarkConfig, console_table, run_benchmark
    >>> result = run_benchmark(BenchmarkConfig(epochs=1))  # doctest: +SKIP
    >>> print(console_table(result))  # doctest: +SKIP
    """

    dataset: Dataset
    config: BenchmarkConfig
    lookback: int
    alpha: float | str
    beta: float | str
    hidden_size: int
    teachers: list[TeacherConfig]
    plans: dict[str, TrainingPlan]
    runs: list[HorizonRun]
    device: str
    command: str = ""
    wall_seconds: float = 0.0
    covariates: dict[str, list[str]] = field(default_factory=dict)

    def rows(self) -> list[ModelResult]:
        """Every model's results, horizon by horizon."""
        return [row for run in self.runs for row in run.results]

    def averages(self) -> list[dict[str, Any]]:
        """Each model's figures averaged over the horizons run.

        MSE and MAE, and in a quantile run the quantile loss and coverage (``None`` for a point
        model).
        """
        keys = list(dict.fromkeys(row.key for row in self.rows()))
        out = []

        def mean(values: list[float | None]) -> float | None:
            return None if None in values else statistics.fmean(values)

        for key in keys:
            rows = [r for r in self.rows() if r.key == key]
            out.append(
                {
                    "role": rows[0].role,
                    "teacher": rows[0].teacher,
                    "label": rows[0].label,
                    "model": rows[0].model,
                    "mse": statistics.fmean(r.mse for r in rows),
                    "mae": statistics.fmean(r.mae for r in rows),
                    "val_mse": statistics.fmean(r.val_mse for r in rows),
                    "quantile_loss": mean([r.quantile_loss for r in rows]),
                    "coverage": mean([r.coverage for r in rows]),
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
            "teacher": list(self.config.teacher),
            "teacher_weights": self.config.teacher_weights,
            "seed": self.config.seed,
            "target": self.config.target,
            "quantiles": self.config.quantiles,
            "covariates": self.covariates,
            "covariate_width": self.config.covariate_width,
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
            "teachers": [
                {
                    "name": t.name,
                    "arch": t.arch,
                    "plan": None if t.plan is None else asdict(t.plan),
                }
                for t in self.teachers
            ],
            "plans": {role: asdict(plan) for role, plan in self.plans.items()},
            "machine": {
                "platform": platform.platform(),
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
            },
            "weights": [
                {
                    "horizon": run.horizon,
                    "alpha": run.alpha,
                    "beta": run.beta,
                    "recipe": run.recipe,
                    "candidates": [asdict(c) for c in run.candidates],
                    "teacher_weights": run.teacher_weights,
                }
                for run in self.runs
            ],
            "results": [asdict(row) for row in self.rows()],
            "average": self.averages(),
        }


def teacher_names(config: BenchmarkConfig) -> tuple[str, ...]:
    """The teachers of ``config`` (by default the data set's).

    Raises
    ------
    ValueError
        An unknown teacher, or one named twice.
    """
    names = config.teacher or (default_teacher(config.dataset),)
    for name in names:
        teacher_config(name, config.dataset)
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"--teacher names {', '.join(twice)} more than once; name each once.")
    return names


def resolve_teachers(config: BenchmarkConfig, dataset: Dataset) -> list[TeacherConfig]:
    """The configuration of each teacher of :func:`teacher_names`.

    Each plan is capped at ``config.teacher_epochs`` (else ``config.epochs``).

    Raises
    ------
    ValueError
        As :func:`teacher_names`, or for a foundation model Darts cannot import.
    """
    cap = config.teacher_epochs or config.epochs
    teachers = []
    for name in teacher_names(config):
        teacher = teacher_config(name, dataset.name)
        if teacher.zero_shot:
            model_class(teacher)  # fail before any training when Darts cannot build it
        else:
            teacher = replace(teacher, plan=teacher.plan.capped(cap))
        teachers.append(teacher)
    return teachers


def resolve_plans(config: BenchmarkConfig, dataset: Dataset) -> dict[str, TrainingPlan]:
    """Training plans of the students and DLinear: the reference's, capped at ``config.epochs``.

    The teachers' are in :func:`resolve_teachers`.
    """
    settings = student_settings(dataset.name)
    student = TrainingPlan(lr=STUDENT_LR, epochs=settings.epochs, batch_size=settings.batch_size)
    plans = {"mlp": student, "distilled": student, "dlinear": replace(student, lr=DLINEAR_LR)}
    return {role: plan.capped(config.epochs) for role, plan in plans.items()}


class Evaluation(NamedTuple):
    """A model's figures over a split's windows.

    Attributes
    ----------
    mse, mae
        Over every window and channel (of the median, for quantile forecasts).
    periods, amplitudes
        Mean period distribution and mean rFFT amplitude (zero frequency dropped) over windows
        and channels, ``[horizon // 2]``.
    examples
        Forecasts of the example windows (:func:`_example_indices`), last channel,
        ``[examples, horizon]``.
    quantile_loss, coverage
        For quantile forecasts, the mean pinball loss and the share of true values inside the
        outermost interval; ``None`` for point forecasts.
    """

    mse: float
    mae: float
    periods: np.ndarray
    amplitudes: np.ndarray
    examples: np.ndarray
    quantile_loss: float | None = None
    coverage: float | None = None

    @property
    def loss(self) -> float:
        """What a search on validation minimises: the quantile loss, else the MSE."""
        return self.mse if self.quantile_loss is None else self.quantile_loss


def _spectra(values: Tensor) -> tuple[Tensor, Tensor]:
    """Sum the period distribution and the rFFT amplitude over windows and channels.

    ``values`` is ``[batch, horizon, channels]``; both sums are ``[horizon // 2]`` (zero
    frequency dropped).
    """
    periods = period_distribution(values, dim=1).sum(dim=(0, 2))
    amplitudes = torch.fft.rfft(values, dim=1).abs()[:, 1:].sum(dim=(0, 2))
    return periods, amplitudes


def _evaluate(
    forecast: Callable[[slice], Tensor],
    y: np.ndarray,
    batch: int,
    device: torch.device,
    bar: tqdm,
    quantiles: tuple[float, ...] | None = None,
) -> Evaluation:
    """A model's figures over ``n`` windows with the truth ``y`` ``[n, horizon, channels]``.

    ``forecast`` maps a slice of window numbers to their forecasts ``[batch, horizon,
    channels]``, or ``[batch, horizon, channels, Q]`` of the levels ``quantiles``, on
    ``device``; ``bar`` counts the windows done.
    """
    squared = absolute = pinball = inside = 0.0
    probabilistic = False
    periods = amplitudes = torch.zeros(y.shape[1] // 2, dtype=torch.float64, device=device)
    examples = _example_indices(len(y))
    picked = []
    for start in range(0, len(y), batch):
        yb = torch.from_numpy(np.ascontiguousarray(y[start : start + batch])).to(device)
        yb = yb.to(torch.float64)
        prediction = forecast(slice(start, start + batch)).to(torch.float64)
        if prediction.ndim == 4:  # quantile forecasts
            probabilistic = True
            pinball += float(pinball_loss(prediction, yb, quantiles)) * yb.numel()
            low, high = prediction[..., 0], prediction[..., -1]
            inside += float(((yb >= low) & (yb <= high)).sum())
            prediction = prediction[..., median_index(quantiles)]
        error = prediction - yb
        squared += float(error.square().sum())
        absolute += float(error.abs().sum())
        batch_periods, batch_amplitudes = _spectra(prediction)
        periods, amplitudes = periods + batch_periods, amplitudes + batch_amplitudes
        picked += [
            prediction[i - start, :, -1].cpu() for i in examples if start <= i < start + batch
        ]
        bar.update(len(yb))
    count = y.size
    n_series = len(y) * y.shape[2]
    return Evaluation(
        squared / count,
        absolute / count,
        (periods / n_series).cpu().numpy(),
        (amplitudes / n_series).cpu().numpy(),
        torch.stack(picked).numpy(),
        pinball / count if probabilistic else None,
        inside / count if probabilistic else None,
    )


def _example_indices(n_windows: int) -> list[int]:
    return sorted({int(i) for i in np.linspace(0, n_windows - 1, N_EXAMPLES)})


def _truth_spectra(y: np.ndarray, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean period distribution and rFFT amplitude of the true future windows ``y``."""
    periods = amplitudes = torch.zeros(y.shape[1] // 2, dtype=torch.float64)
    for start in range(0, len(y), batch):
        yb = torch.from_numpy(np.ascontiguousarray(y[start : start + batch])).to(torch.float64)
        batch_periods, batch_amplitudes = _spectra(yb)
        periods, amplitudes = periods + batch_periods, amplitudes + batch_amplitudes
    n_series = len(y) * y.shape[2]
    return (periods / n_series).numpy(), (amplitudes / n_series).numpy()


class Windows(NamedTuple):
    """A split's stride-1 windows.

    Inputs ``x`` ``[n, lookback, channels]``, truth ``y`` ``[n, horizon, channels]`` and the
    covariates' windows by name (:func:`.covariate_windows`).
    """

    x: np.ndarray
    y: np.ndarray
    covariates: dict[str, np.ndarray]

    @classmethod
    def of(cls, task: Task, split: str) -> Windows:
        """The windows of ``split`` (``"val"`` or ``"test"``) for ``task``."""
        x, y = task.dataset.windows(split, task.lookback, task.horizon)
        covariates = covariate_windows(task.covariates, split, task.lookback, task.horizon)
        return cls(x, y, covariates)

    def forecaster(
        self,
        fitted: Fitted,
        horizon: int,
        device: torch.device,
        quantiles: tuple[float, ...] | None,
    ) -> Callable[[slice], Tensor]:
        """``fitted``'s forecasts of the windows numbered by a slice, on ``device``.

        A model of a covariate run forecasts through its library (``library_forecast``) with
        the covariates it reads; any other through :func:`predictor`.
        """
        if self.covariates:

            def forecast(part: slice) -> Tensor:
                read = {name: self.covariates[name][part] for name in fitted.covariates}
                values = fitted.library_forecast(np.ascontiguousarray(self.x[part]), **read)
                return torch.from_numpy(values).to(device)

            return forecast
        model = predictor(fitted, horizon, quantiles)
        return lambda part: model(torch.from_numpy(np.ascontiguousarray(self.x[part])).to(device))


@dataclass(frozen=True)
class _Horizon:
    """What every fit and measurement of one horizon shares."""

    task: Task
    config: BenchmarkConfig
    test: Windows
    val: Windows
    device: torch.device
    progress: Progress

    def fit(
        self, label: str, plan: TrainingPlan | None, train: Callable[..., Fitted]
    ) -> tuple[Fitted, torch.device]:
        """Announce, seed and run one fit (``train(callbacks=...)``) with a progress bar.

        Returns the fitted model with the device Lightning trained it on (the run's device for
        a model that is not trained).
        """
        what = "set up zero-shot" if plan is None else f"training, at most {plan.epochs} epochs"
        self.progress.stage(f"H={self.task.horizon} {label}: {what}")
        monitor = self.progress.training()
        seed_everything(self.config.seed, verbose=False)
        return train(callbacks=[monitor]), monitor.device or self.device

    def evaluate(self, fitted: Fitted, device: torch.device, split: str) -> Evaluation:
        """``fitted``'s figures over every ``"val"`` or ``"test"`` window."""
        windows = self.val if split == "val" else self.test
        quantiles = self.task.quantiles
        with self.progress.bar(len(windows.x), "window") as bar:
            forecast = windows.forecaster(fitted, self.task.horizon, device, quantiles)
            return _evaluate(forecast, windows.y, self.config.eval_batch, device, bar, quantiles)

    def measure(
        self,
        run: HorizonRun,
        role: str,
        fitted: Fitted,
        device: torch.device,
        teacher: str | None = None,
    ) -> ModelResult:
        """Add the validation and test figures of one fitted model on ``device`` to ``run``.

        Latency is filled in by :func:`_time_models`.
        """
        x = self.test.x
        label = ROLE_NAMES[role] if teacher is None else f"teacher {teacher}"
        horizon = self.task.horizon
        self.progress.stage(
            f"H={horizon} {label}: evaluating on {len(self.val[0])} validation and {len(x)} "
            "test windows"
        )
        val_mse = self.evaluate(fitted, device, "val").mse
        figures = self.evaluate(fitted, device, "test")
        result = ModelResult(
            role=role,
            model=fitted.name,
            horizon=horizon,
            mse=figures.mse,
            mae=figures.mae,
            val_mse=val_mse,
            params=inference_parameters(fitted.module),
            latency_ms=float("nan"),
            train_seconds=fitted.train_seconds,
            epochs=fitted.epochs,
            cache_seconds=fitted.cache_seconds,
            quantile_loss=figures.quantile_loss,
            coverage=figures.coverage,
            teacher=teacher,
        )
        run.periods[result.key] = figures.periods
        run.amplitudes[result.key] = figures.amplitudes
        run.examples[result.key] = figures.examples
        run.results.append(result)
        logger.info(
            "H=%d %-22s %-22s MSE %.4f MAE %.4f val MSE %.4f params %d train %.1f s",
            horizon, label, fitted.name, figures.mse, figures.mae, val_mse, result.params,
            fitted.train_seconds,
        )  # fmt: skip
        return result


STUDENTS: tuple[str, ...] = ("mlp", "distilled")
"""The roles exported and served through ``Predictor``."""


def _time_models(
    fits: dict[str, Fitted],
    results: list[ModelResult],
    config: BenchmarkConfig,
    windows: Windows,
    horizon: int,
    device: torch.device,
) -> None:
    """Fill in the latencies: every model on the same batch of test windows, in turns.

    The forward pass of each model's network; in a covariate run, which has no forward pass on
    the target windows alone, each model's library forecast with the covariates it reads.
    """
    part = slice(0, config.latency_batch)
    timers: dict[str, Callable[[], object]] = {
        key: functools.partial(windows.forecaster(fitted, horizon, device, config.quantiles), part)
        for key, fitted in fits.items()
    }
    by_key = {row.key: row for row in results}
    times = interleaved_ms(timers, config.latency_runs, config.warmup_runs, device)
    for key, ms in times.items():
        by_key[key].latency_ms = ms


def _time_served(
    fits: dict[str, Fitted],
    results: list[ModelResult],
    config: BenchmarkConfig,
    windows: Windows,
    horizon: int,
    device: torch.device,
) -> None:
    """Fill in the served latencies (:mod:`.serving`) and check the exported students.

    The students exported and run by ``Predictor``, and the teachers and students through
    their library's ``predict``, for one window and ``config.latency_batch`` windows, each
    with the covariates it reads.
    """
    part = slice(0, config.latency_batch)
    x = np.ascontiguousarray(windows.x[part])
    covariates = {name: np.ascontiguousarray(v[part]) for name, v in windows.covariates.items()}
    by_key = {row.key: row for row in results}
    predictors = export_students({key: fits[key] for key in STUDENTS}, config.threads)
    for key, exported in predictors.items():
        with torch.no_grad():
            forecast = windows.forecaster(fits[key], horizon, device, config.quantiles)
            reference = forecast(part).cpu().numpy()
        read = {name: covariates[name] for name in fits[key].covariates}
        difference = np.abs(exported.predict(x, **read) - reference).max()
        by_key[key].onnx_max_abs_diff = float(difference)
    timed = {key: fitted for key, fitted in fits.items() if by_key[key].role != "dlinear"}
    served = served_latency(timed, predictors, x, covariates, config.latency_runs, device)
    for key, latency in served.predict.items():
        by_key[key].predict_ms = latency
    for key, latency in served.onnx.items():
        by_key[key].onnx_ms = latency


def _fit_teachers(
    teachers: list[TeacherConfig], backend: Backend, horizon: _Horizon, run: HorizonRun
) -> tuple[dict[str, Fitted], torch.device]:
    """Fit (or set up zero-shot) and measure each teacher once; returns them by row key."""
    config = horizon.config
    fits = {}
    device = horizon.device
    for teacher in teachers:
        if teacher.zero_shot:
            fit = functools.partial(
                fit_foundation_teacher,
                teacher,
                horizon.task,
                horizon.device,
                config.teacher_dir,
                config.accept_license,
            )
        else:
            fit = functools.partial(backend.fit_teacher, teacher, horizon.task)
        label = f"teacher {teacher.name}"
        fitted, device = horizon.fit(label, teacher.plan, fit)
        horizon.measure(run, "teacher", fitted, device, teacher=teacher.name)
        fits[row_key("teacher", teacher.name)] = fitted
    return fits, device


def _fit_distilled(
    teachers: list[Fitted],
    spec: StudentSetup,
    settings: list[weights.Setting],
    plain: Fitted,
    backend: Backend,
    horizon: _Horizon,
    run: HorizonRun,
) -> Fitted:
    """The distilled student: fitted with the given setting, or the best of ``settings``.

    The best is the one with the lowest validation MSE. Every fit learns from the same teacher
    object (all the fitted teachers at once), so the library fills its teacher cache once for
    all of them.

    With several candidates, the returned ``train_seconds`` and ``cache_seconds`` are those of
    the whole search (every candidate's fit but the plain MLP's); ``run`` records the weights,
    the candidates and, with several teachers, the teachers' weights.
    """
    config, task = horizon.config, horizon.task
    adapters = [as_teacher(t.model, feature_layer=t.feature_layer) for t in teachers]
    source = (
        adapters[0] if len(adapters) == 1 else as_teacher(adapters, weights=config.teacher_weights)
    )
    timed = TimedTeacher(source, horizon.progress, task.n_train_windows())

    def fit(setting: weights.Setting) -> Fitted:
        label = ROLE_NAMES["distilled"]
        if len(settings) > 1:
            label += f" ({setting.label})"
        student = setting.student(spec, config.epochs)
        before = timed.seconds
        train = functools.partial(backend.fit_student, student, timed, task)
        fitted, _ = horizon.fit(label, student.plan, train)
        fitted.cache_seconds = timed.seconds - before
        return fitted

    def validation_loss(fitted: Fitted) -> float:
        return horizon.evaluate(fitted, horizon.device, "val").loss

    student, best, candidates = weights.search(settings, plain, fit, validation_loss)
    run.alpha, run.beta, run.recipe = best.setting
    if isinstance(source, TeacherEnsemble) and source.weights is not None:
        run.teacher_weights = source.weights.tolist()
    if len(settings) == 1:
        return student
    run.candidates = candidates
    scores = f"{best.val_loss:.4f}; no distillation: {candidates[0].val_loss:.4f}"
    horizon.progress.stage(
        f"H={task.horizon} {ROLE_NAMES['distilled']}: {best.setting.label} chosen on validation "
        f"({weights.measure(task.quantiles)} {scores})"
    )
    search_seconds = sum(c.train_seconds for c in candidates if c.distils)
    return replace(student, train_seconds=search_seconds, cache_seconds=timed.seconds)


def _fit_target_only(
    teachers: list[Fitted], spec: StudentSetup, run: HorizonRun, backend: Backend, horizon: _Horizon
) -> Fitted:
    """The distilled student of a covariate run that reads the target alone.

    It learns from the same teacher (which reads the covariates) with the setting chosen for
    the distilled covariate student (no search of its own).
    """
    (teacher,) = teachers
    timed = TimedTeacher(
        as_teacher(teacher.model, feature_layer=teacher.feature_layer),
        horizon.progress,
        horizon.task.n_train_windows(),
    )
    setting = weights.Setting(run.alpha, run.beta, run.recipe)
    student = replace(setting.student(spec, horizon.config.epochs), use_covariates=False)
    train = functools.partial(backend.fit_student, student, timed, horizon.task)
    fitted, _ = horizon.fit(f"{ROLE_NAMES['target_only']} ({setting.label})", student.plan, train)
    fitted.cache_seconds = timed.seconds
    return fitted


def _run_horizon(
    horizon_length: int,
    lookback: int,
    dataset: Dataset,
    teachers: list[TeacherConfig],
    spec: StudentSetup,
    settings: list[weights.Setting],
    plans: dict[str, TrainingPlan],
    backend: Backend,
    device: torch.device,
    config: BenchmarkConfig,
    progress: Progress,
    covariates: dict[str, Dataset],
) -> tuple[HorizonRun, torch.device]:
    """Fit and measure every model at one horizon."""
    task = Task(
        dataset, lookback, horizon_length, config.seed, config.device, config.quantiles,
        covariates,
    )  # fmt: skip
    test = Windows.of(task, "test")
    horizon = _Horizon(task, config, test, Windows.of(task, "val"), device, progress)
    run = HorizonRun(horizon_length)
    run.periods["truth"], run.amplitudes["truth"] = _truth_spectra(test.y, config.eval_batch)
    indices = _example_indices(len(test.x))
    run.examples["index"] = np.asarray(indices)
    run.examples["history"] = np.asarray(test.x[indices, -min(lookback, 2 * horizon_length) :, -1])
    run.examples["truth"] = np.asarray(test.y[indices, :, -1])

    teacher_fits, device = _fit_teachers(teachers, backend, horizon, run)
    fits = dict(teacher_fits)
    plain = functools.partial(backend.fit_student, spec, None, task)
    fits["mlp"], device = horizon.fit(ROLE_NAMES["mlp"], spec.plan, plain)
    horizon.measure(run, "mlp", fits["mlp"], device)
    fits["distilled"] = _fit_distilled(
        list(teacher_fits.values()), spec, settings, fits["mlp"], backend, horizon, run
    )
    horizon.measure(run, "distilled", fits["distilled"], device)
    if covariates:
        fits["target_only"] = _fit_target_only(
            list(teacher_fits.values()), spec, run, backend, horizon
        )
        horizon.measure(run, "target_only", fits["target_only"], device)
    dlinear = functools.partial(backend.fit_dlinear, plans["dlinear"], task)
    fits["dlinear"], device = horizon.fit(ROLE_NAMES["dlinear"], plans["dlinear"], dlinear)
    horizon.measure(run, "dlinear", fits["dlinear"], device)
    progress.stage(
        f"H={horizon_length}: timing the models, {config.latency_runs} runs after "
        f"{config.warmup_runs} warm-up runs"
    )
    _time_models(fits, run.results, config, test, horizon_length, device)
    if config.onnx:
        progress.stage(
            f"H={horizon_length}: exporting the students with to_onnx; timing them through "
            "Predictor and every model but DLinear through its library's predict"
        )
        _time_served(fits, run.results, config, test, horizon_length, device)
    logger.info(
        "H=%d latency ms: %s",
        horizon_length, ", ".join(f"{r.key} {r.latency_ms:.2f}" for r in run.results),
    )  # fmt: skip
    return run, device


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
        Unknown data set, target column, backend or teacher, a teacher named twice, quantile
        levels a student cannot forecast, a device this machine lacks, or a lookback and
        horizon that do not fit the splits (or a foundation teacher).

    Examples
    --------
    >>> from pathlib import Path
    >>> from tsdistill_plugin.benchmark import BenchmarkConfig, Progress
    >>> from tsdistill_plugin.benchmark import run_benchmark, write_outputs
    >>> config = BenchmarkConfig(dataset="ETTh1", horizons=(96,))
    >>> result = run_benchmark(config, progress=Progress())  # doctest: +SKIP
    >>> paths = write_outputs(result, Path("report"))  # doctest: +SKIP
    """
    started = time.perf_counter()
    progress = progress or Progress(enabled=False)
    config = replace(config, teacher=teacher_names(config))  # fails fast on a bad name
    if config.quantiles is not None:
        check_quantiles(config.quantiles, "--quantiles")
    check_accelerator(config.device, "device")
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    progress.stage(f"loading data set {config.dataset}")
    dataset = load_dataset(config.dataset, config.data_dir)
    covariates = covariate_sets(dataset, config)
    if config.target is not None:
        dataset = dataset.select(config.target)
    lookback = config.lookback or dataset.lookback
    horizons = config.horizons or dataset.horizons[:1]
    for horizon in horizons:
        dataset.check_window(lookback, horizon)
    teachers = resolve_teachers(config, dataset)
    if covariates and any(teacher.zero_shot for teacher in teachers):
        raise ValueError(
            "a covariate run trains its teacher with the covariates; name a teacher trained "
            "here (--teacher tide, tsmixer or nhits), not a zero-shot foundation model."
        )
    backend = get_backend(config.backend)
    settings = student_settings(dataset.name)
    plans = resolve_plans(config, dataset)
    default_alpha, default_beta = default_weights(dataset.name)
    alpha = default_alpha if config.alpha is None else config.alpha
    beta = default_beta if config.beta is None else config.beta
    candidates = weights.candidates(alpha, beta, (settings.alpha, settings.beta))
    if covariates:  # its library forecasts a covariate teacher's windows: no features
        candidates = list(dict.fromkeys(s._replace(beta=0.0) for s in candidates))
    hidden = config.hidden_size or settings.hidden_size
    spec = StudentSetup(
        hidden, settings.norm, 0.0, 0.0, plans["distilled"], covariate_width=config.covariate_width
    )
    device = lightning_device(config.device)
    runs = []
    for horizon in horizons:
        run, device = _run_horizon(
            horizon, lookback, dataset, teachers, spec, candidates, plans, backend, device, config,
            progress, covariates,
        )  # fmt: skip
        runs.append(run)
    return BenchmarkResult(
        dataset=dataset,
        config=config,
        lookback=lookback,
        alpha=alpha,
        beta=beta,
        hidden_size=hidden,
        teachers=teachers,
        plans=plans,
        runs=runs,
        device=str(device),
        command=command,
        wall_seconds=time.perf_counter() - started,
        covariates={name: [str(c) for c in d.frame.columns] for name, d in covariates.items()},
    )
