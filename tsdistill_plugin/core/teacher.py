"""What a teacher is to the core: a frozen forecaster of ``[batch, time, channels]`` windows.

Library adapters (Darts, NeuralForecast) implement :class:`Teacher`; :class:`TorchTeacher` makes
any ``nn.Module`` or callable one. :func:`forecast_horizon` adapts any teacher to a student's
lookback and horizon (slicing the input, rolling out autoregressively when the teacher's horizon
is shorter).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from enum import Enum
from typing import NamedTuple, Protocol, runtime_checkable

import pandas as pd
import torch
from torch import Tensor, nn


class TeacherOutput(NamedTuple):
    """A teacher's answer for a batch of windows.

    Attributes
    ----------
    prediction
        Forecast, ``[batch, horizon, channels]``; quantile forecasts (see
        :class:`QuantileTeacher`) are ``[batch, horizon, channels, quantiles]``.
    features
        Hidden representation, ``[batch, channels, d]``, or ``None`` when the teacher exposes
        none.

    Examples
    --------
    >>> import torch
    >>> from tsdistill_plugin.core import TeacherOutput
    >>> output = TeacherOutput(prediction=torch.zeros(32, 24, 7), features=None)
    >>> output.prediction.shape, output.features
    (torch.Size([32, 24, 7]), None)
    """

    prediction: Tensor
    features: Tensor | None


@runtime_checkable
class Teacher(Protocol):
    """A frozen forecaster the student learns from.

    Attributes
    ----------
    input_len
        Lookback ``L_t`` the teacher reads; the student's lookback must be at least as long.
    horizon
        Number of steps ``H_t`` the teacher forecasts in one call.
    n_channels
        Number of channels the teacher was built for, or ``None`` when it forecasts each
        channel independently (any number works).

    Examples
    --------
    Any object with these three attributes and ``forecast`` is a teacher; here, a seasonal-naive
    forecaster that repeats the last 12 steps:

    >>> import torch
    >>> from tsdistill_plugin.core import Teacher, TeacherOutput
    >>> class RepeatLastCycle:
    ...     input_len, horizon, n_channels = 12, 12, None
    ...
    ...     def forecast(self, x):
    ...         return TeacherOutput(prediction=x[:, -12:].clone(), features=None)
    >>> teacher = RepeatLastCycle()
    >>> isinstance(teacher, Teacher)
    True
    >>> teacher.forecast(torch.randn(4, 12, 3)).prediction.shape
    torch.Size([4, 12, 3])
    """

    input_len: int
    horizon: int
    n_channels: int | None

    def forecast(self, x: Tensor) -> TeacherOutput:
        """Forecast ``x`` ``[batch, input_len, channels]`` without gradients.

        The tensors returned are on the device and have the dtype of ``x``.
        """
        ...


@runtime_checkable
class FittableTeacher(Teacher, Protocol):
    """A teacher that can be fitted on data before the student trains.

    ``series`` are frames with a time index (a ``DatetimeIndex`` with a frequency, or a
    ``RangeIndex``) and one column per channel: the library-neutral form in which the Darts and
    NeuralForecast integrations hand over the student's training data.

    Examples
    --------
    A teacher that forecasts each channel's training mean:

    >>> import pandas as pd
    >>> import torch
    >>> from tsdistill_plugin.core import FittableTeacher, TeacherOutput
    >>> class TrainingMean:
    ...     input_len, horizon, n_channels = 1, 12, None
    ...     is_fitted = False
    ...
    ...     def fit(self, series, val_series=None):
    ...         self.mean = torch.tensor(pd.concat(series).mean().to_numpy(), dtype=torch.float32)
    ...         self.is_fitted = True
    ...
    ...     def forecast(self, x):
    ...         level = self.mean.to(x.device, x.dtype).expand(len(x), self.horizon, -1)
    ...         return TeacherOutput(prediction=level, features=None)
    >>> teacher = TrainingMean()
    >>> isinstance(teacher, FittableTeacher)
    True
    >>> teacher.fit([pd.DataFrame({"a": [1.0, 3.0], "b": [0.0, 4.0]})])
    >>> teacher.forecast(torch.zeros(2, 1, 2)).prediction[0, 0]
    tensor([2., 2.])
    """

    @property
    def is_fitted(self) -> bool:
        """Whether the underlying model has been fitted."""
        ...

    def fit(self, series: list[pd.DataFrame], val_series: list[pd.DataFrame] | None = None) -> None:
        """Fit the underlying model on ``series`` (and validate on ``val_series``)."""
        ...


@runtime_checkable
class RefittableTeacher(FittableTeacher, Protocol):
    """A fittable teacher that can make an unfitted copy of itself (``refit_teacher=True``).

    Examples
    --------
    Library adapters are refittable: ``untrained()`` gives the fresh copy that
    ``refit_teacher=True`` fits on each training slice.

    >>> from neuralforecast.models import MLP
    >>> from tsdistill_plugin import as_teacher
    >>> from tsdistill_plugin.core import RefittableTeacher
    >>> teacher = as_teacher(MLP(h=12, input_size=24))
    >>> isinstance(teacher, RefittableTeacher), teacher.untrained().is_fitted
    (True, False)
    """

    def untrained(self) -> RefittableTeacher:
        """A new, unfitted teacher with the same parameters."""
        ...


@runtime_checkable
class AdaptiveTeacher(Teacher, Protocol):
    """A teacher whose lengths adapt to the student's.

    A local statistical model refitted on every window (it reads the student's whole window and
    forecasts the student's horizon), or a foundation model (it reads as much of the window as
    it accepts).

    Examples
    --------
    A Darts local model takes the student's lookback and horizon:

    >>> from darts.models import NaiveSeasonal
    >>> from tsdistill_plugin import as_teacher
    >>> from tsdistill_plugin.core import AdaptiveTeacher
    >>> teacher = as_teacher(NaiveSeasonal(K=12))
    >>> isinstance(teacher, AdaptiveTeacher)
    True
    >>> teacher.bind(input_len=48, horizon=24)
    >>> teacher.input_len, teacher.horizon
    (48, 24)
    """

    def bind(self, input_len: int, horizon: int) -> None:
        """Adapt to the student's lookback and horizon (called before anything else)."""
        ...


