"""Exogenous variables in NeuralForecast (issue 18): both students read ``hist_exog_list``,
``futr_exog_list`` and ``stat_exog_list`` like NeuralForecast's ``MLP`` (``predict(futr_df=...)``,
``cross_validation``, ``static_df``), with or without a teacher, and save and load with them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from neuralforecast import NeuralForecast
from neuralforecast.models import NLinear
from trainer_settings import QUIET

from tsdistill_plugin.neuralforecast import DistilledMLP, DistilledMLPMultivariate

L, H = 48, 12
HIST, FUTR, STAT = ["HUFL", "MUFL"], ["hour_sin", "hour_cos"], ["site"]


@pytest.fixture(scope="module")
def data(etth1: pd.DataFrame) -> pd.DataFrame:
    """OT and LULL over 500 hours as two series, each with two loads (past), the hour of day
    (future) as exogenous columns."""
    frame = etth1.iloc[:500]
    hour = frame.index.hour.to_numpy() / 24 * 2 * np.pi
    parts = []
    for name in ("OT", "LULL"):
        parts.append(
            pd.DataFrame(
                {
                    "unique_id": name,
                    "ds": frame.index,
                    "y": frame[name].to_numpy(),
                    **{column: frame[column].to_numpy() for column in HIST},
                    "hour_sin": np.sin(hour).astype("float32"),
                    "hour_cos": np.cos(hour).astype("float32"),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def static_df() -> pd.DataFrame:
    return pd.DataFrame({"unique_id": ["OT", "LULL"], "site": [0.0, 1.0]})


def split(data: pd.DataFrame, rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The first ``rows`` hours of each series, and the future exogenous of the next ``H``."""
    times = np.sort(data["ds"].unique())
    train = data[data["ds"] < times[rows]]
    future = data[(data["ds"] >= times[rows]) & (data["ds"] < times[rows + H])]
    return train, future[["unique_id", "ds", *FUTR]]


def exogenous(**kwargs: object) -> dict:
    return {
        "h": H,
        "input_size": L,
        "hidden_size": 16,
        "max_steps": 20,
        "hist_exog_list": HIST,
        "futr_exog_list": FUTR,
        "stat_exog_list": STAT,
        **QUIET,
        **kwargs,
    }


@pytest.mark.parametrize(
    ("cls", "extra", "sizes"),
    [(DistilledMLP, {}, (2, 2, 1)), (DistilledMLPMultivariate, {"n_series": 2}, (4, 4, 2))],
)
def test_students_read_exogenous_variables(cls, extra, sizes, data, static_df, tmp_path):
    before = pd.util.hash_pandas_object(data).to_numpy().copy()
    teacher = NLinear(h=H, input_size=L, max_steps=5, **QUIET)
    model = cls(teacher=teacher, **exogenous(**extra))
    assert cls.EXOGENOUS_FUTR and cls.EXOGENOUS_HIST and cls.EXOGENOUS_STAT
    assert model.dmlp.covariate_sizes == sizes
    nf = NeuralForecast(models=[model], freq="h")
    train, future = split(data, 400)
    nf.fit(train, static_df=static_df)
    forecast = nf.predict(futr_df=future)
    assert len(forecast) == 2 * H and np.isfinite(forecast[cls.__name__]).all()

    # the student reads the future hour: another calendar gives another forecast
    shifted = future.assign(hour_sin=-future["hour_sin"])
    other = nf.predict(futr_df=shifted)[cls.__name__].to_numpy()
    assert np.abs(other - forecast[cls.__name__].to_numpy()).max() > 1e-4

    # and the loads: NF's own windows with other past loads give another forecast
    moved = train.assign(HUFL=train["HUFL"] * 2.0)
    other = nf.predict(df=moved, futr_df=future, static_df=static_df)[cls.__name__].to_numpy()
    assert np.abs(other - forecast[cls.__name__].to_numpy()).max() > 1e-4

    nf.save(str(tmp_path), overwrite=True)
    loaded = NeuralForecast.load(str(tmp_path))
    assert loaded.models[0].dmlp.covariate_sizes == sizes
    again = loaded.predict(df=train, futr_df=future, static_df=static_df)
    np.testing.assert_allclose(again[cls.__name__], forecast[cls.__name__], rtol=1e-6)

    # cross_validation fits again, on all but its windows, and forecasts them with their exog
    cv = nf.cross_validation(data, static_df=static_df, n_windows=2, step_size=H, refit=False)
    assert len(cv) == 2 * 2 * H and np.isfinite(cv[cls.__name__]).all()
    assert np.array_equal(pd.util.hash_pandas_object(data).to_numpy(), before)


