"""TimeDistill's objective: multi-scale and multi-period alignment with a teacher.

The formulas follow the reference implementation of Ni et al., "TimeDistill" (arXiv
2502.15016): average-pooling pyramids with kernel = stride = ``window``; rFFT amplitude spectra
without the zero-frequency bin, turned into distributions by a softmax at ``temperature``; the
Kullback-Leibler divergence KL(teacher || student) averaged over every element.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

KL_EPS = 1e-8
"""Added to the student's probabilities before the logarithm, as in the reference."""

TERM_NAMES: tuple[str, ...] = (
    "supervised",
    "prediction_scale",
    "prediction_period",
    "feature_scale",
    "feature_period",
)


def _check_pair(student: Tensor, teacher: Tensor, names: tuple[str, str]) -> None:
    if student.shape != teacher.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same shape, got {list(student.shape)} and "
            f"{list(teacher.shape)}; slice or map the teacher's output to the student's shape "
            "before computing the loss."
        )


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value!r}; pass a value > 0.")


def _check_dim(x: Tensor, dim: int, name: str) -> int:
    if not -x.ndim <= dim < x.ndim:
        raise ValueError(
            f"dim={dim} is out of range for {name} of shape {list(x.shape)}; pass an axis in "
            f"[{-x.ndim}, {x.ndim - 1}]."
        )
    return dim % x.ndim


