"""Bad input to DistilledMLPModel: each a ValueError/TypeError that names the problem."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from darts import TimeSeries
from darts.models import TiDEModel
from darts_helpers import H, L, small

from tsdistill_plugin.darts import DistilledMLPModel


@pytest.fixture(scope="module")
def tide(train: TimeSeries) -> TiDEModel:
    return TiDEModel(L, H, hidden_size=8, **small()).fit(train)


def student(**kwargs: object) -> DistilledMLPModel:
    return DistilledMLPModel(**small(hidden_size=16, **kwargs))


def test_nan_in_the_series(train):
    values = train.values().copy()
    values[10, 2] = np.nan
    with pytest.raises(ValueError, match=r"series\[0\] contains NaN"):
        student(input_chunk_length=L, output_chunk_length=H).fit(
            TimeSeries.from_times_and_values(train.time_index, values)
        )


def test_series_shorter_than_lookback_plus_horizon(train, val):
    with pytest.raises(ValueError, match="fewer than input_chunk_length"):
        student(input_chunk_length=L, output_chunk_length=H).fit(train[: L + H - 1])
    with pytest.raises(ValueError, match=r"val_series\[0\] has"):
        student(input_chunk_length=L, output_chunk_length=H).fit(train, val_series=val[:20])


def test_covariates_are_refused(train):
    for name in ("past_covariates", "future_covariates", "val_past_covariates"):
        with pytest.raises(ValueError, match=f"does not use covariates, but {name}"):
            student(input_chunk_length=L, output_chunk_length=H).fit(train, **{name: train})
    with pytest.raises(ValueError, match="add_encoders"):
        student(input_chunk_length=L, output_chunk_length=H, add_encoders={"position": {}})


def test_teacher_with_other_components(tide, train):
    with pytest.raises(
        ValueError, match="forecasts 7 channels together but the student's windows have 1"
    ):
        student(teacher=tide).fit(train.univariate_component("OT"))


def test_teacher_with_a_longer_lookback(tide, train):
    with pytest.raises(
        ValueError, match="reads 48 steps but the student's input_chunk_length is 24"
    ):
        student(teacher=tide, input_chunk_length=24).fit(train)


def test_unsupported_teacher_type():
    with pytest.raises(TypeError, match="unsupported teacher type"):
        student(teacher="PatchTST")


def test_missing_chunk_lengths_without_teacher():
    with pytest.raises(
        ValueError, match=r"input_chunk_length must be a positive integer, got None \(no teacher\)"
    ):
        student()


def test_unavailable_accelerator(train):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    model = DistilledMLPModel(L, H, pl_trainer_kwargs={"accelerator": "gpu"})
    with pytest.raises(ValueError, match="'gpu' is not available"):
        model.fit(train)


def test_bad_student_options():
    with pytest.raises(ValueError, match="norm must be one of"):
        student(input_chunk_length=L, output_chunk_length=H, norm="batch")
    with pytest.raises(ValueError, match=r"needs output_chunk_length >= 2 \*\* scale_levels"):
        student(input_chunk_length=L, output_chunk_length=4, scale_levels=3)
    with pytest.raises(ValueError, match="teacher_cache must be one of"):
        student(input_chunk_length=L, output_chunk_length=H, teacher_cache="ram")
    with pytest.raises(ValueError, match="likelihood is not supported"):
        from darts.utils.likelihood_models import GaussianLikelihood

        student(input_chunk_length=L, output_chunk_length=H, likelihood=GaussianLikelihood())
