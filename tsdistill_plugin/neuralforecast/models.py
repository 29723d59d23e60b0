"""TimeDistill students as NeuralForecast models: ``DistilledMLP`` and ``DistilledMLPMultivariate``.

Both are ``BaseModel`` subclasses (like NeuralForecast's ``MLP`` / ``MLPMultivariate``) whose
network is the core's decomposition MLP (:class:`~tsdistill_plugin.core.DMLP`). The teacher's
whole lifecycle is the core's :class:`~tsdistill_plugin.core.Distillation`; this module is the
NeuralForecast glue: the constructors in NeuralForecast's style, the sampled windows identified
(``_windows``), and the distillation terms added to the loss NeuralForecast's own
``training_step`` returns.
"""

from __future__ import annotations

import json
from typing import Any

import torch
from neuralforecast.losses.pytorch import MSE
from neuralforecast.tsdataset import TimeSeriesDataset
from torch import Tensor

from ..core.checks import check_float, check_int
from ..core.distillation import (
    CacheMode,
    Distillation,
    TargetBatch,
    TeacherTargets,
    TrainingData,
    provenance,
)
from ..core.ensemble import Weights
from ..core.schedule import HalvingLR
from ..core.stamp import StampedStudent
from ..core.student import DMLP, StudentOutput, check_student_arguments
from ..core.teacher import AUTO, FeatureLayer, FeatureRegressor, FittableTeacher
from ..devices import check_accelerator, for_prediction
from ..teachers import distillation_for
from ._compat import SampledWindows, SerializationError, StudentHooks
from ._windows import TrainingWindows, training_data
from .teacher import median_point

LENGTH_NAMES = ("input_size", "h")


