"""``predict_spark``: a Spark table forecast by an exported student on local[2] equals
``Predictor``'s forecast of the same rows, and bad input is refused on the driver."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from export_helpers import H, L, fit_nf, to_long

from tsdistill_plugin.export import Predictor, to_onnx
from tsdistill_plugin.export.spark import loaded_predictor, predict_spark


@pytest.fixture(scope="module")
def exported_nf(raw, tmp_path_factory) -> Path:
    """NeuralForecast's channel-independent ``DistilledMLP`` (standard scaler) as ONNX."""
    pytest.importorskip("neuralforecast")
    nf = fit_nf(raw, False, "revin", "standard")
    return to_onnx(nf, tmp_path_factory.mktemp("spark") / "nf.onnx")


@pytest.fixture(scope="module")
def ragged(raw) -> pd.DataFrame:
    """The 7 ETTh1 series over 700 hours in the long format; OT ends 30 hours earlier."""
    long = to_long(raw.iloc[:700])
    early = (long["unique_id"] == "OT") & (long["ds"] > long["ds"].max() - pd.Timedelta(hours=30))
    return long[~early].reset_index(drop=True)


def test_forecasts_equal_the_predictor(spark, exported_nf, ragged):
    table = spark.createDataFrame(ragged)
    result = predict_spark(table, exported_nf, series_per_group=3)  # 3 groups of whole series
    name = Predictor.load(exported_nf).spec.name
    assert result.columns == ["unique_id", "ds", name]
    assert result.schema["ds"].dataType == table.schema["ds"].dataType
    forecast = result.toPandas().sort_values(["unique_id", "ds"], ignore_index=True)
    expected = Predictor.load(exported_nf, threads=1).predict(ragged)
    expected = expected.sort_values(["unique_id", "ds"], ignore_index=True)
    assert len(forecast) == 7 * H
    assert forecast["unique_id"].tolist() == expected["unique_id"].tolist()
    assert (forecast["ds"].to_numpy() == expected["ds"].to_numpy()).all()
    np.testing.assert_array_equal(forecast[name].to_numpy(), expected[name].to_numpy())
    ot = forecast[forecast["unique_id"] == "OT"]["ds"]  # its own end, not the panel's
    assert ot.iloc[0] == ragged[ragged["unique_id"] == "OT"]["ds"].max() + pd.Timedelta(hours=1)


def test_one_predictor_per_process_and_path(exported_nf):
    first = loaded_predictor(str(exported_nf), 1)
    assert loaded_predictor(str(exported_nf), 1) is first
    assert loaded_predictor(str(exported_nf), None) is not first


def test_refuses_bad_tables_on_the_driver(spark, exported_nf, exported_darts, ragged):
    table = spark.createDataFrame(ragged)
    with pytest.raises(ValueError, match=r"missing \['y'\], unknown \['value'\]"):
        predict_spark(table.withColumnRenamed("y", "value"), exported_nf)
    with pytest.raises(TypeError, match="column 'ds' has type string"):
        predict_spark(table.withColumn("ds", table["ds"].cast("string")), exported_nf)
    short = table.filter((table["unique_id"] != "HUFL") | (table["ds"] < ragged["ds"].iloc[L - 1]))
    with pytest.raises(ValueError, match=rf"last {L} steps .* 1 series .*'HUFL': {L - 1}"):
        predict_spark(short, exported_nf)
    with pytest.raises(ValueError, match=r"fixed channels \['HUFL', .*'OT'\]"):
        predict_spark(table, exported_darts)
    with pytest.raises(TypeError, match="pyspark.sql.DataFrame, got DataFrame"):
        predict_spark(ragged, exported_nf)
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        predict_spark(table, exported_nf, threads=0)
