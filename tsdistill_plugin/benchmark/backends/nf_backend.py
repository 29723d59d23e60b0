"""The experiment with NeuralForecast: ``DistilledMLPMultivariate``, NF teachers and ``DLinear``.

NeuralForecast trains in steps, not epochs: an epoch of the plan is ``ceil(training windows /
batch size)`` steps, validation runs once per epoch, early stopping counts epochs
(``early_stop_patience_steps``) and the learning rate halves per epoch through
:class:`~tsdistill_plugin.core.HalvingLR`, stepped every batch. A batch holds as many values as
``batch_size`` windows of every channel: multivariate models sample ``batch_size`` windows;
channel-independent ones sample ``batch_size x channels`` single-channel windows from one series
per step (NeuralForecast builds every window of the series in a batch at each step, so taking all
channels at once made a DLinear step 5x slower at lookback 720). The series' ids sort in the
data's column order, the order in which NeuralForecast hands a multivariate model its series and
in which the benchmark's test windows hold them (ETTh1's columns are not in alphabetical order:
ids named after the columns gave the student's per-series BatchNorm the wrong series at test
time).
The student is the multivariate DMLP (``DistilledMLPMultivariate``), the reference's layout with
per-channel BatchNorm, for every teacher.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from neuralforecast import NeuralForecast
from neuralforecast.losses.pytorch import MSE, MQLoss
from neuralforecast.models import NHITS, DLinear, PatchTST, TiDE, TSMixer, iTransformer
from pytorch_lightning.callbacks import Callback

from tsdistill_plugin.core.schedule import HalvingLR
from tsdistill_plugin.core.teacher import Teacher
from tsdistill_plugin.neuralforecast import DistilledMLPMultivariate
from tsdistill_plugin.neuralforecast.teacher import frames_to_long

from .base import Fitted, RestoreBestEpoch, Stopwatch, StudentSetup, Task
from .library_predict import neuralforecast_predict
from .reference import (
    TeacherConfig,
    TrainingPlan,
    itransformer_arguments,
    patchtst_arguments,
)

VAL_METRIC = "ptl/val_loss"


def _training_kwargs(
    plan: TrainingPlan,
    task: Task,
    multivariate: bool,
    callbacks: Sequence[Callback],
) -> dict[str, Any]:
    """NF ``BaseModel`` arguments that carry out ``plan`` on ``task.device``.

    ``callbacks`` are added to the trainer's. The loss is the MSE, or in a quantile task
    ``MQLoss`` at its levels (for training and validation).
    """
    loss = MSE() if task.quantiles is None else MQLoss(quantiles=list(task.quantiles))
    steps = math.ceil(task.n_train_windows() / plan.batch_size)
    scheduler = (
        {"lr_scheduler": HalvingLR, "lr_scheduler_kwargs": {"steps_per_epoch": steps}}
        if plan.halving
        else {"num_lr_decays": -1}
    )
    return {
        "loss": loss,
        "valid_loss": loss,
        "learning_rate": plan.lr,
        "max_steps": plan.epochs * steps,
        "val_check_steps": steps,
        "early_stop_patience_steps": plan.patience,
        "batch_size": task.n_channels if multivariate else 1,
        "valid_batch_size": task.n_channels,
        "windows_batch_size": plan.batch_size * (1 if multivariate else task.n_channels),
        "inference_windows_batch_size": 1024,
        "random_seed": task.seed,
        "accelerator": task.device,
        "callbacks": [RestoreBestEpoch(VAL_METRIC), *callbacks],
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "logger": False,
        "enable_checkpointing": False,  # RestoreBestEpoch keeps the best weights
        **scheduler,
    }


def _itransformer(arch: dict[str, Any], task: Task) -> tuple[type, dict[str, Any]]:
    return iTransformer, {"n_series": task.n_channels, **itransformer_arguments(arch)}


def _patchtst(arch: dict[str, Any], task: Task) -> tuple[type, dict[str, Any]]:
    return PatchTST, patchtst_arguments(arch)


def _tide(arch: dict[str, Any], task: Task) -> tuple[type, dict[str, Any]]:
    return TiDE, {
        "hidden_size": arch["width"],
        "num_encoder_layers": arch["layers"],
        "num_decoder_layers": arch["layers"],
        "dropout": arch["dropout"],
        "scaler_type": "standard",
    }


def _tsmixer(arch: dict[str, Any], task: Task) -> tuple[type, dict[str, Any]]:
    return TSMixer, {
        "n_series": task.n_channels,
        "n_block": arch["layers"],
        "ff_dim": arch["ff_width"],
        "dropout": arch["dropout"],
        "revin": True,
    }


def _nhits(arch: dict[str, Any], task: Task) -> tuple[type, dict[str, Any]]:
    return NHITS, {
        "mlp_units": 3 * [[arch["width"]] * arch["layers"]],
        "dropout_prob_theta": arch["dropout"],
        "scaler_type": "standard",
    }


TEACHERS: dict[str, tuple[Callable[[dict[str, Any], Task], tuple[type, dict[str, Any]]], str]] = {
    "itransformer": (_itransformer, "auto"),
    "patchtst": (_patchtst, "auto"),
    "tide": (_tide, "auto"),
    "tsmixer": (_tsmixer, "auto"),
    "nhits": (_nhits, "auto"),
}
"""Teacher name -> ((neutral architecture, task) -> NF class and arguments, feature layer).
``"auto"`` is the NF teacher adapter's choice: iTransformer's encoder output (after its final
LayerNorm, as in the reference) and PatchTST's backbone; no features for the others."""


