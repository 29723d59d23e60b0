"""The exported student as an ONNX graph, built node by node from the folded weights.

``past_target [batch, L, C] -> forecast [batch, H, C]`` (and the covariates a covariate student
reads, with Darts' input names): a transpose to ``[batch, C, L]``, the
optional input scaler (NeuralForecast's ``scaler_type``: per-window statistics over time, in
the graph; see :mod:`.scaling`), RevIN's division by the window's standard deviation when the
student uses it, then ``relu(u @ first * scale + bias) @ second + second_bias``, the inverse of
the scalers and a transpose back. The batch axis is dynamic; so is the channel axis of a
channel-independent student.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .folding import FoldedStudent
from .metadata import (
    FUTURE_COVARIATES,
    HISTORIC_FUTURE_COVARIATES,
    INPUT_NAME,
    OUTPUT_NAME,
    PAST_COVARIATES,
    STATIC_COVARIATES,
    StudentSpec,
)
from .scaling import InputScaler

OPSET = 17


@dataclass
class _Graph:
    """Nodes and constants under construction, with fresh names."""

    nodes: list = field(default_factory=list)
    constants: list = field(default_factory=list)
    count: int = 0

    def const(self, value: np.ndarray | float, name: str = "c") -> str:
        """A float32 constant."""
        return self._initializer(np.asarray(value, dtype=np.float32), name)

    def ints(self, *values: int) -> str:
        """An int64 vector constant (axes, sizes, slice bounds)."""
        return self._initializer(np.asarray(values, dtype=np.int64), "i")

    def _initializer(self, array: np.ndarray, name: str) -> str:
        self.count += 1
        key = f"{name}_{self.count}"
        self.constants.append(numpy_helper.from_array(array, key))
        return key

    def outputs(self, op_type: str, n_outputs: int, *inputs: str, **attributes: object) -> list:
        """Add a node; returns the names of its ``n_outputs`` outputs."""
        self.count += 1
        names = [f"{op_type.lower()}_{self.count}_{i}" for i in range(n_outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, **attributes))
        return names

    def op(self, op_type: str, *inputs: str, **attributes: object) -> str:
        """Add a node with one output; returns its name."""
        return self.outputs(op_type, 1, *inputs, **attributes)[0]

    def mean(self, x: str) -> str:
        return self.op("ReduceMean", x, axes=[-1], keepdims=1)

    def std(self, x: str, mean: str) -> str:
        """Population standard deviation over time, ``[batch, C, 1]``."""
        centred = self.op("Sub", x, mean)
        return self.op("Sqrt", self.mean(self.op("Mul", centred, centred)))

    def median(self, x: str, length: int) -> str:
        """The lower median over time (``torch.nanmedian``'s), from the smallest half."""
        k = (length - 1) // 2 + 1
        values, _ = self.outputs("TopK", 2, x, self.ints(k), axis=-1, largest=0, sorted=1)
        return self.op("Slice", values, self.ints(k - 1), self.ints(k), self.ints(-1))

    def replace_zero(self, x: str, value: float) -> str:
        return self.op("Where", self.op("Equal", x, self.const(0.0)), self.const(value), x)


def _scaler_statistics(g: _Graph, u: str, scaler: InputScaler, length: int) -> tuple[str, str]:
    """The scaler's shift and scale ``[batch, C, 1]`` of each window ``u`` ``[batch, C, L]``."""
    shifts = {
        "mean": lambda: g.mean(u),
        "median": lambda: g.median(u, length),
        "min": lambda: g.op("ReduceMin", u, axes=[-1], keepdims=1),
    }
    shift = shifts[scaler.shift]()
    if scaler.spread == "std":
        scale = g.std(u, shift if scaler.shift == "mean" else g.mean(u))
    elif scaler.spread == "mad":
        mad = g.median(g.op("Abs", g.op("Sub", u, shift)), length)
        fallback = g.op("Mul", g.std(u, g.mean(u)), g.const(scaler.mad_from_std))
        scale = g.op("Where", g.op("Greater", mad, g.const(0.0)), mad, fallback)
    else:  # range
        top = g.op("ReduceMax", u, axes=[-1], keepdims=1)
        bottom = shift if scaler.shift == "min" else g.op("ReduceMin", u, axes=[-1], keepdims=1)
        scale = g.op("Sub", top, bottom)
    return shift, g.op("Add", g.replace_zero(scale, 1.0), g.const(scaler.eps))


def _scale(g: _Graph, u: str, shift: str, scale: str, transform: str) -> str:
    z = g.op("Div", g.op("Sub", u, shift), scale)
    if transform == "minus_one_one":
        return g.op("Sub", g.op("Mul", z, g.const(2.0)), g.const(1.0))
    return g.op("Asinh", z) if transform == "asinh" else z


def _unscale(g: _Graph, z: str, shift: str, scale: str, transform: str) -> str:
    if transform == "minus_one_one":
        z = g.op("Div", g.op("Add", z, g.const(1.0)), g.const(2.0))
    elif transform == "asinh":
        z = g.op("Sinh", z)
    return g.op("Add", g.op("Mul", z, scale), shift)


def _covariates(
    g: _Graph, folded: FoldedStudent, lookback: int, horizon: int, scaler: InputScaler | None
) -> tuple:
    """The covariate inputs ``(name, shape)`` and their flattened row ``[batch, W]``.

    As the student reads them: past ``[batch, L, Cp]``; future as Darts feeds them,
    ``historic_future_covariates [batch, L, Cf]`` and ``future_covariates [batch, H, Cf]``,
    joined to ``[batch, L + H, Cf]``; static ``[batch, S]``. Past and future are scaled as
    NeuralForecast scales them when there is a ``scaler`` (each column by its own statistics
    over the lookback, the horizon's future values by those too), then centred on the window
    when the student centres them.
    """
    past, future, static = folded.covariate_sizes
    inputs, parts = [], []

    def read(x: str) -> str:  # [batch, time, C]
        if scaler is not None:
            u = g.op("Transpose", x, perm=[0, 2, 1])  # [batch, C, time]
            history = g.op("Slice", u, g.ints(0), g.ints(lookback), g.ints(-1))
            shift, scale = _scaler_statistics(g, history, scaler, lookback)
            x = g.op("Transpose", _scale(g, u, shift, scale, scaler.transform), perm=[0, 2, 1])
        if folded.norm == "none":
            return x
        return g.op("Sub", x, g.op("ReduceMean", x, axes=[1], keepdims=1))

    if past:
        inputs.append((PAST_COVARIATES, ["batch", lookback, past]))
        parts.append(read(PAST_COVARIATES))
    if future:
        inputs.append((HISTORIC_FUTURE_COVARIATES, ["batch", lookback, future]))
        inputs.append((FUTURE_COVARIATES, ["batch", horizon, future]))
        joined = g.op("Concat", HISTORIC_FUTURE_COVARIATES, FUTURE_COVARIATES, axis=1)
        parts.append(read(joined))
    if static:
        inputs.append((STATIC_COVARIATES, ["batch", static]))
        parts.append(STATIC_COVARIATES)
    rows = [g.op("Flatten", part, axis=1) for part in parts]
    return inputs, rows[0] if len(rows) == 1 else g.op("Concat", *rows, axis=1)


def _student(g: _Graph, u: str, folded: FoldedStudent, covariates: str | None = None) -> str:
    """The folded ``DMLP`` on ``u`` ``[batch, C, L]``; returns ``[batch, C, H]``.

    ``covariates`` ``[batch, W]`` (:func:`_covariates`) add their projection to the hidden
    layer of every channel.

    The products run on ``[batch * C, .]`` rows: one matrix product each, not ``batch``
    small ones. Per-channel terms (BatchNorm of several channels, RevIN's affine map) are
    applied on the ``[batch, C, .]`` view, which is free to take.
    """
    if folded.norm == "revin":
        mean = g.mean(u)
        var = g.mean(g.op("Mul", *(2 * [g.op("Sub", u, mean)])))
        std = g.op("Sqrt", g.op("Add", var, g.const(folded.eps)))
        u = g.op("Div", u, std)
    batch_channels = g.op("Slice", g.op("Shape", u), g.ints(0), g.ints(2))  # [batch, C]

    def rows(x: str, width: int) -> str:  # [batch, C, width] -> [batch * C, width]
        return g.op("Reshape", x, g.ints(-1, width))

    def windows(x: str, width: int) -> str:  # [batch * C, width] -> [batch, C, width]
        return g.op("Reshape", x, g.op("Concat", batch_channels, g.ints(width), axis=0))

    width, horizon = folded.second.shape
    hidden = g.op("MatMul", rows(u, folded.first.shape[0]), g.const(folded.first, "first"))
    per_window = folded.scale is not None or covariates is not None
    if per_window:
        hidden = windows(hidden, width)
    if folded.scale is not None:
        hidden = g.op("Mul", hidden, g.const(folded.scale, "scale"))
    if covariates is not None:  # [batch, d] for both branches -> [batch, 1, D], scaled
        term = g.op("MatMul", covariates, g.const(folded.covariates, "covariates"))
        parts = [term, term]
        extra = width - 2 * folded.covariates.shape[1]  # the mean's two units
        if extra:
            batch = g.op("Slice", g.op("Shape", term), g.ints(0), g.ints(1))
            zeros = g.op(
                "Expand",
                g.const(np.zeros((1, extra))),
                g.op("Concat", batch, g.ints(extra), axis=0),
            )
            parts.append(zeros)
        term = g.op("Unsqueeze", g.op("Concat", *parts, axis=1), g.ints(1))
        term = g.op("Mul", term, g.const(folded.covariate_scale, "covariate_scale"))
        hidden = g.op("Add", hidden, term)
    hidden = g.op("Relu", g.op("Add", hidden, g.const(folded.bias, "bias")))
    if per_window:
        hidden = rows(hidden, width)
    y = g.op("MatMul", hidden, g.const(folded.second, "second"))
    if folded.second_bias.ndim == 1:
        y = windows(g.op("Add", y, g.const(folded.second_bias, "second_bias")), horizon)
    else:  # per channel
        y = g.op("Add", windows(y, horizon), g.const(folded.second_bias, "second_bias"))
    if folded.norm == "revin":
        y = g.op("Add", g.op("Mul", y, g.op("Mul", std, g.const(folded.output_scale))), mean)
    return y


def build_graph(
    folded: FoldedStudent,
    spec: StudentSpec,
    n_channels: int | None,
    scaler: InputScaler | None = None,
    level_major: bool = False,
) -> onnx.ModelProto:
    """The student's ONNX model.

    Parameters
    ----------
    folded
        The folded weights (:func:`~tsdistill_plugin.export.folding.fold`).
    spec
        Written into ``metadata_props``.
    n_channels
        The channel count, or ``None`` for a dynamic channel axis (channel-independent
        students).
    scaler
        The input scaler around the student (NeuralForecast's), or ``None``.
    level_major
        A probabilistic student's head gives ``Q`` blocks of ``H`` steps (NeuralForecast's),
        not ``H`` blocks of ``Q`` levels (Darts').

    Returns
    -------
    onnx.ModelProto
        Checked by ``onnx.checker``.
    """
    g = _Graph()
    u = g.op("Transpose", INPUT_NAME, perm=[0, 2, 1])  # [batch, C, L]
    if scaler is not None:
        shift, scale = _scaler_statistics(g, u, scaler, spec.lookback)
        u = _scale(g, u, shift, scale, scaler.transform)
        if (scaler.output_shift, scaler.output_factor) != (0.0, 1.0):
            shift = g.op("Add", shift, g.const(scaler.output_shift))
            scale = g.op("Mul", scale, g.const(scaler.output_factor))
    covariate_inputs, covariates = [], None
    if folded.covariates is not None:
        covariate_inputs, covariates = _covariates(g, folded, spec.lookback, spec.horizon, scaler)
    y = _student(g, u, folded, covariates)
    if scaler is not None:
        y = _unscale(g, y, shift, scale, scaler.transform)
    shape = ["batch", spec.horizon, "channels" if n_channels is None else n_channels]
    if spec.quantiles is None:
        g.nodes.append(helper.make_node("Transpose", [y], [OUTPUT_NAME], perm=[0, 2, 1]))
    else:  # [batch, C, H Q] -> [batch, H, C, Q], sorted along the levels
        levels = len(spec.quantiles)
        if level_major:
            y = g.op("Reshape", y, g.ints(0, 0, levels, spec.horizon))
            y = g.op("Transpose", y, perm=[0, 1, 3, 2])
        else:
            y = g.op("Reshape", y, g.ints(0, 0, spec.horizon, levels))
        y, _ = g.outputs("TopK", 2, y, g.ints(levels), axis=-1, largest=0, sorted=1)
        g.nodes.append(helper.make_node("Transpose", [y], [OUTPUT_NAME], perm=[0, 2, 1, 3]))
        shape.append(levels)
    graph = helper.make_graph(
        g.nodes,
        "tsdistill_student",
        [
            helper.make_tensor_value_info(
                INPUT_NAME, TensorProto.FLOAT, ["batch", spec.lookback, shape[2]]
            ),
            *(
                helper.make_tensor_value_info(name, TensorProto.FLOAT, covariate_shape)
                for name, covariate_shape in covariate_inputs
            ),
        ],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, shape)],
        initializer=g.constants,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="tsdistill_plugin",
        producer_version=spec.plugin_version,
    )
    helper.set_model_props(model, spec.to_props())
    onnx.checker.check_model(model)
    return model
