"""TimeDistill students as NeuralForecast models: ``DistilledMLP`` and ``DistilledMLPMultivariate``.

Both are ``BaseModel`` subclasses (like NeuralForecast's ``MLP`` / ``MLPMultivariate``) whose
network is the core's decomposition MLP (:class:`~tsdistill_plugin.core.DMLP`). Distillation
is added to NeuralForecast's own training loss without copying its ``training_step``: the
sampled windows and the student's output are recorded on the way (``_sample_windows`` and
``forward``) and ``training_step`` adds the :class:`~tsdistill_plugin.core.DistillationLoss`
terms to the loss the base class returns.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
import torch
from neuralforecast.common._base_model import BaseModel
from neuralforecast.losses.pytorch import MSE
from torch import Tensor

from ..core.losses import TERM_NAMES, DistillationLoss
from ..core.student import DMLP, NORM_MODES, StudentOutput
from ..core.teacher import FeatureRegressor, FittableTeacher, TeacherOutput
from ..devices import check_accelerator
from ..export.provenance import training_provenance
from ..teachers import AUTO
from ._distill import Distiller, TeacherRef
from .teacher import median_point

logger = logging.getLogger(__name__)


class _DistilledBase(BaseModel):
    """Shared implementation of the two students (see :class:`DistilledMLP`)."""

    EXOGENOUS_FUTR = False
    EXOGENOUS_HIST = False
    EXOGENOUS_STAT = False
    RECURRENT = False

    def __init__(
        self,
        h: int | None,
        input_size: int | None,
        teacher: TeacherRef | None,
        hidden_size: int,
        norm: str,
        alpha: float,
        beta: float,
        temperature: float,
        scale_levels: int,
        refit_teacher: bool,
        moving_avg: int,
        **kwargs: Any,
    ) -> None:
        # ``teacher`` arrives as a TeacherRef (see TeacherRef.wrap): Lightning's
        # save_hyperparameters deep-copies the constructor arguments and NeuralForecast
        # deep-copies the model; the ref makes every copy share one teacher. It is removed
        # from the hyperparameters below, so saved students hold no teacher.
        ref = teacher
        _check_student_args(h, input_size, norm, scale_levels, ref, refit_teacher)
        check_accelerator(kwargs.get("accelerator"), "accelerator")
        super().__init__(h=h, input_size=input_size, **kwargs)
        for hparams in (self.hparams, self._hparams_initial):
            hparams.pop("teacher", None)
            hparams.update(h=h, input_size=input_size)
        self._teacher_ref = ref
        if ref is not None:
            _check_teacher_channels(self, ref.teacher)
        self.hidden_size = hidden_size
        self.refit_teacher = refit_teacher
        self.distillation = DistillationLoss(alpha, beta, temperature, levels=scale_levels)
        self.outputsize = self.loss.outputsize_multiplier
        self.dmlp = DMLP(
            input_len=input_size,
            horizon=h * self.outputsize,
            n_channels=self.n_series,
            hidden_size=hidden_size,
            norm=norm,
            moving_avg=moving_avg,
        )
        self.regressor: FeatureRegressor | None = None
        self._distiller: Distiller | None = None
        self._record = False
        self._first_train_sizes: np.ndarray | None = None  # series lengths at the first fit
        self.training_provenance: dict | None = None  # set by fit, saved (get_extra_state)

    @property
    def teacher(self) -> object | None:
        """The teacher adapter (shared by every copy of this student), or ``None``."""
        return None if self._teacher_ref is None else self._teacher_ref.teacher

    def get_extra_state(self) -> Tensor:
        """``training_provenance`` as JSON bytes: NeuralForecast saves only tensors."""
        return torch.tensor(list(json.dumps(self.training_provenance).encode()), dtype=torch.uint8)

    def set_extra_state(self, state: Tensor) -> None:
        self.training_provenance = json.loads(bytes(state.tolist()).decode())

    def forward(self, windows_batch: dict[str, Tensor]) -> Tensor:
        """Forecast ``windows_batch["insample_y"]`` ``[batch, input_size, series]``.

        Returns
        -------
        Tensor
            ``[batch, h, series * outputs]`` in NeuralForecast's layout for ``self.loss``.
        """
        out = self.dmlp(windows_batch["insample_y"])
        if self._record:
            self._student = out
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
        cached when the windows can be mapped to them.
        """
        _check_dataset(self, dataset, val_size, test_size)
        if hasattr(dataset, "temporal"):  # provenance for tsdistill_plugin.export
            y = dataset.temporal[:, dataset.y_idx].numpy()
            series = np.split(y, np.asarray(dataset.indptr[1:-1]))
            self.training_provenance = training_provenance(self.teacher, series)
        ref = self._teacher_ref
        if ref is None or self.distillation.alpha == self.distillation.beta == 0:
            return super().fit(dataset, val_size, test_size, random_seed, distributed_config)
        sizes = ref.prepare(
            dataset,
            val_size,
            test_size,
            multivariate=self.MULTIVARIATE,
            refit=self.refit_teacher,
            first_sizes=self._first_train_sizes,
        )
        if self._first_train_sizes is None:
            self._first_train_sizes = sizes
        _check_teacher_channels(self, ref.teacher)  # known only now for some teachers
        self._distiller = Distiller(
            ref.teacher,
            dataset,
            self,
            val_size,
            test_size,
            progress=self.trainer_kwargs.get("enable_progress_bar", True) is not False,
        )
        size = self._distiller.feature_size if self.distillation.beta > 0 else None
        self.regressor = None if size is None else FeatureRegressor(size, self.hidden_size)
        try:
            return super().fit(dataset, val_size, test_size, random_seed, distributed_config)
        finally:
            self._distiller.close()
            self._distiller = None
            self.regressor = None  # training-only: never saved with the student

    def _sample_windows(
        self,
        windows_temporal: Tensor,
        static: Any,
        static_cols: Any,
        temporal_cols: Any,
        w_idxs: Tensor,
        final_condition: Tensor,
        sample_weight: Any = None,
    ) -> dict:
        windows = super()._sample_windows(
            windows_temporal,
            static,
            static_cols,
            temporal_cols,
            w_idxs,
            final_condition,
            sample_weight,
        )
        if self._record:  # the raw inputs, before NF normalizes them in place
            self._insample = windows["temporal"][:, : self.input_size, self._y_idx].clone()
            self._window_index = final_condition[w_idxs]
            self._windows_per_series = windows_temporal.shape[0] // self._n_batch_series
        return windows

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        """NeuralForecast's training step plus the distillation terms (each logged by name)."""
        if self._distiller is None:
            return super().training_step(batch, batch_idx)
        self._y_idx = batch["y_idx"]
        self._n_batch_series = batch["temporal"].shape[0]
        batch_series = self._distiller.batch_series(batch["temporal"][:, self._y_idx])
        self._record = True
        try:
            loss = super().training_step(batch, batch_idx)
        finally:
            self._record = False
        teacher = self._distiller.outputs(
            self._insample, self._window_index, self._windows_per_series, batch_series
        )
        distill, terms = self._distillation_terms(self._student, teacher)
        terms["supervised"] = loss.detach()
        batch_size = self._insample.shape[0]
        for name in TERM_NAMES:
            value = float(terms[name].detach())
            self.log(f"train_{name}", value, batch_size=batch_size, on_epoch=True)
        self._student = self._insample = self._window_index = None
        return loss + distill

    def _distillation_terms(
        self, student: StudentOutput, teacher: TeacherOutput
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Compare student and teacher in the student's normalized space (like with like)."""
        loc, scale = self._get_loc_scale(self._y_idx)
        output = self.loss.domain_map(self._nf_layout(student.prediction))
        # the median of the loss's output (a distribution without a closed-form quantile
        # function: its mean, which keeps the term differentiable)
        point = median_point(self, output, loc, scale, differentiable=True)
        to_student_space = self.scaler.scaler
        prediction = to_student_space(point, loc, scale)
        teacher_prediction = to_student_space(
            teacher.prediction.to(point.dtype), loc.detach(), scale.detach()
        )
        features = teacher_features = None
        if self.regressor is not None and teacher.features is not None:
            features = student.features
            teacher_features = self.regressor(teacher.features.to(features.dtype))
        return self.distillation(
            prediction,
            teacher_prediction=teacher_prediction,
            features=features,
            teacher_features=teacher_features,
        )


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
    max_steps, learning_rate, num_lr_decays, early_stop_patience_steps, val_check_steps,
    batch_size, valid_batch_size, windows_batch_size, inference_windows_batch_size,
    start_padding_enabled, step_size, scaler_type, random_seed, drop_last_loader, alias,
    optimizer, optimizer_kwargs, lr_scheduler, lr_scheduler_kwargs, dataloader_kwargs
        As for NeuralForecast's models; ``**trainer_kwargs`` (accelerator, devices,
        strategy, ...) go to Lightning's ``Trainer``.

    Notes
    -----
    Defaults follow the reference where NeuralForecast allows: ``MSE`` loss, Adam with
    ``learning_rate=0.01``, batches of 32 multivariate windows (``DistilledMLPMultivariate``:
    ``windows_batch_size=32``; ``DistilledMLP``: 256 one-series windows, about 32 windows of
    8 channels), no dropout. Training length and learning-rate decay keep NeuralForecast's
    conventions (``max_steps``, ``num_lr_decays``) instead of the reference's epochs with the
    learning rate halved each epoch.

    Teacher outputs are cached: before training, the teacher forecasts every training window
    once, and each window NeuralForecast samples is read back by its index in the step's
    enumeration of windows (its position in time) and its series (recognised by content, as
    the loader shuffles series). When the data comes as files or spark (no in-memory
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


class DistilledMLP(_DistilledBase):
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
        teacher_feature_layer: str | None = AUTO,
        refit_teacher: bool = False,
        moving_avg: int = 25,
        loss: Any = None,
        valid_loss: Any = None,
        max_steps: int = 1000,
        learning_rate: float = 0.01,
        num_lr_decays: int = -1,
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
        teacher = TeacherRef.wrap(teacher, teacher_feature_layer)
        h, input_size = _resolve_lengths(teacher, h, input_size)
        loss = MSE() if loss is None else loss
        super().__init__(
            h=h,
            input_size=input_size,
            teacher=teacher,
            hidden_size=hidden_size,
            norm=norm,
            alpha=alpha,
            beta=beta,
            temperature=temperature,
            scale_levels=scale_levels,
            refit_teacher=refit_teacher,
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


class DistilledMLPMultivariate(_DistilledBase):
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
        teacher_feature_layer: str | None = AUTO,
        refit_teacher: bool = False,
        moving_avg: int = 25,
        loss: Any = None,
        valid_loss: Any = None,
        max_steps: int = 1000,
        learning_rate: float = 0.01,
        num_lr_decays: int = -1,
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
        teacher = TeacherRef.wrap(teacher, teacher_feature_layer)
        h, input_size = _resolve_lengths(teacher, h, input_size)
        loss = MSE() if loss is None else loss
        if n_series is None and teacher is not None:
            n_series = teacher.teacher.n_channels
        if not isinstance(n_series, int) or n_series < 1:
            raise ValueError(
                f"n_series must be the number of series in the data (a positive integer), got "
                f"{n_series!r}; pass n_series=df['unique_id'].nunique()."
            )
        super().__init__(
            h=h,
            input_size=input_size,
            n_series=n_series,
            teacher=teacher,
            hidden_size=hidden_size,
            norm=norm,
            alpha=alpha,
            beta=beta,
            temperature=temperature,
            scale_levels=scale_levels,
            refit_teacher=refit_teacher,
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


# -- checks ------------------------------------------------------------------------------


def _resolve_lengths(
    ref: TeacherRef | None, h: int | None, input_size: int | None
) -> tuple[int, int]:
    teacher = None if ref is None else ref.teacher
    if h is None:
        h = getattr(teacher, "horizon", None)
    if input_size is None:
        input_size = getattr(teacher, "input_len", None)
    for name, value in (("h", h), ("input_size", input_size)):
        if not isinstance(value, int) or value < 1:
            source = "the teacher does not define it" if teacher is not None else "no teacher"
            raise ValueError(
                f"{name} must be a positive integer, got {value!r} ({source}); pass {name}=..."
            )
    if teacher is not None and hasattr(teacher, "bind"):
        teacher.bind(input_size, h)  # local Darts teachers take the student's lengths
    return h, input_size


def _check_student_args(
    h: int,
    input_size: int,
    norm: str,
    scale_levels: int,
    ref: TeacherRef | None,
    refit_teacher: bool,
) -> None:
    if norm not in NORM_MODES:
        raise ValueError(f"norm must be one of {NORM_MODES}, got {norm!r}.")
    if not isinstance(scale_levels, int) or scale_levels < 0 or h < 2**scale_levels:
        raise ValueError(
            f"scale_levels={scale_levels!r} needs h >= 2**scale_levels, but h={h}; lower "
            "scale_levels or use a longer horizon."
        )
    if ref is None:
        return
    teacher = ref.teacher
    teacher_len = teacher.input_len
    if teacher_len is not None and teacher_len > input_size:
        raise ValueError(
            f"the teacher reads input_size={teacher_len} steps but the student's input_size is "
            f"{input_size}; give the student input_size >= {teacher_len} (or leave it None to "
            "use the teacher's)."
        )
    if teacher.horizon is not None and teacher.horizon != h:
        logger.info(
            "Teacher horizon %d != student h=%d: the teacher's forecasts are %s.",
            teacher.horizon,
            h,
            "cut" if teacher.horizon > h else "rolled out autoregressively",
        )
    if refit_teacher and not (
        isinstance(teacher, FittableTeacher) and hasattr(teacher, "untrained")
    ):
        raise ValueError(
            f"refit_teacher=True needs a teacher that can be fitted afresh (a NeuralForecast or "
            f"Darts model), got {type(teacher).__name__}; pass refit_teacher=False."
        )


def _check_teacher_channels(student: _DistilledBase, teacher: object) -> None:
    channels = getattr(teacher, "n_channels", None)
    if channels is None:
        return
    expected = student.n_series if student.MULTIVARIATE else 1
    if channels != expected:
        fix = (
            f"use DistilledMLPMultivariate(n_series={channels}) for this multivariate teacher"
            if not student.MULTIVARIATE
            else f"build the teacher with n_series={expected}"
        )
        raise ValueError(
            f"the teacher forecasts {channels} series together but the student "
            f"{type(student).__name__} gives it {expected} per window; {fix}."
        )


def _check_dataset(student: _DistilledBase, dataset: Any, val_size: int, test_size: int) -> None:
    """Reject data the student cannot train on, naming the fix."""
    if not hasattr(dataset, "indptr"):
        return  # files / distributed datasets are checked by NeuralForecast
    n_groups = len(dataset.indptr) - 1
    if student.MULTIVARIATE and n_groups != student.n_series:
        raise ValueError(
            f"n_series={student.n_series} but the data holds {n_groups} series; pass "
            f"n_series={n_groups} to {type(student).__name__}."
        )
    y = dataset.temporal[:, dataset.y_idx]
    if torch.isnan(y).any():
        raise ValueError("y contains NaN values; fill or drop them before fitting.")
    shortest = int(min(b - a for a, b in zip(dataset.indptr[:-1], dataset.indptr[1:], strict=True)))
    needed = student.input_size + student.h + val_size + test_size
    if not student.start_padding_enabled and shortest < needed:
        raise ValueError(
            f"the shortest series has {shortest} rows but input_size + h"
            + (" + val_size + test_size" if val_size or test_size else "")
            + f" = {needed} are needed for one training window; use longer series, a smaller "
            "input_size, or start_padding_enabled=True."
        )
