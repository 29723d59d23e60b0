"""The TimeDistill student: a channel-independent decomposition MLP (``DMLP``).

Two branches, one for the seasonal part and one for the trend part of a moving-average
decomposition, each ``Linear(L -> d) -> BatchNorm1d(N) -> ReLU -> Linear(d -> H)``, with weights
shared across channels. The hidden pre-activation of both branches (summed) is returned as the
student's features for feature-level distillation, as in Ni et al., "TimeDistill" (arXiv
2502.15016), section "Student".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .checks import check_int
from .quantiles import check_quantiles

NormMode = Literal["mean", "revin", "none"]
NORM_MODES: tuple[str, ...] = ("mean", "revin", "none")


def check_student_arguments(
    *,
    input_len: int | None = None,
    horizon: int | None = None,
    n_channels: int | None = None,
    hidden_size: int | None = None,
    norm: str = "mean",
    moving_avg: int | None = None,
) -> None:
    """Refuse arguments a :class:`DMLP` cannot be built with, before anything is built.

    Each argument is checked when given (the integrations check what they know at
    construction; :class:`DMLP` checks all of them).

    Raises
    ------
    ValueError
        Naming the argument, what was given and what is expected.
    """
    for name, value in (
        ("input_len", input_len),
        ("horizon", horizon),
        ("n_channels", n_channels),
        ("hidden_size", hidden_size),
    ):
        if value is not None:
            check_int(name, value)
    if norm not in NORM_MODES:
        raise ValueError(f"norm must be one of {NORM_MODES}, got {norm!r}; pass one of them.")
    if moving_avg is not None and (
        isinstance(moving_avg, bool)
        or not isinstance(moving_avg, int)
        or moving_avg < 1
        or moving_avg % 2 == 0
    ):
        raise ValueError(
            f"moving_avg must be a positive odd integer, got {moving_avg!r}; use an odd kernel "
            "such as 25 (the reference's)."
        )


class StudentOutput(NamedTuple):
    """What the student computes for a batch of windows.

    Attributes
    ----------
    prediction
        Forecast, ``[batch, horizon, channels]``, in the scale of the input; a probabilistic
        student's is ``[batch, horizon, channels, quantiles]``, increasing along the last axis.
    features
        Hidden features used for feature-level distillation, ``[batch, channels, hidden]``: the
        sum of the two branches' first-layer outputs, taken before BatchNorm.

    Examples
    --------
    >>> import torch
    >>> from tsdistill_plugin.core import StudentOutput
    >>> output = StudentOutput(prediction=torch.zeros(32, 24, 7), features=torch.zeros(32, 7, 64))
    >>> output.prediction.shape, output.features.shape
    (torch.Size([32, 24, 7]), torch.Size([32, 7, 64]))
    """

    prediction: Tensor
    features: Tensor


class MovingAverageDecomposition(nn.Module):
    """Split a series into trend (moving average) and seasonal (remainder) parts.

    The ends are padded by replicating the first and last values so that the trend has the
    input's length. The average is taken from a cumulative sum (one pass, whatever the kernel)
    of the window minus its mean, which keeps the float32 sums small; it equals
    ``AvgPool1d(kernel_size, stride=1)`` on the padded series up to rounding.

    Parameters
    ----------
    kernel_size
        Width of the moving average; must be odd so that the trend is centred.
    """

    def __init__(self, kernel_size: int = 25) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(
                f"moving_avg must be a positive odd integer, got {kernel_size}; "
                "use an odd kernel such as 25 (the reference's)."
            )
        self.kernel_size = kernel_size

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Decompose ``x``.

        Parameters
        ----------
        x
            ``[batch, channels, time]``.

        Returns
        -------
        tuple[Tensor, Tensor]
            ``(seasonal, trend)``, both ``[batch, channels, time]``.
        """
        pad = (self.kernel_size - 1) // 2
        level = x.mean(dim=-1, keepdim=True)
        centred = x - level
        padded = torch.cat(
            [centred[..., :1].expand(-1, -1, pad), centred, centred[..., -1:].expand(-1, -1, pad)],
            dim=-1,
        )
        sums = F.pad(padded.cumsum(dim=-1), (1, 0))
        trend = (sums[..., self.kernel_size :] - sums[..., : -self.kernel_size]) / self.kernel_size
        return centred - trend, trend + level


