"""The experiment with Darts: ``DistilledMLPModel``, Darts teachers and ``DLinearModel``.

iTransformer and PatchTST have no Darts implementation; they run as NeuralForecast models inside
Darts' own wrapper ``NeuralForecastModel`` (trained by Darts like any Darts model). Every model is
trained by Darts' trainer with the plan's epochs, batch size, Adam learning rate, per-epoch
halving (``LambdaLR``), early stopping on the validation MSE and the best epoch's weights
restored.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from darts import TimeSeries
from darts.models import (
    DLinearModel,
    NeuralForecastModel,
    NHiTSModel,
    TiDEModel,
    TSMixerModel,
)
from darts.utils.likelihood_models import QuantileRegression
from pytorch_lightning.callbacks import Callback, EarlyStopping
from torch.optim.lr_scheduler import LambdaLR

from tsdistill_plugin.core.schedule import halving_lr_factor
from tsdistill_plugin.core.teacher import FeatureLayer, FeatureLayout, Teacher
from tsdistill_plugin.darts import DistilledMLPModel

from .base import Fitted, RestoreBestEpoch, Stopwatch, StudentSetup, Task
from .library_predict import darts_forecast, darts_predict
from .reference import (
    TeacherConfig,
    TrainingPlan,
    itransformer_arguments,
    patchtst_arguments,
)

VAL_METRIC = "val_loss"


def _likelihood(task: Task) -> dict[str, Any]:
    """The likelihood argument of a quantile task's teachers and students (none for points)."""
    if task.quantiles is None:
        return {}
    return {"likelihood": QuantileRegression(list(task.quantiles))}


def _training_kwargs(
    plan: TrainingPlan, task: Task, callbacks: Sequence[Callback]
) -> dict[str, Any]:
    """Darts ``TorchForecastingModel`` arguments that carry out ``plan`` on ``task.device``.

    ``callbacks`` are added to the trainer's. Early stopping watches the validation loss: the
    MSE, or the quantile loss of a quantile task.
    """
    scheduler = (
        {"lr_scheduler_cls": LambdaLR, "lr_scheduler_kwargs": {"lr_lambda": halving_lr_factor}}
        if plan.halving
        else {"lr_scheduler_cls": None}  # explicit: the Darts student would halve by default
    )
    return {
        "batch_size": plan.batch_size,
        "n_epochs": plan.epochs,
        "optimizer_kwargs": {"lr": plan.lr},
        "random_state": task.seed,
        "pl_trainer_kwargs": {
            "accelerator": task.device,
            "callbacks": [
                EarlyStopping(VAL_METRIC, patience=plan.patience, mode="min"),
                RestoreBestEpoch(VAL_METRIC),
                *callbacks,
            ],
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "logger": False,
            "enable_checkpointing": False,  # RestoreBestEpoch keeps the best weights
        },
        **scheduler,
    }


def _itransformer(arch: dict[str, Any]) -> tuple[type, dict[str, Any]]:
    return NeuralForecastModel, {
        "model": "iTransformer",
        "model_kwargs": itransformer_arguments(arch),
    }


def _patchtst(arch: dict[str, Any]) -> tuple[type, dict[str, Any]]:
    return NeuralForecastModel, {"model": "PatchTST", "model_kwargs": patchtst_arguments(arch)}


def _tide(arch: dict[str, Any]) -> tuple[type, dict[str, Any]]:
    return TiDEModel, {
        "num_encoder_layers": arch["layers"],
        "num_decoder_layers": arch["layers"],
        "hidden_size": arch["width"],
        "dropout": arch["dropout"],
        "use_reversible_instance_norm": True,
    }


def _tsmixer(arch: dict[str, Any]) -> tuple[type, dict[str, Any]]:
    return TSMixerModel, {
        "hidden_size": arch["width"],
        "ff_size": arch["ff_width"],
        "num_blocks": arch["layers"],
        "dropout": arch["dropout"],
        "use_reversible_instance_norm": True,
    }


def _nhits(arch: dict[str, Any]) -> tuple[type, dict[str, Any]]:
    return NHiTSModel, {
        "num_layers": arch["layers"],
        "layer_widths": arch["width"],
        "dropout": arch["dropout"],
        "use_reversible_instance_norm": True,
    }


