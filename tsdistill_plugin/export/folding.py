"""Fold a fitted ``DMLP``'s linear parts into two weight matrices.

In eval mode the student is linear up to its ReLU: the window-mean shift, the moving-average
decomposition, the first layers of both branches and BatchNorm's running statistics compose
into one ``[L, D]`` matrix with a per-channel scale and bias, and both heads into one
``[D, H]`` matrix. The ``"mean"`` mode's add-back of the window mean rides through the ReLU on
two extra hidden units (``relu(m) - relu(-m) = m``). Products are taken in float64 and rounded
to float32 once. RevIN's division by the window's standard deviation is not linear and stays a
graph op (:mod:`.graph`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..core.student import DMLP


@dataclass(frozen=True)
class FoldedStudent:
    """A ``DMLP`` as ``y = relu(u @ first * scale + bias) @ second + second_bias``.

    ``u`` is the window ``[batch, channels, L]`` (``"revin"``: divided by its standard
    deviation over time, and the result ``y * output_scale * std + mean``).

    Attributes
    ----------
    first
        ``[L, D]``.
    scale
        ``[channels, D]`` per-channel factor of the first product, or ``None`` when it is the
        same for every channel (then already folded into ``first``).
    bias
        ``[channels, D]`` or ``[D]``.
    second
        ``[D, H]``.
    second_bias
        ``[channels, H]`` or ``[H]``.
    output_scale
        ``[channels, 1]`` for ``"revin"`` (its inverse affine map), else ``None``.
    norm
        The student's ``norm`` mode.
    eps
        RevIN's epsilon (inside the square root of the variance).
    covariates
        ``[W, d]``: the covariate projection, for the covariates ``[batch, W]`` flattened as
        the student flattens them (past, then future, then static), or ``None`` for a student
        without covariates. Its ``[batch, d]`` product reaches both branches: repeated to
        ``[batch, D]`` (zero on the mean's two units) and multiplied by ``covariate_scale``.
    covariate_scale
        BatchNorm's scales of the covariates' term: ``[D]``, or ``[channels, D]`` when they
        differ by channel; ``None`` without covariates.
    covariate_sizes
        The student's numbers of past, future and static covariates.
    """

    first: np.ndarray
    scale: np.ndarray | None
    bias: np.ndarray
    second: np.ndarray
    second_bias: np.ndarray
    output_scale: np.ndarray | None
    norm: str
    eps: float
    covariates: np.ndarray | None = None
    covariate_scale: np.ndarray | None = None
    covariate_sizes: tuple[int, int, int] = (0, 0, 0)


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to("cpu", torch.float64).numpy()


def _decomposition_maps(student: DMLP) -> tuple[np.ndarray, np.ndarray]:
    """The decomposition as two ``[L, L]`` matrices: ``window @ S`` is the seasonal part.

    Probed with the identity: row ``i`` is the decomposition of the unit window ``e_i``.
    """
    eye = torch.eye(student.input_len, dtype=torch.float64).unsqueeze(1)  # [L, 1, L]
    with torch.no_grad():
        seasonal, trend = student.decomposition(eye)
    return _numpy(seasonal[:, 0]), _numpy(trend[:, 0])


def _branch(branch: torch.nn.Module, part: np.ndarray, centre: np.ndarray) -> dict[str, np.ndarray]:
    """One branch, ``Linear(L -> d) -> BatchNorm1d(N) -> ReLU -> Linear(d -> H)``, folded.

    Returns the first map ``[L, d]`` (with ``centre`` and the decomposition ``part``), its
    response to a constant unit window ``[d]``, the first bias ``[d]``, BatchNorm's eval-mode
    scale and shift broadcast to ``[N, d]``, the head ``[d, H]`` and its bias ``[H]``.
    """
    weight = _numpy(branch.embed.weight)  # [d, L]
    hidden = weight.shape[0]
    norm = branch.norm
    bn_scale = _numpy(norm.weight) / np.sqrt(_numpy(norm.running_var) + norm.eps)
    bn_shift = _numpy(norm.bias) - _numpy(norm.running_mean) * bn_scale
    return {
        "first": centre @ part @ weight.T,
        "constant": part.sum(axis=0) @ weight.T,
        "bias": _numpy(branch.embed.bias),
        "scale": np.repeat(bn_scale[:, None], hidden, axis=1),
        "shift": np.repeat(bn_shift[:, None], hidden, axis=1),
        "second": _numpy(branch.head.weight).T,
        "second_bias": _numpy(branch.head.bias),
    }


def _covariate_matrix(student: DMLP) -> np.ndarray:
    """The covariate projection ``[W, d]`` on the flattened raw covariates.

    A per-step feature projection (``covariate_width``) composes into it: the weight of raw
    covariate ``c`` at step ``t`` is ``sum_j P[j, c] W[t k + j]``.
    """
    weight = _numpy(student.covariates.weight).T  # [W', d]
    projections = student.feature_projections
    if projections is None:
        return weight
    length, width = student.input_len, student.covariate_width
    parts, start = [], 0
    for name, steps in (
        ("past_covariates", length),
        ("future_covariates", length + student.horizon),
    ):
        if name not in projections:
            continue
        block = weight[start : start + steps * width].reshape(steps, width, -1)
        raw = np.einsum("jc,tjd->tcd", _numpy(projections[name].weight), block)
        parts.append(raw.reshape(-1, weight.shape[1]))
        start += steps * width
    parts.append(weight[start:])  # static covariates, as they are
    return np.concatenate(parts)


def fold(student: DMLP) -> FoldedStudent:
    """Fold an eval-mode ``DMLP`` (see the module docstring).

    Parameters
    ----------
    student
        A fitted ``DMLP``; its BatchNorm running statistics are used, as in eval mode.

    Returns
    -------
    FoldedStudent
        float32 weights.

    """
    length = student.input_len
    seasonal_map, trend_map = _decomposition_maps(student)
    centre = np.eye(length)
    if student.norm in ("mean", "revin"):
        centre = centre - 1.0 / length
    seasonal = _branch(student.seasonal, seasonal_map, centre)
    trend = _branch(student.trend, trend_map, centre)
    joined = {
        key: np.concatenate([seasonal[key], trend[key]], axis=0 if key == "second" else -1)
        for key in ("first", "constant", "bias", "scale", "shift", "second")
    }
    first, scale, second = joined["first"], joined["scale"], joined["second"]
    second_bias = seasonal["second_bias"] + trend["second_bias"]  # [H]
    output_scale = None
    bn_scale = scale  # [N, 2 d]: what the covariates' term is multiplied by (not RevIN's map)
    if student.revin is not None:  # x_n = w x' + b before the branches, inverted after
        affine_w = _numpy(student.revin.weight)[:, None]  # [N, 1]
        affine_b = _numpy(student.revin.bias)[:, None]
        bias = scale * (affine_b * joined["constant"] + joined["bias"]) + joined["shift"]
        scale = scale * affine_w
        second_bias = second_bias - affine_b  # [N, H]
        output_scale = 1.0 / (affine_w + student.revin.eps * student.revin.eps)
    else:
        bias = scale * joined["bias"] + joined["shift"]
    covariates = None
    if student.covariates is not None:  # the same [batch, d] term added to both branches
        covariates = _covariate_matrix(student)  # [W, d]
        bias = bias + bn_scale * np.tile(_numpy(student.covariates.bias), 2)
    if student.norm == "mean":  # the window mean through two ReLU units: relu(m) - relu(-m)
        first = np.concatenate([first, np.full((length, 1), 1.0 / length) * [1.0, -1.0]], 1)
        scale = np.concatenate([scale, np.ones((len(scale), 2))], axis=1)
        bias = np.concatenate([bias, np.zeros((len(bias), 2))], axis=1)
        second = np.concatenate([second, np.ones((2, second.shape[1])) * [[1.0], [-1.0]]])
        bn_scale = np.concatenate([bn_scale, np.zeros((len(bn_scale), 2))], axis=1)
    covariate_scale = None
    if covariates is not None:  # one scale for every channel: [D]
        same = np.all(bn_scale == bn_scale[0])
        covariate_scale = bn_scale[0] if same else bn_scale
    if np.all(scale == scale[0]):  # one channel, or channels alike: fold the scale
        first, scale = first * scale[0], None
        if np.all(bias == bias[0]):
            bias = bias[0]
    return FoldedStudent(
        first=first.astype(np.float32),
        scale=None if scale is None else scale.astype(np.float32),
        bias=bias.astype(np.float32),
        second=second.astype(np.float32),
        second_bias=np.asarray(second_bias, dtype=np.float32),
        output_scale=None if output_scale is None else output_scale.astype(np.float32),
        norm=student.norm,
        eps=student.revin.eps if student.revin is not None else 0.0,
        covariates=None if covariates is None else covariates.astype(np.float32),
        covariate_scale=None if covariate_scale is None else covariate_scale.astype(np.float32),
        covariate_sizes=student.covariate_sizes,
    )
