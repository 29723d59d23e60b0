"""NeuralForecast's per-window scalers (``scaler_type``) as the exporter carries them.

Plain Python; :mod:`.graph` writes them as graph ops, :mod:`.sources` reads them from
NeuralForecast's ``TemporalNorm``.
"""

from __future__ import annotations

from dataclasses import dataclass

SCALER_TYPES: tuple[str, ...] = (
    "identity",
    "standard",
    "robust",
    "minmax",
    "minmax1",
    "invariant",
    "revin",
)
"""NeuralForecast ``scaler_type`` values the graph implements (``neuralforecast.common._scalers``:
all of them are statistics of each window over its lookback)."""

MAD_FROM_STD = 0.6744897501960817
"""NeuralForecast's fallback MAD from the standard deviation under normality."""


@dataclass(frozen=True)
class InputScaler:
    """NeuralForecast's ``TemporalNorm`` in eval mode.

    Attributes
    ----------
    scaler_type
        One of :data:`SCALER_TYPES`.
    eps
        The scaler's epsilon (added to the scale).
    revin_shift, revin_factor
        For ``"revin"``: the inverse uses ``shift + revin_shift`` and
        ``scale * revin_factor`` (``relu(weight) + eps``), as NeuralForecast does.
    """

    scaler_type: str
    eps: float = 1e-6
    revin_shift: float = 0.0
    revin_factor: float = 1.0
