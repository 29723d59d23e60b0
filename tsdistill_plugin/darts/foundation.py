"""Darts foundation models (Chronos-2, TimesFM, TiRex, PatchTST-FM, ...) as zero-shot teachers.

A Darts ``FoundationModel`` is a ``TorchForecastingModel`` whose weights come pre-trained from
the model hub (or ``local_dir``). As a teacher it is used zero-shot: "fitting" it is Darts' own
``fit``, which with fine-tuning off (the default) trains nothing; it loads the checkpoint, checks
the series and records their components, which Darts needs before any forecast.

The student's lookback and horizon stay the user's, whatever the model's context and output
lengths (:class:`_FoundationForecaster`): the model reads as much of each window as it accepts,
and forecasts longer than its ``output_chunk_length`` are rolled out autoregressively by
:func:`~tsdistill_plugin.core.forecast_horizon`, feeding the median back as Darts'
``predict(n > output_chunk_length)`` does. Foundation models are slow: :func:`estimate_seconds`
times one batch so that the number of windows and the expected time can be logged before the
teacher cache is filled.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from typing import Protocol

import torch
from darts import TimeSeries
from darts.models.forecasting.torch_forecasting_model import TorchForecastingModel
from darts.utils.data.torch_datasets.utils import PLModuleInput
from torch import Tensor, nn

from ..core.teacher import (
    FeatureCapture,
    Teacher,
    TeacherOutput,
    features_by_channel,
    forecast_horizon,
    frozen,
)
from ..teachers import AUTO

logger = logging.getLogger(__name__)


def _foundation_model_class() -> type:
    """Darts' ``FoundationModel`` base class.

    Its module imports ``huggingface_hub``, an optional dependency (the ``foundation`` extra).
    Without it no Darts foundation model can be built, so a class that nothing is an instance
    of stands in and the Darts integration works as before.
    """
    try:
        from darts.models.forecasting.foundation_model import FoundationModel
    except ImportError:
        return type("FoundationModelUnavailable", (), {})
    return FoundationModel


FoundationModel = _foundation_model_class()

SERIES_PER_CALL = 256
"""Most series (windows times channels) per forward pass of a foundation module.

Chronos-2's group attention runs along the batch axis under a ``[series, series]`` mask, so
the cost and memory of one pass grow with the square of the series in it; 256 is the
Chronos-2 pipeline's own prediction batch size (``Chronos2Pipeline.predict``), counted the same
way. Larger batches are split; windows never interact, so the forecasts do not change.
"""


class FeatureLayout(Protocol):
    """Where a foundation model's hidden states are and how they map to channels."""

    layer: str
    """Dotted name of the Lightning module's submodule whose output holds the states."""

    def by_channel(self, output: Tensor, module: nn.Module, batch: int, n_channels: int) -> Tensor:
        """Turn the layer's output for ``batch`` windows of ``n_channels`` channels into
        features ``[batch, n_channels, d]``."""
        ...


class Chronos2ForecastTokens:
    """Chronos-2's final encoder states of its forecast patches, per channel.

    Darts' ``_Chronos2Module`` folds each window's channels into the batch, window-major (row
    ``b * channels + n`` is channel ``n`` of window ``b``; the channels of one window form one
    group of its group attention, windows never mix). Its ``encoder`` (ending in the final
    layer norm) returns ``[batch * channels, tokens, d_model]``: the context patches, the
    ``[REG]`` token when the checkpoint uses one, then ``ceil(output_chunk_length /
    output_patch_size)`` forecast patches. The output head maps each forecast patch's state to
    the quantiles of its steps, so these states are what the forecast is decoded from: the
    counterpart of the student's hidden layer. They are concatenated in time order, as the
    reference flattens PatchTST's patch tokens per channel.

    Returns features ``[batch, channels, n_forecast_patches * d_model]``; their width depends on
    ``output_chunk_length``, not on the lookback.
    """

    layer = "encoder"

    def by_channel(self, output: Tensor, module: nn.Module, batch: int, n_channels: int) -> Tensor:
        patch = module.chronos_config.output_patch_size
        n_patches = math.ceil((module.output_chunk_length + module.output_chunk_shift) / patch)
        tokens = output[:, -n_patches:]
        return tokens.reshape(batch, n_channels, n_patches * output.shape[-1])


