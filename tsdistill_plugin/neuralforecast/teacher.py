"""A NeuralForecast model as a TimeDistill teacher.

:class:`NeuralForecastTeacher` runs an NF network directly on ``[batch, time, channels]``
windows (the ``windows_batch`` dictionary of ``BaseModel.forward``, without NeuralForecast's
data pipeline) and returns forecasts in the data's scale: the model's own ``TemporalNorm``
(``scaler_type``) is applied to the input and inverted on the output, and distribution or
quantile losses are reduced to their median, as ``NeuralForecast.predict`` would report it.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
from typing import Any

import numpy as np
import pandas as pd
import torch
from neuralforecast import NeuralForecast
from neuralforecast.tsdataset import TimeSeriesDataset
from pytorch_lightning.utilities.seed import isolate_rng
from torch import Tensor

from ..core.quantiles import MEDIAN, interpolate_quantiles
from ..core.teacher import (
    AUTO,
    MEDIAN_SAMPLES,
    FeatureCapture,
    FeatureLayer,
    FeatureLayout,
    KeepsOutputs,
    TeacherOutput,
    distribution_median,
    distribution_quantiles,
    resolve_feature_layer,
    run_frozen,
)
from ._compat import BaseModel

FEATURE_LAYERS: dict[str, tuple[str, FeatureLayout]] = {
    "PatchTST": ("model.backbone", FeatureLayout.CHANNELS_IN_BATCH),
    "iTransformer": ("encoder", FeatureLayout.VARIATE_TOKENS),
    "SOFTS": ("encoder", FeatureLayout.VARIATE_TOKENS),
}
"""Submodule whose output is the teacher's hidden representation, and its layout, by NF model
class name.

PatchTST's backbone gives ``[batch * channels, 1, d_model, patches]`` (flattened per channel,
as the reference does); iTransformer's and SOFTS' encoders give one token per variate
``[batch, channels, d_model]``. A layer named by the user is taken to be ``[batch * channels,
...]`` for univariate models (which see each channel as one series) and ``[batch, channels,
...]`` for multivariate ones, unless a layout is given.
"""


def _auto_layer(model: BaseModel) -> tuple[str, FeatureLayout] | None:
    for cls in type(model).__mro__:
        if cls.__name__ in FEATURE_LAYERS:
            return FEATURE_LAYERS[cls.__name__]
    return None


def _has_exogenous(model: BaseModel) -> bool:
    return bool(model.futr_exog_list or model.hist_exog_list or model.stat_exog_list)


def fresh_copy(model: BaseModel) -> BaseModel:
    """An unfitted model built from ``model``'s hyperparameters (its seed gives the same init)."""
    with isolate_rng(), _quiet_lightning():  # NF models reseed the global generators
        return type(model)(**dict(model.hparams))


