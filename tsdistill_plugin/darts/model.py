"""``DistilledMLPModel``: TimeDistill's MLP student as a Darts torch forecasting model.

The student is the core ``DMLP``; the teacher's whole lifecycle (fitting or checking it, its
outputs per training window, the feature regressor, the loss) is the core's
:class:`~tsdistill_plugin.core.Distillation`. This module is the Darts glue: the constructor in
Darts' style, the training windows identified by their position in Darts' training dataset, and
the distillation terms added to the loss of Darts' own training step.
"""

from __future__ import annotations

import copy
import logging
import os
import pickle
import zipfile
from typing import Any

import numpy as np
import torch
from darts.models.forecasting.pl_forecasting_module import PLForecastingModule, io_processor
from darts.models.forecasting.torch_forecasting_model import TorchForecastingModel
from darts.timeseries import TimeSeries
from darts.utils.data import ShiftedTorchTrainingDataset, TorchTrainingDataset
from darts.utils.data.torch_datasets.utils import (
    ModuleStage,
    PLModuleInput,
    PLModuleOutput,
    TorchTrainingBatch,
    TorchTrainingSample,
)
from darts.utils.likelihood_models import QuantileRegression
from darts.utils.ts_utils import series2seq
from torch import Tensor
from torch.optim.lr_scheduler import LambdaLR

from .. import _version
from ..core.checks import check_int
from ..core.distillation import CacheMode, TrainingRun, log_terms, provenance
from ..core.ensemble import Weights
from ..core.quantiles import check_quantiles
from ..core.schedule import halving_lr_factor
from ..core.stamp import StampedStudent, reading_saved
from ..core.student import DMLP, StudentOutput, check_student_arguments
from ..core.teacher import FeatureRegressor
from ..devices import check_accelerator, predicting_on_one_device
from ..teachers import AUTO, distillation_for
from ._compat import StudentModelHooks, quantile_levels
from ._windows import (
    IndexedBatch,
    IndexedDataset,
    PastTargets,
    collate_indexed,
    teacher_forecasts,
    training_data,
)

logger = logging.getLogger(__name__)

DEFAULT_OPTIMIZER_KWARGS = {"lr": 0.01}
"""The reference's student optimizer: Adam at learning rate 0.01."""

DEFAULT_LR_SCHEDULER = {
    "lr_scheduler_cls": LambdaLR,
    "lr_scheduler_kwargs": {"lr_lambda": halving_lr_factor},
}
"""The reference's ``lradj="type1"``: base rate for two epochs, then halved every epoch."""

LENGTH_NAMES = ("input_chunk_length", "output_chunk_length")
NO_COVARIATES = (0, 0, 0)
COVARIATE_ARGUMENTS = (
    "past_covariates",
    "future_covariates",
    "val_past_covariates",
    "val_future_covariates",
)