class RevIN(nn.Module):
    """Reversible instance normalization with a learnable per-channel affine map.

    Parameters
    ----------
    n_channels
        Number of channels ``N``; the affine map has ``2 N`` parameters.
    eps
        Added to the variance before the square root, and to the affine weight when inverting.
    """

    def __init__(self, n_channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(n_channels))
        self.bias = nn.Parameter(torch.zeros(n_channels))

    def normalize(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Standardize each window and channel over time.

        Parameters
        ----------
        x
            ``[batch, time, channels]``.

        Returns
        -------
        tuple[Tensor, Tensor, Tensor]
            The normalized input ``[batch, time, channels]`` and the statistics ``(mean, std)``,
            each ``[batch, 1, channels]``.
        """
        mean = x.mean(dim=1, keepdim=True).detach()
        std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps).detach()
        return (x - mean) / std * self.weight + self.bias, mean, std

    def denormalize(self, y: Tensor, mean: Tensor, std: Tensor) -> Tensor:
        """Invert :meth:`normalize` on a forecast ``[batch, time, channels]``."""
        return (y - self.bias) / (self.weight + self.eps * self.eps) * std + mean


def order_quantiles(prediction: Tensor) -> Tensor:
    """Sort a quantile forecast ``[..., Q]`` along its levels, so that no two quantiles cross.

    Each value keeps its gradient, at the level it lands at (``docs/method.md``).
    """
    return prediction.sort(dim=-1).values


class _Branch(nn.Module):
    """``Linear(L -> d) -> BatchNorm1d(N) -> ReLU -> Linear(d -> H Q)`` on ``[batch, N, L]``.

    ``outputs`` is ``H Q``: ``Q`` values per step for a probabilistic student (step-major).
    """

    def __init__(self, input_len: int, outputs: int, n_channels: int, hidden_size: int) -> None:
        super().__init__()
        self.embed = nn.Linear(input_len, hidden_size)
        self.norm = nn.BatchNorm1d(n_channels)
        self.head = nn.Linear(hidden_size, outputs)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        hidden = self.embed(x)
        return self.head(torch.relu(self.norm(hidden))), hidden


class DMLP(nn.Module):
    """Decomposition MLP student of TimeDistill.

    Parameters
    ----------
    input_len
        Lookback length ``L``.
    horizon
        Forecast length ``H``.
    n_channels
        Number of channels ``N`` (BatchNorm keeps per-channel statistics).
    hidden_size
        Hidden width ``d`` of both branches (512 in the reference).
    norm
        ``"mean"`` subtracts each window's mean and adds it back to the forecast (the
        reference's "non-stationary" mode), ``"revin"`` applies RevIN with a learnable affine map
        (adds ``2 N`` parameters), ``"none"`` feeds the window unchanged.
    moving_avg
        Odd kernel of the moving-average decomposition (25 in the reference).
    quantiles
        ``None`` for a point forecast (the reference's student), or ``Q`` increasing levels in
        (0, 1) including 0.5: each branch's last layer then gives ``Q`` values per step, and
        the forecast is ``[batch, horizon, channels, Q]``, sorted along the levels so that
        the quantiles never cross (``docs/method.md``).

    Notes
    -----
    With ``norm="mean"`` the model has ``2 (L d + d + d H Q + H Q) + 4 N`` trainable parameters
    (``Q = 1`` for a point forecast).

    Examples
    --------
    A student for 96-step windows of 7 channels that forecasts 24 steps:

    >>> import torch
    >>> from tsdistill_plugin.core import DMLP
    >>> student = DMLP(input_len=96, horizon=24, n_channels=7, hidden_size=64)
    >>> output = student(torch.randn(32, 96, 7))
    >>> output.prediction.shape, output.features.shape
    (torch.Size([32, 24, 7]), torch.Size([32, 7, 64]))
    >>> sum(p.numel() for p in student.parameters()) == 2 * (96 * 64 + 64 + 64 * 24 + 24) + 4 * 7
    True

    With ``norm="mean"`` a constant window is forecast at its own level, whatever the weights:

    >>> _ = student.eval()
    >>> shifted = student(torch.full((1, 96, 7), 5.0)).prediction
    >>> level = shifted - student(torch.zeros(1, 96, 7)).prediction
    >>> torch.allclose(level, torch.full((1, 24, 7), 5.0))
    True

    A probabilistic student's forecast has one value per quantile level, in increasing order:

    >>> quantile_student = DMLP(96, 24, 7, hidden_size=64, quantiles=[0.1, 0.5, 0.9])
    >>> forecast = quantile_student(torch.randn(32, 96, 7)).prediction
    >>> forecast.shape, bool((forecast.diff(dim=-1) >= 0).all())
    (torch.Size([32, 24, 7, 3]), True)
    """

    def __init__(
        self,
        input_len: int,
        horizon: int,
        n_channels: int,
        hidden_size: int = 512,
        norm: NormMode = "mean",
        moving_avg: int = 25,
        quantiles: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        check_student_arguments(
            input_len=input_len,
            horizon=horizon,
            n_channels=n_channels,
            hidden_size=hidden_size,
            norm=norm,
            moving_avg=moving_avg,
        )
        self.input_len = input_len
        self.horizon = horizon
        self.n_channels = n_channels
        self.hidden_size = hidden_size
        self.norm = norm
        self.quantiles = None if quantiles is None else check_quantiles(quantiles)
        outputs = horizon * (1 if self.quantiles is None else len(self.quantiles))
        self.decomposition = MovingAverageDecomposition(moving_avg)
        self.seasonal = _Branch(input_len, outputs, n_channels, hidden_size)
        self.trend = _Branch(input_len, outputs, n_channels, hidden_size)
        self.revin = RevIN(n_channels) if norm == "revin" else None

    def forward(self, x: Tensor) -> StudentOutput:
        """Forecast from a batch of windows.

        Parameters
        ----------
        x
            Input windows, ``[batch, input_len, n_channels]``.

        Returns
        -------
        StudentOutput
            ``prediction`` ``[batch, horizon, n_channels]`` (``[batch, horizon, n_channels,
            Q]`` with quantiles) and ``features`` ``[batch, n_channels, hidden_size]``.
        """
        if x.ndim != 3 or x.shape[1] != self.input_len or x.shape[2] != self.n_channels:
            raise ValueError(
                f"DMLP expects x of shape [batch, {self.input_len}, {self.n_channels}] "
                f"([batch, input_len, n_channels]), got {list(x.shape)}; pass windows of the "
                "lookback and channel count the model was built with."
            )
        if self.norm == "mean":
            mean = x.mean(dim=1, keepdim=True).detach()
            x = x - mean
        elif self.revin is not None:
            x, mean, std = self.revin.normalize(x)

        seasonal, trend = self.decomposition(x.transpose(1, 2))
        seasonal_out, seasonal_hidden = self.seasonal(seasonal)
        trend_out, trend_hidden = self.trend(trend)
        prediction = (seasonal_out + trend_out).transpose(1, 2)  # [batch, H Q, N]

        if self.norm == "mean":
            prediction = prediction + mean
        elif self.revin is not None:
            prediction = self.revin.denormalize(prediction, mean, std)
        if self.quantiles is not None:  # [batch, H, N, Q], ordered along the levels
            batch, _, channels = prediction.shape
            prediction = prediction.reshape(batch, self.horizon, -1, channels).transpose(2, 3)
            prediction = order_quantiles(prediction)
        return StudentOutput(prediction=prediction, features=seasonal_hidden + trend_hidden)
