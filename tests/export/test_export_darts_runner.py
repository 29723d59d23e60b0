"""Darts' own torch-free runner, ``darts.utils.onnx.run_onnx_prediction``, reads the files of
``to_onnx``: it forecasts what ``DistilledMLPModel.predict`` and ``Predictor`` forecast."""

from __future__ import annotations

import json

import onnx
import pytest
from export_helpers import H, L

from tsdistill_plugin.export import Predictor, to_onnx
from tsdistill_plugin.export.metadata import StudentSpec


def assert_close(forecast, reference) -> None:
    """Equal within 1e-5 relative to the forecast's scale (float32 rounding)."""
    import numpy as np

    np.testing.assert_allclose(
        forecast, reference, rtol=1e-5, atol=1e-5 * float(np.abs(reference).max())
    )


@pytest.mark.parametrize("norm", ["mean", "revin", "none"])
def test_run_onnx_prediction_equals_predict(darts_student, raw, tmp_path, norm):
    import onnxruntime
    from darts import TimeSeries
    from darts.utils.onnx import run_onnx_prediction

    model = darts_student(norm)
    path = to_onnx(model, tmp_path / "student.onnx")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    series = TimeSeries.from_dataframe(raw.iloc[:700])
    # n = H: one graph call; n = 2H + 5: Darts rolls the graph forward on its own forecasts
    for n in (H, 2 * H + 5):
        forecast = run_onnx_prediction(n=n, session=session, series=series, verbose=False)
        reference = model.predict(n=n, series=series, verbose=False)
        assert forecast.time_index.equals(reference.time_index)
        assert list(forecast.components) == list(reference.components)
        assert_close(forecast.values(), reference.values())
    ours = Predictor.load(path, threads=1).predict(raw.iloc[:700])
    first = run_onnx_prediction(n=H, session=session, series=series, verbose=False)
    assert_close(first.values(), ours.to_numpy())


def test_several_series_at_once(darts_student, raw, tmp_path):
    import onnxruntime
    from darts import TimeSeries
    from darts.utils.onnx import run_onnx_prediction

    model = darts_student("revin")
    session = onnxruntime.InferenceSession(str(to_onnx(model, tmp_path / "s.onnx")))
    series = [TimeSeries.from_dataframe(raw.iloc[end - L - 10 : end]) for end in (250, 555, 700)]
    forecasts = run_onnx_prediction(n=H, session=session, series=series, verbose=False)
    references = model.predict(n=H, series=series, verbose=False)
    for forecast, reference in zip(forecasts, references, strict=True):
        assert forecast.time_index.equals(reference.time_index)
        assert_close(forecast.values(), reference.values())


def test_darts_spec_matches_darts_own_fields(exported_darts):
    from dataclasses import fields

    from darts.utils.onnx.inference import ONNX_SPEC_METADATA_KEY, OnnxModelSpec

    props = {p.key: p.value for p in onnx.load(str(exported_darts)).metadata_props}
    written = json.loads(props[ONNX_SPEC_METADATA_KEY])
    assert set(written) == {f.name for f in fields(OnnxModelSpec)}
    graph = onnx.load(str(exported_darts)).graph
    assert [i.name for i in graph.input] == written["input_names"] == ["past_target"]
    assert [o.name for o in graph.output] == written["output_names"]
    assert (written["input_chunk_length"], written["output_chunk_length"]) == (L, H)


def test_files_of_the_first_format_ask_to_export_again(exported_darts):
    props = {p.key: p.value for p in onnx.load(str(exported_darts)).metadata_props}
    props["tsdistill.format"] = "tsdistill-student-onnx/1"
    with pytest.raises(ValueError, match="graph input 'history'.*export the student again"):
        StudentSpec.from_props(props, "old.onnx")
