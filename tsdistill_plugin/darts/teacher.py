"""``DartsTeacher``: any Darts forecasting model as a TimeDistill teacher.

Three kinds of Darts models answer the teacher's question (*what do you forecast for these
windows?*) in different ways, each behind the same :class:`DartsTeacher` interface:

- torch models (``TorchForecastingModel``: TiDE, TSMixer, NHiTS, N-BEATS, TCN, DLinear, ...) run
  their Lightning module on a whole batch of windows, exactly as ``predict`` would;
- global regression models (``LinearRegressionModel`` and other ``SKLearnModel`` s) predict the
  windows as a list of series;
- local models (``ExponentialSmoothing``, ``Theta``, ``ARIMA``, ...) are refitted on every window
  (slow: the student caches their outputs, and ``fit(..., stride=k)`` thins the windows).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from darts import TimeSeries
from darts.models.forecasting.forecasting_model import (
    ForecastingModel,
    GlobalForecastingModel,
    LocalForecastingModel,
)
from darts.models.forecasting.torch_forecasting_model import TorchForecastingModel
from torch import Tensor, nn

from ..core.teacher import (
    AUTO,
    FeatureCapture,
    FeatureLayer,
    FeatureLayout,
    KeepsOutputs,
    TeacherOutput,
    resolve_feature_layer,
    run_frozen,
)
from ._compat import is_fitted, module_median, module_quantiles, quantile_levels
from .foundation import FoundationForecaster, FoundationModel

AUTO_FEATURE_LAYERS: dict[str, tuple[str, FeatureLayout]] = {
    "TSMixerModel": ("fc_hist", FeatureLayout.PER_CHANNEL),
    "TiDEModel": ("encoders", FeatureLayout.PER_WINDOW),
}
"""Submodule whose output is the teacher's hidden representation, and its layout, by Darts
model class.

``TSMixerModel.fc_hist`` maps each channel's lookback to ``[batch, channels, horizon]``;
``TiDEModel.encoders`` gives one vector ``[batch, hidden]`` per window, shared by every channel.
A layer named by the user is taken to be ``[batch, channels, ...]`` unless a layout is given.
"""


def series_from_frames(frames: Sequence[pd.DataFrame]) -> list[TimeSeries]:
    """Turn library-neutral frames (time index, one column per channel) into ``TimeSeries``."""
    return [TimeSeries.from_dataframe(frame) for frame in frames]


def covariates_used(model: ForecastingModel) -> list[str]:
    """What a Darts model reads besides its target.

    Any of ``"past_covariates"``, ``"future_covariates"``, ``"static_covariates"`` (known once
    the model is fitted) and ``"add_encoders"``.
    """
    used = [
        name
        for name in ("past_covariates", "future_covariates", "static_covariates")
        if getattr(model, f"uses_{name}", False)
    ]
    if (getattr(model, "model_params", {}) or {}).get("add_encoders"):
        used.append("add_encoders")
    return used


def _check_teacher(model: ForecastingModel) -> None:
    """Reject teachers whose forecasts do not start right after the student's window."""
    if getattr(model, "output_chunk_shift", 0):
        raise ValueError(
            f"teacher {type(model).__name__} has output_chunk_shift="
            f"{model.output_chunk_shift}; the student forecasts the steps right after its "
            "window, so use a teacher with output_chunk_shift=0."
        )


def _check_no_feature_layer(model: ForecastingModel, feature_layer: FeatureLayer) -> None:
    if feature_layer not in (None, AUTO):
        raise ValueError(
            f"teacher_feature_layer={feature_layer!r} needs a torch teacher, but "
            f"{type(model).__name__} has no submodules; use teacher_feature_layer='auto' or None."
        )


