"""Bad input to the NeuralForecast students: each a clear ValueError naming the fix."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from neuralforecast import NeuralForecast
from neuralforecast.models import LSTM, PatchTST, iTransformer
from nf_helpers import TRAINER, H, L

from tsdistill_plugin.neuralforecast import DistilledMLP, DistilledMLPMultivariate

FAST = dict(hidden_size=16, max_steps=2, **TRAINER)


def _fit(model, df) -> None:
    NeuralForecast(models=[model], freq="h").fit(df)


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinite_y(etth1_long, value):
    # NeuralForecast itself rejects NaN but not inf: the student's own check names it
    df = etth1_long.copy()
    df.loc[df.index[10], "y"] = value
    with pytest.raises(ValueError, match="y contains NaN or infinite values"):
        _fit(DistilledMLP(h=H, input_size=L, **FAST), df)
    assert np.isfinite(etth1_long["y"]).all()


def test_nan_in_a_dataset_fitted_directly(etth1_long):
    # NeuralForecast.fit rejects NaN before the student sees the data; fitting the student on
    # a dataset directly reaches the student's own check
    from neuralforecast.tsdataset import TimeSeriesDataset

    df = etth1_long.copy()
    df.loc[df.index[10], "y"] = np.nan
    dataset, *_ = TimeSeriesDataset.from_df(df)
    with pytest.raises(ValueError, match="y contains NaN or infinite values"):
        DistilledMLP(h=H, input_size=L, **FAST).fit(dataset)


def test_series_shorter_than_input_size_plus_h(etth1_long):
    short = etth1_long.groupby("unique_id").head(L + H - 1)
    with pytest.raises(ValueError, match="input_size \\+ h = 120 are needed"):
        _fit(DistilledMLP(h=H, input_size=L, **FAST), short)


def test_n_series_not_matching_the_data(etth1_long):
    with pytest.raises(ValueError, match="n_series=5 but the data holds 7 series"):
        _fit(DistilledMLPMultivariate(h=H, input_size=L, n_series=5, **FAST), etth1_long)


def test_n_series_not_matching_the_teacher(etth1_long):
    teacher = iTransformer(h=H, input_size=L, n_series=3, hidden_size=16, max_steps=2, **TRAINER)
    with pytest.raises(ValueError, match="teacher forecasts 3 channels together"):
        _fit(DistilledMLPMultivariate(teacher=teacher, n_series=7, **FAST), etth1_long)


def test_multivariate_teacher_needs_the_multivariate_student():
    teacher = iTransformer(h=H, input_size=L, n_series=7, hidden_size=16, max_steps=2, **TRAINER)
    with pytest.raises(ValueError, match="use DistilledMLPMultivariate\\(n_series=7\\)"):
        DistilledMLP(teacher=teacher, **FAST)  # known from the NF teacher at construction


def test_recurrent_teacher_is_not_supported():
    with pytest.raises(ValueError, match="recurrent NeuralForecast model, which is not supported"):
        DistilledMLP(teacher=LSTM(h=H, input_size=L, recurrent=True, max_steps=2), **FAST)


def test_teacher_lengths_that_cannot_be_reconciled():
    teacher = PatchTST(h=12, input_size=L, max_steps=2)
    # a longer student horizon is rolled out with the teacher; a shorter lookback cannot be
    with pytest.raises(ValueError, match="give the student input_size >= 96"):
        DistilledMLP(teacher=teacher, h=H, input_size=48, **FAST)
    assert DistilledMLP(teacher=teacher, h=H, **FAST).input_size == L


def test_horizon_too_short_for_the_scale_levels():
    with pytest.raises(ValueError, match=r"scale_levels=3 needs h >= 2 \*\* scale_levels = 8"):
        DistilledMLP(h=4, input_size=L, **FAST)


def test_refit_teacher_needs_a_fittable_teacher():
    from tsdistill_plugin.core import TorchTeacher

    teacher = TorchTeacher(lambda x: x[:, -H:], input_len=L, horizon=H)
    with pytest.raises(ValueError, match="refit_teacher=True needs a teacher that can be fitted"):
        DistilledMLP(teacher=teacher, refit_teacher=True, **FAST)


def test_unsupported_teacher_type():
    with pytest.raises(TypeError, match="unsupported teacher type"):
        DistilledMLP(teacher="PatchTST", h=H, input_size=L, **FAST)


def test_unavailable_accelerator(etth1_long):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    student = DistilledMLP(h=H, input_size=L, hidden_size=16, max_steps=2, accelerator="gpu")
    with pytest.raises(ValueError, match="accelerator='gpu' is not available"):
        _fit(student, etth1_long)