def test_covariate_width_projects_each_step_and_survives_save_and_load(data, tmp_path):
    # as Darts' covariate_width: each step's past and future variables projected to k features
    settings = exogenous(n_series=2, covariate_width=1, stat_exog_list=None)
    model = DistilledMLPMultivariate(**settings)
    assert set(model.dmlp.feature_projections) == {"past_covariates", "future_covariates"}
    assert model.dmlp.feature_projections["past_covariates"].in_features == 4  # 2 loads x 2 series
    nf = NeuralForecast(models=[model], freq="h")
    train, future = split(data, 400)
    nf.fit(train)
    forecast = nf.predict(futr_df=future)["DistilledMLPMultivariate"].to_numpy()
    nf.save(str(tmp_path), overwrite=True)
    loaded = NeuralForecast.load(str(tmp_path))
    assert loaded.models[0].dmlp.covariate_width == 1
    again = loaded.predict(df=train, futr_df=future)["DistilledMLPMultivariate"].to_numpy()
    np.testing.assert_allclose(again, forecast, rtol=1e-6)
    with pytest.raises(ValueError, match="covariate_width"):
        DistilledMLP(covariate_width=0, **exogenous())


def test_without_exogenous_variables_the_network_is_as_before():
    model = DistilledMLP(h=H, input_size=L, hidden_size=16, max_steps=1, **QUIET)
    assert model.dmlp.covariates is None
    assert not any("covariates" in key for key in model.state_dict())


@pytest.mark.parametrize("reads", [True, False])
def test_nhits_with_exogenous_variables_teaches_each_window_as_it_predicts_it(
    reads, data, static_df, tmp_path
):
    from neuralforecast.models import NHITS

    train, future = split(data, 400)
    nhits = NHITS(
        h=H, input_size=L, hist_exog_list=HIST, futr_exog_list=FUTR, stat_exog_list=STAT,
        mlp_units=[[16, 16]] * 3, max_steps=10, **QUIET,
    )  # fmt: skip
    teacher_nf = NeuralForecast(models=[nhits], freq="h")
    teacher_nf.fit(train, static_df=static_df)
    teacher = teacher_nf.models[0]
    lists = (
        {} if reads else {"hist_exog_list": None, "futr_exog_list": None, "stat_exog_list": None}
    )
    student = DistilledMLP(teacher=teacher, beta=0.0, **{**exogenous(), **lists})
    nf = NeuralForecast(models=[student], freq="h")
    nf.fit(train, static_df=static_df)
    assert student.teacher.uses_covariates
    cached = student.teacher.kept_outputs[1].cache.predictions.numpy()  # by window id
    times = np.sort(train["ds"].unique())
    for offset in (L - 1, 200, 400 - H - 1):  # the window's last input step, series "LULL"
        window = offset - (L - 1)  # LULL is the first series in NF's sorted order
        history = train[train["ds"] <= times[offset]]
        ahead = data[
            (data["ds"] > times[offset]) & (data["ds"] <= times[offset] + H * pd.Timedelta("1h"))
        ]
        own = teacher_nf.predict(
            df=history, futr_df=ahead[["unique_id", "ds", *FUTR]], static_df=static_df
        )
        own = own[own["unique_id"] == "LULL"]["NHITS"].to_numpy()
        np.testing.assert_allclose(cached[window, :, 0], own, rtol=1e-5, atol=1e-5)
    # the last windows' forecasts would need exogenous values past the data: none
    assert np.isnan(cached[400 - L]).all() and not np.isnan(cached[400 - L - H]).any()
    forecast = nf.predict(futr_df=future)["DistilledMLP"].to_numpy()
    assert np.isfinite(forecast).all()
    if not reads:
        return
    nf.save(str(tmp_path), overwrite=True)
    loaded = NeuralForecast.load(str(tmp_path))
    again = loaded.predict(df=train, futr_df=future, static_df=static_df)["DistilledMLP"]
    np.testing.assert_allclose(again.to_numpy(), forecast, rtol=1e-6)
    # cross_validation refits the student, the teacher teaching each window of its data (the
    # teacher, fitted on the first 400 hours, has seen the later windows' targets: warned)
    with pytest.warns(UserWarning, match="may reach past the end of this training slice"):
        cv = nf.cross_validation(data, static_df=static_df, n_windows=1, step_size=H)
    assert len(cv) == 2 * H and np.isfinite(cv["DistilledMLP"]).all()