class _TorchForecaster:
    """A Darts ``TorchForecastingModel`` run batch-wise through its Lightning module."""

    def __init__(self, model: TorchForecastingModel, feature_layer: FeatureLayer) -> None:
        self.model = model
        self.input_len = int(model.input_chunk_length)
        self.horizon = int(model.output_chunk_length)
        auto = AUTO_FEATURE_LAYERS.get(type(model).__name__)
        self.feature_layer = resolve_feature_layer(feature_layer, auto, FeatureLayout.PER_CHANNEL)
        self._capture: FeatureCapture | None = None

    @property
    def is_fitted(self) -> bool:
        return self.model.model is not None and is_fitted(self.model)

    @property
    def n_channels(self) -> int | None:
        return int(self.model.output_dim) if self.is_fitted else None

    def fit(
        self, series: list[TimeSeries], val_series: list[TimeSeries] | None, **covariates: object
    ) -> None:
        self.model.fit(series, val_series=val_series, **covariates)
        self._capture = None

    @property
    def probabilistic(self) -> bool:
        return self.model.likelihood is not None

    @property
    def quantile_levels(self) -> tuple[float, ...] | None:
        return quantile_levels(self.model)

    def forecast(self, x: Tensor) -> TeacherOutput:
        return self._run(x, module_median)

    def forecast_quantiles(self, x: Tensor, quantiles: tuple[float, ...]) -> TeacherOutput:
        return self._run(x, lambda module, x: module_quantiles(module, x, quantiles))

    def _run(self, x: Tensor, predict: Callable[[nn.Module, Tensor], Tensor]) -> TeacherOutput:
        module: nn.Module = self.model.model
        if self._capture is None and self.feature_layer is not None:
            self._capture = FeatureCapture(module, *self.feature_layer)
        return run_frozen(module, x, lambda x: predict(module, x), self._capture)


class _RegressionForecaster:
    """A Darts global regression model (``SKLearnModel`` family) predicting windows as series."""

    probabilistic = False  # regression models teach their point forecast
    quantile_levels = None

    def __init__(self, model: GlobalForecastingModel, feature_layer: FeatureLayer) -> None:
        lags = getattr(model, "lags", None) or {}
        if not lags.get("target"):
            raise ValueError(
                f"teacher {type(model).__name__} has no target lags (lags={lags!r}); a teacher "
                "must forecast from past values of the series: set lags=<int>."
            )
        _check_no_feature_layer(model, feature_layer)
        self.model = model
        self.input_len = -int(min(lags["target"]))
        self.horizon = int(model.output_chunk_length)

    @property
    def is_fitted(self) -> bool:
        return is_fitted(self.model)

    @property
    def n_channels(self) -> int | None:
        return int(self.model.input_dim["target"]) if self.is_fitted else None

    def fit(
        self, series: list[TimeSeries], val_series: list[TimeSeries] | None, **covariates: object
    ) -> None:
        accepts = inspect.signature(self.model.fit).parameters
        kwargs = {"val_series": val_series} if "val_series" in accepts and val_series else {}
        kwargs.update((name, value) for name, value in covariates.items() if name in accepts)
        self.model.fit(series, **kwargs)

    def forecast(self, x: Tensor) -> TeacherOutput:
        windows = x.detach().cpu().numpy()
        series = [TimeSeries.from_values(window) for window in windows]
        forecasts = self.model.predict(self.horizon, series=series, show_warnings=False)
        values = np.stack([forecast.values(copy=False) for forecast in forecasts])
        return TeacherOutput(torch.as_tensor(values).to(x.device, x.dtype), None)


class _LocalForecaster:
    """A Darts local model refitted on every window (each channel alone if it is univariate).

    A local model has no lookback or horizon of its own: it reads the student's whole window
    and forecasts the student's horizon. ``input_len`` and ``horizon`` stay ``None`` until the
    student sets them (:meth:`AdaptiveDartsTeacher.bind`).
    """

    probabilistic = False  # local models teach their point forecast
    quantile_levels = None

    def __init__(self, model: LocalForecastingModel, feature_layer: FeatureLayer) -> None:
        _check_no_feature_layer(model, feature_layer)
        self.model = model
        self.input_len: int | None = None
        self.horizon: int | None = None
        self.is_fitted = True
        self.n_channels: int | None = None

    def bind(self, input_len: int, horizon: int) -> None:
        """Read the student's whole window and forecast its horizon."""
        self.input_len, self.horizon = int(input_len), int(horizon)

    def fit(
        self, series: list[TimeSeries], val_series: list[TimeSeries] | None, **covariates: object
    ) -> None:
        """Nothing to fit ahead of time: the model is refitted on each window."""

    def _forecast_window(self, window: np.ndarray) -> np.ndarray:
        if self.model.supports_multivariate:
            columns = [window]
        else:
            columns = np.split(window, window.shape[1], axis=1)
        forecasts = []
        for column in columns:
            model = self.model.untrained_model()
            model.fit(TimeSeries.from_values(column))
            forecasts.append(model.predict(self.horizon).values(copy=False))
        return np.concatenate(forecasts, axis=1)

    def forecast(self, x: Tensor) -> TeacherOutput:
        if self.horizon is None:
            raise ValueError(
                f"local teacher {type(self.model).__name__} has no horizon of its own; the "
                "student sets it to its output_chunk_length (AdaptiveDartsTeacher.bind)."
            )
        windows = x.detach().cpu().double().numpy()
        values = np.stack([self._forecast_window(window) for window in windows])
        return TeacherOutput(torch.as_tensor(values).to(x.device, x.dtype), None)