@contextlib.contextmanager
def _quiet_lightning() -> Any:
    loggers = [logging.getLogger(name) for name in ("lightning_fabric", "pytorch_lightning")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _looks_fitted(model: BaseModel) -> bool:
    """Whether ``model`` has been trained.

    NF marks fitted models with ``metrics`` and training trajectories; a loaded model is
    recognised by weights that differ from the initialization its own seed gives.
    """
    if hasattr(model, "metrics") or model.train_trajectories:
        return True
    initial = fresh_copy(model).state_dict()
    return any(
        not torch.equal(value.cpu(), initial[key].cpu())
        for key, value in model.state_dict().items()
        if key in initial
    )


def loss_levels(loss: Any) -> tuple[float, ...] | None:
    """The levels of a multi-quantile loss (``MQLoss``, ``HuberMQLoss``), sorted; else ``None``.

    NeuralForecast keeps them in its own order (the median first); they are rounded to 6
    decimals, undoing the float32 of its tensor.

    Examples
    --------
    >>> from neuralforecast.losses.pytorch import MSE, MQLoss
    >>> from tsdistill_plugin.neuralforecast.teacher import loss_levels
    >>> loss_levels(MQLoss(level=[80, 90])), loss_levels(MSE())
    ((0.05, 0.1, 0.5, 0.9, 0.95), None)
    """
    if loss.is_distribution_output or loss.outputsize_multiplier < 2:
        return None
    levels = getattr(loss, "quantiles", None)
    return None if levels is None else tuple(sorted(round(float(q), 6) for q in levels))


def loss_order(loss: Any) -> list[int]:
    """The positions of a multi-quantile loss's outputs in increasing order of their levels."""
    return torch.argsort(loss.quantiles.detach().cpu()).tolist()


def student_levels(loss: Any) -> tuple[float, ...] | None:
    """The levels a student with ``loss`` distils quantile by quantile (0.5 among them)."""
    levels = loss_levels(loss)
    return levels if levels is not None and MEDIAN in levels else None


def median_point(
    model: BaseModel, mapped: Any, loc: Tensor, scale: Tensor, differentiable: bool = False
) -> Tensor:
    """The point forecast, in the data's scale, of an output after ``model.loss.domain_map``.

    Parameters
    ----------
    model
        The NF model that produced the output.
    mapped
        ``model.loss.domain_map(output)``: a tensor ``[batch, horizon, series]`` (point
        losses), ``[batch, horizon, series, quantiles]`` (multi-quantile losses) or a tuple of
        distribution parameters.
    loc, scale
        The scaler statistics of the windows, ``[batch, 1, series]``.
    differentiable
        Keep the result differentiable: for a distribution without a closed-form quantile
        function, give its mean instead of a sampled median.

    Returns
    -------
    Tensor
        ``[batch, horizon, series]``: the forecast itself for point losses, the median
        quantile for multi-quantile losses, the distribution's median for distribution losses
        (its ``icdf(0.5)``; without one, the median of ``loss.num_samples`` samples, or the
        mean when ``differentiable``).
    """
    loss = model.loss
    if loss.is_distribution_output:
        distr_args = loss.scale_decouple(output=mapped, loc=loc, scale=scale)
        distribution = loss.get_distribution(
            distr_args=distr_args, **getattr(loss, "distribution_kwargs", {})
        )
        if not differentiable:
            samples = getattr(loss, "num_samples", MEDIAN_SAMPLES)
            return distribution_median(distribution, distr_args[0], samples)
        try:
            return distribution.icdf(torch.full_like(distr_args[0], 0.5))
        except NotImplementedError:
            return distribution.mean
    if mapped.ndim == 4:  # multi-quantile losses: [batch, horizon, series, quantiles]
        median = int(torch.argmin((loss.quantiles - 0.5).abs()))
        mapped = mapped[..., median]
    return model.scaler.inverse_transform(z=mapped, x_scale=scale, x_shift=loc)


def normalize(model: BaseModel, insample: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Apply ``model``'s ``TemporalNorm`` to windows ``[batch, time, series]`` as NF does.

    The statistics are computed on a shallow copy of the scaler, so the model is unchanged.

    Returns
    -------
    tuple[Tensor, Tensor, Tensor]
        The normalized windows ``[batch, time, series]`` and ``(loc, scale)``, each
        ``[batch, 1, series]``.
    """
    scaler = copy.copy(model.scaler)
    data = insample.unsqueeze(2)
    normalized = scaler.transform(x=data, mask=torch.ones_like(data))
    return normalized[:, :, 0], scaler.x_shift[:, :, 0], scaler.x_scale[:, :, 0]


class NeuralForecastTeacher(KeepsOutputs):
    """A NeuralForecast model, fitted or not, as a :class:`~tsdistill_plugin.core.FittableTeacher`.

    Univariate NF models (``MULTIVARIATE = False``) forecast each channel on its own: the
    channels are folded into the batch and any number works (``n_channels = None``).
    Multivariate ones (iTransformer, TSMixer, SOFTS, ...) need exactly ``n_series`` channels.
    Recurrent NF models (LSTM, GRU, DeepAR, ...) are not supported.

    Parameters
    ----------
    model
        A NeuralForecast model instance, e.g. ``PatchTST(h=96, input_size=720)`` or the fitted
        ``nf.models[0]``. A model with exogenous variables must be fitted (with them); it
        forecasts a student's windows through :meth:`forecast_dataset`.
    feature_layer
        ``"auto"`` picks the hidden layer for PatchTST, iTransformer and SOFTS (see
        :data:`FEATURE_LAYERS`) and gives no features for other models (logged once); a dotted
        submodule name (as in ``model.named_modules()``) picks one; ``None`` disables features.
    fitted
        Whether ``model`` is trained; ``None`` detects it (NF's training marks, or weights
        that differ from the model's seeded initialization).

    Notes
    -----
    Fitting never trains the object passed in. As in ``NeuralForecast.fit``, a deep copy is
    trained and the adapter uses that copy from then on (``teacher.model``); the object the
    user passed stays unfitted. A fitted model is never modified: it runs in eval mode without
    gradients, its training mode is restored afterwards, and the scaler statistics of each
    call are computed on a copy of its scaler.

    Attributes
    ----------
    model
        The NF model that forecasts (the fitted copy after :meth:`fit`).
    input_len, horizon
        The model's ``input_size`` and ``h``.
    n_channels
        ``n_series`` for multivariate models, else ``None``.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> import torch
    >>> from neuralforecast.models import MLP
    >>> from tsdistill_plugin.neuralforecast import NeuralForecastTeacher
    >>> model = MLP(h=12, input_size=48, max_steps=5, enable_progress_bar=False, logger=False)
    >>> teacher = NeuralForecastTeacher(model)
    >>> teacher, teacher.input_len, teacher.horizon, teacher.n_channels
    (NeuralForecastTeacher(MLP, unfitted), 48, 12, None)
    >>> hours = pd.date_range("2024-01-01", periods=300, freq="h")
    >>> teacher.fit([pd.DataFrame({"y": np.sin(np.arange(300) / 4)}, index=hours)])
    >>> teacher.is_fitted, teacher.forecast(torch.randn(8, 48, 3)).prediction.shape
    (True, torch.Size([8, 12, 3]))
    """

    def __init__(
        self, model: BaseModel, feature_layer: FeatureLayer = AUTO, fitted: bool | None = None
    ) -> None:
        if not isinstance(model, BaseModel):
            raise TypeError(
                f"model must be a NeuralForecast model instance (a subclass of "
                f"neuralforecast.common._base_model.BaseModel), got {type(model).__name__}; "
                "pass e.g. PatchTST(h=..., input_size=...)."
            )
        name = type(model).__name__
        if model.RECURRENT:
            raise ValueError(
                f"{name} is a recurrent NeuralForecast model, which is not supported as a "
                "teacher (its windows are shifted one step and it forecasts recursively); use a "
                "direct model such as PatchTST, iTransformer, NHITS, TiDE or TSMixer."
            )
        self.model = model
        self._initial = model
        self.input_len = int(model.input_size)
        self.horizon = int(model.h)
        self.n_channels = int(model.n_series) if model.MULTIVARIATE else None
        self._trained = _looks_fitted(model) if fitted is None else bool(fitted)
        self._feature_layer = feature_layer
        default = (
            FeatureLayout.PER_CHANNEL if model.MULTIVARIATE else FeatureLayout.CHANNELS_IN_BATCH
        )
        self._layer = resolve_feature_layer(feature_layer, _auto_layer(model), default)
        if self._layer is not None:
            FeatureCapture(model, *self._layer)  # fail early on a wrong name
        self._capture: FeatureCapture | None = None

    def __repr__(self) -> str:
        state = "fitted" if self._trained else "unfitted"
        return f"NeuralForecastTeacher({type(self.model).__name__}, {state})"

    @property
    def is_fitted(self) -> bool:
        """Whether the wrapped model is trained."""
        return self._trained

    def untrained(self) -> NeuralForecastTeacher:
        """A new adapter around an unfitted model with the same hyperparameters."""
        model = self._initial if not _looks_fitted(self._initial) else fresh_copy(self._initial)
        return NeuralForecastTeacher(copy.deepcopy(model), self._feature_layer, fitted=False)

    def _use(self, model: BaseModel) -> None:
        self.model = model
        self._trained = True
        self._capture = None

    @property
    def uses_covariates(self) -> bool:
        """Whether the model reads exogenous variables (``futr/hist/stat_exog_list``)."""
        return _has_exogenous(self.model)

    def forecast_dataset(self, dataset: TimeSeriesDataset) -> np.ndarray:
        """The model's forecast of every window of a dataset, with its exogenous variables.

        NeuralForecast's own ``predict`` on the dataset (as ``cross_validation`` runs it), with
        a test part that holds every window: each window reads exactly the exogenous values
        of the model's own prediction of it. The model's ``test_size`` is restored.

        Parameters
        ----------
        dataset
            The student's dataset: its series, left-padded to ``dataset.max_size`` as
            NeuralForecast pads them, with the columns the model reads.

        Returns
        -------
        np.ndarray
            Window ``k`` is the forecast of the ``h`` steps after step ``k`` of the padded time
            axis: ``[series, max_size - h, h]`` for a univariate model, ``[max_size - h, h,
            series]`` for a multivariate one.
        """
        model, h = self.model, self.horizon
        saved = model.get_test_size()
        model.set_test_size(dataset.max_size - 1)
        try:
            with isolate_rng(), _quiet_lightning():  # NF's predict reseeds the generators
                output = model.predict(dataset, step_size=1)
        finally:
            model.set_test_size(saved)
        names = list(model.loss.output_names)
        point = output[:, names.index("-median") if "-median" in names else 0]
        n_series, windows = len(dataset.indptr) - 1, dataset.max_size - h
        if model.MULTIVARIATE:  # [series, windows, h] -> [windows, h, series]
            return point.reshape(n_series, windows, h).transpose(1, 2, 0)
        return point.reshape(n_series, windows, h)

    def fit(self, series: list[pd.DataFrame], val_series: list[pd.DataFrame] | None = None) -> None:
        """Train a copy of the model with ``NeuralForecast(models=[model], freq).fit``.

        Parameters
        ----------
        series
            Frames with a ``DatetimeIndex`` that has a frequency, or a ``RangeIndex``
            (frequency = its step), one column per channel. Every column of every frame
            becomes one NF series.
        val_series
            Frames that continue ``series`` in time (rows up to the end of the matching training
            frame are ignored, so a validation frame may include its lookback); the remaining
            rows, the same number for every frame, are NF's ``val_size``.
        """
        if self.uses_covariates:
            raise ValueError(
                f"the {type(self.model).__name__} teacher reads exogenous variables, which the "
                "student cannot hand to its fit; fit it yourself (NeuralForecast.fit with its "
                "exogenous columns) and pass the fitted model (nf.models[0])."
            )
        df, freq = frames_to_long(series)
        val_size = 0
        if val_series is not None:
            if len(val_series) != len(series):
                raise ValueError(
                    f"val_series must hold one frame per training frame ({len(series)}), got "
                    f"{len(val_series)}."
                )
            tails = [v.loc[v.index > s.index[-1]] for s, v in zip(series, val_series, strict=True)]
            lengths = {len(t) for t in tails}
            if len(lengths) != 1:
                raise ValueError(
                    f"val_series must continue every training frame by the same number of steps, "
                    f"got {sorted(lengths)}; trim them to a common length."
                )
            val_size = lengths.pop()
            full = [pd.concat([s, t]) for s, t in zip(series, tails, strict=True)]
            df, freq = frames_to_long(full)
        n_ids = df["unique_id"].nunique()
        if self.n_channels is not None and n_ids != self.n_channels:
            raise ValueError(
                f"the multivariate {type(self.model).__name__} teacher has n_series="
                f"{self.n_channels} but the data holds {n_ids} series (channels); build the "
                f"teacher with n_series={n_ids}."
            )
        nf = NeuralForecast(models=[self._initial], freq=freq)
        nf.fit(df, val_size=val_size)
        self._use(nf.models[0])

    def _features_capture(self) -> FeatureCapture | None:
        if self._layer is not None and self._capture is None:
            self._capture = FeatureCapture(self.model, *self._layer)
        return self._capture

    def forecast(self, x: Tensor) -> TeacherOutput:
        """Forecast ``x`` ``[batch, input_len, channels]`` in the data's scale.

        See :class:`~tsdistill_plugin.core.Teacher`.
        """
        self._check_windows(x)
        return run_frozen(self.model, x, self._point_forecast, self._features_capture())

    def _check_windows(self, x: Tensor) -> None:
        if not self._trained:
            raise ValueError(
                f"the {type(self.model).__name__} teacher is not fitted; fit it first (the "
                "student does so on its training data when you fit the student)."
            )
        if self.uses_covariates:
            raise ValueError(
                f"the {type(self.model).__name__} teacher reads exogenous variables, so it "
                "forecasts a student's windows from the student's in-memory dataset "
                "(forecast_dataset), not from target windows alone; fit the student on a "
                "DataFrame holding the teacher's exogenous columns."
            )
        batch, length, channels = x.shape
        if length != self.input_len:
            raise ValueError(
                f"the teacher reads windows of input_size={self.input_len} steps, got {length}."
            )
        if self.n_channels is not None and channels != self.n_channels:
            raise ValueError(
                f"the multivariate {type(self.model).__name__} teacher has n_series="
                f"{self.n_channels} but the windows have {channels} channels; use a teacher "
                f"built with n_series={channels}."
            )

    @property
    def probabilistic(self) -> bool:
        """Whether the model forecasts quantiles or a distribution (its loss says)."""
        loss = self.model.loss
        return bool(loss.is_distribution_output) or loss_levels(loss) is not None

    @property
    def quantile_levels(self) -> tuple[float, ...] | None:
        """A multi-quantile loss's levels, sorted; ``None`` for a distribution loss."""
        return loss_levels(self.model.loss)

    def forecast_quantiles(self, x: Tensor, quantiles: tuple[float, ...]) -> TeacherOutput:
        """Forecast ``x`` at a probabilistic student's levels ``quantiles``, in the data's scale.

        A multi-quantile loss's quantiles are interpolated to ``quantiles`` where its levels
        differ; a distribution loss gives its distribution's quantiles (``icdf``, or those of
        ``loss.num_samples`` samples).

        Returns
        -------
        TeacherOutput
            ``prediction`` ``[batch, horizon, channels, len(quantiles)]`` and the features.
        """
        self._check_windows(x)
        predict = functools.partial(self._quantile_forecast, quantiles=quantiles)
        return run_frozen(self.model, x, predict, self._features_capture())

    def _outputs(self, x: Tensor) -> tuple[Any, Tensor, Tensor]:
        """The loss's mapped output and the scaler statistics for windows ``[B, L, N]``.

        A univariate model sees the channels folded into the batch, ``[B * N, L, 1]``.
        """
        batch, length, channels = x.shape
        if self.n_channels is None:
            x = x.transpose(1, 2).reshape(batch * channels, length, 1)
        insample, loc, scale = normalize(self.model, x)
        windows_batch = dict(
            insample_y=insample,
            insample_mask=torch.ones_like(insample),
            futr_exog=None,
            hist_exog=None,
            stat_exog=None,
        )
        return self.model.loss.domain_map(self.model(windows_batch)), loc, scale

    def _unfold(self, prediction: Tensor, batch: int, channels: int) -> Tensor:
        """``[B * N, h, 1, ...]`` back to ``[B, h, N, ...]`` for a univariate model."""
        if self.n_channels is not None:
            return prediction
        rest = prediction.shape[3:]
        return prediction.reshape(batch, channels, -1, *rest).transpose(1, 2)

    def _point_forecast(self, x: Tensor) -> Tensor:
        """The median forecast ``[batch, horizon, channels]`` of windows on the model's device."""
        output, loc, scale = self._outputs(x)
        return self._unfold(median_point(self.model, output, loc, scale), *x.shape[::2])

    def _quantile_forecast(self, x: Tensor, quantiles: tuple[float, ...]) -> Tensor:
        """Quantiles ``[batch, horizon, channels, Q]`` of windows on the model's device."""
        output, loc, scale = self._outputs(x)
        loss = self.model.loss
        if loss.is_distribution_output:
            distr_args = loss.scale_decouple(output=output, loc=loc, scale=scale)
            distribution = loss.get_distribution(
                distr_args=distr_args, **getattr(loss, "distribution_kwargs", {})
            )
            samples = getattr(loss, "num_samples", MEDIAN_SAMPLES)
            values = distribution_quantiles(distribution, quantiles, distr_args[0], samples)
        else:
            data = self.model.scaler.inverse_transform(
                z=output, x_scale=scale.unsqueeze(-1), x_shift=loc.unsqueeze(-1)
            )
            values = interpolate_quantiles(
                data[..., loss_order(loss)], loss_levels(loss), quantiles
            )
        return self._unfold(values, *x.shape[::2])


def frames_to_long(series: list[pd.DataFrame]) -> tuple[pd.DataFrame, Any]:
    """Frames (time index, one column per channel) in NeuralForecast's long format.

    Returns
    -------
    tuple[pd.DataFrame, Any]
        ``unique_id, ds, y`` and the frequency to pass to ``NeuralForecast``. The ids
        (``"<frame>/<channel>:<column>"``, zero-padded positions) sort in the frames' channel
        order, which is the order NeuralForecast gives a multivariate model its series.
    """
    if not series:
        raise ValueError("series is empty; pass at least one frame to fit the teacher on.")
    freqs = {_frequency(frame.index) for frame in series}
    if len(freqs) != 1:
        raise ValueError(
            f"all frames must share one frequency, got {sorted(map(str, freqs))}; resample them."
        )
    width = len(str(max(len(series), max(frame.shape[1] for frame in series))))
    parts = []
    for k, frame in enumerate(series):
        for j, column in enumerate(frame.columns):
            uid = f"{k:0{width}d}/{j:0{width}d}:{column}"
            values = frame[column].to_numpy(dtype="float32")
            parts.append(pd.DataFrame({"unique_id": uid, "ds": frame.index, "y": values}))
    return pd.concat(parts, ignore_index=True), freqs.pop()


def _frequency(index: pd.Index) -> Any:
    if isinstance(index, pd.DatetimeIndex):
        freq = index.freq or (pd.infer_freq(index) if len(index) > 2 else None)
        if freq is None:
            raise ValueError(
                "a frame's DatetimeIndex has no frequency; set one with frame.asfreq('<freq>')."
            )
        return freq
    if isinstance(index, pd.RangeIndex):
        return index.step
    if pd.api.types.is_integer_dtype(index):  # pandas 2 gives joined RangeIndexes as Index
        steps = np.unique(np.diff(index.to_numpy()))
        if len(steps) <= 1 and (not len(steps) or steps[0] > 0):
            return int(steps[0]) if len(steps) else 1
    raise TypeError(
        f"frames must have a DatetimeIndex with a frequency or evenly spaced integer steps "
        f"(a RangeIndex), got {type(index).__name__}; reset the index with "
        "frame.reset_index(drop=True)."
    )