def _pool(x: Tensor, dim: int, window: int) -> Tensor:
    """Average-pool ``x`` along ``dim`` with kernel = stride = ``window`` (floor on odd lengths).

    Written as a reshape and a mean: the same numbers as ``avg_pool1d`` without its
    one-channel layout, which is several times slower on the large feature tensors.
    """
    usable = x.shape[dim] // window * window
    blocks = x.narrow(dim, 0, usable).unflatten(dim, (usable // window, window))
    return blocks.mean(dim=dim + 1)


def multi_scale_loss(
    student: Tensor, teacher: Tensor, dim: int, levels: int = 3, window: int = 2
) -> Tensor:
    """Mean-squared error between two tensors at ``levels + 1`` temporal (or hidden) scales.

    Parameters
    ----------
    student, teacher
        Tensors of the same shape, e.g. predictions ``[batch, horizon, channels]`` with
        ``dim=1``, or features ``[batch, channels, hidden]`` with ``dim=2``.
    dim
        Axis along which both are average-pooled.
    levels
        Number of pooling rounds; the original scale is always included.
    window
        Kernel size and stride of each pooling round.

    Returns
    -------
    Tensor
        Scalar: the mean over the ``levels + 1`` scales of the element-wise MSE.
    """
    _check_pair(student, teacher, ("student", "teacher"))
    dim = _check_dim(student, dim, "student")
    if not isinstance(window, int) or window < 1:
        raise ValueError(
            f"window must be a positive integer, got {window!r}; the reference uses 2."
        )
    if not isinstance(levels, int) or levels < 0:
        raise ValueError(
            f"levels must be a non-negative integer, got {levels!r}; the reference uses 3."
        )
    length = student.shape[dim]
    if length // window**levels < 1:
        raise ValueError(
            f"axis {dim} has length {length}, too short for levels={levels} with window={window} "
            f"(needs at least {window**levels}); lower levels or use a longer horizon."
        )
    # Pooling is linear, so pooling the difference once equals differencing the pooled pair.
    difference = student - teacher
    total = difference.square().mean()
    for _ in range(levels):
        difference = _pool(difference, dim, window)
        total = total + difference.square().mean()
    return total / (levels + 1)


def _period_logits(x: Tensor, dim: int, temperature: float) -> Tensor:
    """The rFFT amplitude along ``dim`` without the zero-frequency bin, over ``temperature``."""
    dim = _check_dim(x, dim, "x")
    _check_positive("temperature", temperature)
    if x.shape[dim] < 2:
        raise ValueError(
            f"axis {dim} of x has length {x.shape[dim]}; a period distribution needs at least 2 "
            "points."
        )
    amplitude = torch.fft.rfft(x, dim=dim).abs().narrow(dim, 1, x.shape[dim] // 2)
    return amplitude / temperature


def period_distribution(x: Tensor, dim: int, temperature: float = 0.5) -> Tensor:
    """Distribution over periods: softmax of the rFFT amplitude divided by ``temperature``.

    Parameters
    ----------
    x
        Any real tensor, e.g. ``[batch, horizon, channels]``.
    dim
        Axis along which the FFT runs; the result has ``length // 2`` entries along it (the
        zero-frequency bin is dropped).
    temperature
        Softmax temperature; lower values sharpen the distribution.

    Returns
    -------
    Tensor
        Probabilities that sum to one along ``dim``.
    """
    return torch.softmax(_period_logits(x, dim, temperature), dim=dim)


def multi_period_loss(
    student: Tensor, teacher: Tensor, dim: int, temperature: float = 0.5
) -> Tensor:
    """KL(teacher || student) between the period distributions of two tensors.

    Parameters
    ----------
    student, teacher
        Tensors of the same shape; gradients flow through both (the teacher side may be a
        trainable feature regressor's output).
    dim
        Axis of the FFT (time for predictions, hidden for features).
    temperature
        Softmax temperature shared by both sides.

    Returns
    -------
    Tensor
        Scalar: the divergence averaged over every element, as ``kl_div(reduction="mean")``,
        with ``log(p_student + 1e-8)``.
    """
    _check_pair(student, teacher, ("student", "teacher"))
    p_student = period_distribution(student, dim, temperature)
    teacher_logits = _period_logits(teacher, dim, temperature)
    p_teacher = torch.softmax(teacher_logits, dim=dim)
    # log p_teacher from log_softmax stays finite where p_teacher underflows to 0, so those
    # elements contribute 0 * finite = 0 with a zero gradient. F.kl_div's gradient with respect
    # to a zero target is NaN since PyTorch 1.13 (pytorch#89558).
    log_ratio = torch.log_softmax(teacher_logits, dim=dim) - torch.log(p_student + KL_EPS)
    return (p_teacher * log_ratio).mean()


class DistillationLoss(nn.Module):
    """Supervised MSE plus TimeDistill's prediction- and feature-level alignment terms.

    ``total = supervised + alpha * (prediction_period + prediction_scale)
    + beta * (feature_period + feature_scale)``.

    Parameters
    ----------
    alpha
        Weight of both prediction-level terms.
    beta
        Weight of both feature-level terms.
    temperature
        Softmax temperature of the period distributions.
    levels, window
        Pooling rounds and window of the multi-scale terms.
    """

    def __init__(
        self,
        alpha: float = 1.0,
        beta: float = 1.0,
        temperature: float = 0.5,
        levels: int = 3,
        window: int = 2,
    ) -> None:
        super().__init__()
        for name, value in (("alpha", alpha), ("beta", beta)):
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(
                    f"{name} must be a finite number >= 0, got {value!r}; 0 switches its terms off."
                )
        if not (isinstance(temperature, int | float) and math.isfinite(temperature)):
            raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}.")
        _check_positive("temperature", temperature)
        _check_positive("window", window)
        if isinstance(levels, bool) or not isinstance(levels, int) or levels < 0:
            raise ValueError(
                f"scale_levels must be a non-negative integer, got {levels!r}; the reference "
                "uses 3."
            )
        self.alpha = alpha
        self.beta = beta
        self.temperature = temperature
        self.levels = levels
        self.window = window

    def check_length(self, length: int, name: str) -> None:
        """Refuse a horizon too short for the multi-scale pyramid.

        Parameters
        ----------
        length
            The student's horizon.
        name
            The caller's name of the horizon argument, for the message.
        """
        if length < self.window**self.levels:
            raise ValueError(
                f"scale_levels={self.levels} needs {name} >= {self.window} ** scale_levels "
                f"= {self.window**self.levels}, but {name}={length}; lower scale_levels or use a "
                "longer horizon."
            )

    def _align(self, student: Tensor, teacher: Tensor, dim: int) -> tuple[Tensor, Tensor]:
        scale = multi_scale_loss(student, teacher, dim, self.levels, self.window)
        period = multi_period_loss(student, teacher, dim, self.temperature)
        return scale, period

    def forward(
        self,
        prediction: Tensor,
        target: Tensor | None = None,
        teacher_prediction: Tensor | None = None,
        features: Tensor | None = None,
        teacher_features: Tensor | None = None,
        supervised: Tensor | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Compute the objective.

        Parameters
        ----------
        prediction
            Student forecast ``[batch, horizon, channels]``.
        target
            Ground truth ``[batch, horizon, channels]``: the supervised term is the MSE against
            it (the reference's). Leave it ``None`` when passing ``supervised``.
        teacher_prediction
            Teacher forecast ``[batch, horizon, channels]``, or ``None``.
        features
            Student features ``[batch, channels, hidden]``, or ``None``.
        teacher_features
            Teacher features already mapped to the student's width ``[batch, channels,
            hidden]`` (see :class:`~tsdistill_plugin.core.teacher.FeatureRegressor`), or
            ``None``.
        supervised
            The supervised loss already computed by the host library (its own loss function,
            sample weights, masks), used as the supervised term instead of the MSE against
            ``target``.

        Returns
        -------
        tuple[Tensor, dict[str, Tensor]]
            The scalar total and every term of :data:`TERM_NAMES`, unweighted; terms whose
            inputs are absent are 0.
        """
        if prediction.ndim != 3:
            raise ValueError(
                "prediction must be [batch, horizon, channels], got shape "
                f"{list(prediction.shape)}; add the missing axes (x.unsqueeze(-1) for one "
                "channel)."
            )
        zero = prediction.new_zeros(())
        terms = dict.fromkeys(TERM_NAMES, zero)
        if target is not None and supervised is not None:
            raise ValueError(
                "pass either target (the supervised term is their MSE) or supervised (a loss "
                "computed by the caller), not both."
            )
        if target is not None:
            _check_pair(prediction, target, ("prediction", "target"))
            terms["supervised"] = F.mse_loss(prediction, target)
        elif supervised is not None:
            terms["supervised"] = supervised
        if teacher_prediction is not None:
            _check_pair(prediction, teacher_prediction, ("prediction", "teacher_prediction"))
            terms["prediction_scale"], terms["prediction_period"] = self._align(
                prediction, teacher_prediction, dim=1
            )
        if features is not None and teacher_features is not None:
            if features.ndim != 3:
                raise ValueError(
                    f"features must be [batch, channels, hidden], got shape {list(features.shape)}."
                )
            _check_pair(features, teacher_features, ("features", "teacher_features"))
            terms["feature_scale"], terms["feature_period"] = self._align(
                features, teacher_features, dim=2
            )
        total = (
            terms["supervised"]
            + self.alpha * (terms["prediction_period"] + terms["prediction_scale"])
            + self.beta * (terms["feature_period"] + terms["feature_scale"])
        )
        return total, terms
