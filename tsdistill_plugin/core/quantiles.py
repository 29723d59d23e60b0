"""Quantile levels, the pinball loss, and teachers' quantiles mapped to a student's levels.

A probabilistic student forecasts ``Q`` quantile levels, strictly increasing in ``(0, 1)`` and
including the median 0.5 (the point its multi-period term and its library's point forecast
use). Its forecasts are ``[batch, horizon, channels, Q]``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import torch
from torch import Tensor

logger = logging.getLogger(__name__)

MEDIAN = 0.5


def check_quantiles(quantiles: object, name: str = "quantiles") -> tuple[float, ...]:
    """Refuse quantile levels a probabilistic student cannot forecast; return them as floats.

    Parameters
    ----------
    quantiles
        What the user passed.
    name
        The argument's name, for the message.

    Returns
    -------
    tuple[float, ...]
        The levels, unchanged, as a tuple of floats.

    Raises
    ------
    ValueError
        When the levels are not a non-empty sequence of finite numbers strictly inside (0, 1),
        strictly increasing, with 0.5 among them.

    Examples
    --------
    >>> from tsdistill_plugin.core.quantiles import check_quantiles
    >>> check_quantiles([0.1, 0.5, 0.9])
    (0.1, 0.5, 0.9)
    >>> check_quantiles([0.9, 0.5, 0.1])
    Traceback (most recent call last):
        ...
    ValueError: quantiles must be strictly increasing, got [0.9, 0.5, 0.1]; pass them sorted \
without repeats, e.g. [0.1, 0.5, 0.9].
    """
    fix = "e.g. [0.1, 0.5, 0.9]"
    if isinstance(quantiles, str | bytes) or not isinstance(quantiles, Sequence) or not quantiles:
        raise ValueError(
            f"{name} must be a non-empty list of levels in (0, 1), got {quantiles!r}; pass one, "
            f"{fix}."
        )
    levels = list(quantiles)
    for q in levels:
        if isinstance(q, bool) or not isinstance(q, int | float) or not 0 < q < 1:
            raise ValueError(
                f"{name} must lie strictly between 0 and 1, got {q!r} in {levels}; pass levels "
                f"in (0, 1), {fix}."
            )
    if any(b <= a for a, b in zip(levels, levels[1:], strict=False)):
        raise ValueError(
            f"{name} must be strictly increasing, got {levels}; pass them sorted without "
            f"repeats, {fix}."
        )
    if MEDIAN not in levels:
        raise ValueError(
            f"{name} must include the median 0.5 (the point forecast and the period term use "
            f"it), got {levels}; add 0.5, {fix}."
        )
    return tuple(float(q) for q in levels)


def median_index(quantiles: Sequence[float]) -> int:
    """Position of the median 0.5 in checked ``quantiles``."""
    return list(quantiles).index(MEDIAN)


def pinball_loss(prediction: Tensor, target: Tensor, quantiles: Sequence[float]) -> Tensor:
    """Mean quantile (pinball) loss of quantile forecasts against the truth.

    Parameters
    ----------
    prediction
        ``[batch, horizon, channels, Q]``.
    target
        ``[batch, horizon, channels]``.
    quantiles
        The ``Q`` levels.

    Returns
    -------
    Tensor
        Scalar: ``mean(max(q (y - p), (q - 1) (y - p)))`` over every element and level.

    Examples
    --------
    >>> import torch
    >>> from tsdistill_plugin.core.quantiles import pinball_loss
    >>> float(pinball_loss(torch.zeros(1, 1, 1, 2), torch.ones(1, 1, 1), [0.1, 0.9]))
    0.5
    """
    levels = torch.tensor(quantiles, dtype=prediction.dtype, device=prediction.device)
    error = target.unsqueeze(-1) - prediction
    return torch.maximum(levels * error, (levels - 1) * error).mean()


def interpolate_quantiles(
    values: Tensor, source: Sequence[float], target: Sequence[float]
) -> Tensor:
    """Quantile forecasts at levels ``source`` read at levels ``target``.

    Linear in the level between neighbouring source levels; a target level outside the
    source's range takes the nearest source quantile (no extrapolation).

    Parameters
    ----------
    values
        ``[..., len(source)]``, increasing along the last axis.
    source, target
        Increasing levels in (0, 1).

    Returns
    -------
    Tensor
        ``[..., len(target)]``; ``values`` itself when the levels are the same.

    Examples
    --------
    >>> import torch
    >>> from tsdistill_plugin.core.quantiles import interpolate_quantiles
    >>> interpolate_quantiles(torch.tensor([0.0, 1.0, 3.0]), [0.1, 0.5, 0.9], [0.05, 0.3, 0.7])
    tensor([0.0000, 0.5000, 2.0000])
    """
    source, target = [float(q) for q in source], [float(q) for q in target]
    if source == target:
        return values
    columns = []
    for q in target:
        right = next((i for i, s in enumerate(source) if s >= q), len(source) - 1)
        left = max(right - 1, 0)
        if q <= source[0] or q >= source[-1] or math.isclose(source[right], q):
            columns.append(values[..., right if q > source[0] else 0])
            continue
        share = (q - source[left]) / (source[right] - source[left])
        columns.append(torch.lerp(values[..., left], values[..., right], share))
    return torch.stack(columns, dim=-1)


def log_interpolation(owner: str, source: Sequence[float], target: Sequence[float]) -> None:
    """Say at INFO that ``owner``'s levels ``source`` are read at ``target``, if they differ."""
    if tuple(source) == tuple(target):
        return
    outside = [q for q in target if q < source[0] or q > source[-1]]
    logger.info(
        "%s forecasts the quantiles %s; the student's %s are read from them, interpolated "
        "linearly where a level is not among them%s.",
        owner,
        list(source),
        list(target),
        f" ({outside} outside their range take the nearest one)" if outside else "",
    )
