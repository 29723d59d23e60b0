"""Why a strong teacher does not make a better student: CO2 with TiDE (issue 17).

Run: ``python benchmarks/teacher_transfer.py PART [--seeds 2021 1 2] [--match TEXT ...]``
(``--match``: only the recipes whose name contains one of the texts), with ``PART`` one of

- ``targets``: the teacher targets the Darts student trains on (read back from its cache, batch
  by batch, by window index) against the teacher's own ``historical_forecasts`` for the same
  windows, and against the truth; their scale; how far the teacher's training-window forecasts
  are from the truth compared with its test forecasts.
- ``periods``: the period distributions (temperature 0.5 on amplitudes of the standardized
  forecasts): how saturated the softmax is, and which way the gradient of each term points
  compared with the direction from the student's forecast to the teacher's.
- ``terms``: a standalone training loop (core ``DMLP`` + ``DistillationLoss`` + Adam, the
  reference's plan, teacher outputs precomputed) per term and per weight; MSE to the truth and
  to the teacher's forecasts on the test split.
- ``glue``: ``DistilledMLPModel`` (Darts) at the same weights, to compare with the loop.
- ``fixes``: what the issue lists for regression students, chosen on validation, for the
  reference's student and a RevIN student; the chosen recipe's fraction of the teacher's
  advantage kept, ``(plain - distilled) / (plain - teacher)`` on test.

Everything runs on CO2 as ``tsdistill benchmark`` loads it (statsmodels' weekly Mauna Loa
series, standardized with the training statistics, 70/10/20 split, L=104, H=52) with the
benchmark's TiDE teacher (Darts, 10 epochs at lr 1e-3). MSEs are on the standardized scale,
over every stride-1 window of the split. One torch thread.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_lightning.callbacks import Callback
from torch import Tensor

from tsdistill_plugin.benchmark.backends.base import Fitted, StudentSetup, Task, predictor
from tsdistill_plugin.benchmark.backends.reference import (
    STUDENT_LR,
    TrainingPlan,
    student_settings,
    teacher_config,
)
from tsdistill_plugin.benchmark.data import Dataset, load_dataset
from tsdistill_plugin.core import DMLP, DistillationLoss, FeatureRegressor, halving_lr_factor
from tsdistill_plugin.core.losses import TERM_NAMES, multi_period_loss, multi_scale_loss
from tsdistill_plugin.teachers import as_teacher

DATASET, LOOKBACK, HORIZON, TEACHER = "co2", 104, 52, "tide"
TEMPERATURE = 0.5


# --------------------------------------------------------------------------------------------
# Data and teacher


@dataclass(frozen=True)
class Windows:
    """The stride-1 windows of one split: inputs ``x`` ``[n, L, N]``, truth ``y`` ``[n, H, N]``."""

    x: Tensor
    y: Tensor


def co2() -> tuple[Dataset, dict[str, Windows]]:
    """CO2 as the benchmark loads it, and its train / val / test windows."""
    dataset = load_dataset(DATASET)
    windows = {}
    for split in ("train", "val", "test"):
        x, y = dataset.windows(split, LOOKBACK, HORIZON)
        windows[split] = Windows(torch.tensor(np.array(x)), torch.tensor(np.array(y)))
    return dataset, windows


def task(dataset: Dataset, seed: int) -> Task:
    """The benchmark's task for CO2 on the CPU."""
    return Task(dataset, LOOKBACK, HORIZON, seed, "cpu")


def fitted_teacher(dataset: Dataset, seed: int = 2021):  # noqa: ANN201
    """The benchmark's Darts TiDE teacher for CO2, fitted as ``tsdistill benchmark`` fits it.

    It takes about 5 s on one thread, so it is fitted anew on every run rather than saved.
    """
    from tsdistill_plugin.benchmark.backends.darts_backend import DartsBackend

    fitted = DartsBackend().fit_teacher(teacher_config(TEACHER, DATASET), task(dataset, seed))
    return fitted.model


