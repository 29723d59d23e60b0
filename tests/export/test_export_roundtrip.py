"""Exported students forecast what their library's ``predict`` forecasts, on real ETTh1 in
its own units: Darts and NeuralForecast, each norm, univariate and multivariate, every
NeuralForecast ``scaler_type``, any batch size."""

from __future__ import annotations

import re

import numpy as np
import onnx
import pandas as pd
import pytest
from export_helpers import H, L, fit_nf
from long_format import to_long

from tsdistill_plugin.export import Predictor, to_onnx

NORMS = ("mean", "revin", "none")


def assert_close(forecast: np.ndarray, reference: np.ndarray) -> None:
    """Equal within 1e-5 relative to the forecast's scale (float32 rounding)."""
    np.testing.assert_allclose(
        forecast, reference, rtol=1e-5, atol=1e-5 * float(np.abs(reference).max())
    )


@pytest.mark.parametrize("norm", NORMS)
def test_darts_round_trip(darts_student, raw, tmp_path, norm):
    from darts import TimeSeries

    model = darts_student(norm)
    path = to_onnx(model, tmp_path / "student.onnx")
    predictor = Predictor.load(path, threads=1)
    history = raw.iloc[:700]
    reference = model.predict(n=H, series=TimeSeries.from_dataframe(history), verbose=False)
    forecast = predictor.predict(history)
    assert list(forecast.columns) == list(raw.columns)
    assert forecast.index.equals(reference.time_index)
    assert_close(forecast.to_numpy(), reference.values())
    # a univariate view of the same data: the first channel alone is not this student
    with pytest.raises(ValueError, match="7 channels"):
        predictor.predict(history.to_numpy()[:, :1])


def test_darts_dynamic_batch_matches_predict_on_several_series(darts_student, raw, tmp_path):
    from darts import TimeSeries

    model = darts_student("revin")
    predictor = Predictor.load(to_onnx(model, tmp_path / "student.onnx"), threads=1)
    ends = [L, 250, 401, 555, 700]
    windows = np.stack([raw.to_numpy()[end - L : end] for end in ends])
    series = [TimeSeries.from_dataframe(raw.iloc[end - L : end]) for end in ends]
    reference = np.stack([s.values() for s in model.predict(n=H, series=series, verbose=False)])
    for batch in (1, 2, 5):
        assert_close(predictor.predict(windows[:batch]), reference[:batch])
    assert_close(predictor.predict(windows[3]), reference[3])  # one window, [L, C]


def test_graph_is_two_products(exported_darts):
    graph = onnx.load(exported_darts).graph
    ops = [node.op_type for node in graph.node]
    assert ops.count("MatMul") == 2 and ops.count("Relu") == 1
    assert not {"ReduceMean", "AveragePool", "BatchNormalization", "Conv"} & set(ops)
    shape = graph.input[0].type.tensor_type.shape.dim
    assert shape[0].dim_param == "batch" and [d.dim_value for d in shape[1:]] == [L, 7]


def test_metadata(exported_darts, darts_student):
    spec = Predictor.load(exported_darts).spec
    assert (spec.lookback, spec.horizon, spec.freq, spec.library) == (L, H, "h", "darts")
    assert spec.components == ("HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT")
    assert spec.teacher.startswith("none")
    assert spec.data_digest == darts_student("mean").training_provenance["data_digest"]
    assert re.fullmatch("[0-9a-f]{32}", spec.data_digest)  # 128 bits, hex
    # a digest of the training data, not of the model: another student of the same hours has it
    assert darts_student("revin").training_provenance["data_digest"] == spec.data_digest


def test_darts_own_to_onnx(darts_student, raw, tmp_path):
    """Darts' ``TorchForecastingModel.to_onnx`` (torch.onnx with onnxscript) works too."""
    pytest.importorskip("onnxscript")
    import onnxruntime
    from darts import TimeSeries
    from darts.utils.onnx import run_onnx_prediction

    model = darts_student("mean")
    model.to_onnx(str(tmp_path / "darts.onnx"))
    series = TimeSeries.from_dataframe(raw.iloc[:700])
    session = onnxruntime.InferenceSession(str(tmp_path / "darts.onnx"))
    forecast = run_onnx_prediction(n=H, session=session, series=series)
    reference = model.predict(n=H, series=series, verbose=False)
    assert_close(forecast.values(), reference.values())


NF_CASES = [(False, norm, "identity") for norm in NORMS] + [
    (True, norm, "identity") for norm in NORMS
]
NF_CASES += [
    (False, "mean", s) for s in ("standard", "robust", "minmax", "minmax1", "invariant", "revin")
]


@pytest.mark.parametrize(("multivariate", "norm", "scaler_type"), NF_CASES)
def test_neuralforecast_round_trip(raw, tmp_path, multivariate, norm, scaler_type):
    pytest.importorskip("neuralforecast")
    nf = fit_nf(raw, multivariate, norm, scaler_type)
    reference = nf.predict()
    predictor = Predictor.load(to_onnx(nf, tmp_path / "student.onnx"), threads=1)
    assert predictor.spec.channel_independent is not multivariate
    forecast = predictor.predict(to_long(raw.iloc[:700]))
    name = predictor.spec.name
    assert list(forecast.columns) == ["unique_id", "ds", name]
    merged = reference.merge(forecast, on=["unique_id", "ds"], suffixes=("", "_onnx"))
    assert len(merged) == len(reference) == 7 * H
    assert_close(merged[f"{name}_onnx"].to_numpy(), merged[name].to_numpy())


def test_neuralforecast_series_with_different_ends(raw, tmp_path):
    """A channel-independent student forecasts each series from its own last timestamp."""
    pytest.importorskip("neuralforecast")
    nf = fit_nf(raw, False, "revin", "standard")
    model = nf.models[0]
    long = to_long(raw.iloc[:700])
    cut = long["ds"] <= long["ds"].max() - pd.Timedelta(hours=30)
    ragged = long[(long["unique_id"] != "OT") | cut]  # OT ends 30 hours earlier
    reference = nf.predict(df=ragged)
    forecast = Predictor.load(to_onnx(model, tmp_path / "s.onnx", freq="h")).predict(ragged)
    merged = reference.merge(forecast, on=["unique_id", "ds"], suffixes=("", "_onnx"))
    assert len(merged) == 7 * H
    ot = forecast[forecast["unique_id"] == "OT"]["ds"]
    assert ot.iloc[0] == ragged[ragged["unique_id"] == "OT"]["ds"].max() + pd.Timedelta(hours=1)
    name = repr(model)
    assert_close(merged[f"{name}_onnx"].to_numpy(), merged[name].to_numpy())


def test_a_neuralforecast_loaded_from_disk_exports_its_provenance(raw, tmp_path):
    pytest.importorskip("neuralforecast")
    from neuralforecast import NeuralForecast

    nf = fit_nf(raw, True, "mean", "identity")
    nf.save(str(tmp_path / "nf"), overwrite=True)
    loaded = NeuralForecast.load(str(tmp_path / "nf"))
    spec = Predictor.load(to_onnx(loaded, tmp_path / "s.onnx")).spec
    assert spec.data_digest is not None  # NeuralForecast.save kept it
    assert spec.data_digest == nf.models[0].training_provenance["data_digest"]
    assert spec.components == tuple(sorted(raw.columns)) and spec.freq == "h"
