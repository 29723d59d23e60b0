"""The exported graph scales each window as NeuralForecast's own ``TemporalNorm`` does, for every
``scaler_type`` the exporter takes, on real ETTh1 windows in their own units.

The graph is the one :func:`~tsdistill_plugin.export.graph.build_graph` writes, around a
student folded by hand into a known linear map, ``y = z @ A + c`` (``relu(v) - relu(-v) = v``
on the two halves of the hidden layer), so that its output is NeuralForecast's
``inverse_transform(transform(x) @ A + c)`` exactly when the graph's statistics, scaling and
inverse are NeuralForecast's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from export_helpers import H, L

pytest.importorskip("neuralforecast")

import torch  # noqa: E402
from neuralforecast.common._scalers import TemporalNorm  # noqa: E402

from tsdistill_plugin import __version__  # noqa: E402
from tsdistill_plugin.export import Predictor, StudentSpec  # noqa: E402
from tsdistill_plugin.export.folding import FoldedStudent  # noqa: E402
from tsdistill_plugin.export.graph import build_graph  # noqa: E402
from tsdistill_plugin.export.sources import _nf_scaler  # noqa: E402
from tsdistill_plugin.neuralforecast._compat import SCALER_STATISTICS  # noqa: E402

SCALED = [kind for kind, statistics in SCALER_STATISTICS.items() if statistics is not None]


@pytest.fixture(scope="module")
def windows(raw: pd.DataFrame) -> np.ndarray:
    """``[windows, L, 1]`` float32: each ETTh1 column at three offsets, and two windows that hit
    NeuralForecast's guards: OT with more than half its steps at its median (a zero MAD, so
    the standard deviation stands in) and OT's first reading held constant (a zero scale,
    replaced by 1)."""
    values = raw.to_numpy()
    picked = [values[end - L : end, column] for column in range(7) for end in (L, 400, 777)]
    flat = values[:L, -1].copy()
    flat[: L // 2 + 4] = np.median(flat)
    picked += [flat, np.full(L, np.round(values[0, -1]))]  # whole units: its mean is exact
    return np.stack(picked)[..., None].astype(np.float32)


def linear_student(a: np.ndarray, c: np.ndarray) -> FoldedStudent:
    """The folded student ``y = z @ a + c`` (``a`` ``[L, H]``, ``c`` ``[H]``)."""
    return FoldedStudent(
        first=np.concatenate([a, -a], axis=1).astype(np.float32),
        scale=None,
        bias=np.zeros(2 * H, np.float32),
        second=np.concatenate([np.eye(H), -np.eye(H)]).astype(np.float32),
        second_bias=c.astype(np.float32),
        output_scale=None,
        norm="none",
        eps=1e-5,
    )


def exported(scaler: TemporalNorm, kind: str, student: FoldedStudent, path) -> Predictor:
    spec = StudentSpec(
        lookback=L, horizon=H, components=("y",), channel_independent=True, freq=None,
        name="student", library="neuralforecast", teacher="none", data_digest=None,
        plugin_version=__version__,
    )  # fmt: skip
    graph = build_graph(student, spec, None, _nf_scaler(scaler, kind))
    path.write_bytes(graph.SerializeToString())
    return Predictor.load(path, threads=1)


@pytest.mark.parametrize("kind", SCALED)
def test_graph_scaling_is_temporal_norms(kind: str, windows: np.ndarray, tmp_path) -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((L, H)) / np.sqrt(L)
    c = rng.standard_normal(H)
    scaler = TemporalNorm(scaler_type=kind, dim=1, num_features=1)
    if kind == "revin":  # a learnt affine map of the inverse, not the identity
        with torch.no_grad():
            scaler.revin_bias.fill_(0.3)
            scaler.revin_weight.fill_(1.7)
    x = torch.from_numpy(windows)
    with torch.no_grad():
        z = scaler.transform(x=x, mask=torch.ones_like(x))
        y = (
            torch.einsum("blc,lh->bhc", z, torch.from_numpy(a).float())
            + torch.from_numpy(c)[None, :, None].float()
        )
        expected = scaler.inverse_transform(y).reshape(len(windows), H, 1).numpy()
    forecast = exported(scaler, kind, linear_student(a, c), tmp_path / f"{kind}.onnx").run(windows)
    # within float32 rounding of each window's own scale (the edge windows included)
    error = np.abs(forecast - expected).max(axis=(1, 2))
    bound = 1e-5 * np.abs(expected).max(axis=(1, 2))
    assert (error <= bound).all(), (kind, error / bound)