def test_exported_exogenous_student_equals_predict(data, static_df, tmp_path):
    from tsdistill_plugin.export import Predictor, to_onnx

    nf = NeuralForecast(models=[DistilledMLP(**exogenous())], freq="h")
    train, future = split(data, 400)
    nf.fit(train, static_df=static_df)
    expected = nf.predict(futr_df=future)
    predictor = Predictor.load(to_onnx(nf, tmp_path / "student.onnx"), threads=1)
    spec = predictor.spec
    assert (spec.past_covariates, spec.future_covariates) == (tuple(HIST), tuple(FUTR))
    assert spec.static_covariates == tuple(STAT)

    # each series a batch row: its window, its loads, its hours through the horizon, its site
    batch = {"x": [], "past": [], "future": [], "static": []}
    for uid, rows in train.groupby("unique_id", sort=False):
        ahead = future[future["unique_id"] == uid]
        batch["x"].append(rows[["y"]].to_numpy()[-L:])
        batch["past"].append(rows[HIST].to_numpy()[-L:])
        batch["future"].append(np.concatenate([rows[FUTR].to_numpy()[-L:], ahead[FUTR].to_numpy()]))
        batch["static"].append(static_df.set_index("unique_id").loc[uid, STAT].to_numpy())
    arrays = {name: np.stack(values).astype("float32") for name, values in batch.items()}
    forecast = predictor.predict(
        arrays["x"],
        past_covariates=arrays["past"],
        future_covariates=arrays["future"],
        static_covariates=arrays["static"],
    )[..., 0]  # [series, H]
    for row, uid in enumerate(train["unique_id"].unique()):
        want = expected.loc[expected["unique_id"] == uid, "DistilledMLP"].to_numpy()
        assert np.abs(forecast[row] - want).max() <= 1e-5 * np.abs(want).max(), uid

    # NeuralForecast's own frames: df with the exogenous columns, futr_df, static_df
    frames = predictor.predict(train, future_covariates=future, static_covariates=static_df)
    assert list(frames.columns) == ["unique_id", "ds", "DistilledMLP"]
    np.testing.assert_array_equal(frames["ds"].to_numpy(), expected["ds"].to_numpy())
    scale = np.abs(expected["DistilledMLP"]).max()
    assert np.abs(frames["DistilledMLP"] - expected["DistilledMLP"]).max() <= 1e-5 * scale
    # and on the command line, from CSVs
    from tsdistill_plugin.cli import main

    for name, frame in (("df", train), ("futr_df", future), ("static_df", static_df)):
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    args = ["predict", str(tmp_path / "student.onnx"), "--input", str(tmp_path / "df.csv")]
    args += ["--future", str(tmp_path / "futr_df.csv"), "--static", str(tmp_path / "static_df.csv")]
    assert main([*args, "--output", str(tmp_path / "forecast.csv")]) == 0
    written = pd.read_csv(tmp_path / "forecast.csv")
    np.testing.assert_allclose(written["DistilledMLP"], frames["DistilledMLP"], rtol=1e-6)
    with pytest.raises(ValueError, match="future_covariates do not cover the horizon"):
        predictor.predict(train, future_covariates=future.iloc[:-1], static_covariates=static_df)
    with pytest.raises(ValueError, match=r"the student reads the exogenous columns"):
        predictor.predict(
            train.drop(columns="HUFL"), future_covariates=future, static_covariates=static_df
        )
    twice = pd.concat([future, future.iloc[:1]])
    with pytest.raises(ValueError, match="future_covariates repeat 2 rows of the same unique_id"):
        predictor.predict(train, future_covariates=twice, static_covariates=static_df)
    holed = future.copy()
    holed.iloc[3, holed.columns.get_loc("hour_cos")] = np.nan
    with pytest.raises(ValueError, match=r"must be finite, but there is nan in future_covariates"):
        predictor.predict(train, future_covariates=holed, static_covariates=static_df)
    with pytest.raises(ValueError, match="static_covariates lack the series"):
        predictor.predict(train, future_covariates=future, static_covariates=static_df.iloc[:1])


