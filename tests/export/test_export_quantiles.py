"""Exported probabilistic Darts students: ``[batch, H, N, Q]`` graphs with the levels in the
metadata, equal to Darts' quantile forecasts, and Predictor frames with one column per
quantile in each library's naming."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from export_helpers import H, L
from long_format import to_long
from trainer_settings import QUIET

pytest.importorskip("darts")
pytest.importorskip("onnxruntime")

from darts import TimeSeries  # noqa: E402
from darts.utils.likelihood_models import QuantileRegression  # noqa: E402

from tsdistill_plugin.darts import DistilledMLPModel  # noqa: E402
from tsdistill_plugin.export import Predictor, to_onnx  # noqa: E402

LEVELS = [0.1, 0.5, 0.9]
COLUMNS = ["HUFL", "MUFL", "OT"]


@pytest.fixture(scope="module", params=["mean", "revin"])
def student(request, raw: pd.DataFrame) -> DistilledMLPModel:
    """A quantile student of three ETTh1 channels, in their own units."""
    model = DistilledMLPModel(
        L,
        H,
        hidden_size=32,
        norm=request.param,
        likelihood=QuantileRegression(LEVELS),
        n_epochs=2,
        random_state=0,
        pl_trainer_kwargs=dict(QUIET),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(TimeSeries.from_dataframe(raw[COLUMNS].iloc[:600]))
    return model


@pytest.fixture(scope="module")
def predictor(student, tmp_path_factory) -> Predictor:
    path = to_onnx(student, tmp_path_factory.mktemp("quantiles") / "student.onnx")
    return Predictor.load(path, threads=1)


def test_the_graph_equals_darts_quantile_forecasts(student, predictor, raw):
    ends = [300, 450, 600, 799]
    windows = np.stack([raw[COLUMNS].to_numpy()[end - L : end] for end in ends])
    forecast = predictor.run(np.ascontiguousarray(windows))
    assert forecast.shape == (4, H, 3, 3) and predictor.spec.quantiles == tuple(LEVELS)
    assert (np.diff(forecast, axis=-1) >= 0).all()
    series = [TimeSeries.from_dataframe(raw[COLUMNS].iloc[end - L : end]) for end in ends]
    darts = student.predict(H, series=series, predict_likelihood_parameters=True, verbose=False)
    expected = np.stack([f.values().reshape(H, 3, 3) for f in darts])  # OT_q0.100, ... per channel
    # within 1e-5 of the forecasts' scale, as the point students' round trip
    np.testing.assert_allclose(forecast, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_frames_carry_one_column_per_quantile(predictor, raw):
    history = raw[COLUMNS].iloc[:300]
    wide = predictor.predict(history)
    assert list(wide.columns) == [f"{c}_q{q:.3f}" for c in COLUMNS for q in LEVELS]
    long = predictor.predict(to_long(history))
    names = ["DistilledMLPModel-lo-80", "DistilledMLPModel-median", "DistilledMLPModel-hi-80"]
    assert list(long.columns) == ["unique_id", "ds", *names]
    ot = long[long["unique_id"] == "OT"][names].to_numpy()
    np.testing.assert_array_equal(ot, wide[[f"OT_q{q:.3f}" for q in LEVELS]].to_numpy())
    array = predictor.predict(history.to_numpy())
    np.testing.assert_array_equal(array.reshape(H, -1), wide.to_numpy())


def test_a_point_students_file_has_no_quantiles(exported_darts: Path):
    onnx = pytest.importorskip("onnx")
    props = {p.key: p.value for p in onnx.load(str(exported_darts)).metadata_props}
    assert "quantiles" not in props and json.loads(props["lookback"]) == L
    assert Predictor.load(exported_darts, threads=1).spec.quantiles is None


@pytest.mark.parametrize("scaler_type", ["identity", "standard"])
def test_a_neuralforecast_mq_student_round_trips(raw, tmp_path, scaler_type):
    pytest.importorskip("neuralforecast")
    from neuralforecast import NeuralForecast
    from neuralforecast.losses.pytorch import MQLoss

    from tsdistill_plugin.neuralforecast import DistilledMLP

    student = DistilledMLP(
        h=H,
        input_size=L,
        hidden_size=32,
        loss=MQLoss(level=[80, 90]),
        scaler_type=scaler_type,
        max_steps=5,
        **QUIET,
    )
    nf = NeuralForecast(models=[student], freq="h")
    history = to_long(raw[COLUMNS].iloc[:700])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nf.fit(history)
    predictor = Predictor.load(to_onnx(nf, tmp_path / "mq.onnx"), threads=1)
    assert predictor.spec.quantiles == (0.05, 0.1, 0.5, 0.9, 0.95)
    assert predictor.spec.horizon == H
    forecast = predictor.predict(history)
    expected = nf.predict().reset_index(drop=True)
    names = [f"DistilledMLP-{s}" for s in ("lo-90", "lo-80", "median", "hi-80", "hi-90")]
    assert list(forecast.columns) == ["unique_id", "ds", *names]
    reference = expected[names].to_numpy()
    np.testing.assert_allclose(
        forecast[names].to_numpy(), reference, rtol=1e-5, atol=1e-5 * np.abs(reference).max()
    )
    assert (np.diff(forecast[names].to_numpy(), axis=1) >= 0).all()