class _DistilledMLPModule(StampedStudent, PLForecastingModule):
    """The Lightning module: ``DMLP``, plus the distillation terms during training.

    Parameters
    ----------
    n_channels
        Number of target components ``N``.
    hidden_size, norm
        Passed to :class:`~tsdistill_plugin.core.DMLP`.
    **kwargs
        ``PLForecastingModule`` arguments, ``covariate_sizes`` (the numbers of past, future and
        static covariates, ``(0, 0, 0)`` when absent) and ``covariate_width`` (see
        :class:`~tsdistill_plugin.core.DMLP`); both are kept among the hyperparameters only
        with covariates, so that a covariate-free checkpoint is as before. The levels of a
        ``QuantileRegression`` ``likelihood`` are the student's quantiles.

    Notes
    -----
    :meth:`attach` hands the module a training run (a plain attribute, never a hyperparameter
    or saved); the run's :class:`~tsdistill_plugin.core.FeatureRegressor` is a submodule for
    the run only (it trains with the student; predictions never use it), and checkpoints
    leave it out.
    """

    saved_name = "DistilledMLPModel checkpoint"

    def __init__(self, n_channels: int, hidden_size: int, norm: str, **kwargs: Any) -> None:
        sizes = tuple(kwargs.pop("covariate_sizes", NO_COVARIATES))
        covariate_width = kwargs.pop("covariate_width", None)
        super().__init__(**kwargs)
        if sizes != NO_COVARIATES:  # Lightning saved the arguments without them
            self.hparams["covariate_sizes"] = sizes
            if covariate_width is not None:
                self.hparams["covariate_width"] = covariate_width
        past, future, static = sizes
        self.student = DMLP(
            self.input_chunk_length,
            self.output_chunk_length,
            n_channels,
            hidden_size,
            norm,
            past_covariates=past,
            future_covariates=future,
            static_covariates=static,
            quantiles=quantile_levels(self),
            covariate_width=covariate_width,
        )
        self.training_run: TrainingRun | None = None
        self.regressor: FeatureRegressor | None = None
        self._step: StudentOutput | None = None

    def attach(self, run: TrainingRun | None) -> None:
        """Distil in the next training run (``None``: train without a teacher).

        Lightning moves the run's regressor to the module's device and precision.
        """
        self.training_run = run
        self.regressor = None if run is None else run.regressor

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Leave the training-only regressor (weights and optimizer moments) out of the file."""
        super().on_save_checkpoint(checkpoint)
        state = checkpoint["state_dict"]
        for key in [k for k in state if k.startswith("regressor.")]:
            del state[key]
        if not checkpoint.get("optimizer_states"):
            return
        saved_params = {
            id(p) for name, p in self.named_parameters() if not name.startswith("regressor.")
        }
        optimizers = self.trainer.optimizers
        for optimizer, saved in zip(optimizers, checkpoint["optimizer_states"], strict=True):
            _keep_optimizer_params(optimizer, saved, saved_params)

    def forward(self, x_in: PLModuleInput) -> PLModuleOutput:
        """Forecast ``x_in.past_target`` ``[batch, L, N]`` as ``[batch, H, N, 1]``.

        With a ``QuantileRegression`` likelihood the forecast is ``[batch, H, N, Q]``, one
        value per quantile level in increasing order (Darts' likelihood parameters). In the
        training stage the forecast (``[batch, H, N]``, or ``[batch, H, N, Q]``) and the
        student's features ``[batch, N, hidden]`` are kept for the distillation terms of the
        training step.
        """
        output = self._forecast(x_in)
        if x_in.stage is ModuleStage.TRAIN:
            prediction = output.prediction
            if self.student.quantiles is None:
                prediction = prediction[..., 0]
            self._step = StudentOutput(prediction, self._features)
        return output

    @io_processor
    def _forecast(self, x_in: PLModuleInput) -> PLModuleOutput:
        future = x_in.future_covariates
        if future is not None:  # [batch, L + H, Cf], as the DMLP reads them
            future = torch.cat([x_in.historic_future_covariates, future], dim=1)
        static = x_in.static_covariates
        output = self.student(
            x_in.past_target,
            past_covariates=x_in.past_covariates,
            future_covariates=future,
            static_covariates=None if static is None else static.flatten(1),
        )
        self._features = output.features
        prediction = output.prediction
        if self.student.quantiles is None:
            prediction = prediction.unsqueeze(-1)
        return PLModuleOutput(prediction=prediction)

    def training_step(self, train_batch: TorchTrainingBatch, batch_idx: int) -> Tensor:
        """Darts' training step plus the distillation terms.

        Darts' ``loss_fn`` is logged as ``train_loss``, each term as ``train_<term>``.
        """
        supervised = super().training_step(train_batch, batch_idx)
        step, self._step, self._features = self._step, None, None
        run = self.training_run
        if run is None or run.targets is None:
            return supervised
        window_ids = train_batch.window_index if isinstance(train_batch, IndexedBatch) else None
        teacher = run.targets.get(window_ids, train_batch.past_target)
        total, terms = run.loss(step.prediction, supervised, teacher, step.features)
        batch_size = train_batch.past_target.shape[0]
        log_terms(self, total, terms, batch_size, on_step=False, on_epoch=True, prog_bar=True)
        return total


class DistilledMLPModel(StudentModelHooks):
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
        regression, local or foundation model, a NeuralForecast model instance, any
        :class:`~tsdistill_plugin.core.Teacher`, or a list of these (several teachers, see
        ``teacher_weights``). An unfitted teacher is fitted first on
        exactly the student's training series (and ``val_series``); a fitted one is checked
        for compatibility. Probabilistic teachers give their median to a point student, and
        their quantiles at the student's levels to a probabilistic one (see ``likelihood``
        under ``darts_torch_model_kwargs``).
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
        least ``2 ** scale_levels``). By default the reference's 3, or as many as a horizon
        under 8 allows (said at INFO).
    teacher_feature_layer
        ``"auto"`` (a known layer for NF PatchTST / iTransformer and Darts TSMixer / TiDE,
        none otherwise), a dotted submodule name of the teacher's torch module (with a
        ``[batch, channels, ...]`` output), a ``(name, layout)`` pair with a
        :class:`~tsdistill_plugin.core.FeatureLayout`, or ``None``.
    teacher_cache
        Where the teacher's outputs for the training windows live: ``"auto"`` (memory within a
        budget, else a temporary file read back by window), ``"memory"``, ``"disk"``, or
        ``"online"`` (no cache: the teacher runs on every batch, as in the reference).
    refit_teacher
        Refit a fresh copy of the teacher on every ``fit`` (each training slice of a
        retraining backtest) instead of fitting it once and sharing it.
    teacher_stride
        Distil from every ``teacher_stride``-th training window only (the supervised loss uses
        them all): for slow teachers (foundation or local models).
    teacher_weights
        With several teachers (``teacher=[...]``): ``"mean"``, ``"validation"`` (weights
        fitted on ``val_series``) or one weight per teacher.
    period_weight
        Weight of the multi-period terms relative to the multi-scale ones (1 in the
        reference); 0 drops them, which transferred a strong teacher on CO2 where the
        period distributions saturate (``docs/teachers.md``).
    use_static_covariates
        Whether the student reads the static covariates of its series, as in Darts' TiDE.
    use_covariates
        ``False``: the student reads its target alone, and the covariates passed to ``fit``
        reach the teacher only (a student without covariates distilled from a teacher that
        reads them). The student's ``predict`` then takes no covariates.
    covariate_width
        Project each step's past and future covariates to this many features before they
        reach the hidden layer (TiDE's temporal width); ``None``: no such projection, every
        covariate of every step reaches it (see :class:`~tsdistill_plugin.core.DMLP`).
    **darts_torch_model_kwargs
        Darts ``TorchForecastingModel`` arguments (``n_epochs``, ``batch_size``,
        ``pl_trainer_kwargs``, ``random_state``, ``optimizer_kwargs``, ...).
        ``likelihood=QuantileRegression(quantiles)`` makes a probabilistic student: its head
        forecasts those quantiles (kept ordered), trained with Darts' quantile loss plus
        :class:`~tsdistill_plugin.core.QuantileDistillationLoss`'s terms, and ``predict``
        takes ``num_samples`` and ``predict_likelihood_parameters`` as for Darts' own models;
        other likelihoods are refused. Without
        ``optimizer_kwargs`` the optimizer is Adam at lr 0.01, and without
        ``lr_scheduler_cls`` the rate halves every epoch after the second, as in the
        reference. ``add_encoders`` adds Darts' encodings to the student's covariates.

    Notes
    -----
    Past covariates ``[batch, L, Cp]``, future covariates ``[batch, L + H, Cf]`` and static
    covariates are projected into the student's hidden layer (see
    :class:`~tsdistill_plugin.core.DMLP`). A teacher that reads covariates or encodings (a
    fitted TiDE with ``past_covariates`` and ``add_encoders``, a ``LinearRegressionModel`` with
    ``lags_future_covariates``, ...) forecasts each training window with exactly the
    covariates and encodings it reads in its own ``predict`` of that window (Darts'
    ``historical_forecasts``); pass the teacher's covariates to the student's ``fit``.

    Examples
    --------
    >>> from darts.models import TiDEModel
    >>> from tsdistill_plugin.darts import DistilledMLPModel
    >>> model = DistilledMLPModel(teacher=TiDEModel(96, 24, n_epochs=5), n_epochs=10)
    >>> model.fit(train_series, val_series=val_series)  # doctest: +SKIP
    >>> forecast = model.predict(n=24)  # doctest: +SKIP
    """

    training_provenance: dict | None = None
    """What the last ``fit`` trained on (teacher, data digest, plugin version, components,
    frequency), saved with the model; ``None`` before fitting."""

    use_covariates: bool = True  # the files saved before the arguments existed
    covariate_width: int | None = None
    _teacher_inputs: dict[str, Any] | None = None  # a covariate teacher's, during ``fit`` only

    shared_params = ("teacher",)
    training_only_params = (
        "teacher",
        "alpha",
        "beta",
        "temperature",
        "scale_levels",
        "teacher_feature_layer",
        "teacher_cache",
        "refit_teacher",
        "teacher_stride",
        "teacher_weights",
        "period_weight",
    )

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
        scale_levels: int | None = None,
        teacher_feature_layer: str | tuple[str, str] | None = AUTO,
        teacher_cache: CacheMode = "auto",
        refit_teacher: bool = False,
        teacher_stride: int = 1,
        teacher_weights: Weights = "mean",
        period_weight: float = 1.0,
        use_static_covariates: bool = True,
        use_covariates: bool = True,
        covariate_width: int | None = None,
        **darts_torch_model_kwargs: Any,
    ) -> None:
        quantiles = _student_quantiles(self.model_params.get("likelihood"))
        distillation = distillation_for(  # a copy's teacher (``untrained_model``) is shared
            teacher,
            feature_layer=teacher_feature_layer,
            weights=teacher_weights,
            alpha=alpha,
            beta=beta,
            temperature=temperature,
            scale_levels=scale_levels,
            refit=refit_teacher,
            storage=teacher_cache,
            stride=teacher_stride,
            period_weight=period_weight,
            quantiles=quantiles,
        )
        lookback, horizon = distillation.lengths(
            input_chunk_length, output_chunk_length, LENGTH_NAMES
        )
        check_student_arguments(hidden_size=hidden_size, norm=norm, covariate_width=covariate_width)
        params = dict(self.model_params)
        _check_darts_arguments(params)
        params.update(
            input_chunk_length=lookback, output_chunk_length=horizon, output_chunk_shift=0
        )
        if "optimizer_kwargs" not in params:
            params["optimizer_kwargs"] = dict(DEFAULT_OPTIMIZER_KWARGS)
        if "lr_scheduler_cls" not in params and "lr_scheduler_kwargs" not in params:
            params.update(copy.deepcopy(DEFAULT_LR_SCHEDULER))
        torch_params, module_params = self.split_params(params)
        super().__init__(**torch_params)
        self.pl_module_params = module_params
        self.model_params.update(
            input_chunk_length=lookback, output_chunk_length=horizon, teacher=distillation
        )
        self.hidden_size = hidden_size
        self.norm = norm
        self.use_covariates = use_covariates
        self.covariate_width = covariate_width
        self.consider_static_covariates(use_static_covariates and use_covariates)
        self._distillation = distillation
        self._run: TrainingRun | None = None

    @property
    def teacher(self) -> Any:
        """The wrapped teacher (with ``refit_teacher``, the last fit's own copy).

        ``None`` for the baseline and after loading.
        """
        return self._distillation.teacher

    @property
    def supports_static_covariates(self) -> bool:
        """Whether the model takes static covariates: yes (see ``use_static_covariates``)."""
        return True

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
        """Fit the teacher if needed and train the student.

        Parameters
        ----------
        series
            One or several target series with the same components (finite values, at least
            ``input_chunk_length + output_chunk_length`` steps each).
        val_series
            Optional validation series: validation loss (ground-truth MSE) and early stopping.
        past_covariates, future_covariates, val_past_covariates, val_future_covariates
            Covariates, one series per target series, as in Darts' ``fit``: the student reads
            them (unless ``use_covariates=False``), and the teacher reads those it was fitted
            with (an unfitted teacher is fitted with those it supports). They are not
            modified.
        **kwargs
            Other arguments of Darts' ``TorchForecastingModel.fit`` (``epochs``, ``stride``,
            ``max_samples_per_ts``, ``dataloader_kwargs``, ``sample_weight``, ...).

        Returns
        -------
        DistilledMLPModel
            The fitted model.
        """
        covariates = {
            name: series2seq(value)
            for name, value in zip(
                COVARIATE_ARGUMENTS,
                (past_covariates, future_covariates, val_past_covariates, val_future_covariates),
                strict=True,
            )
        }
        # at fit, as in NeuralForecast (whose load rebuilds a student from its arguments)
        accelerator = self.trainer_params.get("accelerator")
        check_accelerator(accelerator, "pl_trainer_kwargs['accelerator']")
        train = series2seq(series)
        val = series2seq(val_series)
        length = self.input_chunk_length + self.output_chunk_length
        _check_series(train, "series", length)
        if val is not None:
            _check_series(val, "val_series", length, train[0].n_components)
        for name, value in covariates.items():
            _check_covariates(value, name, val if name.startswith("val_") else train)
        data = training_data(train, val, covariates)
        self._distillation.prepare(
            data, self.input_chunk_length, self.output_chunk_length, train[0].n_components
        )
        teacher = self.teacher
        if getattr(teacher, "uses_covariates", False):
            self._teacher_inputs = {"series": train, **covariates}
            if not self.use_covariates:
                logger.info(
                    "The teacher %r reads covariates; the student (use_covariates=False) reads "
                    "its target alone.",
                    teacher,
                )
        student = covariates if self.use_covariates else {}
        try:
            super().fit(series, val_series=val_series, **student, **kwargs)
        finally:
            self.__dict__.pop("_teacher_inputs", None)
        self.training_provenance = provenance(  # saved with the model, read by the exporter
            self.teacher,
            data.digest,
            components=list(train[0].components),
            freq=train[0].freq_str,
            **self._covariate_names(train, student),
        )
        return self

    def _covariate_names(
        self, train: list[TimeSeries], covariates: dict[str, list[TimeSeries] | None]
    ) -> dict[str, list[str]]:
        """The names of the covariates the fitted student reads (none: an empty dict)."""
        names = {}
        for kind in ("past", "future"):
            given = covariates.get(f"{kind}_covariates")
            if given is not None:
                names[f"{kind}_covariates"] = [str(c) for c in given[0].components]
        if self.uses_static_covariates and self.considers_static_covariates:
            table = train[0].static_covariates
            names["static_covariates"] = [
                str(column) if len(table) == 1 else f"{row}:{column}"
                for row in table.index
                for column in table.columns
            ]
        return names

    def fit_from_dataset(
        self,
        train_dataset: TorchTrainingDataset,
        val_dataset: TorchTrainingDataset | None = None,
        trainer: Any = None,
        verbose: bool | None = None,
        epochs: int = 0,
        dataloader_kwargs: dict[str, Any] | None = None,
        load_best: bool = False,
    ) -> DistilledMLPModel:
        """Train the student on Darts datasets, distilling from the (fitted) teacher.

        The teacher's outputs for every training window are computed first (or, with
        ``teacher_cache="online"``, on every batch) and handed back to the teacher after
        training (see :class:`~tsdistill_plugin.core.TrainingRun`). Arguments as
        in Darts' ``TorchForecastingModel.fit_from_dataset``.
        """
        windows = PastTargets(train_dataset)
        dtype = torch.from_numpy(np.asarray(windows[0][:1])).dtype
        forecasts = self._covariate_teacher_forecasts(train_dataset, dtype)
        run = self._distillation.run(
            windows, self.output_chunk_length, dtype, self.hidden_size, forecasts=forecasts
        )
        if run.targets is not None:  # the window ids pick each sample's teacher outputs
            train_dataset = IndexedDataset(train_dataset)
            dataloader_kwargs = {**(dataloader_kwargs or {}), "collate_fn": collate_indexed}
        self._run = run
        if self.model is not None:
            self.model.attach(run)
        try:
            with run:
                return super().fit_from_dataset(
                    train_dataset,
                    val_dataset,
                    trainer,
                    verbose,
                    epochs,
                    dataloader_kwargs,
                    load_best,
                )
        finally:
            self._run = None
            if self.model is not None:
                self.model.attach(None)

    def _covariate_teacher_forecasts(
        self, dataset: TorchTrainingDataset, dtype: torch.dtype
    ) -> Tensor | None:
        """A covariate teacher's forecasts of the samples of ``dataset``, else ``None``."""
        teacher = self.teacher
        if not self._distillation.active or not getattr(teacher, "uses_covariates", False):
            return None
        name = type(teacher.model).__name__
        if not hasattr(teacher, "forecast_series"):
            raise ValueError(
                f"teacher {name} reads exogenous variables, which a Darts student cannot hand "
                "it; distil it into a NeuralForecast student (DistilledMLP) fitted on its data."
            )
        if self._teacher_inputs is None or not isinstance(dataset, ShiftedTorchTrainingDataset):
            raise ValueError(
                f"teacher {name} reads covariates, which reach it through the student's fit "
                "only; call fit(series, past_covariates=..., future_covariates=...) instead of "
                "fit_from_dataset."
            )
        inputs = self._teacher_inputs
        by_series = teacher.forecast_series(
            inputs["series"],
            inputs["past_covariates"],
            inputs["future_covariates"],
            start=self.input_chunk_length,
            horizon=self.output_chunk_length,
        )
        values = teacher_forecasts(dataset, by_series, self.output_chunk_length, name)
        return torch.from_numpy(values).to(dtype)

    def predict_from_dataset(self, *args: Any, **kwargs: Any) -> Any:
        """Predict as Darts' ``predict_from_dataset``, on one device.

        Darts' method is behind ``predict``, ``historical_forecasts`` and ``backtest``; this
        one runs in this process on one device when the student trains on several (see
        :func:`~tsdistill_plugin.devices.one_device`) and no ``trainer`` is given.
        """
        if kwargs.get("trainer") is not None:
            return super().predict_from_dataset(*args, **kwargs)
        with predicting_on_one_device(self, "trainer_params"):
            return super().predict_from_dataset(*args, **kwargs)

    def __getstate__(self) -> dict[str, Any]:
        """Return Darts' pickled state and the version of the plugin that wrote it.

        The state is what ``save`` writes to the ``.pt`` file.
        """
        return {**super().__getstate__(), "_saved_by": _version.__version__}

    def __setstate__(self, state: dict[str, Any]) -> None:
        _version.check_version(state.pop("_saved_by", None), "this DistilledMLPModel file")
        super().__setstate__(state)

    @staticmethod
    def load(
        path: str, pl_trainer_kwargs: dict | None = None, trusted: bool = False, **kwargs: Any
    ) -> DistilledMLPModel:
        """Load a saved student, with one clear error for a file that cannot be read.

        This is Darts' ``TorchForecastingModel.load`` (safe loading, arguments as there).

        Raises
        ------
        ValueError
            When the file (or its ``.ckpt``) is truncated, corrupt or altered, refers to code
            that Darts' safe loading refuses, or was saved by a newer plugin.
        TypeError
            When the file holds another model.
        """
        for file in (path, f"{path}.ckpt"):
            if os.path.isfile(file) and not zipfile.is_zipfile(file):
                raise ValueError(
                    f"{file} is not a saved model (not a torch archive): it is truncated or "
                    "corrupt; save the model again, or copy the file again from its source."
                )
        errors = (pickle.UnpicklingError, EOFError, RuntimeError)
        fix = ", and pass trusted=True only for files you saved yourself"
        with reading_saved(path, "DistilledMLPModel", errors, fix):
            model = TorchForecastingModel.load(path, pl_trainer_kwargs, trusted, **kwargs)
        if not isinstance(model, DistilledMLPModel):
            raise TypeError(
                f"{path} holds a {type(model).__name__}, not a DistilledMLPModel; load it with "
                f"{type(model).__name__}.load."
            )
        return model

    def create_module(self, train_sample: TorchTrainingSample) -> _DistilledMLPModule:
        """Build the Lightning module for samples like ``train_sample``."""
        static = train_sample.static_covariates
        sizes = (
            _width(train_sample.past_covariates),
            _width(train_sample.future_covariates),
            0 if static is None else static.shape[0] * static.shape[1],
        )
        extra = {}
        if sizes != NO_COVARIATES:
            extra = {"covariate_sizes": sizes, "covariate_width": self.covariate_width}
        module = _DistilledMLPModule(
            n_channels=train_sample.past_target.shape[1],
            hidden_size=self.hidden_size,
            norm=self.norm,
            **self.pl_module_params,
            **extra,
        )
        module.attach(self._run)
        return module


