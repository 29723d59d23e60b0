"""The TimeDistill student: a channel-independent decomposition MLP (``DMLP``).

Two branches, one for the seasonal part and one for the trend part of a moving-average
decomposition, each ``Linear(L -> d) -> BatchNorm1d(N) -> ReLU -> Linear(d -> H)``, with weights
shared across channels. The hidden pre-activation of both branches (summed) is returned as the
student's features for feature-level distillation, as in Ni et al., "TimeDistill" (arXiv
2502.15016), section "Student".

Covariates (optional) are projected once per window, in the spirit of TiDE's feature
projection, to a ``d``-vector added to the hidden pre-activation of both branches (the same
vector for every channel): past covariates ``[batch, L, Cp]``, future covariates
``[batch, L + H, Cf]`` (the lookback's and the horizon's steps) and static covariates
``[batch, S]``. Without covariates the network is the reference's, parameter for parameter.
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
    covariate_sizes: tuple[int, int, int] = (0, 0, 0),
    covariate_width: int | None = None,
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
    for name, value in zip(COVARIATE_KINDS, covariate_sizes, strict=True):
        check_int(f"{name}_covariates", value, 0, fix="pass the number of covariates (0: none)")
    check_int(
        "covariate_width", covariate_width, allowed=(None,), fix="pass an integer >= 1, or None"
    )


COVARIATE_KINDS: tuple[str, str, str] = ("past", "future", "static")
"""The kinds of covariates a :class:`DMLP` reads, in the order of its ``covariate_sizes``."""


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

    def forward(self, x: Tensor, covariates: Tensor | None = None) -> tuple[Tensor, Tensor]:
        hidden = self.embed(x)
        if covariates is not None:  # [batch, 1, d]: the same for every channel
            hidden = hidden + covariates
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
    past_covariates, future_covariates, static_covariates
        Numbers of covariates ``Cp``, ``Cf`` and ``S`` (0: none). With any, one
        ``Linear(L Cp + (L + H) Cf + S -> d)`` projects a window's covariates to a vector added
        to the hidden pre-activation of both branches (before BatchNorm), for every channel.
    covariate_width
        ``k``: first project each step's past and future covariates to ``k`` features
        (``Linear(Cp -> k)``, ``Linear(Cf -> k)``, no bias, shared by the steps, as TiDE's
        feature projection), so that the window's projection is ``Linear(L k + (L + H) k + S ->
        d)``; ``None``: no per-step projection.
    quantiles
        ``None`` for a point forecast (the reference's student), or ``Q`` increasing levels in
        (0, 1) including 0.5: each branch's last layer then gives ``Q`` values per step, and
        the forecast is ``[batch, horizon, channels, Q]``, sorted along the levels so that
        the quantiles never cross (``docs/method.md``).

    Notes
    -----
    With ``norm="mean"`` the model has ``2 (L d + d + d H Q + H Q) + 4 N`` trainable parameters
    (``Q = 1`` for a point forecast), plus ``(L Cp + (L + H) Cf + S + 1) d`` with covariates.
    With ``norm`` ``"mean"`` or ``"revin"`` the past and future covariates are centred on each
    window's mean (their levels, like the target's, may drift between training and
    forecasting); they are not rescaled: scale them as the target is scaled.

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

    With two past covariates and one future covariate:

    >>> student = DMLP(96, 24, 7, hidden_size=64, past_covariates=2, future_covariates=1)
    >>> output = student(
    ...     torch.randn(32, 96, 7),
    ...     past_covariates=torch.randn(32, 96, 2),
    ...     future_covariates=torch.randn(32, 96 + 24, 1),
    ... )
    >>> output.prediction.shape
    torch.Size([32, 24, 7])

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
        past_covariates: int = 0,
        future_covariates: int = 0,
        static_covariates: int = 0,
        quantiles: Sequence[float] | None = None,
        covariate_width: int | None = None,
    ) -> None:
        super().__init__()
        check_student_arguments(
            input_len=input_len,
            horizon=horizon,
            n_channels=n_channels,
            hidden_size=hidden_size,
            norm=norm,
            moving_avg=moving_avg,
            covariate_sizes=(past_covariates, future_covariates, static_covariates),
            covariate_width=covariate_width,
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
        self.covariate_sizes = (past_covariates, future_covariates, static_covariates)
        self.covariate_width = covariate_width
        per_step = {"past_covariates": past_covariates, "future_covariates": future_covariates}
        self.feature_projections = None
        if covariate_width is not None and (past_covariates or future_covariates):
            self.feature_projections = nn.ModuleDict(
                {k: nn.Linear(v, covariate_width, bias=False) for k, v in per_step.items() if v}
            )
            per_step = {k: covariate_width if v else 0 for k, v in per_step.items()}
        width = (
            input_len * per_step["past_covariates"]
            + (input_len + horizon) * per_step["future_covariates"]
            + static_covariates
        )
        # an absent projection is no submodule: the covariate-free state_dict is the reference's
        self.covariates = nn.Linear(width, hidden_size) if width else None

    def _covariate_shapes(self) -> dict[str, list[int]]:
        past, future, static = self.covariate_sizes
        L, H = self.input_len, self.horizon
        return {
            "past_covariates": [L, past],
            "future_covariates": [L + H, future],
            "static_covariates": [static],
        }

    def _project_covariates(self, batch: int, given: dict[str, Tensor | None]) -> Tensor | None:
        """The covariates' vector ``[batch, 1, d]``, or ``None`` without covariates."""
        parts = []
        for (name, shape), size in zip(
            self._covariate_shapes().items(), self.covariate_sizes, strict=True
        ):
            value = given[name]
            if size == 0:
                if value is not None:
                    raise ValueError(
                        f"DMLP was built without {name} but got some; build it with "
                        f"{name}=<count>, or pass none."
                    )
                continue
            if value is None or list(value.shape) != [batch, *shape]:
                got = None if value is None else list(value.shape)
                raise ValueError(
                    f"DMLP expects {name} of shape {[batch, *shape]} (see the DMLP docstring), "
                    f"got {got}; pass the covariates of every window the model was built for."
                )
            if self.norm != "none" and name != "static_covariates":
                # centred on the window, as the target is: a covariate's level shifting
                # between training and forecasting does not shift the forecast
                value = value - value.mean(dim=1, keepdim=True).detach()
            if self.feature_projections is not None and name in self.feature_projections:
                value = self.feature_projections[name](value)
            parts.append(value.reshape(batch, -1))
        if not parts:
            return None
        return self.covariates(torch.cat(parts, dim=1)).unsqueeze(1)

    def forward(
        self,
        x: Tensor,
        past_covariates: Tensor | None = None,
        future_covariates: Tensor | None = None,
        static_covariates: Tensor | None = None,
    ) -> StudentOutput:
        """Forecast from a batch of windows.

        Parameters
        ----------
        x
            Input windows, ``[batch, input_len, n_channels]``.
        past_covariates
            ``[batch, input_len, Cp]``, when built with past covariates.
        future_covariates
            ``[batch, input_len + horizon, Cf]`` (the window's steps, then the horizon's), when
            built with future covariates.
        static_covariates
            ``[batch, S]``, when built with static covariates.

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
        covariates = self._project_covariates(
            x.shape[0],
            {
                "past_covariates": past_covariates,
                "future_covariates": future_covariates,
                "static_covariates": static_covariates,
            },
        )
        if self.norm == "mean":
            mean = x.mean(dim=1, keepdim=True).detach()
            x = x - mean
        elif self.revin is not None:
            x, mean, std = self.revin.normalize(x)

        seasonal, trend = self.decomposition(x.transpose(1, 2))
        seasonal_out, seasonal_hidden = self.seasonal(seasonal, covariates)
        trend_out, trend_hidden = self.trend(trend, covariates)
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