@runtime_checkable
class QuantileTeacher(Teacher, Protocol):
    """A teacher that can forecast quantiles, for a probabilistic student to distil them.

    ``forecast`` still gives the point forecast (the median); :func:`forecast_horizon` asks
    for the quantiles when the student forecasts some and :attr:`probabilistic` is true.

    Attributes
    ----------
    probabilistic
        Whether the model forecasts a distribution (a Darts model with a likelihood, a
        NeuralForecast model with a quantile or distribution loss); ``False`` for a point
        forecaster, which teaches the median only.
    quantile_levels
        The levels the model forecasts, read at other levels by interpolation; ``None`` when
        it gives any level exactly (a parametric distribution's inverse CDF).

    Examples
    --------
    A teacher whose forecast is a band of width 2 around the window's last value:

    >>> import torch
    >>> from tsdistill_plugin.core import QuantileTeacher, TeacherOutput, forecast_horizon
    >>> class Band:
    ...     input_len, horizon, n_channels, probabilistic, quantile_levels = 12, 4, None, True, None
    ...
    ...     def forecast(self, x):
    ...         return TeacherOutput(x[:, -1:].expand(-1, 4, -1), None)
    ...
    ...     def forecast_quantiles(self, x, quantiles):
    ...         offsets = (torch.tensor(quantiles) - 0.5) * 2
    ...         return TeacherOutput(self.forecast(x).prediction[..., None] + offsets, None)
    >>> isinstance(Band(), QuantileTeacher)
    True
    >>> band = forecast_horizon(Band(), torch.zeros(2, 12, 1), 8, quantiles=(0.1, 0.5, 0.9))
    >>> band.prediction[0, -1]
    tensor([[-0.8000,  0.0000,  0.8000]])
    """

    probabilistic: bool
    quantile_levels: tuple[float, ...] | None

    def forecast_quantiles(self, x: Tensor, quantiles: tuple[float, ...]) -> TeacherOutput:
        """Forecast ``x`` ``[batch, input_len, channels]`` at the levels ``quantiles``.

        Returns
        -------
        TeacherOutput
            ``prediction`` ``[batch, horizon, channels, len(quantiles)]`` (the model's own
            levels interpolated to ``quantiles`` where they differ) and the features.
        """
        ...


