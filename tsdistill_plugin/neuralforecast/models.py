"""TimeDistill students as NeuralForecast models: ``DistilledMLP`` and ``DistilledMLPMultivariate``.

Both are ``BaseModel`` subclasses (like NeuralForecast's ``MLP`` / ``MLPMultivariate``) whose
network is the core's decomposition MLP (:class:`~tsdistill_plugin.core.DMLP`). The teacher's
whole lifecycle is the core's :class:`~tsdistill_plugin.core.Distillation`, each fit one
:class:`~tsdistill_plugin.core.TrainingRun`; this module is the NeuralForecast glue: the
constructor in NeuralForecast's style, the sampled windows identified (``_windows``), and the
distillation terms added to the loss NeuralForecast's own ``training_step`` returns.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
import torch
from neuralforecast.losses.pytorch import MSE
from neuralforecast.tsdataset import TimeSeriesDataset
from pytorch_lightning.utilities.seed import isolate_rng
from torch import Tensor

from ..core.checks import check_float, check_int
from ..core.distillation import (
    CacheMode,
    Distillation,
    TargetBatch,
    TrainingData,
    TrainingRun,
    log_terms,
    provenance,
)
from ..core.ensemble import Weights
from ..core.schedule import HalvingLR
from ..core.stamp import StampedStudent, reading_saved
from ..core.student import DMLP, StudentOutput, check_student_arguments
from ..core.teacher import AUTO, FeatureLayer, FeatureRegressor, FittableTeacher
from ..devices import check_accelerator, predicting_on_one_device
from ..teachers import distillation_for
from ._compat import SampledWindows, SerializationError, StudentHooks
from ._windows import TrainingWindows, training_data
from .teacher import loss_levels, loss_order, median_point, student_levels

logger = logging.getLogger(__name__)

LENGTH_NAMES = ("input_size", "h")

TRAINING_DEFAULTS: dict[str, Any] = {
    "valid_loss": None,
    "max_steps": 1000,
    "learning_rate": 0.01,
    "num_lr_decays": None,
    "early_stop_patience_steps": -1,
    "val_check_steps": 100,
    "batch_size": 32,
    "valid_batch_size": None,
    "inference_windows_batch_size": -1,
    "start_padding_enabled": False,
    "step_size": 1,
    "scaler_type": "identity",
    "random_seed": 1,
    "drop_last_loader": False,
    "lr_scheduler": None,
    "lr_scheduler_kwargs": None,
}
"""The students' ``BaseModel`` arguments where they differ from, or are required by,
NeuralForecast: the reference's training in NeuralForecast's terms (``loss`` is ``MSE()``)."""


class _DistilledBase(StampedStudent, StudentHooks):
    """The two students' implementation (documented on :class:`DistilledMLP`).

    Saved students carry the plugin's stamp (version and weights digest, see
    :class:`~tsdistill_plugin.core.stamp.StampedStudent`) in their state dict.
    """

    network = "dmlp"

    EXOGENOUS_FUTR = True
    EXOGENOUS_HIST = True
    EXOGENOUS_STAT = True
    RECURRENT = False
    WINDOWS_BATCH_SIZE = 256

    def __init__(
        self,
        h: int | None = None,
        input_size: int | None = None,
        teacher: object = None,
        hidden_size: int = 512,
        norm: str = "mean",
        alpha: float = 1.0,
        beta: float = 1.0,
        temperature: float = 0.5,
        scale_levels: int | None = None,
        teacher_feature_layer: FeatureLayer = AUTO,
        teacher_cache: CacheMode = "auto",
        refit_teacher: bool = False,
        teacher_stride: int = 1,
        teacher_weights: Weights = "mean",
        period_weight: float = 1.0,
        moving_avg: int = 25,
        covariate_width: int | None = None,
        **kwargs: Any,
    ) -> None:
        # a copy's ``teacher`` is its original's lifecycle, shared: Lightning's
        # save_hyperparameters deep-copies the constructor arguments and NeuralForecast
        # deep-copies the model. It is removed from the hyperparameters below, so saved
        # students hold no teacher.
        loss = kwargs.get("loss")
        loss = MSE() if loss is None else loss
        distillation = distillation_for(
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
            quantiles=student_levels(loss),
        )
        input_size, h = distillation.lengths(input_size, h, LENGTH_NAMES)
        check_student_arguments(
            hidden_size=hidden_size,
            norm=norm,
            moving_avg=moving_avg,
            covariate_width=covariate_width,
        )
        kwargs = {
            **TRAINING_DEFAULTS,
            "windows_batch_size": self.WINDOWS_BATCH_SIZE,
            **kwargs,
            "loss": loss,
        }
        lengths = {"h": h, "input_size": input_size}
        if self.MULTIVARIATE:
            if kwargs.get("n_series") is None and distillation.teacher is not None:
                kwargs["n_series"] = distillation.teacher.n_channels
            fix = "pass the number of series in the data, n_series=df['unique_id'].nunique()"
            check_int("n_series", kwargs.get("n_series"), fix=fix)
            lengths["n_series"] = kwargs.pop("n_series")
        _check_training_arguments(kwargs)
        super().__init__(**lengths, **{**kwargs, **_lr_schedule(kwargs)})
        for hparams in (self.hparams, self._hparams_initial):
            hparams.pop("teacher", None)
            hparams.update(lengths)
        self.distillation = distillation
        distillation.check_channels(self.n_series if self.MULTIVARIATE else 1, self._channel_hint())
        self.hidden_size = hidden_size
        self.outputsize = self.loss.outputsize_multiplier
        if self.futr_exog_size and self.outputsize > 1:
            raise ValueError(
                f"futr_exog_list with a loss of {self.outputsize} outputs per step "
                f"({type(self.loss).__name__}) is not supported: the student reads future "
                "exogenous variables for h steps; use a point loss such as MSE(), or drop "
                "futr_exog_list."
            )
        # per series for a multivariate student: its channels share one covariate projection
        width = self.n_series if self.MULTIVARIATE else 1
        # a multi-quantile loss's outputs are sorted, then put in the loss's order of levels
        ordered = None if loss_levels(self.loss) is None else loss_order(self.loss)
        self._quantile_order = ordered
        self._quantile_ranks = (
            None if ordered is None else [ordered.index(i) for i in range(len(ordered))]
        )
        self.dmlp = DMLP(
            input_len=input_size,
            horizon=h * self.outputsize,
            n_channels=self.n_series,
            hidden_size=hidden_size,
            norm=norm,
            moving_avg=moving_avg,
            past_covariates=self.hist_exog_size * width,
            future_covariates=self.futr_exog_size * width,
            static_covariates=self.stat_exog_size * width,
            covariate_width=covariate_width,
        )
        self.training_run: TrainingRun | None = None
        self.regressor: FeatureRegressor | None = None
        self._windows: TrainingWindows | None = None
        self._step: StudentOutput | None = None

    @property
    def teacher(self) -> object | None:
        """The teacher adapter (shared by every copy of this student), or ``None``."""
        return self.distillation.teacher

    def _channel_hint(self) -> str:
        """How to fix a teacher built for another number of channels, in NF's terms."""
        if not self.MULTIVARIATE:
            channels = self.teacher.n_channels if self.teacher else None
            return (
                f"use DistilledMLPMultivariate(n_series={channels}) for this multivariate teacher"
            )
        return f"build the teacher with n_series={self.n_series}"

    def forward(self, windows_batch: dict[str, Tensor]) -> Tensor:
        """Forecast ``windows_batch["insample_y"]`` ``[batch, input_size, series]``.

        With exogenous variables, ``hist_exog`` (``[batch, input_size, X]``; multivariate
        ``[batch, X, input_size, series]``), ``futr_exog`` (``[batch, input_size + h, F]``;
        ``[batch, F, input_size + h, series]``) and ``stat_exog`` (``[batch, S]``;
        ``[series, S]``) are the DMLP's past, future and static covariates.

        Returns
        -------
        Tensor
            ``[batch, h, series * outputs]`` in NeuralForecast's layout for ``self.loss``.
        """
        out = self.dmlp(windows_batch["insample_y"], **self._covariates(windows_batch))
        if self.training_run is not None and self.training:
            self._step = out
        return self._nf_layout(out.prediction)

    def _covariates(self, windows_batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """The batch's exogenous variables as the DMLP's covariates ``[batch, time, C]``."""
        batch = windows_batch["insample_y"].shape[0]
        covariates = {}
        for name, key, size in (
            ("past_covariates", "hist_exog", self.hist_exog_size),
            ("future_covariates", "futr_exog", self.futr_exog_size),
        ):
            if size:
                values = windows_batch[key]
                if self.MULTIVARIATE:  # [B, C, time, N] -> [B, time, C * N]
                    values = values.permute(0, 2, 1, 3).reshape(batch, values.shape[2], -1)
                covariates[name] = values
        if self.stat_exog_size:
            static = windows_batch["stat_exog"]
            if self.MULTIVARIATE:  # [N, S], the same for every window
                static = static.reshape(1, -1).expand(batch, -1)
            covariates["static_covariates"] = static
        return covariates

    def _nf_layout(self, prediction: Tensor) -> Tensor:
        batch, _, series = prediction.shape
        outputs = prediction.reshape(batch, self.outputsize, self.h, series)
        if self._quantile_ranks is not None:  # quantiles that never cross
            outputs = outputs.sort(dim=1).values[:, self._quantile_ranks]
        if self.loss.is_distribution_output:  # parameter-major: [B, h, outputs * series]
            return outputs.permute(0, 2, 1, 3).reshape(batch, self.h, -1)
        return outputs.permute(0, 2, 3, 1).reshape(batch, self.h, -1)  # [B, h, series * outputs]

    # -- training ------------------------------------------------------------------------

    def fit(
        self,
        dataset: Any,
        val_size: int = 0,
        test_size: int = 0,
        random_seed: int | None = None,
        distributed_config: Any = None,
    ) -> _DistilledBase:
        """Fit the student as ``BaseModel.fit`` does, distilling from the teacher if any.

        Before training, an unfitted teacher (or, with ``refit_teacher=True``, a fresh copy of
        it) is fitted on the same training data (the dataset, ``val_size`` and ``test_size``
        NeuralForecast hands to every model), and its outputs for every training window are
        cached when the windows can be identified (an in-memory dataset); otherwise the
        teacher runs on each step's windows.
        """
        # at fit, not construction: NeuralForecast.load rebuilds a GPU-trained student on a CPU
        # machine from its hyperparameters, and it predicts there
        check_accelerator(self.trainer_kwargs.get("accelerator"), "accelerator")
        _check_dataset(self, dataset, val_size, test_size)
        data = None
        if isinstance(dataset, TimeSeriesDataset):
            data = training_data(dataset, val_size, test_size, self.input_size, self.MULTIVARIATE)
        args = (dataset, val_size, test_size, random_seed, distributed_config)
        if not self.distillation.active:
            fitted = super().fit(*args)
        elif distributed_config is not None:
            fitted = self._fit_with_spark(*args)
        else:
            with self._training_run(dataset, data, val_size, test_size) as run:
                self._begin(run)
                try:
                    fitted = super().fit(*args)
                finally:
                    self._begin(None)
                    self._windows = None
        self.training_provenance = provenance(self.teacher, None if data is None else data.digest)
        return fitted

    def _fit_with_spark(self, dataset: Any, *args: Any) -> _DistilledBase:
        """NeuralForecast's Spark fit, which rebuilds the student on each worker.

        It rebuilds it from its hyperparameters, which hold no teacher (saved students never
        do): the teacher travels in them for this fit, and :meth:`setup` gets it ready on the
        worker.
        """
        _check_teacher_ready(self.distillation, dataset)
        self.hparams["teacher"] = self.teacher
        try:
            return super().fit(dataset, *args)
        finally:
            self.hparams.pop("teacher", None)

    def _training_run(
        self, dataset: Any, data: TrainingData | None, val_size: int, test_size: int
    ) -> TrainingRun:
        """The teacher made ready for this fit, and the run with its outputs."""
        if data is None:  # files: the windows cannot be identified
            _check_teacher_ready(self.distillation, dataset)
            return self._online_run()
        channels = self.n_series if self.MULTIVARIATE else 1
        self.distillation.prepare(data, self.input_size, self.h, channels, self._channel_hint())
        self._windows = TrainingWindows(
            dataset,
            self.input_size,
            self.step_size,
            self.start_padding_enabled,
            self.MULTIVARIATE,
            val_size,
            test_size,
        )
        progress = self.trainer_kwargs.get("enable_progress_bar", True) is not False
        windows = self._windows.windows
        forecasts = None
        teacher = self.teacher
        if self.distillation.active and getattr(teacher, "uses_covariates", False):
            if not hasattr(teacher, "forecast_dataset"):
                raise ValueError(
                    f"the teacher {teacher!r} reads covariates, which a NeuralForecast student "
                    "cannot hand it; distil it into a Darts DistilledMLPModel fitted with its "
                    "covariates."
                )
            if teacher.horizon < self.h:
                raise ValueError(
                    f"the teacher reads exogenous variables and forecasts h={teacher.horizon} "
                    f"steps, fewer than the student's h={self.h}, and such a teacher cannot be "
                    f"rolled out; give the student h <= {teacher.horizon}."
                )
            if not (self.hist_exog_size or self.futr_exog_size or self.stat_exog_size):
                logger.info(
                    "The teacher %r reads exogenous variables; the student reads its target "
                    "alone (no exogenous lists).",
                    teacher,
                )
            by_step = teacher.forecast_dataset(dataset)
            forecasts = torch.from_numpy(self._windows.teacher_forecasts(by_step, self.h))
        return self.distillation.run(
            windows, self.h, torch.float32, self.hidden_size, progress, forecasts=forecasts
        )

    def _online_run(self) -> TrainingRun:
        """A run whose teacher forecasts each step's windows, which cannot be identified."""
        channels = self.n_series if self.MULTIVARIATE else 1
        probe = [np.zeros((self.input_size, channels), np.float32)]
        return self.distillation.run(
            probe, self.h, torch.float32, self.hidden_size, identified=False
        )

    def _begin(self, run: TrainingRun | None) -> None:
        """Train with ``run`` (``None``: end it); its regressor is a submodule meanwhile.

        The regressor starts from weights drawn with ``random_seed``, whatever the global
        random state: NeuralForecast seeds at construction and again after this (in
        ``BaseModel.fit``), and its Spark workers rebuild the student and train it without
        reseeding, so a regressor drawn from the global state would differ between a fit here
        and the same fit on Spark.
        """
        self.training_run = run
        if run is None:
            self.regressor = None
            return
        with isolate_rng():
            if self.random_seed is not None:
                torch.manual_seed(self.random_seed)
            self.regressor = run.regressor

    def setup(self, stage: str) -> None:
        """Get the teacher ready where Lightning trains this student without its :meth:`fit`.

        NeuralForecast's Spark workers build it from its hyperparameters and call
        ``Trainer.fit``; the teacher then runs online, as the data comes in files.
        """
        super().setup(stage)
        if stage == "fit" and self.training_run is None and self.distillation.active:
            self._begin(self._online_run())
            self._ready_in_setup = True

    def teardown(self, stage: str) -> None:
        """End what :meth:`setup` began."""
        super().teardown(stage)
        if getattr(self, "_ready_in_setup", False):
            self.training_run.close()
            self._begin(None)
            self._ready_in_setup = False

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        """NeuralForecast's training step plus the distillation terms.

        NeuralForecast's loss is logged as ``train_loss``, each term as ``train_<term>``.
        """
        run = self.training_run
        if run is None:
            return super().training_step(batch, batch_idx)
        self.recording(batch)
        loss = super().training_step(batch, batch_idx)
        sampled = self.recorded()
        student, self._step = self._step, None
        teacher = self._teacher_outputs(batch, sampled)
        prediction, teacher = self._in_student_space(student, teacher, batch["y_idx"])
        total, terms = run.loss(prediction, loss, teacher, student.features)
        log_terms(self, total, terms, sampled.insample.shape[0], on_epoch=True)
        return total

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        """Predict as ``BaseModel.predict``, on one device.

        It runs in this process on one device when the student trains on several (see
        :func:`~tsdistill_plugin.devices.one_device`; NeuralForecast does so for several GPUs
        only).
        """
        with predicting_on_one_device(self, "trainer_kwargs"):
            return super().predict(*args, **kwargs)

    @classmethod
    def load(cls, path: str, *args: Any, **kwargs: Any) -> _DistilledBase:
        """Load a saved student, with one clear error for a file that cannot be read.

        This is ``BaseModel.load`` (safetensors and JSON, no code runs; arguments as there),
        and ``NeuralForecast.load`` calls it for each saved student.

        Raises
        ------
        ValueError
            When the file is truncated, corrupt or altered (its weights no longer match their
            digest, or its settings name what NeuralForecast does not know), or was saved by a
            newer plugin.
        """
        with reading_saved(path, cls.__name__, (SerializationError, json.JSONDecodeError)):
            return super().load(path, *args, **kwargs)

    def _teacher_outputs(self, batch: dict, sampled: SampledWindows) -> TargetBatch | None:
        """The teacher's outputs for the sampled windows, in the batch's series order."""
        if self._windows is None:  # files or spark: the windows are not identified
            return self.training_run.targets.get(None, sampled.insample)
        batch_series = self._windows.batch_series(batch["temporal"][:, batch["y_idx"]])
        ids, columns = self._windows.ids(sampled, batch_series)
        output = self.training_run.targets.get(ids, sampled.insample)
        if output is None or columns is None or self.training_run.targets.cache is None:
            return output
        features = None if output.features is None else output.features[:, columns]
        return output._replace(prediction=output.prediction[:, :, columns], features=features)

    def _in_student_space(
        self, student: StudentOutput, teacher: TargetBatch | None, y_idx: int
    ) -> tuple[Tensor, TargetBatch | None]:
        """Both forecasts in the student's normalized space, so that the terms compare alike.

        The space is given by the student's scaler statistics of each window.
        """
        loc = self.scaler.x_shift[:, :, y_idx]
        scale = self.scaler.x_scale[:, :, y_idx]
        output = self.loss.domain_map(self._nf_layout(student.prediction))
        to_student_space = self.scaler.scaler
        if self.distillation.quantiles is not None:
            # a multi-quantile loss's output is already in that space: [B, h, N, Q], levels
            # increasing
            prediction = output[..., self._quantile_order]
        else:
            # the median of the loss's output (a distribution without a closed-form quantile
            # function: its mean, which keeps the term differentiable)
            point = median_point(self, output, loc, scale, differentiable=True)
            prediction = to_student_space(point, loc, scale)
        if teacher is None:
            return prediction, None
        if teacher.rows is not None:
            loc, scale = loc[teacher.rows], scale[teacher.rows]
        if teacher.prediction.ndim == 4:  # quantiles: the statistics broadcast over the levels
            loc, scale = loc.unsqueeze(-1), scale.unsqueeze(-1)
        teacher_prediction = to_student_space(
            teacher.prediction.to(prediction.dtype), loc.detach(), scale.detach()
        )
        return prediction, teacher._replace(prediction=teacher_prediction)


class DistilledMLP(_DistilledBase):
    """TimeDistill student for NeuralForecast, channel-independent (like ``MLP``).

    Each series is forecast on its own from its last ``input_size`` values by the
    decomposition MLP, distilled from a teacher's forecasts and hidden features.

    Parameters
    ----------
    h : int, optional
        Forecast horizon; defaults to the teacher's.
    input_size : int, optional
        Lookback; defaults to the teacher's. Must be at least the teacher's.
    teacher : optional
        A NeuralForecast model (fitted or not), a Darts model (fitted or not), any
        :class:`~tsdistill_plugin.core.Teacher`, a list of these (several teachers, see
        ``teacher_weights``), or ``None`` (the same student without distillation: the
        baseline). An unfitted teacher is fitted on the same training data before the student
        trains (a deep copy is trained; the object you passed stays unfitted, as with
        ``NeuralForecast.fit``). A Darts teacher is handed the series with a RangeIndex, since
        NeuralForecast's dataset carries no timestamps. Recurrent NF models are not supported.
    hidden_size : int
        Hidden width of both MLP branches (512 in the reference).
    norm : {"mean", "revin", "none"}
        The DMLP's own input normalization ("mean": the reference's non-stationary mode).
    alpha, beta : float
        Weights of the prediction-level and feature-level terms (multi-scale MSE + multi-period
        KL each). ``alpha = beta = 0`` trains without the teacher.
    temperature : float
        Softmax temperature of the period distributions.
    scale_levels : int, optional
        Average-pooling rounds of the multi-scale terms; ``h`` must be at least
        ``2**scale_levels``. By default the reference's 3, or as many as a horizon under 8
        allows (said at INFO).
    teacher_feature_layer : str or None
        ``"auto"``: the adapter's choice (PatchTST, iTransformer, SOFTS for NF teachers); a
        dotted submodule name; ``None``: no feature-level terms.
    teacher_cache : {"auto", "memory", "disk", "online"}
        Where the teacher's outputs for the training windows live: ``"auto"`` (memory within a
        budget, else a temporary file read back by window), ``"memory"``, ``"disk"``, or
        ``"online"`` (the teacher runs on every step's windows, as in the reference). Data
        that comes as files or spark is always distilled online.
    refit_teacher : bool
        Fit a fresh copy of the teacher on every fit of the student (for
        ``cross_validation(refit=...)`` without look-ahead). Without it, a teacher fitted
        beforehand on more data than the student's training slice triggers a warning.
    teacher_stride : int
        Distil from every ``teacher_stride``-th training window only (the supervised loss uses
        them all): for slow teachers (foundation or local models).
    teacher_weights : {"mean", "validation"} or list of float
        With several teachers: their forecasts' mean, weights fitted on the validation split
        (``val_size``), or one weight per teacher.
    period_weight : float
        Weight of the multi-period terms relative to the multi-scale ones (1 in the
        reference); 0 drops them, which transferred a strong teacher on CO2 where the
        period distributions saturate (``docs/teachers.md``).
    moving_avg : int
        Odd kernel of the DMLP's trend/seasonal decomposition.
    covariate_width : int, optional
        Project each step's ``hist_exog_list`` and ``futr_exog_list`` variables to this many
        features before they reach the hidden layer (TiDE's temporal width; for
        :class:`DistilledMLPMultivariate`, the variables of every series together); ``None``:
        every variable of every step reaches it (see :class:`~tsdistill_plugin.core.DMLP`).
    **kwargs
        NeuralForecast ``BaseModel`` arguments and Lightning ``Trainer`` arguments
        (accelerator, devices, strategy, ...), as for NeuralForecast's models. Defaults that
        differ from NeuralForecast's follow the reference: ``loss=MSE()``,
        ``learning_rate=0.01``, ``max_steps=1000``, ``val_check_steps=100``,
        ``windows_batch_size=256`` (about 32 windows of 8 channels; 32 multivariate windows for
        :class:`DistilledMLPMultivariate`), and the learning-rate schedule below. With a
        multi-quantile ``loss`` (``MQLoss``, ``HuberMQLoss``, 0.5 among its quantiles) the
        student keeps its quantiles ordered and distils quantile by quantile
        (:class:`~tsdistill_plugin.core.QuantileDistillationLoss`; a teacher that forecasts
        quantiles teaches them at the student's levels, a point teacher the median); with a
        distribution ``loss`` the distillation terms act on the student's median forecast
        (the mean for distributions without a closed-form quantile function).
        ``lr_scheduler``, ``lr_scheduler_kwargs`` and ``num_lr_decays`` set the schedule: by
        default (all ``None``) the reference's, :class:`~tsdistill_plugin.core.HalvingLR`,
        the learning rate constant for two epochs and then halved after each, an epoch being
        ``val_check_steps`` steps (or ``lr_scheduler_kwargs={"steps_per_epoch": n}``);
        ``num_lr_decays=k`` gives NeuralForecast's ``k`` evenly spaced halvings (``-1``: a
        constant rate); an ``lr_scheduler`` class is used with ``lr_scheduler_kwargs`` as in
        NeuralForecast.

    Notes
    -----
    The reference's training in full (an epoch is one pass over its ``n`` training windows,
    at most 100 epochs, early stopping after 5 epochs without a lower validation loss) is
    ``val_check_steps=ceil(n / windows_batch_size)``, ``max_steps=100 * val_check_steps``,
    ``early_stop_patience_steps=5`` and a ``val_size`` in ``fit``; NeuralForecast draws each
    step's windows at random rather than as passes over the data, which made no measurable
    difference on ETTh1 (``docs/results.md``), and keeps the last weights where the reference
    restores the best epoch's.

    Teacher outputs are cached: before training, the teacher forecasts every training window
    once, and each window NeuralForecast samples is read back by its index in the step's
    enumeration of windows (its position in time) and its series (recognised by content, as
    NeuralForecast's loader may shuffle them). The outputs stay with the teacher for the next
    fit on the same windows (a tuner's trials), and go with it.

    The distillation terms compare the student's and teacher's forecasts in the student's
    normalized space (the student's scaler statistics of each window, i.e. the data's scale
    with the default ``scaler_type="identity"``); teachers give forecasts in the data's scale
    whatever their own scaler or loss. Logged per step: ``train_loss`` (NeuralForecast's,
    supervised only) and ``train_supervised``, ``train_prediction_scale``,
    ``train_prediction_period``, ``train_feature_scale``, ``train_feature_period``,
    ``train_total``.

    Saved models (``nf.save``, ``model.save``) hold no teacher; the feature regressor is
    training-only and is dropped after ``fit``.
    """

    MULTIVARIATE = False


class DistilledMLPMultivariate(_DistilledBase):
    """TimeDistill student for NeuralForecast taking all series together (like ``MLPMultivariate``).

    Each window holds all ``n_series`` series (one channel each, per-channel BatchNorm as in
    the reference); needed for multivariate teachers such as iTransformer, TSMixer or SOFTS.
    The series stay in the dataset's order in every training batch (NeuralForecast 3 shuffles
    them), so that each series has its own BatchNorm statistics, as in the reference.

    Parameters
    ----------
    h, input_size
        As for :class:`DistilledMLP`.
    n_series : int, optional
        Number of series in the data; defaults to the multivariate teacher's ``n_series``.
    **kwargs
        The other arguments of :class:`DistilledMLP` (``windows_batch_size`` defaults to 32
        windows of all series).
    """

    MULTIVARIATE = True
    # NeuralForecast 3 shuffles the series of each training batch, multivariate models' too, so
    # channel i of a window would be a different series at every step and the per-series
    # BatchNorm statistics and weights those of no series (forecasts 4-8% worse on ETTh1,
    # docs/results.md).
    KEEP_SERIES_ORDER = True
    WINDOWS_BATCH_SIZE = 32

    def __init__(
        self,
        h: int | None = None,
        input_size: int | None = None,
        n_series: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(h, input_size, n_series=n_series, **kwargs)


def _lr_schedule(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Return the learning-rate arguments for ``BaseModel``.

    With ``lr_scheduler=None`` and ``num_lr_decays=None`` (the defaults), the reference's
    schedule (:class:`HalvingLR`, one epoch = ``val_check_steps`` steps unless
    ``lr_scheduler_kwargs`` gives ``steps_per_epoch``); otherwise NeuralForecast's own
    (``num_lr_decays`` StepLR halvings, ``0`` or ``-1``: none).
    """
    decays = kwargs["num_lr_decays"]
    if kwargs["lr_scheduler"] is not None or decays is not None:
        return {"num_lr_decays": -1 if decays is None else decays}
    schedule = {
        "steps_per_epoch": kwargs["val_check_steps"],
        **(kwargs["lr_scheduler_kwargs"] or {}),
    }
    return {"num_lr_decays": -1, "lr_scheduler": HalvingLR, "lr_scheduler_kwargs": schedule}


# -- checks ------------------------------------------------------------------------------

_TRAINING_INTEGERS: dict[str, tuple[int, tuple]] = {
    "max_steps": (1, ()),
    "batch_size": (1, ()),
    "valid_batch_size": (1, (None,)),
    "windows_batch_size": (1, (None,)),
    "inference_windows_batch_size": (1, (None, -1)),
    "step_size": (1, ()),
    "val_check_steps": (1, ()),
    "early_stop_patience_steps": (-1, ()),
    "num_lr_decays": (-1, (None,)),
    "random_seed": (0, ()),
}
"""``BaseModel``'s integer arguments the students pass on: the smallest value each accepts
(-1: off, or all windows) and other accepted values (``None``: NeuralForecast's default)."""


def _check_training_arguments(kwargs: dict[str, Any]) -> None:
    """Refuse NeuralForecast training arguments out of range at construction.

    NeuralForecast checks none of them, and a bad one fails only when training starts, or not
    at all.
    """
    for name, (minimum, allowed) in _TRAINING_INTEGERS.items():
        if name in kwargs:
            check_int(name, kwargs[name], minimum, allowed=allowed)
    if "learning_rate" in kwargs:
        check_float("learning_rate", kwargs["learning_rate"])


def _check_teacher_ready(distillation: Distillation, dataset: Any) -> None:
    """Refuse to fit a teacher on data the student cannot hand it (files or spark)."""
    teacher = distillation.teacher
    unfitted = isinstance(teacher, FittableTeacher) and not teacher.is_fitted
    if distillation.refit or unfitted:
        raise ValueError(
            f"the student can fit its teacher only on an in-memory DataFrame, but the data comes "
            f"as {type(dataset).__name__} (files or spark); fit the teacher yourself first and "
            "pass refit_teacher=False."
        )


def _check_dataset(student: _DistilledBase, dataset: Any, val_size: int, test_size: int) -> None:
    """Reject data the student cannot train on, naming the fix."""
    if not isinstance(dataset, TimeSeriesDataset):
        return  # files / distributed datasets are checked by NeuralForecast
    n_groups = len(dataset.indptr) - 1
    if student.MULTIVARIATE and n_groups != student.n_series:
        raise ValueError(
            f"n_series={student.n_series} but the data holds {n_groups} series; pass "
            f"n_series={n_groups} to {type(student).__name__}."
        )
    y = dataset.temporal[:, dataset.y_idx]
    if not torch.isfinite(y).all():
        raise ValueError(
            "y contains NaN or infinite values; fill, drop or clip them before fitting."
        )
    shortest = int(min(b - a for a, b in zip(dataset.indptr[:-1], dataset.indptr[1:], strict=True)))
    needed = student.input_size + student.h + val_size + test_size
    if not student.start_padding_enabled and shortest < needed:
        raise ValueError(
            f"the shortest series has {shortest} rows but input_size + h"
            + (" + val_size + test_size" if val_size or test_size else "")
            + f" = {needed} are needed for one training window; use longer series, a smaller "
            "input_size, or start_padding_enabled=True."
        )
