"""``Predictor``: runs without torch or either library, answers in the input's kind with the
forecast timestamps, and refuses bad input with an error naming expected and given."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
from export_helpers import H, L
from long_format import to_long
from onnx import TensorProto, helper

from tsdistill_plugin.export import Predictor

REPO = Path(__file__).resolve().parents[2]

ISOLATED = """
import json, sys
import pandas as pd
from tsdistill_plugin.export import Predictor
predictor = Predictor.load(sys.argv[1], threads=1)
history = pd.read_csv(sys.argv[2], parse_dates=["date"], index_col="date")
forecast = predictor.predict(history)
heavy = [m for m in ("torch", "darts", "neuralforecast", "pytorch_lightning") if m in sys.modules]
first = str(forecast.index[0])
print(json.dumps({"heavy": heavy, "first": first, "values": forecast.values.tolist()}))
"""


@pytest.fixture(scope="module")
def predictor(exported_darts) -> Predictor:
    return Predictor.load(exported_darts, threads=1)


def test_runs_without_torch_darts_or_neuralforecast(exported_darts, predictor, raw, tmp_path):
    history = raw.iloc[:700]
    history.to_csv(tmp_path / "history.csv")
    done = subprocess.run(
        [sys.executable, "-c", ISOLATED, str(exported_darts), str(tmp_path / "history.csv")],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(REPO), "PATH": ""},
    )
    result = json.loads(done.stdout)
    assert result["heavy"] == []
    assert result["first"] == "2016-07-30 04:00:00"  # the hour after the history's last
    expected = predictor.predict(history).to_numpy()
    np.testing.assert_allclose(result["values"], expected, rtol=1e-5, atol=1e-4)


def test_missing_onnxruntime_names_the_extra(exported_darts):
    code = (
        "import sys; sys.modules['onnxruntime'] = None\n"
        "from tsdistill_plugin.export import Predictor\n"
        f"Predictor.load({str(exported_darts)!r})"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": str(REPO)}
    )
    assert done.returncode != 0
    assert "tsdistill-plugin[export]" in done.stderr and "onnxruntime" in done.stderr


def test_wide_frame_timestamps_and_columns(predictor, raw):
    history = raw.iloc[:300]
    shuffled = history[list(reversed(history.columns))]  # column order does not matter
    forecast = predictor.predict(shuffled)
    expected_index = pd.date_range(history.index[-1] + pd.Timedelta(hours=1), periods=H, freq="h")
    assert forecast.index.equals(expected_index)
    assert list(forecast.columns) == list(raw.columns)
    np.testing.assert_array_equal(forecast.to_numpy(), predictor.predict(history).to_numpy())
    np.testing.assert_array_equal(forecast.to_numpy(), predictor.predict(history.to_numpy()))
    assert raw.iloc[:300].equals(history)  # the input is untouched


def test_long_frame_of_a_multivariate_student(predictor, raw):
    history = raw.iloc[:300]
    forecast = predictor.predict(to_long(history))
    assert list(forecast.columns) == ["unique_id", "ds", "DistilledMLPModel"]
    wide = forecast.pivot(index="ds", columns="unique_id", values="DistilledMLPModel")
    np.testing.assert_array_equal(wide[list(raw.columns)], predictor.predict(history))


def test_integer_index_uses_steps(predictor, raw):
    history = raw.iloc[:200].reset_index(drop=True)
    history.index = history.index * 2 + 10
    forecast = predictor.predict(history)
    assert list(forecast.index) == list(history.index[-1] + 2 * np.arange(1, H + 1))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda r: r.to_numpy()[:, 0], r"\[time, channels\] or \[batch, time, channels\].*\[700\]"),
        (lambda r: r.to_numpy()[None, None], r"got shape \[1, 1, 700, 7\]"),
        (lambda r: r.to_numpy()[:, :5], r"7 channels .* the input has 5 channels"),
        (lambda r: r.to_numpy()[: L - 1], rf"last {L} steps .* has {L - 1} time steps"),
        (lambda r: r.iloc[: L - 1], rf"last {L} steps .* has {L - 1} rows"),
        (lambda r: r.drop(columns=["OT"]), r"miss \['OT'\] and have unknown \[\]"),
        (lambda r: r.assign(extra=1.0), r"miss \[\] and have unknown \['extra'\]"),
        (lambda r: r.assign(OT=r["OT"].where(r.index != r.index[-3])), r"nan at 2016-07-30 01:00"),
        (lambda r: r.to_numpy() * np.where(np.arange(700) == 650, np.inf, 1)[:, None], "inf in"),
        (lambda r: to_long(r).drop(columns="y"), r"missing \['y'\]"),
        (lambda r: to_long(r).iloc[:-1], "share their timestamps"),  # one series ends early
        (lambda r: r.iloc[::-1], "must increase strictly"),
    ],
)
def test_bad_input(predictor, raw, make, message):
    with pytest.raises(ValueError, match=message):
        predictor.predict(make(raw.iloc[:700]))


def test_bad_types(predictor, raw):
    with pytest.raises(TypeError, match="NumPy array"):
        predictor.predict(raw.iloc[:700].to_numpy().tolist())
    with pytest.raises(TypeError, match="DatetimeIndex"):
        predictor.predict(raw.iloc[:700].set_index(raw.index[:700].astype(str)))


def test_a_file_that_is_not_an_exported_student(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "other",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    onnx.save(helper.make_model(graph), tmp_path / "other.onnx")
    with pytest.raises(ValueError, match="not a student exported by tsdistill_plugin.*no format"):
        Predictor.load(tmp_path / "other.onnx")
    (tmp_path / "notes.onnx").write_text("not a model")
    with pytest.raises(ValueError, match="not a student exported by tsdistill_plugin"):
        Predictor.load(tmp_path / "notes.onnx")
    with pytest.raises(FileNotFoundError):
        Predictor.load(tmp_path / "absent.onnx")


def test_threads_and_device(exported_darts):
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        Predictor.load(exported_darts, threads=0)
    with pytest.raises(ValueError, match="device must be one of"):
        Predictor.load(exported_darts, device="tpu")
    assert Predictor.load(exported_darts, device="cpu").providers == ["CPUExecutionProvider"]


@pytest.fixture(scope="module")
def series_student(raw, tmp_path_factory) -> Predictor:
    """A channel-independent NeuralForecast student, exported (its file records freq 'h')."""
    pytest.importorskip("neuralforecast")
    from export_helpers import fit_nf

    from tsdistill_plugin.export import to_onnx

    nf = fit_nf(raw, False, "none", "identity")
    return Predictor.load(to_onnx(nf, tmp_path_factory.mktemp("nf") / "s.onnx"), threads=1)


@pytest.mark.parametrize(
    ("recorded", "freqs"),
    [
        ("h", ("h", "h", "h")),
        ("MS", ("MS", "MS", "MS")),
        (None, ("W-SUN", "W-MON", "MS")),  # nothing recorded: each series' own, inferred
    ],
)
def test_long_frame_timestamps_follow_each_series(series_student, raw, recorded, freqs):
    """Each series is forecast after its own end at its frequency, as pandas' date_range
    continues it, and its values are those of its window alone."""
    from dataclasses import replace

    predictor = Predictor(series_student._session, replace(series_student.spec, freq=recorded))
    values = raw["OT"].to_numpy()
    rows, windows = [], []
    for i, freq in enumerate(freqs):
        stamps = pd.date_range("2001-01-01", periods=L + 7 * i, freq=freq)
        y = values[50 * i : 50 * i + len(stamps)]
        rows.append(pd.DataFrame({"unique_id": f"s{i}", "ds": stamps, "y": y}))
        windows.append(y[-L:, None])
    long = pd.concat(rows[::-1], ignore_index=True)  # any row order
    forecast = predictor.predict(long)
    reference = predictor.predict(np.stack(windows))  # [series, H, 1]
    for i, (frame, freq) in enumerate(zip(rows, freqs, strict=True)):
        mine = forecast[forecast["unique_id"] == f"s{i}"]
        expected = pd.date_range(frame["ds"].iloc[-1], periods=H + 1, freq=freq)[1:]
        assert mine["ds"].tolist() == expected.tolist()
        np.testing.assert_allclose(mine[predictor.spec.name].to_numpy(), reference[i, :, 0])


def test_only_the_rows_the_student_reads_are_checked(series_student, raw):
    """A gap or a repeated timestamp before a series' last ``lookback`` rows is not refused
    and changes nothing: the student never reads those rows (``predict_spark`` the same)."""
    long = to_long(raw.iloc[:300])
    clean = series_student.predict(long)
    early = long[long["ds"] < long["ds"].min() + pd.Timedelta(hours=50)]
    damaged = pd.concat([long.drop(index=early.index[10]), early.iloc[[20]]])
    pd.testing.assert_frame_equal(series_student.predict(damaged), clean)
    with pytest.raises(ValueError, match="misses timestamps"):  # inside the window it is
        series_student.predict(long.drop(index=long.index[-5]))
