"""``DistilledMLPModel``: TimeDistill's MLP student as a Darts torch forecasting model.

The student is the core ``DMLP``; its training step adds the core ``DistillationLoss`` with the
teacher's forecasts (and hidden features), which are computed once per training window before
training starts (``TeacherCache``). Any Darts or NeuralForecast model can be the teacher
(through :func:`tsdistill_plugin.teachers.as_teacher`); ``teacher=None`` trains the same MLP
without distillation.
"""

from __future__ import annotations

import copy
import logging
import time
from collections import OrderedDict
from typing import Any, Literal

import torch
from darts.models.forecasting.forecasting_model import _model_call_stack_top
from darts.models.forecasting.pl_forecasting_module import PLForecastingModule, io_processor
from darts.models.forecasting.torch_forecasting_model import PastCovariatesTorchModel
from darts.timeseries import TimeSeries
from darts.utils.data.torch_datasets.utils import (
    ModuleStage,
    PLModuleInput,
    PLModuleOutput,
    TorchTrainingBatch,
    TorchTrainingSample,
)
from darts.utils.ts_utils import series2seq
from torch import Tensor
from torch.optim.lr_scheduler import LambdaLR

from ..core.cache import TeacherCache
from ..core.losses import DistillationLoss
from ..core.schedule import halving_lr_factor
from ..core.student import DMLP, NORM_MODES
from ..core.teacher import (
    FeatureRegressor,
    FittableTeacher,
    Teacher,
    TeacherOutput,
    forecast_horizon,
)
from ..devices import check_accelerator
from ..export.provenance import training_provenance
from ..teachers import AUTO, as_teacher
from ._fitting import (
    IndexedBatch,
    IndexedDataset,
    PastTargets,
    SharedTeacher,
    check_series,
    check_teacher,
    collate_indexed,
    fit_teacher,
    fresh_teacher,
    windows_warning,
)

logger = logging.getLogger(__name__)

CacheMode = Literal["auto", "memory", "disk", "online"]
CACHE_MODES: tuple[str, ...] = ("auto", "memory", "disk", "online")
TEACHER_BATCH_SIZE = 256
"""Windows per teacher call while filling the cache."""

DEFAULT_OPTIMIZER_KWARGS = {"lr": 0.01}
"""The reference's student optimizer: Adam at learning rate 0.01."""

DEFAULT_LR_SCHEDULER = {
    "lr_scheduler_cls": LambdaLR,
    "lr_scheduler_kwargs": {"lr_lambda": halving_lr_factor},
}
"""The reference's ``lradj="type1"``: base rate for two epochs, then halved every epoch."""

TRAINING_ONLY_PARAMS = [
    "teacher",
    "alpha",
    "beta",
    "temperature",
    "scale_levels",
    "teacher_feature_layer",
    "teacher_cache",
    "refit_teacher",
]
"""Constructor arguments that change training but not the weights' shapes."""