TEACHERS: dict[
    str, tuple[Callable[[dict[str, Any]], tuple[type, dict[str, Any]]], FeatureLayer]
] = {
    "itransformer": (_itransformer, ("nf.encoder", FeatureLayout.PER_CHANNEL)),
    "patchtst": (_patchtst, ("nf.model.backbone", FeatureLayout.CHANNELS_IN_BATCH)),
    "tide": (_tide, "auto"),
    "tsmixer": (_tsmixer, "auto"),
    "nhits": (_nhits, "auto"),
}
"""Teacher name -> (neutral architecture -> Darts class and arguments, feature layer to distill
from, with its layout). iTransformer's is its encoder, which ends in the final LayerNorm, as in
the reference: ``[batch, channels, d]``. PatchTST's is its backbone: Darts'
``NeuralForecastModel`` folds the channels of a univariate NeuralForecast model into the batch,
window-major, so it gives ``[batch * channels, 1, d, patches]``."""


def _covariates_read(model: Any, task: Task, name: str) -> list[str]:
    """The task's covariates that the teacher ``model`` reads: each kind it supports.

    Raises
    ------
    ValueError
        When the task has covariates and the model supports none of them.
    """
    read = [kind for kind in task.covariates if getattr(model, f"supports_{kind}", False)]
    if task.covariates and not read:
        kinds = " and ".join(kind.replace("_", " ") for kind in task.covariates)
        raise ValueError(
            f"teacher {name} ({type(model).__name__}) reads no {kinds}; pick a teacher that "
            "does (tide and tsmixer read past and future covariates, nhits past ones)."
        )
    return read


class DartsBackend:
    """Fits the experiment's models with Darts; see the module docstring."""

    name = "darts"

    @staticmethod
    def _series(task: Task) -> tuple[TimeSeries, TimeSeries]:
        return (
            TimeSeries.from_dataframe(task.train_frame()),
            TimeSeries.from_dataframe(task.val_frame()),
        )

    def _fit_timed(self, model: Any, task: Task, covariates: Sequence[str] = ()) -> Fitted:
        """Fit ``model`` on the training split, validating on the validation split.

        ``covariates`` are the task's covariates the model reads: each is passed whole (for
        training and validation; Darts reads each window's part of it).
        """
        train, val = self._series(task)
        given = {
            name: TimeSeries.from_dataframe(task.covariates[name].frame) for name in covariates
        }
        with Stopwatch() as watch:
            model.fit(
                train,
                val_series=val,
                **given,
                **{f"val_{name}": series for name, series in given.items()},
            )
        return Fitted(
            model,
            type(model).__name__,
            watch.seconds,
            model.epochs_trained,
            module=model.model,
            library_predict=functools.partial(darts_predict, model, task.horizon),
            library_forecast=functools.partial(darts_forecast, model, task.horizon),
            covariates=tuple(covariates),
        )

    def fit_teacher(
        self, config: TeacherConfig, task: Task, callbacks: Sequence[Callback] = ()
    ) -> Fitted:
        """Build the Darts teacher of ``config`` for ``task`` and fit it."""
        build, layer = TEACHERS[config.name]
        cls, arguments = build(config.arch)
        model = cls(
            input_chunk_length=task.lookback,
            output_chunk_length=task.horizon,
            **arguments,
            **_likelihood(task),
            **_training_kwargs(config.plan, task, callbacks),
        )
        fitted = self._fit_timed(model, task, _covariates_read(model, task, config.name))
        fitted.name = arguments.get("model", fitted.name)
        fitted.feature_layer = layer
        return fitted

    def fit_student(
        self,
        spec: StudentSetup,
        teacher: Teacher | None,
        task: Task,
        callbacks: Sequence[Callback] = (),
    ) -> Fitted:
        """Fit a ``DistilledMLPModel`` of ``spec`` (``teacher=None``: the plain MLP)."""
        model = DistilledMLPModel(
            input_chunk_length=task.lookback,
            output_chunk_length=task.horizon,
            teacher=teacher,
            hidden_size=spec.hidden_size,
            norm=spec.norm,
            alpha=spec.alpha,
            beta=spec.beta,
            scale_levels=spec.scale_levels,
            period_weight=spec.period_weight,
            use_covariates=spec.use_covariates,
            covariate_width=spec.covariate_width,
            **_likelihood(task),
            **_training_kwargs(spec.plan, task, callbacks),
        )
        fitted = self._fit_timed(model, task, list(task.covariates))  # the teacher reads them
        if not spec.use_covariates:
            fitted.covariates = ()
        return fitted

    def fit_dlinear(
        self, plan: TrainingPlan, task: Task, callbacks: Sequence[Callback] = ()
    ) -> Fitted:
        """Fit Darts' ``DLinearModel``: kernel 25, a point forecaster always.

        Its weights are shared across channels, except with covariates, which Darts' DLinear
        reads only with weights of its own per input.
        """
        model = DLinearModel(
            input_chunk_length=task.lookback,
            output_chunk_length=task.horizon,
            kernel_size=25,
            shared_weights=not task.covariates,
            **_training_kwargs(plan, task, callbacks),
        )
        return self._fit_timed(model, task, list(task.covariates))