FEATURE_LAYOUTS: dict[str, FeatureLayout] = {"Chronos2Model": Chronos2ForecastTokens()}
"""Declared feature layouts, by Darts model class name.

Models without one (TimesFM 2.5 / 3, TiRex, TiRex-2, PatchTST-FM, T0) distil at the prediction
level only: their layouts are untested here (no offline checkpoint), and a guessed layout could
mix channels or time into the feature axis silently.
"""


class _FoundationForecaster:
    """A Darts foundation model used zero-shot, batch-wise through its Lightning module.

    Parameters
    ----------
    model
        A Darts ``FoundationModel`` (``Chronos2Model``, ``TimesFM2p5Model``, ``TiRexModel``,
        ...), set up (fitted) or not. Only Darts' ``fit`` changes it, and only when the student
        fits an unfitted teacher.
    feature_layer
        ``"auto"``: the declared layout of :data:`FEATURE_LAYOUTS`, or no features (one
        WARNING says so); a dotted submodule name of the Lightning module: that layer's output,
        mapped by :func:`~tsdistill_plugin.core.features_by_channel`; ``None``: no features.

    Attributes
    ----------
    input_len
        Steps of each window the model reads: its ``input_chunk_length`` (Darts' maximum
        context when given as a ``(min, max)`` tuple) until :meth:`bind` lowers it to a shorter
        student lookback the model accepts.
    horizon
        Steps per call: the model's ``output_chunk_length``. Longer student horizons are rolled
        out by :func:`~tsdistill_plugin.core.forecast_horizon`, feeding back the median.

    Notes
    -----
    A forecast of at most ``output_chunk_length`` steps equals Darts' ``predict`` on the same
    window (for a window shorter than ``input_chunk_length``, up to float rounding: Darts
    left-pads it with NaN, which Chronos-2 masks). A rolled-out forecast equals Darts' when the
    horizon is a multiple of ``output_chunk_length`` and the window is the model's whole
    context. Otherwise the two rollouts differ slightly: Darts ends its last chunk exactly at
    the horizon by starting it earlier, and lets later calls of a variable-length model read
    more history (the forecasts appended to the window) than the first; the core keeps whole
    chunks, cuts the last one and reads ``input_len`` steps in every call.
    """

    def __init__(self, model: TorchForecastingModel, feature_layer: str | None) -> None:
        self.model = model
        self.input_len = int(model.input_chunk_length)
        self.horizon = int(model.output_chunk_length)
        self.feature_layer = feature_layer
        self._layout: FeatureLayout | None = None
        name = type(model).__name__
        if feature_layer == AUTO:
            self._layout = FEATURE_LAYOUTS.get(name)
            if self._layout is None:
                logger.warning(
                    "foundation teacher %s has no declared feature layout: feature-level "
                    "distillation is skipped and beta has no effect (pass "
                    "teacher_feature_layer='<submodule name>' to pick a layer yourself).",
                    name,
                )
        self._capture: FeatureCapture | None = None

    @property
    def is_fitted(self) -> bool:
        return self.model.model is not None and bool(self.model._fit_called)

    @property
    def n_channels(self) -> int | None:
        return int(self.model.output_dim) if self.is_fitted else None

    @property
    def _layer(self) -> str | None:
        if self._layout is not None:
            return self._layout.layer
        return None if self.feature_layer == AUTO else self.feature_layer

    def bind(self, input_len: int, horizon: int) -> None:
        """Read ``min(input_chunk_length, input_len)`` steps of the student's windows.

        Raises
        ------
        ValueError
            When the student's lookback is shorter than the shortest input the model accepts
            (Darts' ``min_input_chunk_length``).
        """
        shortest = int(self.model.min_input_chunk_length)
        longest = int(self.model.input_chunk_length)
        name = type(self.model).__name__
        if input_len < shortest:
            raise ValueError(
                f"the student's lookback is {input_len} steps but the {name} teacher reads at "
                f"least {shortest}; give the student a lookback >= {shortest}, or build the "
                f"teacher with input_chunk_length=({input_len}, {longest}) to let it read "
                "shorter windows."
            )
        self.input_len = min(longest, int(input_len))
        if horizon > self.horizon:
            logger.info(
                "%s forecasts %d steps per call: the student's %d are rolled out "
                "autoregressively (%d calls per window); build it with output_chunk_length=%d "
                "(within its maximum prediction length) for one direct forecast.",
                name,
                self.horizon,
                horizon,
                math.ceil(horizon / self.horizon),
                horizon,
            )

    def fit(self, series: list[TimeSeries], val_series: list[TimeSeries] | None) -> None:
        """Set the model up on the student's series with Darts' ``fit``.

        Zero-shot (``enable_finetuning`` off, the default) this trains nothing: Darts loads the
        checkpoint and records the series' components. With fine-tuning on, Darts fine-tunes
        on ``series`` and validates on ``val_series``.
        """
        if self.model.enable_finetuning:
            logger.info("Fine-tuning %s on the student's series.", type(self.model).__name__)
            self.model.fit(series, val_series=val_series)
        else:
            self.model.fit(series)
        self._capture = None

    def forecast(self, x: Tensor) -> TeacherOutput:
        """Median forecast ``[batch, horizon, channels]`` of windows ``x`` ``[batch, L,
        channels]`` (``min_input_chunk_length <= L <= input_chunk_length``) and features.

        The windows go to the module's device in their own dtype, as Darts' ``predict`` hands
        them over (foundation modules cast internally), at most :data:`SERIES_PER_CALL`
        series (windows times channels) per forward pass; the outputs come back on ``x``'s
        device and dtype.
        """
        module: nn.Module = self.model.model
        layer = self._layer
        if self._capture is None and layer is not None:
            self._capture = FeatureCapture(module, layer)
        device = next(module.parameters()).device
        windows_per_call = max(1, SERIES_PER_CALL // x.shape[2])
        with frozen(module):
            parts = [self._forward(module, part.to(device)) for part in x.split(windows_per_call)]
        prediction = torch.cat([part.prediction for part in parts]).to(x.device, x.dtype)
        if self._capture is None:
            return TeacherOutput(prediction, None)
        features = torch.cat([part.features for part in parts]).to(x.device, x.dtype)
        return TeacherOutput(prediction, features)

    def _forward(self, module: nn.Module, x: Tensor) -> TeacherOutput:
        """One forward pass of the module over windows ``x`` on its device."""
        capture = self._capture.capturing() if self._capture else contextlib.nullcontext()
        with capture:
            output = module(PLModuleInput(past_target=x)).prediction
        prediction = output[..., _median_index(module)]
        if self._capture is None:
            return TeacherOutput(prediction, None)
        batch, channels = x.shape[0], x.shape[2]
        captured = self._capture.output
        if captured is None:
            raise ValueError(
                f"teacher_feature_layer={self._capture.layer!r} did not run in the forward "
                "pass; choose a layer that does, or teacher_feature_layer=None."
            )
        if self._layout is not None:
            return TeacherOutput(
                prediction, self._layout.by_channel(captured, module, batch, channels)
            )
        return TeacherOutput(prediction, features_by_channel(captured, batch, channels))


def _median_index(module: nn.Module) -> int:
    """Index of the 0.5 quantile on the last axis of a foundation module's output.

    Without a likelihood Darts' foundation modules output the median alone; with a
    ``QuantileRegression`` (the only likelihood they take, and it always holds 0.5) they
    output its quantiles.
    """
    likelihood = getattr(module, "likelihood", None)
    return 0 if likelihood is None else list(likelihood.quantiles).index(0.5)


def estimate_seconds(teacher: Teacher, windows: Tensor, n_windows: int, horizon: int) -> float:
    """Seconds a teacher will take to forecast ``n_windows`` windows, timed on one batch.

    One window is forecast first, untimed (one-time costs: hooks, kernels), then ``windows``
    as one batch, through :func:`~tsdistill_plugin.core.forecast_horizon` (the rollout
    included); the time scales linearly to ``n_windows``. Pass a batch of the size the cache
    uses, on its device: the estimate is for batches of that size.

    Parameters
    ----------
    teacher
        Any :class:`~tsdistill_plugin.core.Teacher`.
    windows
        One batch of the student's windows ``[batch, L, channels]``.
    n_windows
        Number of windows the cache will hold.
    horizon
        The student's horizon.

    Returns
    -------
    float
        Estimated seconds for all ``n_windows`` windows.
    """
    if windows.ndim != 3 or windows.shape[0] == 0:
        raise ValueError(
            f"windows must be a non-empty batch [batch, time, channels], got shape "
            f"{list(windows.shape)}."
        )
    forecast_horizon(teacher, windows[:1], horizon)
    start = time.perf_counter()
    output = forecast_horizon(teacher, windows, horizon)
    output.prediction.sum().item()  # waits for asynchronous devices
    elapsed = time.perf_counter() - start
    return elapsed * n_windows / windows.shape[0]
