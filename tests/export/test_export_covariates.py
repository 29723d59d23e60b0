"""Exported covariate students (issue 18): the graph takes the covariates a Darts student reads
(past ``[batch, L, Cp]``, future as ``historic_future_covariates [batch, L, Cf]`` and
``future_covariates [batch, H, Cf]``, static ``[batch, S]``), and forecasts what
``DistilledMLPModel.predict`` forecasts, through ``Predictor`` and Darts' own runner."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from export_helpers import H, L
from trainer_settings import QUIET

from tsdistill_plugin.export import Predictor, to_onnx

pytest.importorskip("darts")

from darts import TimeSeries  # noqa: E402
from darts.utils.timeseries_generation import datetime_attribute_timeseries  # noqa: E402

from tsdistill_plugin.darts import DistilledMLPModel  # noqa: E402

LOADS = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL"]


def assert_close(forecast, reference) -> None:
    """Equal within 1e-5 relative to the forecast's scale (float32 rounding)."""
    np.testing.assert_allclose(
        forecast, reference, rtol=1e-5, atol=1e-5 * float(np.abs(reference).max())
    )


@pytest.fixture(scope="module")
def calendar(raw: pd.DataFrame) -> TimeSeries:
    hours = TimeSeries.from_dataframe(raw[["OT"]])
    return datetime_attribute_timeseries(hours, "hour", cyclic=True).astype(np.float32)


def fitted(raw, calendar, norm: str, targets: list[str], width: int | None = None) -> tuple:
    """A student of ``targets`` with the other loads as past and the hour as future covariates,
    trained 2 epochs on 600 hours of raw ETTh1."""
    past = TimeSeries.from_dataframe(raw[[c for c in LOADS if c not in targets]])
    target = TimeSeries.from_dataframe(raw[targets].iloc[:600])
    model = DistilledMLPModel(
        L, H, hidden_size=32, norm=norm, n_epochs=2, random_state=0, covariate_width=width,
        pl_trainer_kwargs=dict(QUIET),
    )  # fmt: skip
    model.fit(target, past_covariates=past, future_covariates=calendar, verbose=False)
    return model, past


@pytest.mark.parametrize(
    ("norm", "targets", "width"),
    [
        ("mean", ["OT"], None),
        ("revin", ["OT", "LULL"], None),
        ("none", ["OT", "LULL"], None),
        ("mean", ["OT", "LULL"], 2),  # each step's covariates projected to 2 features first
    ],
)
def test_exported_covariate_student_equals_predict(raw, calendar, tmp_path, norm, targets, width):
    import onnxruntime
    from darts.utils.onnx import run_onnx_prediction

    model, past = fitted(raw, calendar, norm, targets, width)
    assert (model.model.student.feature_projections is None) == (width is None)
    path = to_onnx(model, tmp_path / "student.onnx")
    predictor = Predictor.load(path, threads=1)
    spec = predictor.spec
    assert spec.past_covariates == tuple(past.components)
    assert spec.future_covariates == ("hour_sin", "hour_cos")
    history = raw[targets].iloc[:700]
    series = TimeSeries.from_dataframe(history)
    reference = model.predict(
        H, series=series, past_covariates=past, future_covariates=calendar, verbose=False
    ).values()

    # arrays: past over the history's steps, future over them and the horizon
    past_values = past.values()[:700].astype(np.float32)
    future_values = calendar.values()[: 700 + H].astype(np.float32)
    forecast = predictor.predict(
        history.to_numpy(), past_covariates=past_values, future_covariates=future_values
    )
    assert_close(forecast, reference)
    batched = predictor.predict(
        history.to_numpy()[None].repeat(2, 0),
        past_covariates=past_values[None].repeat(2, 0),
        future_covariates=future_values[None].repeat(2, 0),
    )
    assert_close(batched[1], reference)

    # Darts-style wide frames, matched by timestamps (longer covariates are fine)
    frames = predictor.predict(
        history, past_covariates=past.to_dataframe(), future_covariates=calendar.to_dataframe()
    )
    assert_close(frames.to_numpy(), reference)
    assert frames.index[0] == history.index[-1] + pd.Timedelta(hours=1)

    # Darts' own runner feeds the covariates by the graph's names
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    darts = run_onnx_prediction(
        n=H, session=session, series=series, past_covariates=past, future_covariates=calendar,
        verbose=False,
    )  # fmt: skip
    assert_close(darts.values(), reference)


