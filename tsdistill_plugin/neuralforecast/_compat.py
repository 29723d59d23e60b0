"""Every private name of NeuralForecast that the plugin uses.

Each comes with the reason no public hook serves.

Checked against neuralforecast 3.3.0. Nothing else in the plugin touches a NeuralForecast name
that starts with an underscore (``tests/test_library_boundaries.py`` fails otherwise), so a
NeuralForecast upgrade is checked here alone.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from neuralforecast._serialization import SerializationError
from neuralforecast.common._base_auto import BaseAuto
from neuralforecast.common._base_model import BaseModel
from torch import Tensor

CHECKED_VERSION = "3.3.0"

__all__ = [
    "MAD_FROM_STD",
    "SCALER_STATISTICS",
    "AutoHooks",
    "BaseModel",
    "SampledWindows",
    "SerializationError",
    "StudentHooks",
    "optuna_space",
]
# ``BaseModel`` and ``BaseAuto``, the base classes of every NeuralForecast model and tuner, are
# defined in the private modules ``neuralforecast.common._base_model`` / ``._base_auto`` and
# exported nowhere else. ``SerializationError``, what ``BaseModel.load`` raises for a saved file
# it cannot decode (an unknown name in its JSON, missing weights), is defined in the private
# ``neuralforecast._serialization`` and exported nowhere else.


class AutoHooks(BaseAuto):
    """Lets a tuner build each trial's model itself.

    ``BaseAuto`` builds every trial's model as ``cls_model(**config)`` in ``_fit_model``, after
    deep-copying the trial's config; no public hook adds an argument that must not be copied
    (the teacher, which every trial shares). This override calls :meth:`build_model`.
    """

    def _fit_model(
        self,
        cls_model: type,
        config: dict,
        dataset: Any,
        val_size: int,
        test_size: int,
        distributed_config: Any = None,
    ) -> BaseModel:
        model = self.build_model(cls_model, config)
        return model.fit(
            dataset, val_size=val_size, test_size=test_size, distributed_config=distributed_config
        )

    def build_model(self, cls_model: type, config: dict) -> BaseModel:
        """One trial's model from its config."""
        return cls_model(**config)


class SampledWindows(NamedTuple):
    """The windows NeuralForecast sampled for one training step.

    Attributes
    ----------
    insample
        Their raw input ``[windows, input_size, series]``, before NeuralForecast normalizes it.
    window_index
        Each window's index among all windows of the step's batch of series ``[windows]``.
    windows_per_series
        Windows per series in that enumeration (univariate models; 1 window per time position
        for multivariate ones).
    """

    insample: Tensor
    window_index: Tensor
    windows_per_series: int


class StudentHooks(BaseModel):
    """Records which windows ``BaseModel.training_step`` samples; keeps the series' order.

    ``training_step`` builds every window of the batch's series (``_create_windows``), draws
    ``windows_batch_size`` of them and passes their indices to ``_sample_windows``; no public
    hook sees those indices, which identify the windows whose teacher outputs were cached. This
    override records them (and the windows' raw input) while :meth:`recording` is on.

    ``BaseModel.fit`` always shuffles the series of each training batch (``_fit``'s
    ``shuffle_train``, which no public argument reaches); with ``KEEP_SERIES_ORDER`` the
    series stay in the dataset's order.
    """

    KEEP_SERIES_ORDER = False
    _recording_batch: dict[str, Any] | None = None
    _recorded: SampledWindows | None = None

    def _fit(self, *args: Any, **kwargs: Any) -> BaseModel:
        if self.KEEP_SERIES_ORDER:
            kwargs["shuffle_train"] = False
        return super()._fit(*args, **kwargs)

    def recording(self, batch: dict[str, Any]) -> None:
        """Record the windows sampled from ``batch`` in the next training step."""
        self._recorded = None
        self._recording_batch = batch

    def recorded(self) -> SampledWindows:
        """What the last training step sampled; stops recording."""
        recorded, self._recorded, self._recording_batch = self._recorded, None, None
        return recorded

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
        batch = self._recording_batch
        if batch is not None:
            n_series = batch["temporal"].shape[0]
            self._recorded = SampledWindows(
                windows["temporal"][:, : self.input_size, batch["y_idx"]].clone(),
                final_condition[w_idxs],
                windows_temporal.shape[0] // n_series,
            )
        return windows


def optuna_space(ray_config: dict) -> Any:
    """A ray ``tune`` search space as the optuna config function NeuralForecast's tuners take.

    Through ``BaseAuto._ray_config_to_optuna``, as every ``Auto*`` model builds its optuna space.
    """
    return BaseAuto._ray_config_to_optuna(ray_config)


MAD_FROM_STD = 0.6744897501960817
"""``robust_statistics`` / ``invariant_statistics`` replace a zero MAD by the standard deviation
times this (the MAD of a normal distribution, in standard deviations)."""

SCALER_STATISTICS: dict[str, dict[str, Any] | None] = {
    "identity": None,
    "standard": {"shift": "mean", "spread": "std"},
    "revin": {"shift": "mean", "spread": "std"},
    "robust": {"shift": "median", "spread": "mad", "mad_from_std": MAD_FROM_STD},
    "minmax": {"shift": "min", "spread": "range"},
    "minmax1": {"shift": "min", "spread": "range", "transform": "minus_one_one"},
    "invariant": {
        "shift": "median", "spread": "mad", "transform": "asinh", "mad_from_std": MAD_FROM_STD,
    },
}  # fmt: skip
"""Each ``scaler_type`` of ``TemporalNorm`` as the statistics its ``*_statistics`` and
``*_scaler`` functions compute (the arguments of
:class:`~tsdistill_plugin.export.scaling.InputScaler`), ``None`` for no scaling. Those
functions live in the private module ``neuralforecast.common._scalers``, as torch functions of
masked tensors that a graph cannot call, so the exporter writes them as graph ops from this
table, with the scaler's ``eps`` and, for ``"revin"``, its learnt ``revin_bias`` and
``relu(revin_weight) + eps`` in the inverse (read by :mod:`tsdistill_plugin.export.sources`).
``tests/export/test_nf_scaling.py`` checks the graph against ``TemporalNorm`` for every
entry."""
