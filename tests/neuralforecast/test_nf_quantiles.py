"""Probabilistic NeuralForecast students: ``loss=MQLoss(level=...)`` distils quantile by
quantile, on ETTh1's OT, from an MQLoss teacher and from a point teacher."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import torch
from neuralforecast import NeuralForecast
from neuralforecast.losses.pytorch import MQLoss
from neuralforecast.models import MLP
from nf_helpers import H, L
from trainer_settings import QUIET

from tsdistill_plugin import as_teacher
from tsdistill_plugin.neuralforecast import DistilledMLP


@pytest.fixture(scope="module")
def ot(etth1: pd.DataFrame) -> pd.DataFrame:
    """900 hours of ETTh1's OT in NeuralForecast's long format."""
    values = etth1["OT"].iloc[:900]
    return pd.DataFrame({"unique_id": "OT", "ds": values.index, "y": values.to_numpy()})


@pytest.fixture(scope="module")
def fitted(ot: pd.DataFrame) -> NeuralForecast:
    """An MLP fitted with five quantiles (the students have three)."""
    model = MLP(h=H, input_size=L, loss=MQLoss(level=[80, 90]), max_steps=60, **QUIET)
    nf = NeuralForecast(models=[model], freq="h")
    nf.fit(ot.iloc[:700])
    return nf


@pytest.fixture(scope="module")
def mq_teacher(fitted: NeuralForecast) -> MLP:
    return fitted.models[0]  # NeuralForecast fits a copy


@pytest.fixture(scope="module")
def teacher_band(fitted: NeuralForecast) -> np.ndarray:
    """The teacher's 10%, 50% and 90% forecasts after the first 700 hours, ``[H, 3]``."""
    return band(fitted.predict(), "MLP")


def student(teacher: object = None, **kwargs: object) -> DistilledMLP:
    settings = {"hidden_size": 16, "max_steps": 60, "loss": MQLoss(level=[80]), **QUIET}
    return DistilledMLP(h=H, input_size=L, teacher=teacher, **{**settings, **kwargs})


def band(frame: pd.DataFrame, name: str, level: int = 80) -> np.ndarray:
    """The ``[rows, 3]`` lower, median and upper forecasts of model ``name`` in a frame."""
    return frame[[f"{name}-lo-{level}", f"{name}-median", f"{name}-hi-{level}"]].to_numpy()


def test_an_mq_teacher_forecasts_its_quantiles_at_the_students_levels(mq_teacher, teacher_band, ot):
    window = torch.tensor(ot["y"].to_numpy()[700 - L : 700], dtype=torch.float32)[None, :, None]
    adapter = as_teacher(mq_teacher)
    assert adapter.probabilistic and adapter.quantile_levels == (0.05, 0.1, 0.5, 0.9, 0.95)
    quantiles = adapter.forecast_quantiles(window, (0.1, 0.5, 0.9)).prediction[0, :, 0]
    np.testing.assert_allclose(quantiles.numpy(), teacher_band, atol=1e-5)
    between = adapter.forecast_quantiles(window, (0.3, 0.5, 0.7)).prediction[0, :, 0]
    # halfway in level between 0.1 and 0.5, and between 0.5 and 0.9
    np.testing.assert_allclose(
        between[:, 0].numpy(), (quantiles[:, 0] + quantiles[:, 1]).numpy() / 2, atol=1e-5
    )


def test_predict_and_cross_validation_give_ordered_intervals(mq_teacher, ot, caplog):
    model = student(mq_teacher)
    nf = NeuralForecast(models=[model], freq="h")
    with caplog.at_level(logging.INFO, logger="tsdistill_plugin.core.quantiles"):
        nf.fit(ot.iloc[:700])
    assert "the student's [0.1, 0.5, 0.9] are read from them" in caplog.text
    assert model.distillation.quantiles == (0.1, 0.5, 0.9)
    forecast = band(nf.predict(), "DistilledMLP")
    assert forecast.shape == (H, 3) and (np.diff(forecast, axis=1) >= 0).all()
    cv = nf.cross_validation(df=ot, n_windows=3, step_size=H, refit=False)
    intervals = band(cv, "DistilledMLP")
    assert (np.diff(intervals, axis=1) >= 0).all()
    inside = ((cv["y"] >= intervals[:, 0]) & (cv["y"] <= intervals[:, 2])).mean()
    assert 0.3 <= inside <= 1.0  # a 10-90% interval on 72 unseen hours


def test_distillation_pulls_each_quantile_to_the_teachers(mq_teacher, teacher_band, ot):
    def distance(alpha: float) -> float:
        nf = NeuralForecast(models=[student(mq_teacher, alpha=alpha, beta=0.0)], freq="h")
        nf.fit(ot.iloc[:700])
        return float(np.mean((band(nf.predict(), "DistilledMLP") - teacher_band) ** 2))

    assert distance(alpha=10.0) < distance(alpha=0.0)


def test_a_point_teacher_teaches_the_median(ot, caplog):
    teacher = MLP(h=H, input_size=L, max_steps=20, **QUIET)
    nf = NeuralForecast(models=[student(teacher, max_steps=10)], freq="h")
    with caplog.at_level(logging.INFO, logger="tsdistill_plugin.core.distillation"):
        nf.fit(ot.iloc[:700])
    assert "distils its median from it" in caplog.text
    assert (np.diff(band(nf.predict(), "DistilledMLP"), axis=1) >= 0).all()


def test_save_and_load_keep_the_intervals(mq_teacher, ot, tmp_path):
    nf = NeuralForecast(models=[student(mq_teacher, max_steps=10)], freq="h")
    nf.fit(ot.iloc[:700])
    nf.save(str(tmp_path), overwrite=True)
    loaded = NeuralForecast.load(str(tmp_path))
    before, after = band(nf.predict(), "DistilledMLP"), band(loaded.predict(), "DistilledMLP")
    np.testing.assert_allclose(after, before, atol=1e-6)