_FORECASTERS: tuple[tuple[type, type], ...] = (
    (FoundationModel, FoundationForecaster),
    (TorchForecastingModel, _TorchForecaster),
    (LocalForecastingModel, _LocalForecaster),
    (GlobalForecastingModel, _RegressionForecaster),
)


class DartsTeacher(KeepsOutputs):
    """A Darts forecasting model as a fittable TimeDistill teacher.

    Parameters
    ----------
    model
        A Darts ``TorchForecastingModel``, global regression model or local model, fitted or
        not. It is never changed except by :meth:`fit` (which the student calls only for an
        unfitted teacher) and a torch model's ``eval`` mode during a forward pass (restored).
        A local or foundation model gives an :class:`AdaptiveDartsTeacher`.
    feature_layer
        ``"auto"`` distills features from TSMixer (``fc_hist``) and TiDE (``encoders``) and
        from no layer of other models; a dotted submodule name of the Lightning module picks
        that layer (output ``[batch, channels, ...]``); a ``(name, layout)`` pair declares the
        layer's :class:`~tsdistill_plugin.core.FeatureLayout`; ``None`` disables features.

    Attributes
    ----------
    input_len
        Lookback the teacher reads: ``input_chunk_length`` for torch models, the largest target
        lag for regression models, the student's lookback for local models.
    horizon
        Steps per call: ``output_chunk_length`` (torch and regression models) or the student's
        horizon (local models).
    n_channels
        Number of target components once fitted (``None`` before, and for local models, which
        take any number).

    Notes
    -----
    Probabilistic torch teachers give the median of their likelihood as their forecast, and
    their quantiles to a probabilistic student (:meth:`forecast_quantiles`). A global or
    foundation teacher that reads covariates or encodings forecasts the training windows
    through its own ``historical_forecasts`` (:meth:`forecast_series`, the median of a
    probabilistic one); local teachers read the target only. Teachers with an
    ``output_chunk_shift`` are rejected.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from darts import TimeSeries
    >>> from darts.models import LinearRegressionModel
    >>> from tsdistill_plugin.darts import DartsTeacher
    >>> series = TimeSeries.from_values(np.sin(np.arange(300) / 4).astype("float32"))
    >>> teacher = DartsTeacher(LinearRegressionModel(lags=24, output_chunk_length=12).fit(series))
    >>> teacher
    DartsTeacher(LinearRegressionModel, fitted)
    >>> teacher.input_len, teacher.horizon, teacher.n_channels
    (24, 12, 1)
    >>> teacher.forecast(torch.randn(8, 24, 1)).prediction.shape
    torch.Size([8, 12, 1])
    """

    def __new__(cls, model: ForecastingModel, feature_layer: FeatureLayer = AUTO) -> DartsTeacher:
        """Make an :class:`AdaptiveDartsTeacher` of a local or foundation model."""
        if cls is DartsTeacher and isinstance(model, LocalForecastingModel | FoundationModel):
            cls = AdaptiveDartsTeacher
        return super().__new__(cls)

    def __init__(self, model: ForecastingModel, feature_layer: FeatureLayer = AUTO) -> None:
        forecaster = next((f for base, f in _FORECASTERS if isinstance(model, base)), None)
        if forecaster is None:
            raise TypeError(
                f"unsupported Darts teacher {type(model).__qualname__}; pass a "
                "TorchForecastingModel, a global regression model or a local model."
            )
        _check_teacher(model)
        if covariates_used(model) and isinstance(model, LocalForecastingModel):
            raise ValueError(
                f"teacher {type(model).__name__} reads covariates "
                f"({', '.join(covariates_used(model))}), which the student hands to global Darts "
                "models only (torch, regression and foundation models); pass it without "
                "covariates."
            )
        self.model = model
        self._feature_layer = feature_layer
        self._forecaster = forecaster(model, feature_layer)

    def __repr__(self) -> str:
        state = "fitted" if self.is_fitted else "unfitted"
        return f"{type(self).__name__}({type(self.model).__name__}, {state})"

    @property
    def input_len(self) -> int | None:
        """Lookback the model reads (``None`` until bound, for an adaptive teacher)."""
        return self._forecaster.input_len

    @property
    def horizon(self) -> int | None:
        """Steps the model forecasts in one call."""
        return self._forecaster.horizon

    @property
    def n_channels(self) -> int | None:
        """Channels the model forecasts together, or ``None`` when each is forecast alone."""
        return self._forecaster.n_channels

    @property
    def is_fitted(self) -> bool:
        """Whether the Darts model has been fitted."""
        return self._forecaster.is_fitted

    @property
    def probabilistic(self) -> bool:
        """Whether the model forecasts a distribution: a torch model with a likelihood."""
        return self._forecaster.probabilistic

    @property
    def quantile_levels(self) -> tuple[float, ...] | None:
        """A ``QuantileRegression`` teacher's levels; ``None`` for other models."""
        return self._forecaster.quantile_levels

    @property
    def uses_covariates(self) -> bool:
        """Whether the model reads covariates or encodings (known once it is fitted)."""
        return bool(covariates_used(self.model))

    def fit(
        self,
        series: list[pd.DataFrame],
        val_series: list[pd.DataFrame] | None = None,
        **covariates: list[TimeSeries] | None,
    ) -> None:
        """Fit the model on frames (time index, one column per channel).

        ``val_series`` is passed on only when the model's ``fit`` accepts it; ``covariates``
        (Darts ``fit`` arguments: ``past_covariates``, ``val_future_covariates``, ...) only
        those the model supports.
        """
        val = series_from_frames(val_series) if val_series else None
        supported = {
            name: value
            for name, value in covariates.items()
            if value is not None
            and getattr(self.model, f"supports_{name.removeprefix('val_')}", False)
            and (val is not None or not name.startswith("val_"))
        }
        self._forecaster.fit(series_from_frames(series), val, **supported)
        _check_teacher(self.model)

    def forecast_series(
        self,
        series: list[TimeSeries],
        past_covariates: list[TimeSeries] | None,
        future_covariates: list[TimeSeries] | None,
        start: int,
        horizon: int,
    ) -> list[tuple[int, np.ndarray]]:
        """The model's forecasts of every window of ``series``, with the covariates it reads.

        Darts' ``historical_forecasts(retrain=False, last_points_only=False)`` gives them: the
        model reads each window's covariates and encodings exactly as in its own ``predict``
        (and rolls out autoregressively when ``horizon`` exceeds its own).

        Parameters
        ----------
        series
            The target series.
        past_covariates, future_covariates
            Their covariates (one per series), or ``None``; those the model does not read are
            not passed on.
        start
            Position in each series of the first forecast step of the first window.
        horizon
            Steps per forecast.

        Returns
        -------
        list[tuple[int, np.ndarray]]
            Per series, the position of the first forecast's first step and the forecasts
            ``[windows, horizon, channels]``, one per start position from there on.

        Raises
        ------
        ValueError
            When the model reads covariates that are not given, or is probabilistic without
            a 0.5 quantile (a ``QuantileRegression`` gives its median).
        """
        name = type(self.model).__name__
        kwargs = {}
        for kind, given in (("past", past_covariates), ("future", future_covariates)):
            if not getattr(self.model, f"uses_{kind}_covariates", False):
                continue
            if given is None and "add_encoders" not in covariates_used(self.model):
                raise ValueError(
                    f"teacher {name} was fitted with {kind}_covariates, but the student's fit "
                    f"got none; pass the teacher's {kind}_covariates to the student's fit."
                )
            if given is not None:  # else the model's encoders make them
                kwargs[f"{kind}_covariates"] = given
        likelihood = getattr(self.model, "likelihood", None)
        if likelihood is not None:  # the median, as the target-only path gives
            if 0.5 not in (getattr(likelihood, "quantiles", None) or ()):
                raise ValueError(
                    f"teacher {name} is probabilistic without a 0.5 quantile and reads "
                    "covariates; its historical forecasts would be samples, not medians: pass a "
                    "deterministic teacher (likelihood=None) or a QuantileRegression with 0.5."
                )
            kwargs["predict_likelihood_parameters"] = True
        forecasts = self.model.historical_forecasts(
            series,
            forecast_horizon=horizon,
            start=start,
            start_format="position",
            stride=1,
            retrain=False,
            overlap_end=False,
            last_points_only=False,
            verbose=False,
            show_warnings=False,
            **kwargs,
        )
        result = []
        for target, windows in zip(series, forecasts, strict=True):
            values = np.stack([window.values(copy=False) for window in windows])
            if likelihood is not None:  # each component's quantiles, in order
                quantiles = list(likelihood.quantiles)
                values = values[..., quantiles.index(0.5) :: len(quantiles)]
            result.append((int(target.get_index_at_point(windows[0].start_time())), values))
        return result

    def forecast(self, x: Tensor) -> TeacherOutput:
        """Forecast windows ``x`` ``[batch, input_len, channels]``.

        Returns
        -------
        TeacherOutput
            ``prediction`` ``[batch, horizon, channels]`` and ``features`` ``[batch, channels,
            d]`` or ``None``, on the device and with the dtype of ``x``.
        """
        self._check_ready()
        return self._forecaster.forecast(x)

    def _check_ready(self) -> None:
        """Refuse to forecast target windows unfitted, or reading covariates."""
        if not self.is_fitted:
            raise ValueError(
                f"teacher {type(self.model).__name__} is not fitted; fit it first, or let the "
                "student fit it on its training series."
            )
        if self.uses_covariates:
            raise ValueError(
                f"teacher {type(self.model).__name__} reads covariates, so it forecasts a "
                "student's windows with them (forecast_series), not from target windows alone; "
                "distil it alone into a Darts student fitted with its covariates (not among "
                "several teachers, nor into a NeuralForecast student)."
            )

    def forecast_quantiles(self, x: Tensor, quantiles: tuple[float, ...]) -> TeacherOutput:
        """Forecast windows ``x`` at a probabilistic student's levels ``quantiles``.

        A ``QuantileRegression`` teacher's quantiles are interpolated to ``quantiles`` where
        its levels differ; another likelihood gives the exact quantiles of its distribution.

        Returns
        -------
        TeacherOutput
            ``prediction`` ``[batch, horizon, channels, len(quantiles)]`` and the features.
        """
        if not self.probabilistic:
            raise ValueError(
                f"teacher {type(self.model).__name__} has no likelihood, so it forecasts no "
                "quantiles; build it with likelihood=QuantileRegression(...) or use forecast."
            )
        self._check_ready()
        return self._forecaster.forecast_quantiles(x, quantiles)

    def untrained(self) -> DartsTeacher:
        """A new, unfitted teacher with the same model parameters (for ``refit_teacher``)."""
        return type(self)(self.model.untrained_model(), feature_layer=self._feature_layer)


class AdaptiveDartsTeacher(DartsTeacher):
    """A Darts model whose lengths adapt to the student's.

    It is an :class:`~tsdistill_plugin.core.AdaptiveTeacher`: a local model
    (``ExponentialSmoothing``, ``Theta``, ``ARIMA``, ...), refitted on every window, takes the
    student's lookback and horizon; a foundation model (``Chronos2Model``, ...) reads as much of
    the student's window as it accepts.

    Examples
    --------
    >>> import torch
    >>> from darts.models import NaiveSeasonal
    >>> from tsdistill_plugin.darts import DartsTeacher
    >>> teacher = DartsTeacher(NaiveSeasonal(K=12))
    >>> type(teacher).__name__
    'AdaptiveDartsTeacher'
    >>> teacher.bind(input_len=48, horizon=24)
    >>> x = torch.randn(2, 48, 3)
    >>> prediction = teacher.forecast(x).prediction
    >>> prediction.shape, torch.allclose(prediction[:, :12], x[:, -12:])
    (torch.Size([2, 24, 3]), True)
    """

    def bind(self, input_len: int, horizon: int) -> None:
        """Adapt to the student's lookback and horizon."""
        self._forecaster.bind(input_len, horizon)
