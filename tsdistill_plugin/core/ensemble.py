"""Several teachers as one: :class:`TeacherEnsemble`.

The student learns from the ensemble like from any teacher. Its forecast is a weighted mean of
its members' forecasts (equal weights, given weights, or weights fitted on the validation
split); its features are the members' features side by side (those members that have any), so
one feature regressor maps them all to the student's width.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from .teacher import (
    AdaptiveTeacher,
    FittableTeacher,
    KeepsOutputs,
    RefittableTeacher,
    Teacher,
    TeacherOutput,
    forecast_horizon,
)

logger = logging.getLogger(__name__)

Weights = str | Sequence[float]
"""``"mean"`` (equal weights), ``"validation"`` (fitted on the validation split) or one
non-negative weight per teacher (normalized to sum to one)."""


def simplex_least_squares(forecasts: Tensor, target: Tensor, steps: int = 2000) -> Tensor:
    """Non-negative weights summing to one that minimize ``||sum_i w_i f_i - y||^2``.

    Projected gradient descent on the ``k x k`` normal equations (``k`` teachers), with the
    step ``1 / L`` of the largest eigenvalue; the problem is convex, so it converges to the
    minimum.

    Parameters
    ----------
    forecasts
        One flattened forecast per teacher, ``[k, n]``.
    target
        The flattened ground truth, ``[n]``.
    steps
        Gradient steps.

    Returns
    -------
    Tensor
        ``[k]`` weights.

    Examples
    --------
    >>> import torch
    >>> from tsdistill_plugin.core.ensemble import simplex_least_squares
    >>> truth = torch.randn(500)
    >>> forecasts = torch.stack([truth + 0.1 * torch.randn(500), torch.randn(500)])
    >>> weights = simplex_least_squares(forecasts, truth)
    >>> bool(weights[0] > 0.9), float(weights.sum())
    (True, 1.0)
    """
    forecasts, target = forecasts.double(), target.double()
    gram = forecasts @ forecasts.T / target.numel()
    linear = forecasts @ target / target.numel()
    step = 1.0 / float(torch.linalg.eigvalsh(gram).max().clamp_min(1e-12))
    weights = torch.full((len(forecasts),), 1.0 / len(forecasts), dtype=torch.float64)
    for _ in range(steps):
        weights = _project_to_simplex(weights - step * (gram @ weights - linear))
    return weights.float()


def _project_to_simplex(v: Tensor) -> Tensor:
    """Euclidean projection of ``v`` onto ``{w >= 0, sum(w) = 1}`` (Duchi et al., 2008)."""
    ordered, _ = torch.sort(v, descending=True)
    cumulative = ordered.cumsum(0) - 1
    ranks = torch.arange(1, len(v) + 1, dtype=v.dtype)
    last = int((ordered - cumulative / ranks > 0).nonzero().max())
    return (v - cumulative[last] / (last + 1)).clamp_min(0)


class TeacherEnsemble(KeepsOutputs):
    """Several teachers combined into one.

    Parameters
    ----------
    teachers
        The members (each a :class:`~tsdistill_plugin.core.Teacher`, fitted or not).
    weights
        See :data:`Weights`.

    Attributes
    ----------
    input_len
        The longest member lookback: each member reads its own last steps of the window.
    horizon
        The longest member horizon: shorter members are rolled out to it.
    n_channels
        The channels the members are built for (they must agree), or ``None``.
    weights
        The weights in use, ``[k]`` (``None`` until fitted for ``"validation"``).
    validation_errors
        Each member's MSE on the validation windows (and the ensemble's, last), once measured.

    Raises
    ------
    ValueError
        For an empty list, members built for different channels, or weights that do not match
        the members.

    Examples
    --------
    Two teachers with different lookbacks, weighted 3 to 1:

    >>> import torch
    >>> from tsdistill_plugin.core import TeacherEnsemble, TorchTeacher
    >>> last = TorchTeacher(lambda x: x[:, -1:].expand(-1, 12, -1), input_len=48, horizon=12)
    >>> mean = TorchTeacher(lambda x: x.mean(1, keepdim=True).expand(-1, 12, -1), 96, 12)
    >>> ensemble = TeacherEnsemble([last, mean], weights=[3, 1])
    >>> ensemble.input_len, ensemble.horizon, ensemble.weights
    (96, 12, tensor([0.7500, 0.2500]))
    >>> x = torch.randn(4, 96, 2)
    >>> expected = 0.75 * x[:, -1:] + 0.25 * x.mean(1, keepdim=True)
    >>> torch.allclose(ensemble.forecast(x).prediction, expected.expand(-1, 12, -1))
    True
    """

    def __init__(self, teachers: Sequence[Teacher], weights: Weights = "mean") -> None:
        self.members = list(teachers)
        if not self.members:
            raise ValueError("the teacher list is empty; pass at least one teacher, or None.")
        self._check_channels()
        self.weight_mode = weights
        self.weights = _initial_weights(weights, len(self.members))
        self.validation_errors: dict[str, float] | None = None

    def __repr__(self) -> str:
        weights = (
            self.weight_mode
            if self.weights is None
            else "[" + ", ".join(f"{w:.3f}" for w in self.weights.tolist()) + "]"
        )
        return f"TeacherEnsemble({self.members!r}, weights={weights})"

    def _check_channels(self) -> None:
        known = {m.n_channels for m in self.members if m.n_channels is not None}
        if len(known) > 1:
            described = ", ".join(f"{m!r}: {m.n_channels}" for m in self.members)
            raise ValueError(
                f"the teachers are built for different numbers of channels ({described}); "
                "pass teachers for the same components."
            )

    @property
    def input_len(self) -> int | None:
        """The longest member lookback (``None`` when a member adapts to the student's)."""
        lengths = [m.input_len for m in self.members]
        return None if None in lengths else max(lengths)

    @property
    def horizon(self) -> int | None:
        """The longest member horizon (``None`` when a member adapts to the student's)."""
        horizons = [m.horizon for m in self.members]
        return None if None in horizons else max(horizons)

    @property
    def n_channels(self) -> int | None:
        """The channels the members are built for, or ``None`` when any number works."""
        known = [m.n_channels for m in self.members if m.n_channels is not None]
        return known[0] if known else None

    @property
    def is_fitted(self) -> bool:
        """Whether every member is fitted and the weights are known."""
        fitted = all(m.is_fitted for m in self.members if isinstance(m, FittableTeacher))
        return fitted and self.weights is not None

    def bind(self, input_len: int, horizon: int) -> None:
        """Adapt the members whose lengths adapt to the student's."""
        for member in self.members:
            if isinstance(member, AdaptiveTeacher):
                member.bind(input_len, horizon)

    def untrained(self) -> TeacherEnsemble:
        """Unfitted copies of the members that can be refitted (others are kept as they are)."""
        members = [m.untrained() if isinstance(m, RefittableTeacher) else m for m in self.members]
        return TeacherEnsemble(members, self.weight_mode)

    def fit(self, series: list[pd.DataFrame], val_series: list[pd.DataFrame] | None = None) -> None:
        """Fit the unfitted members; fit the weights on ``val_series`` when asked to.

        Raises
        ------
        ValueError
            For ``weights="validation"`` without validation frames.
        """
        for member in self.members:
            if isinstance(member, FittableTeacher) and not member.is_fitted:
                logger.info("Fitting teacher %r.", member)
                member.fit(series, val_series)
        self._check_channels()
        if val_series:
            self.evaluate(val_series)
        elif self.weight_mode == "validation":
            raise ValueError(
                "teacher_weights='validation' needs validation data to fit the weights on; pass "
                "val_series (Darts) or val_size (NeuralForecast), or use 'mean'."
            )

    def evaluate(self, frames: list[pd.DataFrame]) -> dict[str, float]:
        """Measure each member's MSE and the ensemble's on every window of ``frames``.

        The weights are fitted first when they are fitted on validation. The errors are logged
        and kept in :attr:`validation_errors`.

        Parameters
        ----------
        frames
            Frames with a time index and one column per channel.

        Returns
        -------
        dict[str, float]
            The MSE of each member (``"<i>: <member>"``) and of the ``"ensemble"``.
        """
        x, y = _windows(frames, self.input_len, self.horizon)
        forecasts = torch.stack([self._member_forecasts(m, x) for m in self.members])
        if self.weight_mode == "validation":
            self.weights = simplex_least_squares(forecasts.flatten(1), y.flatten())
        combined = torch.einsum("k,k...->...", self.weights.to(forecasts.dtype), forecasts)
        errors = {
            f"{i}: {m!r}": float((f - y).square().mean())
            for i, (m, f) in enumerate(zip(self.members, forecasts, strict=True))
        }
        errors["ensemble"] = float((combined - y).square().mean())
        self.validation_errors = errors
        logger.info("Teachers' validation MSE (%d windows): %s; weights %s.", len(x), errors, self)
        return errors

    def _member_forecasts(self, member: Teacher, x: Tensor, batch: int = 256) -> Tensor:
        """``member``'s forecasts of ``x`` ``[n, input_len, channels]``, a batch at a time."""
        return torch.cat(
            [forecast_horizon(member, part, self.horizon).prediction for part in x.split(batch)]
        )

    def forecast(self, x: Tensor) -> TeacherOutput:
        """Forecast ``x`` ``[batch, input_len, channels]`` with every member and combine.

        Returns
        -------
        TeacherOutput
            The weighted mean of the members' forecasts ``[batch, horizon, channels]`` and
            their features side by side ``[batch, channels, sum of d]`` (or ``None``).
        """
        if self.weights is None:
            raise ValueError(
                "the ensemble's weights are fitted on the validation split, which has not been "
                "seen yet; fit the student (or the ensemble) with validation data first."
            )
        outputs = [forecast_horizon(m, x, self.horizon) for m in self.members]
        weights = self.weights.to(device=x.device, dtype=x.dtype)
        prediction = sum(w * o.prediction for w, o in zip(weights, outputs, strict=True))
        features = [o.features for o in outputs if o.features is not None]
        return TeacherOutput(prediction, torch.cat(features, dim=-1) if features else None)


def _initial_weights(weights: Weights, n: int) -> Tensor | None:
    if weights == "mean":
        return torch.full((n,), 1.0 / n)
    if weights == "validation":
        return None
    if isinstance(weights, str):
        raise ValueError(
            f"teacher_weights must be 'mean', 'validation' or one weight per teacher, got "
            f"{weights!r}."
        )
    values = [float(w) for w in weights]
    if len(values) != n or not all(math.isfinite(w) and w >= 0 for w in values) or not any(values):
        raise ValueError(
            f"teacher_weights must be {n} finite, non-negative numbers (one per teacher, not all "
            f"zero), got {list(weights)!r}."
        )
    total = sum(values)
    return torch.tensor([w / total for w in values])


def _windows(frames: list[pd.DataFrame], lookback: int, horizon: int) -> tuple[Tensor, Tensor]:
    """Every window of ``frames``.

    Inputs are ``[n, lookback, channels]``, the following ``horizon`` steps ``[n, horizon,
    channels]``.
    """
    inputs, targets = [], []
    for frame in frames:
        values = frame.to_numpy(dtype=np.float32)
        if len(values) < lookback + horizon:
            continue
        windows = np.lib.stride_tricks.sliding_window_view(values, lookback + horizon, axis=0)
        windows = windows.transpose(0, 2, 1)  # [n, lookback + horizon, channels]
        inputs.append(windows[:, :lookback])
        targets.append(windows[:, lookback:])
    if not inputs:
        raise ValueError(
            f"the validation frames are shorter than lookback + horizon = {lookback + horizon}; "
            "pass longer validation data."
        )
    return torch.from_numpy(np.concatenate(inputs)), torch.from_numpy(np.concatenate(targets))
