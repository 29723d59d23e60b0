"""Darts foundation models (Chronos-2, TimesFM, TiRex, PatchTST-FM, ...) as zero-shot teachers.

A Darts ``FoundationModel`` is a ``TorchForecastingModel`` whose weights come pre-trained from
the model hub (or ``local_dir``). As a teacher it is used zero-shot: "fitting" it is Darts' own
``fit``, which with fine-tuning off (the default) trains nothing; it loads the checkpoint, checks
the series and records their components, which Darts needs before any forecast.

The student's lookback and horizon stay the user's, whatever the model's context and output
lengths (:class:`_FoundationForecaster`): the model reads as much of each window as it accepts,
and forecasts longer than its ``output_chunk_length`` are rolled out autoregressively by
:func:`~tsdistill_plugin.core.forecast_horizon`, feeding the median back as Darts'
``predict(n > output_chunk_length)`` does. Foundation models are slow: the teacher cache logs
the number of windows and the time it expects from its first batch, and warns when it is long.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import torch
from darts import TimeSeries
from darts.models.forecasting.torch_forecasting_model import TorchForecastingModel
from torch import Tensor, nn

from ..core.teacher import (
    AUTO,
    FeatureCapture,
    FeatureLayer,
    FeatureLayout,
    TeacherOutput,
    resolve_feature_layer,
    run_frozen,
)
from ._compat import is_fitted, module_median, module_quantiles, quantile_levels

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


def chronos2_forecast_tokens(module: nn.Module) -> FeatureCapture:
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

    The capture gives features ``[batch, channels, n_forecast_patches * d_model]``; their width
    depends on ``output_chunk_length``, not on the lookback.
    """
    patch = module.chronos_config.output_patch_size
    n_patches = math.ceil((module.output_chunk_length + module.output_chunk_shift) / patch)
    return FeatureCapture(
        module, "encoder", FeatureLayout.CHANNELS_IN_BATCH, select=lambda out: out[:, -n_patches:]
    )


FEATURE_LAYERS: dict[str, Callable[[nn.Module], FeatureCapture]] = {
    "Chronos2Model": chronos2_forecast_tokens
}
"""The feature capture of each foundation model whose layout is known, by Darts class name.

Models without one (TimesFM 2.5 / 3, TiRex, TiRex-2, PatchTST-FM, T0) distil at the prediction
level only: their layouts are untested here (no offline checkpoint), and a guessed layout could
mix channels or time into the feature axis silently.
"""


class FoundationForecaster:
    """A Darts foundation model used zero-shot, batch-wise through its Lightning module.

    Parameters
    ----------
    model
        A Darts ``FoundationModel`` (``Chronos2Model``, ``TimesFM2p5Model``, ``TiRexModel``,
        ...), set up (fitted) or not. Only Darts' ``fit`` changes it, and only when the student
        fits an unfitted teacher.
    feature_layer
        ``"auto"``: the capture of :data:`FEATURE_LAYERS`, or no features (the student
        warns that its feature-level terms are skipped); a dotted submodule name of the
        Lightning module (its output ``[batch * channels, ...]``, as the modules fold channels
        into the batch) or a ``(name, layout)`` pair; ``None``: no features.

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

    def __init__(self, model: TorchForecastingModel, feature_layer: FeatureLayer) -> None:
        self.model = model
        self.input_len = int(model.input_chunk_length)
        self.horizon = int(model.output_chunk_length)
        self._auto = FEATURE_LAYERS.get(type(model).__name__) if feature_layer == AUTO else None
        self._layer = resolve_feature_layer(feature_layer, None, FeatureLayout.CHANNELS_IN_BATCH)
        self._capture: FeatureCapture | None = None

    @property
    def is_fitted(self) -> bool:
        """Whether Darts has loaded the model (its ``fit`` trains nothing)."""
        return self.model.model is not None and is_fitted(self.model)

    @property
    def n_channels(self) -> int | None:
        """Channels of the series it was loaded for, or ``None`` before."""
        return int(self.model.output_dim) if self.is_fitted else None

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

    def fit(
        self, series: list[TimeSeries], val_series: list[TimeSeries] | None, **covariates: object
    ) -> None:
        """Set the model up on the student's series with Darts' ``fit``.

        ``covariates`` (Darts ``fit`` arguments) are passed on: a foundation model that reads
        them (Chronos-2) is then taught through its ``historical_forecasts``
        (:meth:`~tsdistill_plugin.darts.DartsTeacher.forecast_series`).

        Zero-shot (``enable_finetuning`` off, the default) this trains nothing: Darts loads the
        checkpoint and records the series' components. With fine-tuning on, Darts fine-tunes
        on ``series`` and validates on ``val_series``.
        """
        if self.model.enable_finetuning:
            logger.info("Fine-tuning %s on the student's series.", type(self.model).__name__)
            self.model.fit(series, val_series=val_series, **covariates)
        else:
            train = {k: v for k, v in covariates.items() if not k.startswith("val_")}
            self.model.fit(series, **train)
        self._capture = None

    def _capture_for(self, module: nn.Module) -> FeatureCapture | None:
        if self._capture is None and self._auto is not None:
            self._capture = self._auto(module)
        elif self._capture is None and self._layer is not None:
            self._capture = FeatureCapture(module, *self._layer)
        return self._capture

    @property
    def probabilistic(self) -> bool:
        """Whether the model forecasts quantiles: built with a ``QuantileRegression``."""
        return self.model.likelihood is not None

    @property
    def quantile_levels(self) -> tuple[float, ...] | None:
        """The levels of its ``QuantileRegression``, or ``None``."""
        return quantile_levels(self.model)

    def forecast(self, x: Tensor) -> TeacherOutput:
        """Median forecast ``[batch, horizon, channels]`` and features of windows ``x``.

        ``x`` is ``[batch, L, channels]`` with ``min_input_chunk_length <= L <=
        input_chunk_length``.

        The windows go to the module's device in their own dtype, as Darts' ``predict`` hands
        them over (foundation modules cast internally), at most :data:`SERIES_PER_CALL`
        series (windows times channels) per forward pass.
        """
        return self._run(x, module_median)

    def forecast_quantiles(self, x: Tensor, quantiles: tuple[float, ...]) -> TeacherOutput:
        """Quantile forecast ``[batch, horizon, channels, Q]`` and features, as :meth:`forecast`.

        The model's quantiles (its ``QuantileRegression``'s, a subset of its pre-trained ones)
        are interpolated to ``quantiles`` where the levels differ.
        """
        return self._run(x, lambda module, x: module_quantiles(module, x, quantiles))

    def _run(self, x: Tensor, predict: Callable[[nn.Module, Tensor], Tensor]) -> TeacherOutput:
        module: nn.Module = self.model.model
        capture = self._capture_for(module)
        parts = [
            run_frozen(module, part, lambda x: predict(module, x), capture, keep_dtype=True)
            for part in x.split(max(1, SERIES_PER_CALL // x.shape[2]))
        ]
        prediction = torch.cat([part.prediction for part in parts])
        if capture is None:
            return TeacherOutput(prediction, None)
        return TeacherOutput(prediction, torch.cat([part.features for part in parts]))
