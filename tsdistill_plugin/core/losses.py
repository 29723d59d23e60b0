"""TimeDistill's objective: multi-scale and multi-period alignment with a teacher.

The formulas follow the reference implementation of Ni et al., "TimeDistill" (arXiv
2502.15016): average-pooling pyramids with kernel = stride = ``window``; rFFT amplitude spectra
without the zero-frequency bin, turned into distributions by a softmax at ``temperature``; the
Kullback-Leibler divergence KL(teacher || student) averaged over every element.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from .checks import check_float, check_int
from .quantiles import check_quantiles, median_index, pinball_loss

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

    The ``window`` interleaved slices are added element-wise: the same numbers as
    ``avg_pool1d`` or a mean over a split axis, which reduce over a tiny inner axis and are
    several times slower on the large feature tensors.
    """
    usable = x.shape[dim] // window * window
    blocks = x.narrow(dim, 0, usable).unflatten(dim, (usable // window, window))
    total = blocks.select(dim + 1, 0)
    for offset in range(1, window):
        total = total + blocks.select(dim + 1, offset)
    return total / window


class _PyramidMSE(torch.autograd.Function):
    """Mean over the ``levels + 1`` scales of the mean square of an average-pooled pyramid.

    The backward spreads each scale's gradient back over its pooling windows in place, one
    pass per scale; autograd's own backward of the pooling views fills and copies a zero
    tensor of the input's size for each of them.
    """

    @staticmethod
    def forward(ctx, difference: Tensor, dim: int, levels: int, window: int) -> Tensor:  # noqa: ANN001
        pyramid = [difference]
        total = difference.square().mean()
        for _ in range(levels):
            pyramid.append(_pool(pyramid[-1], dim, window))
            total = total + pyramid[-1].square().mean()
        ctx.save_for_backward(*pyramid)
        ctx.dim, ctx.window = dim, window
        return total / (levels + 1)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, None, None, None]:  # noqa: ANN001
        pyramid, dim, window = ctx.saved_tensors, ctx.dim, ctx.window
        weight = 2 * grad / len(pyramid)  # d/dx of mean(x^2) / scales is 2 x / (numel scales)
        coarse = pyramid[-1] * (weight / pyramid[-1].numel())
        for fine in reversed(pyramid[:-1]):
            gradient = fine * (weight / fine.numel())
            usable = coarse.shape[dim] * window  # the incomplete tail was not pooled: no gradient
            blocks = gradient.narrow(dim, 0, usable).unflatten(dim, (coarse.shape[dim], window))
            spread = coarse / window
            for offset in range(window):  # strided adds: faster than one broadcast add
                blocks.select(dim + 1, offset).add_(spread)
            coarse = gradient
        return coarse, None, None, None


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
    return _PyramidMSE.apply(student - teacher, dim, levels, window)


class _Amplitude(torch.autograd.Function):
    """rFFT amplitude along the last axis, without the zero-frequency bin.

    The backward is one inverse real FFT of the half spectrum. Autograd's own backward of
    ``rfft`` pads the gradient to the full two-sided spectrum and runs a complex FFT, about
    three times the work, and ``abs`` of a complex tensor (``hypot``) is slower than the square
    root of the summed squares used here.
    """

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # noqa: ANN001
        spectrum = torch.fft.rfft(x, dim=-1)
        parts = torch.view_as_real(spectrum[..., 1:])
        real, imag = parts[..., 0], parts[..., 1]
        amplitude = torch.addcmul(real.square(), imag, imag).sqrt_()
        ctx.save_for_backward(spectrum, amplitude)
        ctx.length = x.shape[-1]
        return amplitude

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> Tensor:  # noqa: ANN001
        spectrum, amplitude = ctx.saved_tensors
        length = ctx.length
        # d|y|/dy = y / |y|, and 0 where y = 0 (as for torch.abs).
        weight = (grad / amplitude).masked_fill_(amplitude == 0, 0.0)
        # irfft adds each bin's mirror image back: halve the bins that have one (all but the
        # Nyquist bin of an even length). The zero-frequency bin gets no gradient.
        weight[..., : (length - 1) // 2] *= 0.5
        gradient = spectrum * F.pad(weight, (1, 0))
        return torch.fft.irfft(gradient, n=length, dim=-1, norm="forward")


def _amplitude(x: Tensor, dim: int) -> Tensor:
    """Return the rFFT amplitude along ``dim`` without the zero-frequency bin, frequency last.

    Returns
    -------
    Tensor
        ``x.movedim(dim, -1)``'s shape with ``length // 2`` frequencies on the last axis.
    """
    dim = _check_dim(x, dim, "x")
    if x.shape[dim] < 2:
        raise ValueError(
            f"axis {dim} of x has length {x.shape[dim]}; a period distribution needs at least 2 "
            "points."
        )
    return _Amplitude.apply(x.movedim(dim, -1))


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
    _check_positive("temperature", temperature)
    return torch.softmax(_amplitude(x, dim) / temperature, dim=-1).movedim(-1, dim)


class _PeriodKL(torch.autograd.Function):
    """KL(teacher || student) of the softmax distributions of two amplitude spectra.

    Both distributions are ``softmax(amplitude / temperature)`` over the last axis; the
    divergence is averaged over every element and uses ``log(p_student + KL_EPS)``. The
    teacher's logarithm comes from ``log_softmax``, so a teacher probability that underflows to
    0 contributes 0 with a zero gradient (``F.kl_div``'s gradient with respect to a zero target
    is NaN since PyTorch 1.13, pytorch#89558). The backward is written out: with ``r = p_t /
    (p_s + eps)`` and ``u = log p_t - log(p_s + eps)``, the gradients with respect to the
    logits are ``-p_s (r - sum p_s r) / M`` and ``p_t (u - sum p_t u) / M`` for ``M``
    elements, divided once more by the temperature for the amplitudes.
    """

    @staticmethod
    def forward(
        ctx,  # noqa: ANN001
        student_amplitude: Tensor,
        teacher_amplitude: Tensor,
        temperature: float,
    ) -> Tensor:
        p_student = torch.softmax(student_amplitude / temperature, dim=-1)
        shifted_student = p_student + KL_EPS
        teacher_logits = teacher_amplitude / temperature
        # softmax rather than exp(log_softmax): exp is many times slower where its result is
        # subnormal, which is common at temperature 0.5
        p_teacher = torch.softmax(teacher_logits, dim=-1)
        log_ratio = torch.log_softmax(teacher_logits, dim=-1).sub_(shifted_student.log())
        ctx.save_for_backward(p_student, shifted_student, p_teacher, log_ratio)
        ctx.temperature = temperature
        return (p_teacher * log_ratio).mean()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None]:  # noqa: ANN001
        p_student, shifted_student, p_teacher, log_ratio = ctx.saved_tensors
        scale = grad / (p_teacher.numel() * ctx.temperature)
        student_grad = teacher_grad = None
        if ctx.needs_input_grad[0]:
            weighted = (p_teacher * p_student).div_(shifted_student)
            student_grad = (p_student * weighted.sum(-1, keepdim=True)).sub_(weighted).mul_(scale)
        if ctx.needs_input_grad[1]:
            weighted = p_teacher * log_ratio
            teacher_grad = (p_teacher * weighted.sum(-1, keepdim=True)).sub_(weighted).mul_(-scale)
        return student_grad, teacher_grad, None


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
    _check_positive("temperature", temperature)
    return _PeriodKL.apply(_amplitude(student, dim), _amplitude(teacher, dim), temperature)


class DistillationLoss(nn.Module):
    """Supervised MSE plus TimeDistill's prediction- and feature-level alignment terms.

    ``total = supervised_weight * supervised
    + alpha * (period_weight * prediction_period + prediction_scale)
    + beta * (period_weight * feature_period + feature_scale)``; the defaults are the
    reference's objective.

    Parameters
    ----------
    alpha
        Weight of both prediction-level terms.
    beta
        Weight of both feature-level terms.
    temperature
        Softmax temperature of the period distributions.
    levels, window
        Pooling rounds and window of the multi-scale terms (``levels=0``: the plain MSE).
    supervised_weight
        Weight of the supervised term (1 in the reference). 0 trains on the teacher alone.
    period_weight
        Weight of the period terms relative to the multi-scale terms at their level (1 in the
        reference). 0 drops them: on series dominated by one cycle their softmax saturates
        and they steer the first epochs sideways (``docs/teachers.md``).

    Examples
    --------
    Imitation of the teacher alone, the plain MSE to its forecasts:

    >>> import torch
    >>> from tsdistill_plugin.core import DistillationLoss
    >>> imitation = DistillationLoss(alpha=1.0, beta=0.0, levels=0, supervised_weight=0.0,
    ...                              period_weight=0.0)
    >>> student, truth = torch.zeros(2, 8, 1), torch.ones(2, 8, 1)
    >>> float(imitation(student, truth, teacher_prediction=torch.full((2, 8, 1), 2.0))[0])
    4.0
    """

    def __init__(
        self,
        alpha: float = 1.0,
        beta: float = 1.0,
        temperature: float = 0.5,
        levels: int = 3,
        window: int = 2,
        supervised_weight: float = 1.0,
        period_weight: float = 1.0,
    ) -> None:
        super().__init__()
        weights = (
            ("alpha", alpha),
            ("beta", beta),
            ("supervised_weight", supervised_weight),
            ("period_weight", period_weight),
        )
        for name, value in weights:
            check_float(name, value, positive=False, fix="pass a weight >= 0 (0 turns it off)")
        check_float("temperature", temperature, fix="pass a value > 0 (the reference uses 0.5)")
        check_int("window", window, fix="pass an integer >= 1 (the reference uses 2)")
        check_int("scale_levels", levels, 0, fix="pass an integer >= 0 (the reference uses 3)")
        self.alpha = alpha
        self.beta = beta
        self.temperature = temperature
        self.levels = levels
        self.window = window
        self.supervised_weight = supervised_weight
        self.period_weight = period_weight

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
        if student.shape[dim] < 2:  # one step has no period: the term is 0
            return scale, student.new_zeros(())
        period = multi_period_loss(student, teacher, dim, self.temperature)
        return scale, period

    def _check_prediction(self, prediction: Tensor) -> None:
        if prediction.ndim != 3:
            raise ValueError(
                "prediction must be [batch, horizon, channels], got shape "
                f"{list(prediction.shape)}; add the missing axes (x.unsqueeze(-1) for one "
                "channel)."
            )

    def _supervised(self, prediction: Tensor, target: Tensor) -> Tensor:
        """The supervised term against the truth: the MSE (the reference's)."""
        _check_pair(prediction, target, ("prediction", "target"))
        return F.mse_loss(prediction, target)

    def _align_prediction(self, prediction: Tensor, teacher: Tensor) -> tuple[Tensor, Tensor]:
        """The multi-scale and multi-period terms of the forecast against the teacher's."""
        _check_pair(prediction, teacher, ("prediction", "teacher_prediction"))
        return self._align(prediction, teacher, dim=1)

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
            inputs are absent are 0, and so is the period term of a one-step horizon.
        """
        self._check_prediction(prediction)
        zero = prediction.new_zeros(())
        terms = dict.fromkeys(TERM_NAMES, zero)
        if target is not None and supervised is not None:
            raise ValueError(
                "pass either target (the supervised term is their MSE) or supervised (a loss "
                "computed by the caller), not both."
            )
        if target is not None:
            terms["supervised"] = self._supervised(prediction, target)
        elif supervised is not None:
            terms["supervised"] = supervised
        if teacher_prediction is not None:
            terms["prediction_scale"], terms["prediction_period"] = self._align_prediction(
                prediction, teacher_prediction
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
        period = self.period_weight
        distillation = self.alpha * (
            period * terms["prediction_period"] + terms["prediction_scale"]
        )
        distillation = distillation + self.beta * (
            period * terms["feature_period"] + terms["feature_scale"]
        )
        return self.supervised_weight * terms["supervised"] + distillation, terms


class QuantileDistillationLoss(DistillationLoss):
    """:class:`DistillationLoss` for a probabilistic student forecasting ``Q`` quantiles.

    ``total = supervised_weight * pinball
    + alpha * (period_weight * period(median) + mean over q of scale(q))
    + beta * (the feature terms, as in DistillationLoss)``.

    - The supervised term is the pinball loss of every quantile to the truth (or the host
      library's own quantile loss, passed as ``supervised``).
    - The multi-scale term compares each of the student's quantiles with the teacher's quantile
      at the same level and averages over the levels; a point teacher's forecast
      ``[batch, horizon, channels]`` is compared with the student's median alone.
    - The multi-period term compares the medians: the period distribution describes the
      shape of the forecast, which a quantile band shares with its median.

    The student keeps its quantiles ordered itself (:class:`~tsdistill_plugin.core.DMLP` sorts
    its outputs along the levels), so the objective needs no crossing penalty.

    Parameters
    ----------
    quantiles
        The student's increasing levels in (0, 1), 0.5 among them.
    **settings
        The other arguments of :class:`DistillationLoss`.

    Examples
    --------
    >>> import torch
    >>> from tsdistill_plugin.core import QuantileDistillationLoss
    >>> loss = QuantileDistillationLoss([0.1, 0.5, 0.9], beta=0.0, levels=0, period_weight=0.0)
    >>> student = torch.zeros(2, 8, 1, 3)
    >>> teacher = torch.tensor([-1.0, 0.0, 1.0]).expand(2, 8, 1, 3)
    >>> total, terms = loss(student, torch.zeros(2, 8, 1), teacher_prediction=teacher)
    >>> float(terms["supervised"]), round(float(terms["prediction_scale"]), 4)
    (0.0, 0.6667)
    """

    def __init__(self, quantiles: list[float] | tuple[float, ...], **settings: float) -> None:
        super().__init__(**settings)
        self.quantiles = check_quantiles(quantiles)
        self.median = median_index(self.quantiles)

    def _check_prediction(self, prediction: Tensor) -> None:
        if prediction.ndim != 4 or prediction.shape[-1] != len(self.quantiles):
            raise ValueError(
                f"prediction must be [batch, horizon, channels, {len(self.quantiles)}] (one "
                f"value per quantile of {list(self.quantiles)}), got shape "
                f"{list(prediction.shape)}; pass the probabilistic student's forecast."
            )

    def _supervised(self, prediction: Tensor, target: Tensor) -> Tensor:
        """The pinball loss of every quantile to the truth ``[batch, horizon, channels]``."""
        _check_pair(prediction[..., self.median], target, ("prediction's median", "target"))
        return pinball_loss(prediction, target, self.quantiles)

    def _align_prediction(self, prediction: Tensor, teacher: Tensor) -> tuple[Tensor, Tensor]:
        """Per-quantile multi-scale terms (median only for a point teacher), period on medians.

        ``teacher`` is ``[batch, horizon, channels, Q]`` (quantiles at the student's levels) or
        ``[batch, horizon, channels]`` (a point forecast).
        """
        median = prediction[..., self.median]
        if teacher.ndim == prediction.ndim:
            _check_pair(prediction, teacher, ("prediction", "teacher_prediction"))
            scale = multi_scale_loss(prediction, teacher, 1, self.levels, self.window)
            teacher = teacher[..., self.median]
        else:
            _check_pair(median, teacher, ("prediction's median", "teacher_prediction"))
            scale = multi_scale_loss(median, teacher, 1, self.levels, self.window)
        if median.shape[1] < 2:  # one step has no period: the term is 0
            return scale, median.new_zeros(())
        return scale, multi_period_loss(median, teacher, 1, self.temperature)