def _keep_optimizer_params(
    optimizer: torch.optim.Optimizer, saved: dict[str, Any], keep: set[int]
) -> None:
    """Keep only the parameters whose ``id`` is in ``keep`` in an optimizer's saved state."""
    dropped = set()
    for group, saved_group in zip(optimizer.param_groups, saved["param_groups"], strict=True):
        kept = []
        for param, key in zip(group["params"], saved_group["params"], strict=True):
            if id(param) in keep:
                kept.append(key)
            else:
                dropped.add(key)
        saved_group["params"] = kept
    saved["state"] = {k: v for k, v in saved["state"].items() if k not in dropped}


def _check_series(
    series: list[TimeSeries], name: str, min_length: int, width: int | None = None
) -> None:
    """Reject non-finite values, too-short series and components that differ."""
    width = series[0].n_components if width is None else width
    for i, s in enumerate(series):
        values = s.values(copy=False)
        if not np.isfinite(values).all():
            raise ValueError(
                f"{name}[{i}] contains NaN or infinite values; the student and its teacher need "
                "finite series. Fill or clip them first, e.g. with "
                "darts.dataprocessing.transformers.MissingValuesFiller."
            )
        if len(s) < min_length:
            raise ValueError(
                f"{name}[{i}] has {len(s)} time steps, fewer than input_chunk_length + "
                f"output_chunk_length = {min_length}; pass a longer series or shorter chunk "
                "lengths."
            )
        if s.n_components != width:
            raise ValueError(
                f"{name}[{i}] has {s.n_components} components but series[0] has {width}; pass "
                "series with the same components (one student forecasts one set of components)."
            )