class _DistilledBase(StampedStudent, StudentHooks):
    """Shared implementation of the two students (see :class:`DistilledMLP`).

    Saved students carry the plugin's stamp (version and weights digest, see
    :class:`~tsdistill_plugin.core.stamp.StampedStudent`) in their state dict.
    """

    network = "dmlp"

    EXOGENOUS_FUTR = False
    EXOGENOUS_HIST = False
    EXOGENOUS_STAT = False
    RECURRENT = False

    def __init__(
        self,
        h: int,
        input_size: int,
        teacher: Distillation,
        hidden_size: int,
        norm: str,
        moving_avg: int,
        **kwargs: Any,
    ) -> None:
        # ``teacher`` arrives as the lifecycle (see ``_distillation``): Lightning's
        # save_hyperparameters deep-copies the constructor arguments and NeuralForecast
        # deep-copies the model; every copy shares the lifecycle. It is removed from the
        # hyperparameters below, so saved students hold no teacher.
        check_student_arguments(hidden_size=hidden_size, norm=norm, moving_avg=moving_avg)
        _check_training_arguments(kwargs)
        super().__init__(h=h, input_size=input_size, **{**kwargs, **_lr_schedule(kwargs)})
        for hparams in (self.hparams, self._hparams_initial):
            hparams.pop("teacher", None)
            hparams.update(h=h, input_size=input_size)
        self.distillation = teacher
        teacher.check_channels(self.n_series if self.MULTIVARIATE else 1, self._channel_hint())
        self.hidden_size = hidden_size
        self.outputsize = self.loss.outputsize_multiplier
        self.dmlp = DMLP(
            input_len=input_size,
            horizon=h * self.outputsize,
            n_channels=self.n_series,
            hidden_size=hidden_size,
            norm=norm,
            moving_avg=moving_avg,
        )
        self.training_provenance: dict | None = None
        self.regressor: FeatureRegressor | None = None
        self._targets: TeacherTargets | None = None
        self._windows: TrainingWindows | None = None
        self._step: StudentOutput | None = None

    @property
    def teacher(self) -> object | None:
        """The teacher adapter (shared by every copy of this student), or ``None``."""
        return self.distillation.teacher

    def _channel_hint(self) -> str:
        """How to fix a teacher built for another number of channels, in NF's terms."""
        channels = self.distillation.teacher.n_channels if self.distillation.teacher else None
        if not self.MULTIVARIATE:
            return (
                f"use DistilledMLPMultivariate(n_series={channels}) for this multivariate teacher"
            )
        return f"build the teacher with n_series={self.n_series}"

    def saved_extra(self) -> dict[str, Any]:
        """Return ``training_provenance``, saved with the stamp in the state dict.

        It says what the last fit trained on (read by the exporter); NeuralForecast saves only
        tensors.
        """
        return {"provenance": self.training_provenance}

    def restore_extra(self, saved: dict[str, Any]) -> None:
        self.training_provenance = saved.get("provenance")

    def forward(self, windows_batch: dict[str, Tensor]) -> Tensor:
        """Forecast ``windows_batch["insample_y"]`` ``[batch, input_size, series]``.

        Returns
        -------
        Tensor
            ``[batch, h, series * outputs]`` in NeuralForecast's layout for ``self.loss``.
        """
        out = self.dmlp(windows_batch["insample_y"])
        if self._targets is not None and self.training:
            self._step = out
        return self._nf_layout(out.prediction)

    def _nf_layout(self, prediction: Tensor) -> Tensor:
        batch, _, series = prediction.shape
        outputs = prediction.reshape(batch, self.outputsize, self.h, series)
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
        fitted = self._fit_with_teacher(
            dataset, data, val_size, test_size, random_seed, distributed_config
        )
        self.training_provenance = provenance(self.teacher, None if data is None else data.digest)
        return fitted

    def _fit_with_teacher(
        self,
        dataset: Any,
        data: TrainingData | None,
        val_size: int,
        test_size: int,
        random_seed: int | None,
        distributed_config: Any,
    ) -> _DistilledBase:
        if not self.distillation.active:
            return super().fit(dataset, val_size, test_size, random_seed, distributed_config)
        if distributed_config is not None:
            # NeuralForecast's Spark fit rebuilds the student on each worker from its
            # hyperparameters, which hold no teacher (saved students never do): the teacher
            # travels in them for this fit, and ``setup`` gets it ready on the worker.
            _check_teacher_ready(self.distillation, dataset)
            self.hparams["teacher"] = self.distillation.teacher
            try:
                return super().fit(dataset, val_size, test_size, random_seed, distributed_config)
            finally:
                self.hparams.pop("teacher", None)
        channels = self.n_series if self.MULTIVARIATE else 1
        if data is not None:
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
            windows, storage = self._windows.windows, None
        else:
            _check_teacher_ready(self.distillation, dataset)
            windows, storage = [torch.zeros(self.input_size, channels).numpy()], "online"
        progress = self.trainer_kwargs.get("enable_progress_bar", True) is not False
        self._targets = self.distillation.targets(
            windows, self.h, torch.float32, progress, storage=storage
        )
        self.regressor = self.distillation.regressor(self._targets, self.hidden_size)
        try:
            return super().fit(dataset, val_size, test_size, random_seed, distributed_config)
        finally:
            self.distillation.release(self._targets)
            self._targets = self._windows = None
            self.regressor = None  # training-only: never saved with the student

    def setup(self, stage: str) -> None:
        """Get the teacher ready where Lightning trains this student without its :meth:`fit`.

        NeuralForecast's Spark workers build it from its hyperparameters and call
        ``Trainer.fit``; the teacher then runs online, as the data comes in files.
        """
        super().setup(stage)
        if stage != "fit" or self._targets is not None or not self.distillation.active:
            return
        channels = self.n_series if self.MULTIVARIATE else 1
        window = torch.zeros(self.input_size, channels).numpy()
        self._targets = self.distillation.targets([window], self.h, torch.float32, storage="online")
        self.regressor = self.distillation.regressor(self._targets, self.hidden_size)
        self._ready_in_setup = True

    def teardown(self, stage: str) -> None:
        """Release what :meth:`setup` got ready (the regressor is training-only)."""
        super().teardown(stage)
        if getattr(self, "_ready_in_setup", False):
            self._targets.close()
            self._targets = self.regressor = None
            self._ready_in_setup = False

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        """NeuralForecast's training step plus the distillation terms.

        NeuralForecast's loss is logged as ``train_loss``, each term as ``train_<term>``.
        """
        if self._targets is None:
            return super().training_step(batch, batch_idx)
        self.recording(batch)
        loss = super().training_step(batch, batch_idx)
        sampled = self.recorded()
        student, self._step = self._step, None
        teacher = self._teacher_outputs(batch, sampled)
        prediction, teacher = self._in_student_space(student, teacher, batch["y_idx"])
        total, terms = self.distillation.loss(
            prediction, loss, teacher, student.features, self.regressor
        )
        batch_size = sampled.insample.shape[0]
        for name, value in (*terms.items(), ("total", total)):
            self.log(
                f"train_{name}",
                float(value.detach()),
                batch_size=batch_size,
                on_epoch=True,
                sync_dist=True,
            )
        return total

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        """Predict as ``BaseModel.predict``, on one device.

        It runs in this process on one device when the student trains on several (see
        :func:`~tsdistill_plugin.devices.one_device`; NeuralForecast does so for several GPUs
        only).
        """
        trainer_kwargs = self.trainer_kwargs
        single = for_prediction(trainer_kwargs)
        if single is None:
            return super().predict(*args, **kwargs)
        self.trainer_kwargs = single
        try:
            return super().predict(*args, **kwargs)
        finally:
            self.trainer_kwargs = trainer_kwargs

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
        try:
            return super().load(path, *args, **kwargs)
        except (SerializationError, json.JSONDecodeError) as error:
            raise ValueError(
                f"{path} could not be read as a saved {cls.__name__}: {error} The file is "
                "corrupt or was altered after saving: save the student again, or copy the file "
                "again from its source."
            ) from error

    def _teacher_outputs(self, batch: dict, sampled: SampledWindows) -> TargetBatch | None:
        """The teacher's outputs for the sampled windows, in the batch's series order."""
        if self._windows is None:  # files or spark: the windows are not identified
            return self._targets.get(None, sampled.insample)
        batch_series = self._windows.batch_series(batch["temporal"][:, batch["y_idx"]])
        ids, columns = self._windows.ids(sampled, batch_series)
        output = self._targets.get(ids, sampled.insample)
        if output is None or columns is None or self._targets.cache is None:
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
        # the median of the loss's output (a distribution without a closed-form quantile
        # function: its mean, which keeps the term differentiable)
        point = median_point(self, output, loc, scale, differentiable=True)
        to_student_space = self.scaler.scaler
        prediction = to_student_space(point, loc, scale)
        if teacher is None:
            return prediction, None
        if teacher.rows is not None:
            loc, scale = loc[teacher.rows], scale[teacher.rows]
        teacher_prediction = to_student_space(
            teacher.prediction.to(point.dtype), loc.detach(), scale.detach()
        )
        return prediction, teacher._replace(prediction=teacher_prediction)