def gives_quantiles(teacher: Teacher) -> bool:
    """Whether ``teacher`` forecasts quantiles (a probabilistic :class:`QuantileTeacher`)."""
    return isinstance(teacher, QuantileTeacher) and bool(teacher.probabilistic)


class KeepsOutputs:
    """Base of the plugin's teacher adapters: each keeps the outputs of its last training run.

    A grid search or a tuner fits many students with one teacher on the same windows; the
    outputs computed for the first are read back by the others
    (:class:`~tsdistill_plugin.core.distillation.TrainingRun` hands them over). They are freed
    with the adapter, or replaced by those of a run on other windows.
    """

    kept_outputs: tuple | None = None
    """``(key, TeacherTargets)`` of the last run, or ``None``."""


class FeatureRegressor(nn.Sequential):
    """Maps teacher features to the student's width: ``Linear -> ReLU -> Linear``.

    It acts on the last axis of ``[batch, channels, in_features]`` and trains jointly with the
    student (it sits on the teacher side of the feature-level terms, as in the reference).

    Parameters
    ----------
    in_features
        Teacher feature width ``d_t``.
    out_features
        Student hidden width ``d_s``.

    Examples
    --------
    >>> import torch
    >>> from tsdistill_plugin.core import FeatureRegressor
    >>> regressor = FeatureRegressor(in_features=256, out_features=64)
    >>> regressor(torch.randn(8, 7, 256)).shape
    torch.Size([8, 7, 64])
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__(
            nn.Linear(in_features, out_features),
            nn.ReLU(),
            nn.Linear(out_features, out_features),
        )


class FeatureLayout(str, Enum):
    """How a teacher's captured hidden tensor is laid out, declared by the teacher's adapter.

    The layout says where the batch and channel axes are; :func:`features_by_channel` brings
    every layout to ``[batch, channels, d]``. Shapes are never guessed: a tensor that does not
    fit its declared layout is an error.

    Examples
    --------
    >>> from tsdistill_plugin.core import FeatureLayout
    >>> FeatureLayout("channels_in_batch") is FeatureLayout.CHANNELS_IN_BATCH
    True
    >>> FeatureLayout("tokens")
    Traceback (most recent call last):
        ...
    ValueError: unknown feature layout 'tokens'; use one of 'per_channel', ...
    """

    PER_CHANNEL = "per_channel"
    """``[batch, channels, ...]``: the trailing axes are flattened into ``d``."""
    CHANNELS_IN_BATCH = "channels_in_batch"
    """``[batch * channels, ...]``: channels folded into the batch (channel-independent models
    such as PatchTST), the trailing axes flattened into ``d``."""
    CHANNELS_LAST = "channels_last"
    """``[batch, d, channels]``: channels on the last axis (e.g. a layer over time)."""
    VARIATE_TOKENS = "variate_tokens"
    """``[batch, channels + k, d]``: one token per channel first, then ``k`` extra tokens
    (iTransformer with time-mark tokens); the extra tokens are dropped."""
    PER_WINDOW = "per_window"
    """``[batch, d]``: one vector per window, shared by every channel (e.g. TiDE's encoder)."""

    @classmethod
    def _missing_(cls, value: object) -> FeatureLayout:
        layouts = ", ".join(repr(layout.value) for layout in cls)
        raise ValueError(f"unknown feature layout {value!r}; use one of {layouts}.")


AUTO = "auto"
"""``feature_layer`` value asking a teacher's adapter to pick its feature layer itself."""

FeatureLayer = str | tuple[str, "FeatureLayout | str"] | None
"""How a user names a teacher's feature layer: ``"auto"``, a dotted submodule name (of the
adapter's default layout), a ``(name, layout)`` pair, or ``None`` for no features."""


def resolve_feature_layer(
    spec: FeatureLayer, auto: tuple[str, FeatureLayout] | None, default_layout: FeatureLayout
) -> tuple[str, FeatureLayout] | None:
    """The ``(submodule name, layout)`` a :data:`FeatureLayer` stands for.

    Parameters
    ----------
    spec
        What the user passed.
    auto
        The adapter's own choice for this model, used for ``"auto"`` (``None``: no features).
    default_layout
        The layout of a layer named without one.

    Raises
    ------
    ValueError
        When ``spec`` is none of the accepted forms.
    """
    if spec is None:
        return None
    if spec == AUTO:
        return auto
    if isinstance(spec, str):
        return spec, default_layout
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
        try:
            return spec[0], FeatureLayout(spec[1])
        except ValueError:
            pass
    layouts = ", ".join(repr(layout.value) for layout in FeatureLayout)
    raise ValueError(
        f"teacher_feature_layer must be 'auto', a submodule name, a (name, layout) pair with a "
        f"layout among {layouts}, or None; got {spec!r}."
    )


def features_by_channel(
    features: Tensor, layout: FeatureLayout | str, batch: int, n_channels: int
) -> Tensor:
    """Bring a captured hidden tensor of a declared layout to ``[batch, channels, d]``.

    Parameters
    ----------
    features
        A hidden tensor captured from a teacher for ``batch`` windows of ``n_channels``
        channels.
    layout
        Its :class:`FeatureLayout` (or the layout's value).
    batch, n_channels
        Sizes of the windows it was computed from.

    Returns
    -------
    Tensor
        ``[batch, n_channels, d]``.

    Raises
    ------
    ValueError
        When the tensor's shape does not fit the layout; choose another layer or declare the
        layout that the layer produces.

    Examples
    --------
    PatchTST folds the channels into the batch (``[batch * channels, patches, d_model]``); TiDE's
    encoder gives one vector per window:

    >>> import torch
    >>> from tsdistill_plugin.core import features_by_channel
    >>> patches = torch.randn(4 * 7, 42, 16)
    >>> features_by_channel(patches, "channels_in_batch", batch=4, n_channels=7).shape
    torch.Size([4, 7, 672])
    >>> features_by_channel(torch.randn(4, 128), "per_window", batch=4, n_channels=7).shape
    torch.Size([4, 7, 128])
    """
    layout = FeatureLayout(layout)
    shape = tuple(features.shape)
    if layout is FeatureLayout.PER_CHANNEL and features.ndim >= 2:
        if shape[:2] == (batch, n_channels):
            return features.reshape(batch, n_channels, -1)
    elif layout is FeatureLayout.CHANNELS_IN_BATCH and features.ndim >= 2:
        if shape[0] == batch * n_channels:
            return features.reshape(batch, n_channels, -1)
    elif layout is FeatureLayout.CHANNELS_LAST and features.ndim == 3:
        if shape[0] == batch and shape[2] == n_channels:
            return features.transpose(1, 2)
    elif layout is FeatureLayout.VARIATE_TOKENS and features.ndim == 3:
        if shape[0] == batch and shape[1] >= n_channels:
            return features[:, :n_channels]
    elif layout is FeatureLayout.PER_WINDOW and features.ndim == 2:
        if shape[0] == batch:
            return features.unsqueeze(1).expand(batch, n_channels, shape[1])
    raise ValueError(
        f"teacher features of shape {list(shape)} do not have the declared layout "
        f"{layout.value!r} for {batch} windows of {n_channels} channels (see FeatureLayout); "
        "declare the layout the layer produces, pick another layer via teacher_feature_layer, "
        "or pass teacher_feature_layer=None to skip feature-level distillation."
    )


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[nn.Module]:
    """Run ``module`` in eval mode without gradients, restoring its mode afterwards.

    Examples
    --------
    >>> import torch
    >>> from tsdistill_plugin.core import frozen
    >>> dropout = torch.nn.Dropout(0.5).train()
    >>> with frozen(dropout):
    ...     print(dropout.training, torch.is_grad_enabled())
    False False
    >>> dropout.training
    True
    """
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            yield module
    finally:
        module.train(was_training)


class FeatureCapture:
    """Forward hook that keeps the last output of one submodule, of a declared layout.

    Parameters
    ----------
    module
        The model to search.
    layer
        Dotted name of the submodule (as in ``module.named_modules()``).
    layout
        The :class:`FeatureLayout` of that submodule's output (after ``select``).
    select
        Picks the part of the output that holds the features (for example a model's forecast
        tokens), or ``None`` for the whole output.

    Examples
    --------
    >>> import torch
    >>> from tsdistill_plugin.core import FeatureCapture
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(48, 32), nn.ReLU(), nn.Linear(32, 12))
    >>> capture = FeatureCapture(model, layer="0", layout="per_channel")
    >>> with capture.capturing():
    ...     forecast = model(torch.randn(4, 3, 48))  # [batch, channels, time]
    >>> capture.features(batch=4, n_channels=3, like=forecast).shape
    torch.Size([4, 3, 32])
    """

    def __init__(
        self,
        module: nn.Module,
        layer: str,
        layout: FeatureLayout | str,
        select: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        submodules = dict(module.named_modules())
        if layer not in submodules:
            names = ", ".join(name for name in submodules if name) or "(none)"
            raise ValueError(
                f"teacher_feature_layer={layer!r} is not a submodule of the teacher; "
                f"choose one of: {names}."
            )
        self.layer = layer
        self.layout = FeatureLayout(layout)
        self.module = submodules[layer]
        self.select = select
        self.output: Tensor | None = None

    def _hook(self, _module: nn.Module, _inputs: object, output: object) -> None:
        output = output[0] if isinstance(output, tuple) else output
        self.output = output if self.select is None else self.select(output)

    @contextlib.contextmanager
    def capturing(self) -> Iterator[FeatureCapture]:
        """Attach the hook for the duration of one forward pass."""
        self.output = None
        handle = self.module.register_forward_hook(self._hook)
        try:
            yield self
        finally:
            handle.remove()

    def features(self, batch: int, n_channels: int, like: Tensor) -> Tensor:
        """The captured output as ``[batch, n_channels, d]``, on the device and dtype of ``like``.

        Raises
        ------
        ValueError
            When the layer did not run in the last forward pass, or its output does not fit
            the declared layout.
        """
        if self.output is None:
            raise ValueError(
                f"teacher_feature_layer={self.layer!r} did not run in the forward pass; choose a "
                "layer that does."
            )
        mapped = features_by_channel(self.output, self.layout, batch, n_channels)
        return mapped.to(device=like.device, dtype=like.dtype)


def run_frozen(
    module: nn.Module,
    x: Tensor,
    predict: Callable[[Tensor], Tensor],
    capture: FeatureCapture | None,
    keep_dtype: bool = False,
) -> TeacherOutput:
    """Run a teacher's frozen module on windows ``x``: what every teacher adapter does.

    Parameters
    ----------
    module
        The teacher's torch module: in eval mode without gradients for the call (its mode
        restored afterwards), ``x`` moved to its device and, unless ``keep_dtype``, its dtype.
    x
        Windows ``[batch, L, channels]``.
    predict
        Maps the moved windows to the point forecast ``[batch, H, channels]`` (the adapter's
        own call of the module, the median of a probabilistic output).
    capture
        Where the features come from, or ``None`` for none.
    keep_dtype
        Hand the module ``x`` in its own dtype (modules that cast internally).

    Returns
    -------
    TeacherOutput
        The forecast and the features ``[batch, channels, d]`` (or ``None``), on the device
        and with the dtype of ``x``.
    """
    parameter = next(module.parameters(), None)
    device = x.device if parameter is None else parameter.device
    dtype = x.dtype if parameter is None or keep_dtype else parameter.dtype
    with frozen(module), capture.capturing() if capture else contextlib.nullcontext():
        prediction = predict(x.to(device, dtype))
    features = None if capture is None else capture.features(x.shape[0], x.shape[2], like=x)
    return TeacherOutput(prediction.to(x.device, x.dtype), features)


class TorchTeacher(KeepsOutputs):
    """Makes an ``nn.Module`` or callable mapping ``[B, L, N] -> [B, H, N]`` a teacher.

    The model runs in eval mode without gradients, on the device and with the dtype of its own
    parameters (the input is moved there and the outputs moved back); its training mode is
    restored afterwards and nothing else about it is changed.

    Parameters
    ----------
    model
        The forecaster. A module's output may also be a tuple whose first element is the
        forecast.
    input_len
        Lookback ``L`` the model reads.
    horizon
        Steps ``H`` it forecasts.
    n_channels
        Channels it was built for, or ``None`` when it accepts any number.
    feature_layer
        Dotted name of a submodule whose output becomes the teacher's features, or ``None`` for
        no features.
    feature_layout
        The :class:`FeatureLayout` of that submodule's output (by default ``[batch, channels,
        ...]``); it is mapped to ``[batch, channels, d]`` by :func:`features_by_channel`.

    Examples
    --------
    A linear forecaster over time whose hidden layer serves as the teacher's features:

    >>> import torch
    >>> from tsdistill_plugin.core import TorchTeacher
    >>> class TwoLayer(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.hidden = torch.nn.Linear(48, 32)
    ...         self.head = torch.nn.Linear(32, 12)
    ...
    ...     def forward(self, x):  # [batch, time, channels] -> [batch, horizon, channels]
    ...         return self.head(self.hidden(x.transpose(1, 2))).transpose(1, 2)
    >>> teacher = TorchTeacher(TwoLayer(), input_len=48, horizon=12, feature_layer="hidden")
    >>> output = teacher.forecast(torch.randn(4, 48, 3))
    >>> output.prediction.shape, output.features.shape
    (torch.Size([4, 12, 3]), torch.Size([4, 3, 32]))
    """

    def __init__(
        self,
        model: nn.Module | Callable[[Tensor], Tensor],
        input_len: int,
        horizon: int,
        n_channels: int | None = None,
        feature_layer: str | None = None,
        feature_layout: FeatureLayout | str = FeatureLayout.PER_CHANNEL,
    ) -> None:
        if not callable(model):
            raise TypeError(
                f"model must be an nn.Module or a callable [B, L, N] -> [B, H, N], got "
                f"{type(model).__name__}."
            )
        if feature_layer is not None and not isinstance(model, nn.Module):
            raise ValueError(
                "teacher_feature_layer needs an nn.Module teacher to hook into; pass "
                "feature_layer=None for a plain callable."
            )
        self.model = model
        self.input_len = int(input_len)
        self.horizon = int(horizon)
        self.n_channels = n_channels
        self._capture = (
            FeatureCapture(model, feature_layer, feature_layout) if feature_layer else None
        )

    def __repr__(self) -> str:
        return f"TorchTeacher({type(self.model).__name__}, L={self.input_len}, H={self.horizon})"

    def forecast(self, x: Tensor) -> TeacherOutput:
        """Forecast ``x`` ``[batch, input_len, channels]``; see :class:`Teacher`."""
        if isinstance(self.model, nn.Module):
            output = run_frozen(self.model, x, self._point_forecast, self._capture)
        else:
            with torch.no_grad():
                output = TeacherOutput(self._point_forecast(x).to(x.device, x.dtype), None)
        if output.prediction.ndim != 3 or output.prediction.shape[0] != x.shape[0]:
            raise ValueError(
                f"the teacher returned shape {list(output.prediction.shape)} for input "
                f"{list(x.shape)}; a teacher must map [B, L, N] to [B, H, N]."
            )
        return output

    def _point_forecast(self, x: Tensor) -> Tensor:
        output = self.model(x)
        return output[0] if isinstance(output, tuple) else output


MEDIAN_SAMPLES = 200
"""Draws that estimate the median of a distribution without an inverse CDF."""


def distribution_median(
    distribution: torch.distributions.Distribution, like: Tensor, samples: int = MEDIAN_SAMPLES
) -> Tensor:
    """The median of a probabilistic teacher's forecast distribution, ``like``'s shape.

    Its ``icdf(0.5)``, or, without an inverse CDF, the median of ``samples`` draws.

    Examples
    --------
    >>> import torch
    >>> from tsdistill_plugin.core.teacher import distribution_median
    >>> loc = torch.tensor([[1.0, -2.0]])
    >>> distribution_median(torch.distributions.Normal(loc, 1.0), like=loc)
    tensor([[ 1., -2.]])
    """
    try:
        return distribution.icdf(torch.full_like(like, 0.5))
    except NotImplementedError:
        return torch.quantile(distribution.sample((samples,)), 0.5, dim=0)


def distribution_quantiles(
    distribution: torch.distributions.Distribution,
    quantiles: tuple[float, ...],
    like: Tensor,
    samples: int = MEDIAN_SAMPLES,
) -> Tensor:
    """Quantiles of a probabilistic teacher's forecast distribution, ``[*like.shape, Q]``.

    Its ``icdf`` at each level, or, without an inverse CDF, the quantiles of ``samples``
    draws.

    Examples
    --------
    >>> import torch
    >>> from tsdistill_plugin.core.teacher import distribution_quantiles
    >>> loc = torch.zeros(1, 2)
    >>> distribution_quantiles(torch.distributions.Normal(loc, 2.0), (0.5, 0.975), like=loc)
    tensor([[[0.0000, 3.9199],
             [0.0000, 3.9199]]])
    """
    try:
        return torch.stack([distribution.icdf(torch.full_like(like, q)) for q in quantiles], dim=-1)
    except NotImplementedError:
        levels = torch.tensor(quantiles, dtype=like.dtype, device=like.device)
        return torch.quantile(distribution.sample((samples,)), levels, dim=0).movedim(0, -1)


def forecast_horizon(
    teacher: Teacher, x: Tensor, horizon: int, quantiles: tuple[float, ...] | None = None
) -> TeacherOutput:
    """The teacher's forecast of ``horizon`` steps from the student's windows.

    Parameters
    ----------
    teacher
        Any :class:`Teacher`.
    x
        Student windows ``[batch, L, channels]`` with ``L >= teacher.input_len``; the teacher
        reads the last ``teacher.input_len`` steps.
    horizon
        Steps wanted. When the teacher forecasts fewer, its forecasts (the median of quantile
        forecasts) are fed back as input until ``horizon`` steps exist (features are those of
        the first call).
    quantiles
        A probabilistic student's levels (0.5 among them): a teacher that
        :func:`gives_quantiles` forecasts them; any other gives its point forecast.

    Returns
    -------
    TeacherOutput
        ``prediction`` ``[batch, horizon, channels]`` (``[batch, horizon, channels,
        len(quantiles)]`` for quantile forecasts) and the teacher's features, if any.

    Raises
    ------
    ValueError
        When the teacher's forecasts or features are not all finite.

    Examples
    --------
    A teacher of 12 steps rolled out to 30, reading the last 48 steps of 96-step windows:

    >>> import torch
    >>> from tsdistill_plugin.core import TorchTeacher, forecast_horizon
    >>> repeat_last = TorchTeacher(lambda x: x[:, -1:].expand(-1, 12, -1), input_len=48, horizon=12)
    >>> x = torch.randn(4, 96, 3)
    >>> prediction = forecast_horizon(repeat_last, x, horizon=30).prediction
    >>> prediction.shape, torch.equal(prediction, x[:, -1:].expand(-1, 30, -1))
    (torch.Size([4, 30, 3]), True)
    """
    if x.shape[1] < teacher.input_len:
        raise ValueError(
            f"the teacher reads {teacher.input_len} steps but the student's windows have "
            f"{x.shape[1]}; give the student a lookback (input_len) of at least "
            f"{teacher.input_len}."
        )
    if quantiles is not None and gives_quantiles(teacher):
        median = quantiles.index(0.5)

        def call(window: Tensor) -> tuple[Tensor, TeacherOutput]:
            output = teacher.forecast_quantiles(window, quantiles)
            return output.prediction[..., median], output

    else:

        def call(window: Tensor) -> tuple[Tensor, TeacherOutput]:
            output = teacher.forecast(window)
            return output.prediction, output

    window = x[:, -teacher.input_len :]
    point, first = call(window)
    steps, points = [first.prediction], [point]
    produced = first.prediction.shape[1]
    while produced < horizon:
        window = torch.cat([window, points[-1]], dim=1)[:, -teacher.input_len :]
        point, output = call(window)
        steps.append(output.prediction)
        points.append(point)
        produced += point.shape[1]
    prediction = torch.cat(steps, dim=1)[:, :horizon]
    _check_finite(teacher, prediction, first.features)
    return TeacherOutput(prediction, first.features)


def _check_finite(teacher: Teacher, prediction: Tensor, features: Tensor | None) -> None:
    """Refuse a teacher's non-finite outputs.

    The student would learn NaN from them, and training would fail much later, with a NaN
    loss that names no cause.
    """
    if not torch.isfinite(prediction).all():
        raise ValueError(
            f"the teacher {teacher!r} forecasts NaN or infinite values for some training "
            "windows, so the student cannot learn from it; a teacher fitted on non-finite data "
            "or one whose training diverged does this: refit the teacher on finite data (or "
            "with a lower learning rate), or pass teacher=None to train without it."
        )
    if features is not None and not torch.isfinite(features).all():
        raise ValueError(
            f"the teacher {teacher!r} gives NaN or infinite hidden features for some training "
            "windows; pick another layer with teacher_feature_layer, or pass "
            "teacher_feature_layer=None (or beta=0) to distil from its forecasts only."
        )