class _DistilledMLPModule(PLForecastingModule):
    """The Lightning module: ``DMLP`` plus the distillation objective.

    Parameters
    ----------
    n_channels
        Number of target components ``N``.
    hidden_size, norm
        Passed to :class:`~tsdistill_plugin.core.DMLP`.
    alpha, beta, temperature, scale_levels
        Passed to :class:`~tsdistill_plugin.core.DistillationLoss`.
    **kwargs
        ``PLForecastingModule`` arguments.

    Notes
    -----
    The teacher's outputs come from :attr:`teacher_source`, a ``TeacherCache`` (read by the
    batch's window indices), a ``Teacher`` (called on each batch) or ``None``. It is a plain
    attribute: never a submodule, never a hyperparameter, never saved. The
    :class:`~tsdistill_plugin.core.FeatureRegressor` that maps the teacher's features trains
    with the student but predictions never use it, so checkpoints leave it out.
    """

    def __init__(
        self,
        n_channels: int,
        hidden_size: int,
        norm: str,
        alpha: float,
        beta: float,
        temperature: float,
        scale_levels: int,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.student = DMLP(
            self.input_chunk_length, self.output_chunk_length, n_channels, hidden_size, norm
        )
        self.distillation = DistillationLoss(alpha, beta, temperature, scale_levels)
        self.regressor: FeatureRegressor | None = None
        self.teacher_source: TeacherCache | Teacher | None = None

    def attach_teacher(
        self, source: TeacherCache | Teacher | None, feature_dim: int | None
    ) -> None:
        """Use ``source`` for the next training run, with a feature regressor for teacher
        features of width ``feature_dim`` (``None``: no feature-level terms).

        An existing regressor of the right width is kept (training continues); otherwise a
        new one is made (Lightning moves it to the module's device and precision).
        """
        self.teacher_source = source
        if feature_dim is None:
            self.regressor = None
        elif self.regressor is None or self.regressor[0].in_features != feature_dim:
            self.regressor = FeatureRegressor(feature_dim, self.student.hidden_size)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Leave the training-only regressor (weights and optimizer moments) out of the file."""
        super().on_save_checkpoint(checkpoint)
        state = checkpoint["state_dict"]
        for key in [k for k in state if k.startswith("regressor.")]:
            del state[key]
        if self.regressor is None or not checkpoint.get("optimizer_states"):
            return
        training_only = {id(p) for p in self.regressor.parameters()}
        optimizers = self.trainer.optimizers
        for optimizer, saved in zip(optimizers, checkpoint["optimizer_states"], strict=True):
            _drop_optimizer_params(optimizer, saved, training_only)

    @io_processor
    def forward(self, x_in: PLModuleInput) -> PLModuleOutput:
        """Forecast ``x_in.past_target`` ``[batch, L, N]`` as ``[batch, H, N, 1]``.

        In the training stage the student's features ``[batch, N, hidden]`` ride along as the
        output's ``state``.
        """
        output = self.student(x_in.past_target)
        features = output.features if x_in.stage is ModuleStage.TRAIN else None
        return PLModuleOutput(prediction=output.prediction.unsqueeze(-1), state=features)

    def _teacher_outputs(self, batch: TorchTrainingBatch) -> TeacherOutput | None:
        source = self.teacher_source
        if source is None:
            return None
        if isinstance(source, TeacherCache):
            if not isinstance(batch, IndexedBatch) or batch.window_index is None:
                raise RuntimeError(
                    "the training batch carries no window indices, so cached teacher outputs "
                    "cannot be matched to it; do not override dataloader_kwargs['collate_fn']."
                )
            output = source[batch.window_index]
        else:
            output = forecast_horizon(source, batch.past_target, self.output_chunk_length)
        reference = batch.past_target
        return TeacherOutput(
            output.prediction.to(reference.device, reference.dtype),
            None
            if output.features is None
            else output.features.to(reference.device, reference.dtype),
        )

    def training_step(self, train_batch: TorchTrainingBatch, batch_idx: int) -> Tensor:
        """Supervised loss (Darts' ``loss_fn``) plus the distillation terms, each logged."""
        output = self(train_batch.to_module_input(stage=ModuleStage.TRAIN))
        supervised = self._compute_loss(
            output, train_batch.future_target, self.train_criterion, train_batch.sample_weight
        )
        teacher = self._teacher_outputs(train_batch)
        teacher_features = None
        if teacher is not None and teacher.features is not None and self.regressor is not None:
            teacher_features = self.regressor(teacher.features)
        distillation, terms = self.distillation(
            output.prediction[..., 0],
            target=None,
            teacher_prediction=None if teacher is None else teacher.prediction,
            features=output.state if teacher_features is not None else None,
            teacher_features=teacher_features,
        )
        loss = supervised + distillation
        terms["supervised"] = supervised
        batch_size = train_batch.past_target.shape[0]
        self.log("train_loss", loss, batch_size=batch_size, prog_bar=True, sync_dist=True)
        for name, value in terms.items():
            self.log(
                f"train_{name}",
                value,
                batch_size=batch_size,
                on_step=False,
                on_epoch=True,
                prog_bar=True,
                sync_dist=True,
            )
        self._update_metrics(output, train_batch.future_target, self.train_metrics)
        return loss


class DistilledMLPModel(PastCovariatesTorchModel):
    """TimeDistill's MLP student, distilled from any Darts or NeuralForecast model.

    Parameters
    ----------
    input_chunk_length
        Lookback ``L``. Defaults to the teacher's (Darts ``input_chunk_length``,
        NeuralForecast ``input_size``); must be at least the teacher's.
    output_chunk_length
        Horizon ``H``. Defaults to the teacher's (Darts ``output_chunk_length``, NeuralForecast
        ``h``); a shorter teacher horizon is rolled out autoregressively.
    teacher
        ``None`` (the plain MLP baseline), a Darts ``TorchForecastingModel``, global
        regression or local model, a NeuralForecast model instance, or any
        :class:`~tsdistill_plugin.core.Teacher`. An unfitted teacher is fitted first on
        exactly the student's training series (and ``val_series``); a fitted one is checked
        for compatibility. Probabilistic teachers give their median.
    hidden_size
        Hidden width of the student (512 in the reference).
    norm
        Student input normalization: ``"mean"`` (the reference's), ``"revin"`` or ``"none"``.
    alpha
        Weight of the prediction-level terms (multi-scale and multi-period).
    beta
        Weight of the feature-level terms (used when the teacher exposes features).
    temperature
        Softmax temperature of the period distributions.
    scale_levels
        Average-pooling rounds of the multi-scale terms (``output_chunk_length`` must be at
        least ``2 ** scale_levels``).
    teacher_feature_layer
        ``"auto"`` (a known layer for NF PatchTST / iTransformer and Darts TSMixer / TiDE,
        none otherwise), a dotted submodule name of the teacher's torch module, or ``None``.
    teacher_cache
        Where the teacher's outputs for the training windows live: ``"auto"`` (memory within a
        budget, else a memory-mapped file), ``"memory"``, ``"disk"``, or ``"online"`` (no
        cache: the teacher runs on every batch, as in the reference).
    refit_teacher
        Refit a fresh copy of the teacher on every ``fit`` (each training slice of a
        retraining backtest) instead of fitting it once and sharing it.
    **darts_torch_model_kwargs
        Darts ``TorchForecastingModel`` arguments (``n_epochs``, ``batch_size``,
        ``pl_trainer_kwargs``, ``random_state``, ``optimizer_kwargs``, ...). Without
        ``optimizer_kwargs`` the optimizer is Adam at lr 0.01, and without
        ``lr_scheduler_cls`` the rate halves every epoch after the second, as in the
        reference.

    Examples
    --------
    >>> from darts.models import TiDEModel
    >>> from tsdistill_plugin.darts import DistilledMLPModel
    >>> model = DistilledMLPModel(teacher=TiDEModel(96, 24, n_epochs=5), n_epochs=10)
    >>> model.fit(train_series, val_series=val_series)  # doctest: +SKIP
    >>> forecast = model.predict(n=24)  # doctest: +SKIP
    """

    def __init__(
        self,
        input_chunk_length: int | None = None,
        output_chunk_length: int | None = None,
        teacher: Any = None,
        hidden_size: int = 512,
        norm: str = "mean",
        alpha: float = 1.0,
        beta: float = 1.0,
        temperature: float = 0.5,
        scale_levels: int = 3,
        teacher_feature_layer: str | None = AUTO,
        teacher_cache: CacheMode = "auto",
        refit_teacher: bool = False,
        **darts_torch_model_kwargs: Any,
    ) -> None:
        shared = teacher if isinstance(teacher, SharedTeacher) else None
        if shared is None:
            wrapped = (
                None
                if teacher is None
                else as_teacher(teacher, feature_layer=teacher_feature_layer)
            )
            shared = SharedTeacher(wrapped)
        params = dict(self.model_params)
        input_chunk_length, output_chunk_length = _chunk_lengths(
            input_chunk_length, output_chunk_length, shared.teacher
        )
        _check_arguments(params, norm, teacher_cache, output_chunk_length, scale_levels)
        params.update(
            input_chunk_length=input_chunk_length,
            output_chunk_length=output_chunk_length,
            output_chunk_shift=0,
        )
        if "optimizer_kwargs" not in params:
            params["optimizer_kwargs"] = dict(DEFAULT_OPTIMIZER_KWARGS)
        if "lr_scheduler_cls" not in params and "lr_scheduler_kwargs" not in params:
            params.update(copy.deepcopy(DEFAULT_LR_SCHEDULER))
        super().__init__(**self._extract_torch_model_params(**params))
        self.pl_module_params = self._extract_pl_module_params(**params)
        self._model_params.update(
            input_chunk_length=input_chunk_length, output_chunk_length=output_chunk_length
        )

        self.hidden_size = hidden_size
        self.norm = norm
        self.alpha = alpha
        self.beta = beta
        self.temperature = temperature
        self.scale_levels = scale_levels
        self.teacher_cache = teacher_cache
        self.refit_teacher = refit_teacher
        self._shared_teacher = shared
        self._teacher: Teacher | None = shared.teacher
        self._teacher_source: TeacherCache | Teacher | None = None

    # --- Darts plumbing: the teacher is shared by copies and never saved ------------------

    def _extract_model_creation_params(self) -> OrderedDict:
        """Deep-copy the creation parameters except the teacher, which is shared."""
        params = _model_call_stack_top()
        return OrderedDict(
            (key, value if key == "teacher" else copy.deepcopy(value))
            for key, value in params.items()
        )

    def untrained_model(self) -> DistilledMLPModel:
        """A new, untrained student with the same parameters, sharing this one's teacher."""
        params = {k: copy.deepcopy(v) for k, v in self.model_params.items() if k != "teacher"}
        return self.__class__(teacher=self._shared_teacher, **params)

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state["_model_params"] = OrderedDict(state["_model_params"], teacher=None)
        state["_teacher"] = None
        state["_teacher_source"] = None
        return state

    @property
    def _ckpt_skipped_params(self) -> list[str]:
        return super()._ckpt_skipped_params + TRAINING_ONLY_PARAMS

    @property
    def teacher(self) -> Teacher | None:
        """The wrapped teacher: the one of the last ``fit`` (with ``refit_teacher``, that
        fit's own copy), else the one shared with every copy of this model; ``None`` for the
        baseline and after loading."""
        return self._teacher if self._teacher is not None else self._shared_teacher.teacher

    @property
    def supports_past_covariates(self) -> bool:
        return False

    @property
    def supports_static_covariates(self) -> bool:
        return False

    # --- fitting ----------------------------------------------------------------------------

    def fit(
        self,
        series: TimeSeries | list[TimeSeries],
        past_covariates: Any = None,
        future_covariates: Any = None,
        val_series: TimeSeries | list[TimeSeries] | None = None,
        val_past_covariates: Any = None,
        val_future_covariates: Any = None,
        **kwargs: Any,
    ) -> DistilledMLPModel:
        """Fit the teacher if needed, cache its outputs and train the student.

        Parameters
        ----------
        series
            One or several target series with the same components (no NaN, at least
            ``input_chunk_length + output_chunk_length`` steps each).
        val_series
            Optional validation series: validation loss (ground-truth MSE) and early stopping.
        past_covariates, future_covariates, val_past_covariates, val_future_covariates
            Not supported by the student: passing any raises ``ValueError``.
        **kwargs
            Other arguments of Darts' ``TorchForecastingModel.fit`` (``epochs``, ``stride``,
            ``max_samples_per_ts``, ``dataloader_kwargs``, ``sample_weight``, ...).

        Returns
        -------
        DistilledMLPModel
            The fitted model.
        """
        covariates = {
            "past_covariates": past_covariates,
            "future_covariates": future_covariates,
            "val_past_covariates": val_past_covariates,
            "val_future_covariates": val_future_covariates,
        }
        given = [name for name, value in covariates.items() if value is not None]
        if given:
            raise ValueError(
                f"DistilledMLPModel does not use covariates, but {', '.join(given)} was given; "
                "fit on the target series only (the student and its teacher read past target "
                "values)."
            )
        train = series2seq(series)
        val = series2seq(val_series)
        length = self.input_chunk_length + self.output_chunk_length
        check_series(train, "series", length)
        if val is not None:
            check_series(val, "val_series", length)
        self._prepare_teacher(train, val)
        super().fit(series, val_series=val_series, **kwargs)
        # provenance for tsdistill_plugin.export (saved with the model)
        self.training_provenance = training_provenance(
            self.teacher,
            [s.values(copy=False) for s in train],
            components=list(train[0].components),
            freq=train[0].freq_str,
        )
        return self

    def _prepare_teacher(
        self, series: list[TimeSeries], val_series: list[TimeSeries] | None
    ) -> None:
        shared = self._shared_teacher
        if shared.teacher is None:
            return
        teacher = fresh_teacher(shared.teacher) if self.refit_teacher else shared.teacher
        bind = getattr(teacher, "bind", None)
        if bind is not None:
            bind(self.input_chunk_length, self.output_chunk_length)
        sizes = (self.input_chunk_length, self.output_chunk_length, series[0].n_components)
        check_teacher(teacher, *sizes)  # before fitting, with what is already known
        fit_teacher(shared, teacher, series, val_series, self.refit_teacher)
        check_teacher(teacher, *sizes)
        self._teacher = teacher

    def _setup_for_train(self, train_dataset, val_dataset=None, **kwargs: Any) -> dict[str, Any]:
        """Fill the teacher cache over the training windows, then index the training samples."""
        self._teacher_source, feature_dim = self._teacher_source_for(train_dataset)
        params = super()._setup_for_train(train_dataset, val_dataset, **kwargs)
        module: _DistilledMLPModule = params["model"]
        module.attach_teacher(self._teacher_source, feature_dim)
        if isinstance(self._teacher_source, TeacherCache):
            datamodule = params["datamodule"]
            datamodule.train_dataset = IndexedDataset(train_dataset)
            datamodule.dataloader_kwargs["collate_fn"] = collate_indexed
        return params

    def _train(self, *args: Any, **kwargs: Any) -> None:
        """Train, then let go of the teacher's cached outputs (they can be large)."""
        try:
            super()._train(*args, **kwargs)
        finally:
            self._teacher_source = None
            if self.model is not None:
                self.model.teacher_source = None

    def _teacher_source_for(
        self, train_dataset
    ) -> tuple[TeacherCache | Teacher | None, int | None]:
        """The teacher's outputs for ``train_dataset`` and the width of its features."""
        teacher = self._teacher
        if teacher is None or (self.alpha == 0 and self.beta == 0):
            return None, None
        if isinstance(teacher, FittableTeacher) and not teacher.is_fitted:
            raise ValueError(
                "the teacher is not fitted; call fit(series) (which fits it) rather than "
                "fit_from_dataset, or pass a fitted teacher."
            )
        if self.beta == 0:
            teacher = _PredictionsOnly(teacher)
        windows = PastTargets(train_dataset)
        dtype = torch.from_numpy(windows[0][:1]).dtype
        if self.teacher_cache == "online":
            logger.info("teacher_cache='online': the teacher runs on every training batch.")
            probe = forecast_horizon(
                teacher, torch.from_numpy(windows[0][None]), self.output_chunk_length
            )
            source = teacher
            features = probe.features
        else:
            windows_warning(teacher, len(windows))
            start = time.perf_counter()
            source = TeacherCache(
                teacher,
                windows,
                self.output_chunk_length,
                batch_size=TEACHER_BATCH_SIZE,
                storage=self.teacher_cache,
                dtype=dtype,
                progress=False,
            )
            logger.info(
                "Teacher outputs for %d training windows computed in %.1f s.",
                len(source),
                time.perf_counter() - start,
            )
            features = source.features
        use_features = features is not None and self.beta > 0
        return source, int(features.shape[-1]) if use_features else None

    def _create_model(self, train_sample: TorchTrainingSample) -> _DistilledMLPModule:
        return _DistilledMLPModule(
            n_channels=train_sample.past_target.shape[1],
            hidden_size=self.hidden_size,
            norm=self.norm,
            alpha=self.alpha,
            beta=self.beta,
            temperature=self.temperature,
            scale_levels=self.scale_levels,
            **self.pl_module_params,
        )


class _PredictionsOnly:
    """A teacher's forecasts without its features (when ``beta == 0`` they are not needed)."""

    def __init__(self, teacher: Teacher) -> None:
        self.teacher = teacher
        self.input_len = teacher.input_len
        self.horizon = teacher.horizon
        self.n_channels = teacher.n_channels

    def forecast(self, x: Tensor) -> TeacherOutput:
        return TeacherOutput(self.teacher.forecast(x).prediction, None)


def _drop_optimizer_params(
    optimizer: torch.optim.Optimizer, saved: dict[str, Any], drop: set[int]
) -> None:
    """Remove the parameters whose ``id`` is in ``drop`` from an optimizer's saved state."""
    dropped = set()
    for group, saved_group in zip(optimizer.param_groups, saved["param_groups"], strict=True):
        kept = []
        for param, key in zip(group["params"], saved_group["params"], strict=True):
            if id(param) in drop:
                dropped.add(key)
            else:
                kept.append(key)
        saved_group["params"] = kept
    saved["state"] = {k: v for k, v in saved["state"].items() if k not in dropped}


def _chunk_lengths(
    input_chunk_length: int | None, output_chunk_length: int | None, teacher: Teacher | None
) -> tuple[int, int]:
    """The student's chunk lengths: the given ones, else the teacher's."""
    lookback = (
        input_chunk_length
        if input_chunk_length is not None
        else getattr(teacher, "input_len", None)
    )
    horizon = (
        output_chunk_length
        if output_chunk_length is not None
        else getattr(teacher, "horizon", None)
    )
    if lookback is None or horizon is None:
        missing = [
            name
            for name, value in (("input_chunk_length", lookback), ("output_chunk_length", horizon))
            if value is None
        ]
        source = "there is no teacher" if teacher is None else "the teacher has no chunk lengths"
        raise ValueError(
            f"{' and '.join(missing)} not given and {source} to take them from; pass "
            "input_chunk_length=<L> and output_chunk_length=<H>."
        )
    for name, value in (("input_chunk_length", lookback), ("output_chunk_length", horizon)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return lookback, horizon


def _check_arguments(
    params: dict, norm: str, teacher_cache: str, horizon: int, scale_levels: int
) -> None:
    """Refuse bad constructor arguments before anything is built."""
    if norm not in NORM_MODES:
        raise ValueError(f"norm must be one of {NORM_MODES}, got {norm!r}.")
    if not isinstance(scale_levels, int) or scale_levels < 0 or horizon < 2**scale_levels:
        raise ValueError(
            f"scale_levels={scale_levels!r} needs output_chunk_length >= 2 ** scale_levels, "
            f"but output_chunk_length is {horizon}; lower scale_levels."
        )
    if teacher_cache not in CACHE_MODES:
        raise ValueError(f"teacher_cache must be one of {CACHE_MODES}, got {teacher_cache!r}.")
    if params.get("likelihood") is not None:
        raise ValueError(
            "DistilledMLPModel is a point forecaster; likelihood is not supported (got "
            f"{params['likelihood']!r}). Remove it; probabilistic teachers give their median."
        )
    if params.get("output_chunk_shift", 0):
        raise ValueError(
            f"output_chunk_shift={params['output_chunk_shift']!r} is not supported: the student "
            "forecasts the steps right after its window, like its teacher; remove it."
        )
    if params.get("add_encoders"):
        raise ValueError(
            "DistilledMLPModel does not use covariates, so add_encoders is not supported; "
            "remove it."
        )
    accelerator = (params.get("pl_trainer_kwargs") or {}).get("accelerator")
    check_accelerator(accelerator, "pl_trainer_kwargs['accelerator']")