def test_static_covariates_are_exported(raw, tmp_path):
    series = [
        TimeSeries.from_dataframe(
            raw[[column]].iloc[:600].set_axis(["load"], axis=1)
        ).with_static_covariates(pd.DataFrame({"site": [float(i)]}))
        for i, column in enumerate(["HUFL", "MUFL"])
    ]
    model = DistilledMLPModel(
        L, H, hidden_size=16, n_epochs=1, random_state=0, pl_trainer_kwargs=dict(QUIET)
    ).fit(series, verbose=False)
    predictor = Predictor.load(to_onnx(model, tmp_path / "student.onnx"), threads=1)
    assert predictor.spec.static_covariates == ("site",)
    for i, s in enumerate(series):
        reference = model.predict(H, series=s, verbose=False).values()
        forecast = predictor.predict(
            s.values(), static_covariates=np.array([float(i)], dtype=np.float32)
        )
        assert_close(forecast, reference)
        frame = predictor.predict(s.to_dataframe(), static_covariates=pd.Series({"site": i}))
        assert_close(frame.to_numpy(), reference)


@pytest.fixture(scope="module")
def exported(raw, calendar, tmp_path_factory) -> tuple:
    model, past = fitted(raw, calendar, "mean", ["OT"])
    path = to_onnx(model, tmp_path_factory.mktemp("onnx") / "student.onnx")
    return Predictor.load(path, threads=1), past.to_dataframe(), calendar.to_dataframe()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda h, p, f: (h, None, f), r"reads past covariates \['HUFL'"),
        (lambda h, p, f: (h, p.drop(columns="HUFL"), f), r"miss \['HUFL'\] and have unknown \[\]"),
        (lambda h, p, f: (h, p.assign(extra=1.0), f), r"have unknown \['extra'\]"),
        (
            lambda h, p, f: (h, p, f.iloc[: 700 + H - 1]),
            "future_covariates do not cover the horizon",
        ),
        (lambda h, p, f: (h, p.iloc[650:], f), "past_covariates are misaligned with the history"),
        (lambda h, p, f: (h.to_numpy(), p.to_numpy()[:699], f.to_numpy()[:724]), "misaligned"),
        (lambda h, p, f: (h.to_numpy(), p.to_numpy()[:700], f.to_numpy()[:710]), "do not cover"),
    ],
)
def test_bad_covariates_are_explained(exported, raw, change, message):
    predictor, past, future = exported
    history = raw[["OT"]].iloc[:700]
    before = [pd.util.hash_pandas_object(x).sum() for x in (history, past, future)]
    h, p, f = change(history, past, future)
    with pytest.raises(ValueError, match=message):
        predictor.predict(h, past_covariates=p, future_covariates=f)
    assert [pd.util.hash_pandas_object(x).sum() for x in (history, past, future)] == before


def test_tsdistill_predict_reads_covariate_csvs(raw, calendar, tmp_path):
    from tsdistill_plugin.cli import main

    model, past = fitted(raw, calendar, "mean", ["OT"])
    to_onnx(model, tmp_path / "s.onnx")
    history = raw[["OT"]].iloc[:700]
    history.to_csv(tmp_path / "history.csv")
    past.to_dataframe().to_csv(tmp_path / "past.csv")
    calendar.to_dataframe().to_csv(tmp_path / "future.csv")
    args = ["predict", str(tmp_path / "s.onnx"), "--input", str(tmp_path / "history.csv")]
    args += ["--past", str(tmp_path / "past.csv"), "--future", str(tmp_path / "future.csv")]
    assert main([*args, "--output", str(tmp_path / "forecast.csv"), "--threads", "1"]) == 0
    forecast = pd.read_csv(tmp_path / "forecast.csv", index_col=0)
    reference = model.predict(
        H, series=TimeSeries.from_dataframe(history), past_covariates=past,
        future_covariates=calendar, verbose=False,
    )  # fmt: skip
    assert_close(forecast.to_numpy(), reference.values())
    # future covariates that stop before the horizon: a one-line error, exit status 2
    calendar.to_dataframe().iloc[:650].to_csv(tmp_path / "short.csv")
    args[-1] = str(tmp_path / "short.csv")
    assert main([*args, "--output", str(tmp_path / "f.csv")]) == 2
