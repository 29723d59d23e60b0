"""Several teachers, teacher_stride and a grid search that fills the teacher cache once, through
the Darts and NeuralForecast students."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from long_format import to_long
from trainer_settings import QUIET

pytest.importorskip("darts")
pytest.importorskip("neuralforecast")

from darts import TimeSeries  # noqa: E402
from darts.models import LinearRegressionModel, NLinearModel, TiDEModel  # noqa: E402
from neuralforecast import NeuralForecast  # noqa: E402
from neuralforecast.models import PatchTST  # noqa: E402

from tsdistill_plugin.core import TeacherEnsemble  # noqa: E402
from tsdistill_plugin.darts import DistilledMLPModel  # noqa: E402
from tsdistill_plugin.neuralforecast import DistilledMLP  # noqa: E402

L, H = 48, 12


@pytest.fixture(scope="module")
def frame(etth1: pd.DataFrame) -> pd.DataFrame:
    return etth1.iloc[:700][["HUFL", "OT"]]


def darts_torch(cls: type, **kwargs: object) -> object:
    return cls(L, H, n_epochs=1, random_state=0, pl_trainer_kwargs=dict(QUIET), **kwargs)


def nf_patchtst() -> PatchTST:
    return PatchTST(
        h=H,
        input_size=L,
        hidden_size=8,
        n_heads=2,
        encoder_layers=1,
        linear_hidden_size=8,
        max_steps=5,
        random_seed=0,
        **QUIET,
    )


@pytest.mark.slow
def test_three_teachers_from_two_libraries_teach_a_darts_student(frame, caplog):
    series = TimeSeries.from_dataframe(frame)
    train, val = series[:500], series[500 - L :]
    teachers = [
        darts_torch(TiDEModel, hidden_size=8),
        LinearRegressionModel(lags=L, output_chunk_length=H),
        nf_patchtst(),
    ]
    student = DistilledMLPModel(
        teacher=teachers,
        teacher_weights="validation",
        hidden_size=16,
        n_epochs=1,
        random_state=0,
        pl_trainer_kwargs=dict(QUIET),
    )
    with caplog.at_level(logging.INFO, logger="tsdistill_plugin.core.ensemble"):
        student.fit(train, val_series=val)
    ensemble = student.teacher
    assert isinstance(ensemble, TeacherEnsemble) and ensemble.is_fitted
    assert all(member.is_fitted for member in ensemble.members)
    assert ensemble.weights.sum().item() == pytest.approx(1.0)
    assert len(ensemble.validation_errors) == 4  # each teacher's and the ensemble's
    assert any("validation MSE" in r.message for r in caplog.records)
    metrics = student.trainer.callback_metrics
    assert metrics["train_prediction_scale"] > 0 and metrics["train_feature_scale"] > 0
    assert student.predict(H, series=val).values().shape == (H, 2)


@pytest.mark.slow
def test_two_teachers_from_two_libraries_teach_a_neuralforecast_student(frame):
    teachers = [nf_patchtst(), darts_torch(NLinearModel)]
    student = DistilledMLP(teacher=teachers, hidden_size=16, max_steps=5, **QUIET)
    nf = NeuralForecast(models=[student], freq="h")
    nf.fit(to_long(frame), val_size=2 * H)
    ensemble = nf.models[0].teacher
    assert isinstance(ensemble, TeacherEnsemble) and ensemble.is_fitted
    assert ensemble.weights.tolist() == [0.5, 0.5]
    assert "ensemble" in ensemble.validation_errors
    assert float(nf.models[0].metrics["train_prediction_scale_epoch"]) > 0
    assert np.isfinite(nf.predict()["DistilledMLP"].to_numpy()).all()


@pytest.mark.slow
def test_a_darts_grid_search_fills_the_teacher_cache_once(frame, monkeypatch):
    series = TimeSeries.from_dataframe(frame)
    train, val = series[:500], series[500 - L :]
    teacher = darts_torch(TiDEModel, hidden_size=8)
    batches = []
    from tsdistill_plugin.darts.teacher import DartsTeacher

    forecast = DartsTeacher.forecast

    def counted(self, x):
        if len(x) > 1:  # one-window calls check the teacher's state
            batches.append(len(x))
        return forecast(self, x)

    monkeypatch.setattr(DartsTeacher, "forecast", counted)
    grid = {
        "teacher": [teacher],
        "input_chunk_length": [L],
        "output_chunk_length": [H],
        "alpha": [0.5, 1.0],
        "beta": [0.5, 1.0],
        "hidden_size": [16],
        "n_epochs": [1],
        "random_state": [0],
        "pl_trainer_kwargs": [dict(QUIET)],
    }
    best, parameters, score = DistilledMLPModel.gridsearch(
        grid, series=train, val_series=val, show_warnings=False
    )
    assert sum(batches) == len(train) - L - H + 1  # 4 candidates, one fill of 441 windows
    assert parameters["alpha"] in (0.5, 1.0) and np.isfinite(score)


def test_a_teacher_stride_distils_from_every_kth_window(frame, caplog):
    series = TimeSeries.from_dataframe(frame.iloc[:300])
    student = DistilledMLPModel(
        teacher=LinearRegressionModel(lags=L, output_chunk_length=H),
        teacher_stride=4,
        beta=0.0,
        hidden_size=16,
        n_epochs=1,
        random_state=0,
        pl_trainer_kwargs=dict(QUIET),
    )
    with caplog.at_level(logging.INFO, logger="tsdistill_plugin.core.cache"):
        student.fit(series)
    windows = 300 - L - H + 1
    assert any(f"{-(-windows // 4)} training windows" in r.message for r in caplog.records)
    assert student.trainer.callback_metrics["train_prediction_scale"] > 0
