"""``tsdistill export`` and ``tsdistill predict`` end to end, in a temporary directory."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from export_helpers import H, L, fit_nf
from long_format import to_long

from tsdistill_plugin.cli import main


def test_darts_save_file_to_forecast_csv(darts_student, raw, tmp_path, capsys):
    from darts import TimeSeries

    model = darts_student("revin")
    model.save(str(tmp_path / "student.pt"))
    assert main(["export", str(tmp_path / "student.pt"), "-o", str(tmp_path / "s.onnx")]) == 0
    history = raw.iloc[:400]
    history.to_csv(tmp_path / "history.csv")
    args = ["predict", str(tmp_path / "s.onnx"), "--input", str(tmp_path / "history.csv")]
    assert main([*args, "--output", str(tmp_path / "forecast.csv"), "--threads", "1"]) == 0
    forecast = pd.read_csv(tmp_path / "forecast.csv", parse_dates=["date"], index_col="date")
    reference = model.predict(n=H, series=TimeSeries.from_dataframe(history), verbose=False)
    assert forecast.index.equals(reference.time_index.rename("date").as_unit("ns"))
    np.testing.assert_allclose(forecast.to_numpy(), reference.values(), rtol=1e-5, atol=1e-4)
    assert "forecast:" in capsys.readouterr().out


def test_neuralforecast_directory_to_long_forecast_csv(raw, tmp_path):
    pytest.importorskip("neuralforecast")
    nf = fit_nf(raw, False, "mean", "robust")
    nf.save(str(tmp_path / "nf"))
    assert main(["export", str(tmp_path / "nf"), "-o", str(tmp_path / "s.onnx")]) == 0
    to_long(raw.iloc[:700]).to_csv(tmp_path / "history.csv", index=False)
    args = ["predict", str(tmp_path / "s.onnx"), "--input", str(tmp_path / "history.csv")]
    assert main([*args, "--output", str(tmp_path / "forecast.csv")]) == 0
    forecast = pd.read_csv(tmp_path / "forecast.csv", parse_dates=["ds"])
    reference = nf.predict()
    merged = reference.merge(forecast, on=["unique_id", "ds"], suffixes=("", "_cli"))
    assert len(merged) == 7 * H
    np.testing.assert_allclose(
        merged["DistilledMLP_cli"], merged["DistilledMLP"], rtol=1e-5, atol=1e-4
    )


def test_errors_are_one_line(exported_darts, raw, tmp_path, capsys):
    raw.iloc[: L - 1].to_csv(tmp_path / "short.csv")
    args = ["predict", str(exported_darts), "--input", str(tmp_path / "short.csv")]
    assert main([*args, "--output", str(tmp_path / "f.csv")]) == 2
    assert f"needs the last {L} steps" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "absent.pt"), "-o", str(tmp_path / "s.onnx")]) == 2
    assert "no saved model" in capsys.readouterr().err