_DOC_COMMON = """
    h : int, optional
        Forecast horizon; defaults to the teacher's.
    input_size : int, optional
        Lookback; defaults to the teacher's. Must be at least the teacher's.
    teacher : optional
        A NeuralForecast model (fitted or not), a Darts model (fitted or not), any
        :class:`~tsdistill_plugin.core.Teacher` / ``TorchTeacher``, or ``None`` (the same
        student without distillation: the baseline). An unfitted teacher is fitted on the
        same training data before the student trains (a deep copy is trained; the object you
        passed stays unfitted, as with ``NeuralForecast.fit``). A Darts teacher is handed
        the series with a RangeIndex, since NeuralForecast's dataset carries no timestamps.
        Recurrent NF models are not supported.
    hidden_size : int
        Hidden width of both MLP branches (512 in the reference).
    norm : {"mean", "revin", "none"}
        The DMLP's own input normalization ("mean": the reference's non-stationary mode).
    alpha, beta : float
        Weights of the prediction-level and feature-level terms (multi-scale MSE + multi-period
        KL each). ``alpha = beta = 0`` trains without the teacher.
    temperature : float
        Softmax temperature of the period distributions.
    scale_levels : int
        Average-pooling rounds of the multi-scale terms; ``h`` must be at least ``2**levels``.
    teacher_feature_layer : str or None
        ``"auto"``: the adapter's choice (PatchTST, iTransformer, SOFTS for NF teachers); a
        dotted submodule name; ``None``: no feature-level terms.
    refit_teacher : bool
        Fit a fresh copy of the teacher on every fit of the student (for
        ``cross_validation(refit=...)`` without look-ahead). Without it, a teacher fitted
        beforehand on more data than the student's training slice triggers a warning.
    moving_avg : int
        Odd kernel of the DMLP's trend/seasonal decomposition.
    loss, valid_loss
        NeuralForecast losses (``None``: ``MSE()``, the reference's). With a quantile or
        distribution loss the distillation terms act on the student's median forecast (the
        mean for distributions without a closed-form quantile function).
    lr_scheduler, lr_scheduler_kwargs, num_lr_decays
        The learning-rate schedule. By default (``None``, ``None``, ``None``) the reference's:
        :class:`~tsdistill_plugin.core.HalvingLR`, the learning rate constant for two epochs
        and then halved after each, an epoch being ``val_check_steps`` steps (or
        ``lr_scheduler_kwargs={"steps_per_epoch": n}``). ``num_lr_decays=k`` gives
        NeuralForecast's ``k`` evenly spaced halvings (``-1``: a constant rate); a
        ``lr_scheduler`` class is used with ``lr_scheduler_kwargs`` as in NeuralForecast.
    max_steps, learning_rate, early_stop_patience_steps, val_check_steps, batch_size,
    valid_batch_size, windows_batch_size, inference_windows_batch_size,
    start_padding_enabled, step_size, scaler_type, random_seed, drop_last_loader, alias,
    optimizer, optimizer_kwargs, dataloader_kwargs
        As for NeuralForecast's models; ``**trainer_kwargs`` (accelerator, devices,
        strategy, ...) go to Lightning's ``Trainer``.

    Notes
    -----
    Defaults follow the reference in NeuralForecast's terms: ``MSE`` loss, Adam with
    ``learning_rate=0.01``, batches of 32 multivariate windows (``DistilledMLPMultivariate``:
    ``windows_batch_size=32``; ``DistilledMLP``: 256 one-series windows, about 32 windows of
    8 channels), no dropout, and the learning rate halved every epoch after the second, an
    epoch being ``val_check_steps`` steps. The reference's training in full (an epoch is one
    pass over its ``n`` training windows, at most 100 epochs, early stopping after 5 epochs
    without a lower validation loss) is ``val_check_steps=ceil(n / windows_batch_size)``,
    ``max_steps=100 * val_check_steps``, ``early_stop_patience_steps=5`` and a ``val_size``
    in ``fit``; NeuralForecast draws each step's windows at random rather than as passes over
    the data, which made no measurable difference on ETTh1 (``docs/results.md``), and keeps
    the last weights where the reference restores the best epoch's.
    ``DistilledMLPMultivariate`` keeps the series in the dataset's order in every training
    batch (NeuralForecast 3 shuffles them), so that each series has its own BatchNorm
    statistics as in the reference.

    Teacher outputs are cached: before training, the teacher forecasts every training window
    once, and each window NeuralForecast samples is read back by its index in the step's
    enumeration of windows (its position in time) and its series (recognised by content, as
    NeuralForecast's loader may shuffle them). When the data comes as files or spark (no in-memory
    dataset), the teacher runs online on each step's windows instead and the reason is
    logged once.

    The distillation terms compare the student's and teacher's forecasts in the student's
    normalized space (the student's scaler statistics of each window, i.e. the data's scale
    with the default ``scaler_type="identity"``); teachers give forecasts in the data's scale
    whatever their own scaler or loss. Logged per step: ``train_loss`` (NeuralForecast's,
    supervised only) and ``train_supervised``, ``train_prediction_scale``,
    ``train_prediction_period``, ``train_feature_scale``, ``train_feature_period``.

    Saved models (``nf.save``, ``model.save``) hold no teacher; the feature regressor is
    training-only and is dropped after ``fit``.
"""