@dataclass(frozen=True)
class TeacherOutputs:
    """The teacher's forecasts ``[n, H, N]`` (and features ``[n, N, d]``) for each split."""

    prediction: dict[str, Tensor]
    features: dict[str, Tensor | None]


def teacher_outputs(model, windows: dict[str, Windows], batch: int = 256) -> TeacherOutputs:  # noqa: ANN001
    """The teacher's outputs through the plugin's adapter (what the student's cache holds)."""
    adapter = as_teacher(model)
    predictions, features = {}, {}
    for split, w in windows.items():
        outputs = [adapter.forecast(w.x[i : i + batch]) for i in range(0, len(w.x), batch)]
        predictions[split] = torch.cat([o.prediction for o in outputs]).float()
        has_features = outputs[0].features is not None
        features[split] = torch.cat([o.features for o in outputs]).float() if has_features else None
    return TeacherOutputs(predictions, features)


def historical(model, dataset: Dataset, split: str) -> Tensor:  # noqa: ANN001
    """The teacher's own ``historical_forecasts`` for every window of ``split``, ``[n, H, N]``.

    Window ``i`` of the split forecasts from the split's row ``i`` on (the training split's
    first window from row ``L``), as :meth:`Dataset.windows` orders them.
    """
    from darts import TimeSeries

    frame = dataset.split(split, LOOKBACK)
    forecasts = model.historical_forecasts(
        TimeSeries.from_dataframe(frame),
        start=LOOKBACK,
        start_format="position",
        forecast_horizon=HORIZON,
        stride=1,
        retrain=False,
        last_points_only=False,
        overlap_end=False,
        verbose=False,
    )
    return torch.tensor(np.stack([f.values(copy=False) for f in forecasts]), dtype=torch.float32)


def mse(a: Tensor, b: Tensor) -> float:
    """Mean squared difference, in float64."""
    return float((a.double() - b.double()).square().mean())


# --------------------------------------------------------------------------------------------
# The standalone training loop

EXTRA_TERMS = ("imitation", "imitation_huber", "mixup")
"""Terms beyond :data:`~tsdistill_plugin.core.TERM_NAMES` that a recipe may weigh: the plain
MSE and the Huber loss between the student's and the teacher's forecasts, and the MSE to the
teacher on teacher-labelled mixed windows (pairs of training windows mixed with a uniform
weight, labelled by the teacher online)."""

HUBER_DELTA = 0.05
"""Huber threshold on the standardized scale: about the teacher's typical training error."""


@dataclass(frozen=True)
class Recipe:
    """How one student is trained by :func:`train_student`.

    Attributes
    ----------
    name
        Label in the printed tables.
    weights
        Weight of each term of :data:`~tsdistill_plugin.core.TERM_NAMES` and
        :data:`EXTRA_TERMS` (missing: 0, except ``supervised``: 1). The reference's ``alpha,
        beta`` are ``prediction_scale = prediction_period = alpha`` and ``feature_scale =
        feature_period = beta``.
    temperature
        Softmax temperature of the period terms (the reference's 0.5).
    handover
        Epochs over which the weight moves from the teacher to the truth: at epoch ``e``
        (0-based) the distillation terms are scaled by ``s = max(0, 1 - e / handover)`` and the
        supervised term by ``1 - s``; 0 keeps the weights fixed.
    hidden_size, norm, plan
        Student width, input normalization and training plan (the reference's: 512, the
        window mean, lr 0.01 halved every epoch after the second, at most 100 epochs, patience
        5 on the validation MSE to the truth).
    """

    name: str
    weights: dict[str, float] = field(default_factory=dict)
    temperature: float = TEMPERATURE
    handover: int = 0
    hidden_size: int = 512
    norm: str = "mean"
    plan: TrainingPlan = TrainingPlan(lr=STUDENT_LR, epochs=100)

    def __post_init__(self) -> None:
        unknown = set(self.weights) - {*TERM_NAMES, *EXTRA_TERMS}
        if unknown:
            raise ValueError(
                f"recipe {self.name!r} weighs unknown terms {sorted(unknown)}; use names of "
                f"{TERM_NAMES + EXTRA_TERMS}."
            )

    def weight(self, term: str, epoch: int = 0) -> float:
        """The weight of ``term`` at ``epoch``."""
        share = max(0.0, 1.0 - epoch / self.handover) if self.handover else None
        if term == "supervised":
            base = self.weights.get(term, 1.0)
            return base if share is None else base * (1.0 - share)
        base = self.weights.get(term, 0.0)
        return base if share is None else base * share

    @property
    def uses_teacher(self) -> bool:
        """Whether a term other than the supervised one has a weight."""
        return any(w > 0 for t, w in self.weights.items() if t != "supervised")

    @property
    def uses_features(self) -> bool:
        """Whether a feature-level term has a weight."""
        return any(self.weights.get(t, 0.0) > 0 for t in ("feature_scale", "feature_period"))


