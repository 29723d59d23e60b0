"""Why a strong teacher does not make a better student: CO2 with TiDE (issue 17).

Run: ``python benchmarks/teacher_transfer.py PART [--seeds 2021 1 2]``, with
``PART`` one of

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
- ``fixes``: what the issue lists for regression students, chosen on validation.

Everything runs on CO2 as ``tsdistill benchmark`` loads it (statsmodels' weekly Mauna Loa
series, standardized with the training statistics, 70/10/20 split, L=104, H=52) with the
benchmark's TiDE teacher (Darts, 10 epochs at lr 1e-3). MSEs are on the standardized scale, over every stride-1 window of the split.
One torch thread.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from tsdistill_plugin.benchmark.backends.base import StudentSpec, Task, predictor
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

    def weight(self, term: str, epoch: int = 0) -> float:
        """The weight of ``term`` at ``epoch``."""
        share = max(0.0, 1.0 - epoch / self.handover) if self.handover else None
        if term == "supervised":
            base = self.weights.get(term, 1.0)
            return base if share is None else base * (1.0 - share)
        base = self.weights.get(term, 0.0)
        return base if share is None else base * share

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
    return Recipe(f"alpha={alpha:g} beta={beta:g}", weights, **kwargs)


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


def objective(recipe: Recipe, loss: DistillationLoss, model: DMLP, batch: Batch, epoch: int) -> Tensor:
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
    regressor = None if features is None else FeatureRegressor(features.shape[-1], recipe.hidden_size)
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