class DistilledMLP(_DistilledBase):  # noqa: D101 (the docstring is __doc__, built below)
    __doc__ = (
        """TimeDistill student for NeuralForecast, channel-independent (like ``MLP``).

    Each series is forecast on its own from its last ``input_size`` values by the
    decomposition MLP, distilled from a teacher's forecasts and hidden features.

    Parameters
    ----------"""
        + _DOC_COMMON
    )

    MULTIVARIATE = False

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
        scale_levels: int = 3,
        teacher_feature_layer: FeatureLayer = AUTO,
        teacher_cache: CacheMode = "auto",
        refit_teacher: bool = False,
        teacher_stride: int = 1,
        teacher_weights: Weights = "mean",
        moving_avg: int = 25,
        loss: Any = None,
        valid_loss: Any = None,
        max_steps: int = 1000,
        learning_rate: float = 0.01,
        num_lr_decays: int | None = None,
        early_stop_patience_steps: int = -1,
        val_check_steps: int = 100,
        batch_size: int = 32,
        valid_batch_size: int | None = None,
        windows_batch_size: int = 256,
        inference_windows_batch_size: int = -1,
        start_padding_enabled: bool = False,
        step_size: int = 1,
        scaler_type: str = "identity",
        random_seed: int = 1,
        drop_last_loader: bool = False,
        alias: str | None = None,
        optimizer: Any = None,
        optimizer_kwargs: dict | None = None,
        lr_scheduler: Any = None,
        lr_scheduler_kwargs: dict | None = None,
        dataloader_kwargs: dict | None = None,
        **trainer_kwargs: Any,
    ) -> None:
        teacher = distillation_for(  # a copy's teacher is shared
            teacher,
            feature_layer=teacher_feature_layer,
            weights=teacher_weights,
            alpha=alpha,
            beta=beta,
            temperature=temperature,
            scale_levels=scale_levels,
            refit=refit_teacher,
            cache=teacher_cache,
            stride=teacher_stride,
        )
        input_size, h = teacher.lengths(input_size, h, LENGTH_NAMES)
        loss = MSE() if loss is None else loss
        super().__init__(
            h=h,
            input_size=input_size,
            teacher=teacher,
            hidden_size=hidden_size,
            norm=norm,
            moving_avg=moving_avg,
            loss=loss,
            valid_loss=valid_loss,
            max_steps=max_steps,
            learning_rate=learning_rate,
            num_lr_decays=num_lr_decays,
            early_stop_patience_steps=early_stop_patience_steps,
            val_check_steps=val_check_steps,
            batch_size=batch_size,
            valid_batch_size=valid_batch_size,
            windows_batch_size=windows_batch_size,
            inference_windows_batch_size=inference_windows_batch_size,
            start_padding_enabled=start_padding_enabled,
            step_size=step_size,
            scaler_type=scaler_type,
            random_seed=random_seed,
            drop_last_loader=drop_last_loader,
            alias=alias,
            optimizer=optimizer,
            optimizer_kwargs=optimizer_kwargs,
            lr_scheduler=lr_scheduler,
            lr_scheduler_kwargs=lr_scheduler_kwargs,
            dataloader_kwargs=dataloader_kwargs,
            **trainer_kwargs,
        )