def reference(alpha: float, beta: float = 0.0, **kwargs: object) -> Recipe:
    """The reference's objective at ``alpha, beta`` (other :class:`Recipe` fields by name)."""
    weights = {
        "prediction_scale": alpha,
        "prediction_period": alpha,
        "feature_scale": beta,
        "feature_period": beta,
    }
    suffix = f", {kwargs['norm']}" if "norm" in kwargs else ""
    return Recipe(f"alpha={alpha:g} beta={beta:g}{suffix}", weights, **kwargs)


@dataclass
class Student:
    """A trained student and what its training did."""

    model: DMLP
    epochs: int
    best_val: float
    seconds: float

    @torch.no_grad()
    def predict(self, x: Tensor, batch: int = 512) -> Tensor:
        """Forecasts ``[n, H, N]`` of windows ``x`` ``[n, L, N]`` in eval mode."""
        self.model.eval()
        return torch.cat([self.model(x[i : i + batch]).prediction for i in range(0, len(x), batch)])


@dataclass
class Batch:
    """One training batch: inputs ``[B, L, N]``, truth and teacher forecasts ``[B, H, N]``,
    teacher features already mapped by the regressor ``[B, N, d]`` (or ``None``), and
    teacher-labelled mixed windows with their labels (or ``None``)."""

    x: Tensor
    y: Tensor
    teacher: Tensor
    teacher_features: Tensor | None
    mixed: tuple[Tensor, Tensor] | None


def objective(
    recipe: Recipe, loss: DistillationLoss, model: DMLP, batch: Batch, epoch: int
) -> Tensor:
    """The recipe's weighted sum of the unweighted terms ``DistillationLoss`` returns, and of
    the :data:`EXTRA_TERMS` it weighs."""
    inputs = batch.x if batch.mixed is None else torch.cat([batch.x, batch.mixed[0]])
    output = model(inputs)  # one forward pass: BatchNorm sees the real and mixed windows
    prediction, features = output.prediction[: len(batch.x)], output.features[: len(batch.x)]
    _, terms = loss(
        prediction,
        target=batch.y,
        teacher_prediction=batch.teacher,
        features=features if batch.teacher_features is not None else None,
        teacher_features=batch.teacher_features,
    )
    terms["imitation"] = F.mse_loss(prediction, batch.teacher)
    terms["imitation_huber"] = F.huber_loss(prediction, batch.teacher, delta=HUBER_DELTA)
    if batch.mixed is not None:
        terms["mixup"] = F.mse_loss(output.prediction[len(batch.x) :], batch.mixed[1])
    return sum(recipe.weight(name, epoch) * value for name, value in terms.items())


def mixed_windows(x: Tensor, teacher, generator: torch.Generator) -> tuple[Tensor, Tensor]:  # noqa: ANN001
    """Pairs of windows ``[B, L, N]`` mixed with a uniform weight, and the teacher's labels."""
    partner = x[torch.randperm(len(x), generator=generator)]
    weight = torch.rand(len(x), 1, 1, generator=generator)
    mixed = weight * x + (1 - weight) * partner
    return mixed, teacher.forecast(mixed).prediction.float()