@pytest.mark.parametrize("scaler_type", ["standard", "robust", "minmax", "minmax1", "invariant"])
def test_exported_student_scales_its_exogenous_variables_as_neuralforecast(
    data, static_df, tmp_path, scaler_type
):
    """NeuralForecast scales the past and future exogenous columns with the target's scaler,
    each column by its own statistics over the lookback: so does the exported graph."""
    from tsdistill_plugin.export import Predictor, to_onnx

    model = DistilledMLP(**exogenous(scaler_type=scaler_type, stat_exog_list=None))
    nf = NeuralForecast(models=[model], freq="h")
    train, future = split(data, 400)
    nf.fit(train)
    expected = nf.predict(futr_df=future)
    forecast = Predictor.load(to_onnx(nf, tmp_path / "s.onnx"), threads=1).predict(
        train, future_covariates=future
    )
    np.testing.assert_array_equal(forecast["ds"].to_numpy(), expected["ds"].to_numpy())
    scale = np.abs(expected["DistilledMLP"]).max()
    assert np.abs(forecast["DistilledMLP"] - expected["DistilledMLP"]).max() <= 1e-5 * scale


@pytest.mark.parametrize("scaler_type", ["identity", "standard"])
def test_exported_multivariate_exogenous_student_equals_predict(
    data, static_df, tmp_path, scaler_type
):
    """The multivariate student reads every series' exogenous values in one row: the graph's
    covariate columns are each column's series in turn, the forecast NF's own."""
    from tsdistill_plugin.export import Predictor, to_onnx

    model = DistilledMLPMultivariate(n_series=2, **exogenous(scaler_type=scaler_type))
    nf = NeuralForecast(models=[model], freq="h")
    train, future = split(data, 400)
    nf.fit(train, static_df=static_df)
    expected = nf.predict(futr_df=future)
    predictor = Predictor.load(to_onnx(nf, tmp_path / "s.onnx"), threads=1)
    spec = predictor.spec
    assert spec.past_covariates == ("HUFL[LULL]", "HUFL[OT]", "MUFL[LULL]", "MUFL[OT]")
    assert spec.static_covariates == ("site[LULL]", "site[OT]")
    shuffled = train.sample(frac=1.0, random_state=0)  # any row order
    forecast = predictor.predict(shuffled, future_covariates=future, static_covariates=static_df)
    name = repr(model)
    merged = expected.merge(forecast, on=["unique_id", "ds"], suffixes=("", "_onnx"))
    assert len(merged) == len(forecast) == 2 * H
    scale = np.abs(merged[name]).max()
    assert np.abs(merged[f"{name}_onnx"] - merged[name]).max() <= 1e-5 * scale
    ragged = train.iloc[1:]  # a series without its first hour forecasts the same, ...
    again = predictor.predict(ragged, future_covariates=future, static_covariates=static_df)
    pd.testing.assert_frame_equal(again, forecast)
    with pytest.raises(ValueError, match="must share their timestamps"):  # ... not its last
        predictor.predict(
            train.drop(index=train.index[-1]), future_covariates=future, static_covariates=static_df
        )