class NeuralForecastBackend:
    """Fits the experiment's models with NeuralForecast; see the module docstring."""

    name = "neuralforecast"

    def _fit_timed(self, model: Any, task: Task) -> Fitted:
        dataset = task.dataset
        df, freq = frames_to_long([dataset.frame.iloc[: dataset.val_end]])
        nf = NeuralForecast(models=[model], freq=freq)
        with Stopwatch() as watch:
            nf.fit(df, val_size=dataset.val_end - dataset.train_end)
        fitted = nf.models[0]
        epochs = sum(step > 0 for step, _ in fitted.valid_trajectories)  # step 0: sanity check
        return Fitted(
            fitted,
            type(fitted).__name__,
            watch.seconds,
            epochs,
            module=fitted,
            library_predict=functools.partial(neuralforecast_predict, nf),
        )

    def _build(
        self,
        cls: type,
        arguments: dict[str, Any],
        plan: TrainingPlan,
        task: Task,
        callbacks: Sequence[Callback],
    ) -> Any:
        training = _training_kwargs(plan, task, cls.MULTIVARIATE, callbacks)
        return cls(h=task.horizon, input_size=task.lookback, **arguments, **training)

    def fit_teacher(
        self, config: TeacherConfig, task: Task, callbacks: Sequence[Callback] = ()
    ) -> Fitted:
        """Build the NeuralForecast teacher of ``config`` for ``task`` and fit it."""
        build, layer = TEACHERS[config.name]
        cls, arguments = build(config.arch, task)
        fitted = self._fit_timed(self._build(cls, arguments, config.plan, task, callbacks), task)
        fitted.feature_layer = layer
        return fitted

    def fit_student(
        self,
        spec: StudentSetup,
        teacher: Teacher | None,
        task: Task,
        callbacks: Sequence[Callback] = (),
    ) -> Fitted:
        """Fit a ``DistilledMLPMultivariate`` of ``spec`` (``teacher=None``: the plain MLP)."""
        arguments = {
            "n_series": task.n_channels,
            "teacher": teacher,
            "hidden_size": spec.hidden_size,
            "norm": spec.norm,
            "alpha": spec.alpha,
            "beta": spec.beta,
            "scale_levels": spec.scale_levels,
            "period_weight": spec.period_weight,
        }
        model = self._build(DistilledMLPMultivariate, arguments, spec.plan, task, callbacks)
        return self._fit_timed(model, task)

    def fit_dlinear(
        self, plan: TrainingPlan, task: Task, callbacks: Sequence[Callback] = ()
    ) -> Fitted:
        """Fit NeuralForecast's ``DLinear``: moving average 25, a point forecaster always."""
        arguments = {"moving_avg_window": 25}
        point = replace(task, quantiles=None)
        return self._fit_timed(self._build(DLinear, arguments, plan, point, callbacks), task)