def train_student(
    recipe: Recipe,
    windows: dict[str, Windows],
    teacher: TeacherOutputs,
    seed: int,
    online_teacher=None,  # noqa: ANN001 - a Teacher, for the mixup term
) -> Student:
    """Train a DMLP on the training windows, early-stopped on the validation MSE to the truth.

    The reference's loop: Adam over the student (and the feature regressor), the learning rate
    halved after every epoch from the second, the best epoch's weights restored.
    """
    torch.manual_seed(seed)
    train = windows["train"]
    model = DMLP(LOOKBACK, HORIZON, train.x.shape[2], recipe.hidden_size, recipe.norm)
    features = teacher.features["train"] if recipe.uses_features else None
    regressor = (
        None if features is None else FeatureRegressor(features.shape[-1], recipe.hidden_size)
    )
    parameters = [*model.parameters(), *([] if regressor is None else regressor.parameters())]
    optimizer = torch.optim.Adam(parameters, lr=recipe.plan.lr)
    factor = halving_lr_factor if recipe.plan.halving else (lambda epoch: 1.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    loss = DistillationLoss(alpha=1.0, beta=1.0, temperature=recipe.temperature)
    generator = torch.Generator().manual_seed(seed)
    use_mixup = recipe.weights.get("mixup", 0.0) > 0
    student = Student(model, 0, float("inf"), 0.0)
    best_state, stale, start = None, 0, time.perf_counter()
    for epoch in range(recipe.plan.epochs):
        model.train()
        order = torch.randperm(len(train.x), generator=generator)
        for rows in order.split(recipe.plan.batch_size):
            batch = Batch(
                train.x[rows],
                train.y[rows],
                teacher.prediction["train"][rows],
                None if regressor is None else regressor(features[rows]),
                mixed_windows(train.x[rows], online_teacher, generator) if use_mixup else None,
            )
            total = objective(recipe, loss, model, batch, epoch)
            optimizer.zero_grad()
            total.backward()
            optimizer.step()
        schedule.step()
        val = mse(student.predict(windows["val"].x), windows["val"].y)
        if val < student.best_val:
            student.best_val, student.epochs, stale = val, epoch + 1, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= recipe.plan.patience:
                break
    model.load_state_dict(best_state)
    student.seconds = time.perf_counter() - start
    return student


def scores(
    forecast: Callable[[Tensor], Tensor], windows: dict[str, Windows], teacher: TeacherOutputs
) -> dict[str, float]:
    """MSE to the truth and to the teacher's forecasts on each split."""
    result = {}
    for split, w in windows.items():
        prediction = forecast(w.x)
        result[f"{split}_truth"] = mse(prediction, w.y)
        result[f"{split}_teacher"] = mse(prediction, teacher.prediction[split])
    return result


# --------------------------------------------------------------------------------------------
# Part "targets": what the Darts student trains on


class TargetRecorder(Callback):
    """Reads each training batch's teacher targets back from the student's cache (epoch 1)."""

    def __init__(self) -> None:
        self.batches: list[tuple[Tensor, Tensor, Tensor]] = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:  # noqa: ANN001
        """Keep the batch's inputs, truth and the cached teacher forecasts given to the loss."""
        if trainer.current_epoch == 0:
            targets = module.targets.get(batch.window_index, batch.past_target)
            self.batches.append((batch.past_target, batch.future_target, targets.prediction))


def part_targets(dataset: Dataset, windows: dict[str, Windows], model, seed: int) -> None:  # noqa: ANN001
    """Cached teacher targets against ``historical_forecasts``, by the windows' contents."""
    from tsdistill_plugin.benchmark.backends.darts_backend import DartsBackend

    recorder = TargetRecorder()
    plan = TrainingPlan(lr=STUDENT_LR, epochs=1)
    spec = StudentSetup(512, "mean", 1.0, 0.0, plan)
    DartsBackend().fit_student(spec, as_teacher(model), task(dataset, seed), [recorder])
    train = windows["train"]
    position = {bytes(x.numpy().tobytes()): i for i, x in enumerate(train.x)}
    past, future, cached = (torch.cat(parts) for parts in zip(*recorder.batches, strict=True))
    index = torch.tensor([position.get(bytes(x.numpy().tobytes()), -1) for x in past])
    own = historical(model, dataset, "train")
    print(
        f"training windows: {len(train.x)}; read from the cache in epoch 1: {len(past)}, "
        f"{len(set(index.tolist()))} distinct, unmatched {int((index < 0).sum())}"
    )
    print(
        f"cached targets vs historical_forecasts of the same windows: max |diff| "
        f"{float((cached - own[index]).abs().max()):.2e}; batch truth vs the window's truth: "
        f"max |diff| {float((future - train.y[index]).abs().max()):.2e}"
    )
    shifted = {k: mse(cached[index >= k], own[index[index >= k] - k]) for k in (1, 52)}
    print(
        f"(a misalignment would show: MSE to the forecast of the window 1 / 52 steps earlier "
        f"{shifted[1]:.5f} / {shifted[52]:.5f})"
    )
    teacher = teacher_outputs(model, windows)
    for split in ("train", "val", "test"):
        values = teacher.prediction[split]
        print(
            f"{split:5s} teacher MSE to the truth {mse(values, windows[split].y):.5f}; "
            f"forecast mean {float(values.mean()):+.3f} std {float(values.std()):.3f}; truth "
            f"mean {float(windows[split].y.mean()):+.3f} std {float(windows[split].y.std()):.3f}"
        )


# --------------------------------------------------------------------------------------------
# Part "periods": the period distributions and the gradients of the terms


def _distribution_summary(name: str, values: Tensor, temperature: float) -> None:
    amplitude = torch.fft.rfft(values, dim=1).abs()[:, 1:]  # [n, H // 2, N], DC bin dropped
    p = torch.softmax(amplitude / temperature, dim=1)
    top = p.max(dim=1)
    entropy = -(p * p.clamp_min(1e-30).log()).sum(1)
    gap = (amplitude[:, 0] - amplitude[:, 1]) / temperature
    print(
        f"{name:16s} amplitude bins 1-3 {amplitude[:, :3].mean((0, 2)).numpy().round(2)}, "
        f"logit gap bin1-bin2 {float(gap.mean()):.1f}; "
        f"p(top bin) mean {float(top.values.mean()):.5f} min {float(top.values.min()):.4f}; "
        f"top bin = 1 (period {HORIZON}) in {float((top.indices == 0).float().mean()):.1%} "
        f"of windows; entropy {float(entropy.mean()):.4f} nats (uniform {np.log(HORIZON // 2):.2f})"
    )


def part_periods(windows: dict[str, Windows], teacher: TeacherOutputs, seed: int) -> None:
    """Saturation of the period softmax and the direction of each term's gradient."""
    for temperature in (TEMPERATURE, HORIZON / 4, HORIZON):
        print(f"temperature {temperature:g}:")
        _distribution_summary("  teacher, train", teacher.prediction["train"], temperature)
        _distribution_summary("  truth, train", windows["train"].y, temperature)
    student = train_student(Recipe("plain"), windows, teacher, seed)
    untrained = DMLP(LOOKBACK, HORIZON, 1, 512, "mean")
    target = teacher.prediction["train"]
    terms = {
        "period KL": lambda a, b: multi_period_loss(a, b, 1, TEMPERATURE),
        "multi-scale": lambda a, b: multi_scale_loss(a, b, 1),
        "plain MSE": F.mse_loss,
    }
    for label, module in (("untrained student", untrained), ("plain student", student.model)):
        module.train()
        with torch.no_grad():
            prediction = module(windows["train"].x).prediction
        toward = target - prediction
        print(f"{label}: gradient of each term with respect to the forecast, training windows")
        for name, term in terms.items():
            leaf = prediction.clone().requires_grad_(True)
            value = term(leaf, target)
            (gradient,) = torch.autograd.grad(value, leaf)
            cosine = F.cosine_similarity(-gradient.flatten(1), toward.flatten(1), dim=1)
            print(
                f"  {name:12s} value {float(value):.2e}  |grad| {float(gradient.norm()):.2e}  "
                f"cos(descent, toward the teacher) mean {float(cosine.mean()):+.3f}, "
                f"< 0 in {float((cosine < 0).float().mean()):.1%} of windows"
            )


# --------------------------------------------------------------------------------------------
# Parts "terms", "glue" and "fixes"


def _mean_scores(
    recipe: Recipe, windows: dict[str, Windows], teacher: TeacherOutputs, seeds: list[int], online
) -> dict[str, float]:  # noqa: ANN001
    runs = []
    for seed in seeds:
        student = train_student(recipe, windows, teacher, seed, online)
        runs.append({**scores(student.predict, windows, teacher), "epochs": student.epochs})
    return {key: statistics.mean(run[key] for run in runs) for key in runs[0]}


COLUMNS = ("val_truth", "test_truth", "test_teacher", "train_truth", "train_teacher", "epochs")


def _print_table(
    rows: Iterator[tuple[str, dict[str, float]]],
) -> list[tuple[str, dict[str, float]]]:
    print(f"{'recipe':34s} " + " ".join(f"{c:>13s}" for c in COLUMNS), flush=True)
    kept = []
    for name, result in rows:
        print(
            f"{name:34s} "
            + " ".join(f"{result[c]:13.5f}" for c in COLUMNS[:-1])
            + f" {result['epochs']:13.1f}",
            flush=True,
        )
        kept.append((name, result))
    return kept


TERM_RECIPES = [
    Recipe("plain (no teacher)"),
    *(
        recipe
        for alpha in (1.0, 4.0)
        for recipe in (
            Recipe(f"multi-scale alone, alpha={alpha:g}", {"prediction_scale": alpha}),
            Recipe(f"period KL alone, alpha={alpha:g}", {"prediction_period": alpha}),
            reference(alpha),
        )
    ),
    Recipe("multi-scale alone, no truth", {"supervised": 0.0, "prediction_scale": 1.0}),
    Recipe("feature scale alone, beta=1", {"feature_scale": 1.0}),
    Recipe("feature period alone, beta=1", {"feature_period": 1.0}),
    reference(0.0, 1.0),
    reference(1.0, 1.0),
]
"""Part "terms": one change at a time from the plain student."""


LONG = TrainingPlan(lr=1e-3, epochs=60, patience=60, halving=False)
"""A gentler, longer plan than the reference's: Adam at 1e-3 without halving for 60 epochs (the
epoch with the lowest validation MSE is kept)."""


def _fixes(norm: str) -> list[Recipe]:
    common = {"norm": norm}
    return [
        Recipe(f"plain (no teacher), {norm}", **common),
        reference(0.1, 0.1, **common),
        reference(1.0, **common),
        reference(4.0, **common),
        Recipe(f"MSE to the teacher 1, {norm}", {"imitation": 1.0}, **common),
        Recipe(f"MSE to the teacher 4, {norm}", {"imitation": 4.0}, **common),
        Recipe(f"Huber to the teacher 1, {norm}", {"imitation_huber": 1.0}, **common),
        Recipe(
            f"period KL at T={HORIZON}, alpha=1, {norm}",
            {"prediction_scale": 1.0, "prediction_period": 1.0},
            temperature=float(HORIZON),
            **common,
        ),
        Recipe(f"mixup windows 1, {norm}", {"mixup": 1.0}, **common),
        Recipe(f"mixup 1 + MSE to teacher 1, {norm}", {"mixup": 1.0, "imitation": 1.0}, **common),
        Recipe(f"teacher to truth in 5 epochs, {norm}", {"imitation": 1.0}, handover=5, **common),
        Recipe(f"width 1024, {norm}", hidden_size=1024, **common),
        Recipe(
            f"lr 1e-3 no halving, patience 10, {norm}",
            plan=TrainingPlan(lr=1e-3, epochs=100, patience=10, halving=False),
            **common,
        ),
        Recipe(f"truth only, long, {norm}", plan=LONG, **common),
        Recipe(
            f"teacher only, long, {norm}",
            {"supervised": 0.0, "imitation": 1.0},
            plan=LONG,
            **common,
        ),
        Recipe(f"truth + teacher 1, long, {norm}", {"imitation": 1.0}, plan=LONG, **common),
        Recipe(f"truth + teacher 4, long, {norm}", {"imitation": 4.0}, plan=LONG, **common),
        Recipe(
            f"teacher only, long, patience 10, {norm}",
            {"supervised": 0.0, "imitation": 1.0},
            plan=replace(LONG, patience=10),
            **common,
        ),
        Recipe(
            f"teacher only, reference plan, {norm}", {"supervised": 0.0, "imitation": 1.0}, **common
        ),
        replace(reference(1.0, **common), name=f"alpha=1 beta=0, long, {norm}", plan=LONG),
    ]


FIX_RECIPES = [*_fixes("mean"), *_fixes("revin")]
"""Part "fixes": what the issue lists for regression students, for the reference's student
(window-mean normalization) and for a RevIN student; chosen on validation."""


REFERENCE_PLAN = TrainingPlan(lr=STUDENT_LR, epochs=student_settings(DATASET).epochs)
"""The benchmark's student plan for CO2 (the reference's)."""

IMITATION = {"scale_levels": 0, "period_weight": 0.0}
"""The chosen recipe's objective: the plain MSE to the teacher's forecasts, no period term."""

GLUE_RUNS = (
    (0.0, 0.0, "mean", REFERENCE_PLAN, {}),
    (1.0, 0.0, "mean", REFERENCE_PLAN, {}),
    (4.0, 0.0, "mean", REFERENCE_PLAN, {}),
    (0.0, 0.0, "revin", REFERENCE_PLAN, {}),
    (1.0, 0.0, "revin", REFERENCE_PLAN, {}),
    (0.0, 0.0, "mean", LONG, {}),
    (1.0, 0.0, "mean", LONG, {}),
    (4.0, 0.0, "mean", LONG, IMITATION),
)
"""Part "glue": ``(alpha, beta, norm, plan, other arguments)`` of the ``DistilledMLPModel``
runs."""


def _fit_darts_student(spec: StudentSetup, teacher, task: Task, **extra: object) -> Fitted:  # noqa: ANN001
    """The benchmark's Darts student fit (a plan without halving keeps its learning rate)."""
    from darts import TimeSeries

    from tsdistill_plugin.benchmark.backends.darts_backend import _training_kwargs
    from tsdistill_plugin.darts import DistilledMLPModel

    model = DistilledMLPModel(
        input_chunk_length=task.lookback,
        output_chunk_length=task.horizon,
        teacher=teacher,
        hidden_size=spec.hidden_size,
        norm=spec.norm,
        alpha=spec.alpha,
        beta=spec.beta,
        **_training_kwargs(spec.plan, task, ()),
        **extra,
    )
    train, val = (TimeSeries.from_dataframe(f) for f in (task.train_frame(), task.val_frame()))
    model.fit(train, val_series=val)
    return Fitted(model, "DistilledMLPModel", 0.0, model.epochs_trained, model.model)


def part_glue(
    dataset: Dataset,
    windows: dict[str, Windows],
    model,  # noqa: ANN001 - the Darts teacher
    teacher: TeacherOutputs,
    seeds: list[int],
    match: list[str] | None = None,
) -> None:
    """``DistilledMLPModel`` through the benchmark's Darts backend, as the loop's recipes
    (only the runs whose name contains one of ``match``, when given)."""

    def rows() -> Iterator[tuple[str, dict[str, float]]]:
        for alpha, beta, norm, plan, extra in GLUE_RUNS:
            name = f"DistilledMLPModel alpha={alpha:g} beta={beta:g}, {norm}"
            name += ", long" if plan is LONG else ""
            name += "".join(f", {key}={value:g}" for key, value in extra.items())
            if match is not None and not any(text in name for text in match):
                continue
            runs = []
            for seed in seeds:
                source = as_teacher(model) if alpha or beta else None
                fitted = _fit_darts_student(
                    StudentSetup(512, norm, alpha, beta, plan), source, task(dataset, seed), **extra
                )
                forecast = predictor(fitted, HORIZON)
                runs.append({**scores(forecast, windows, teacher), "epochs": fitted.epochs})
            yield name, {key: statistics.mean(run[key] for run in runs) for key in runs[0]}

    _print_table(rows())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=["targets", "periods", "terms", "glue", "fixes"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[2021, 1, 2])
    parser.add_argument(
        "--match", nargs="+", help="run only the recipes whose name contains one of these texts"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    dataset, windows = co2()
    model = fitted_teacher(dataset)
    teacher = teacher_outputs(model, windows)
    print(
        f"TiDE teacher: test MSE {mse(teacher.prediction['test'], windows['test'].y):.5f}, "
        f"val {mse(teacher.prediction['val'], windows['val'].y):.5f}; seeds {args.seeds} "
        "(students: means over the seeds)"
    )
    if args.part == "targets":
        part_targets(dataset, windows, model, args.seeds[0])
    elif args.part == "periods":
        part_periods(windows, teacher, args.seeds[0])
    elif args.part == "glue":
        part_glue(dataset, windows, model, teacher, args.seeds, args.match)
    else:
        recipes = TERM_RECIPES if args.part == "terms" else FIX_RECIPES
        recipes = [r for r in recipes if args.match is None or any(t in r.name for t in args.match)]
        online = as_teacher(model)
        table = [
            (recipe, result)
            for recipe, (_, result) in zip(
                recipes,
                _print_table(
                    (recipe.name, _mean_scores(recipe, windows, teacher, args.seeds, online))
                    for recipe in recipes
                ),
                strict=True,
            )
        ]
        if args.part == "fixes":
            _print_choice(table, mse(teacher.prediction["test"], windows["test"].y))


def _print_choice(table: list[tuple[Recipe, dict[str, float]]], teacher_test: float) -> None:
    """Per normalization: the recipe with the lowest validation MSE among those that use the
    teacher and among those that do not, and the fraction of the teacher's test advantage
    over the plain student that the chosen one keeps."""
    for norm in ("mean", "revin"):
        rows = [(recipe, result) for recipe, result in table if recipe.norm == norm]
        plain = next((r for recipe, r in rows if recipe.name.startswith("plain")), None)
        for uses_teacher in (True, False):
            candidates = [(n, r) for n, r in rows if n.uses_teacher == uses_teacher]
            if plain is None or not candidates:
                continue
            recipe, best = min(candidates, key=lambda item: item[1]["val_truth"])
            advantage = plain["test_truth"] - teacher_test
            kept = (
                f"fraction of the teacher's advantage kept "
                f"{(plain['test_truth'] - best['test_truth']) / advantage:+.2f}"
                if advantage > 0
                else "the teacher is not better than this plain student on test"
            )
            print(
                f"{norm}, {'with' if uses_teacher else 'without'} the teacher: chosen on "
                f"validation: {recipe.name} (val {best['val_truth']:.5f}, test "
                f"{best['test_truth']:.5f}); plain: val {plain['val_truth']:.5f}, test "
                f"{plain['test_truth']:.5f}; {kept}"
            )


if __name__ == "__main__":
    main()