class DistilledMLPMultivariate(_DistilledBase):  # noqa: D101 (the docstring is __doc__)
    __doc__ = (
        """TimeDistill student for NeuralForecast taking all series together (like
    ``MLPMultivariate``).

    Each window holds all ``n_series`` series (one channel each, per-channel BatchNorm as in
    the reference); needed for multivariate teachers such as iTransformer, TSMixer or SOFTS.

    Parameters
    ----------
    n_series : int
        Number of series in the data (and the multivariate teacher's ``n_series``)."""
        + _DOC_COMMON
    )

    MULTIVARIATE = True
    # NeuralForecast 3 shuffles the series of each training batch, multivariate models' too, so
    # channel i of a window would be a different series at every step and the per-series
    # BatchNorm statistics and weights those of no series (forecasts 4-8% worse on ETTh1,
    # docs/results.md).
    KEEP_SERIES_ORDER = True

    def __init__(
        self,
        h: int | None = None,
        input_size: int | None = None,
        n_series: int | None = None,
        teacher: object = None,
        hidden_size: int = 512,
        norm: str = "mean",
        alpha: float = 1.0,
        beta: float = 1.0,
        temperature: float = 0.5,
        scale_levels: int = 3,
        teacher_feature_layer: FeatureLayer = AUTO,
        teacher_cache: CacheMode = "auto",
        refit_teacher: bool = False,
        teacher_stride: int = 1,
        teacher_weights: Weights = "mean",
        moving_avg: int = 25,
        loss: Any = None,
        valid_loss: Any = None,
        max_steps: int = 1000,
        learning_rate: float = 0.01,
        num_lr_decays: int | None = None,
        early_stop_patience_steps: int = -1,
        val_check_steps: int = 100,
        batch_size: int = 32,
        valid_batch_size: int | None = None,
        windows_batch_size: int = 32,
        inference_windows_batch_size: int = -1,
        start_padding_enabled: bool = False,
        step_size: int = 1,
        scaler_type: str = "identity",
        random_seed: int = 1,
        drop_last_loader: bool = False,
        alias: str | None = None,
        optimizer: Any = None,
        optimizer_kwargs: dict | None = None,
        lr_scheduler: Any = None,
        lr_scheduler_kwargs: dict | None = None,
        dataloader_kwargs: dict | None = None,
        **trainer_kwargs: Any,
    ) -> None:
        teacher = distillation_for(  # a copy's teacher is shared
            teacher,
            feature_layer=teacher_feature_layer,
            weights=teacher_weights,
            alpha=alpha,
            beta=beta,
            temperature=temperature,
            scale_levels=scale_levels,
            refit=refit_teacher,
            cache=teacher_cache,
            stride=teacher_stride,
        )
        input_size, h = teacher.lengths(input_size, h, LENGTH_NAMES)
        loss = MSE() if loss is None else loss
        if n_series is None and teacher.teacher is not None:
            n_series = teacher.teacher.n_channels
        check_int(
            "n_series",
            n_series,
            fix="pass the number of series in the data, n_series=df['unique_id'].nunique()",
        )
        super().__init__(
            h=h,
            input_size=input_size,
            n_series=n_series,
            teacher=teacher,
            hidden_size=hidden_size,
            norm=norm,
            moving_avg=moving_avg,
            loss=loss,
            valid_loss=valid_loss,
            max_steps=max_steps,
            learning_rate=learning_rate,
            num_lr_decays=num_lr_decays,
            early_stop_patience_steps=early_stop_patience_steps,
            val_check_steps=val_check_steps,
            batch_size=batch_size,
            valid_batch_size=valid_batch_size,
            windows_batch_size=windows_batch_size,
            inference_windows_batch_size=inference_windows_batch_size,
            start_padding_enabled=start_padding_enabled,
            step_size=step_size,
            scaler_type=scaler_type,
            random_seed=random_seed,
            drop_last_loader=drop_last_loader,
            alias=alias,
            optimizer=optimizer,
            optimizer_kwargs=optimizer_kwargs,
            lr_scheduler=lr_scheduler,
            lr_scheduler_kwargs=lr_scheduler_kwargs,
            dataloader_kwargs=dataloader_kwargs,
            **trainer_kwargs,
        )


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
