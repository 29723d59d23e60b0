"""A per-window input scaler around the student, as the exported graph computes it.

Plain Python: :mod:`.sources` fills it in from NeuralForecast's ``TemporalNorm`` (which
statistics each ``scaler_type`` uses is NeuralForecast's knowledge, kept in
:mod:`tsdistill_plugin.neuralforecast._compat`); :mod:`.graph` writes it as graph ops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Shift = Literal["mean", "median", "min"]
"""Per-window location: the mean, the lower median or the minimum over the lookback."""

Spread = Literal["std", "mad", "range"]
"""Per-window scale: the population standard deviation; the median absolute deviation from
the median (where it is 0, the standard deviation times ``InputScaler.mad_from_std``); or
maximum minus minimum."""

Transform = Literal["none", "minus_one_one", "asinh"]
"""What is applied to ``(x - shift) / scale``: nothing, ``2 z - 1``, or ``asinh``."""


@dataclass(frozen=True)
class InputScaler:
    """``z = transform((x - shift) / scale)`` of each window and channel, and its inverse.

    The statistics are taken over each window's lookback ``[batch, L, channels]``; a scale of
    0 becomes 1, then ``eps`` is added. The student forecasts in ``z``; its forecast ``y`` goes
    back as ``inverse_transform(y) * (scale * output_factor) + (shift + output_shift)``.

    Attributes
    ----------
    shift, spread, transform
        See :data:`Shift`, :data:`Spread`, :data:`Transform`.
    eps
        Added to the scale.
    mad_from_std
        For ``spread="mad"``: the factor of the standard deviation that replaces a zero MAD.
    output_shift, output_factor
        A learnt affine map of the inverse (NeuralForecast's ``"revin"``); 0 and 1 otherwise.
    """

    shift: Shift
    spread: Spread
    transform: Transform = "none"
    eps: float = 1e-6
    mad_from_std: float = 0.0
    output_shift: float = 0.0
    output_factor: float = 1.0