def _width(values: np.ndarray | None) -> int:
    """Components of a sample's covariates ``[time, components]`` (0 when absent)."""
    return 0 if values is None else int(values.shape[1])


def _check_covariates(
    covariates: list[TimeSeries] | None, name: str, series: list[TimeSeries] | None
) -> None:
    """Reject covariates that do not pair with the target series or are not finite."""
    if covariates is None:
        return
    if series is None or len(covariates) != len(series):
        count = 0 if series is None else len(series)
        raise ValueError(
            f"{name} holds {len(covariates)} series but there are {count} target series; pass "
            "one covariate series per target series."
        )
    for i, s in enumerate(covariates):
        if not np.isfinite(s.values(copy=False)).all():
            raise ValueError(
                f"{name}[{i}] contains NaN or infinite values; the student and its teacher need "
                "finite covariates. Fill them first, e.g. with "
                "darts.dataprocessing.transformers.MissingValuesFiller."
            )


def _student_quantiles(likelihood: Any) -> tuple[float, ...] | None:
    """The levels a ``likelihood`` asks the student's head for: ``None`` without one.

    Raises
    ------
    ValueError
        For a likelihood other than ``QuantileRegression``: the student's head forecasts
        quantiles, not a distribution's parameters.
    """
    if likelihood is None:
        return None
    if not isinstance(likelihood, QuantileRegression):
        raise ValueError(
            f"DistilledMLPModel forecasts quantiles, so its likelihood must be a "
            f"QuantileRegression, got {type(likelihood).__name__}; pass "
            "likelihood=QuantileRegression(quantiles=[0.1, 0.5, 0.9]) (a teacher with this "
            "likelihood still teaches its quantiles), or remove it for a point forecast."
        )
    return check_quantiles(likelihood.quantiles, "QuantileRegression's quantiles")


def _check_darts_arguments(params: dict[str, Any]) -> None:
    """Refuse Darts arguments the student does not support or that are out of range.

    Runs before anything is built.
    """
    if params.get("output_chunk_shift", 0):
        raise ValueError(
            f"output_chunk_shift={params['output_chunk_shift']!r} is not supported: the student "
            "forecasts the steps right after its window, like its teacher; remove it."
        )
    for name in ("n_epochs", "batch_size"):
        if name in params:
            check_int(name, params[name])
    check_int("random_state", params.get("random_state"), 0, allowed=(None,))
