"""NeuralForecastTeacher: forecasts equal NeuralForecast's own predict, in the data's scale."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from neuralforecast import NeuralForecast
from neuralforecast.losses.pytorch import DistributionLoss, MQLoss
from neuralforecast.models import LSTM, NHITS, PatchTST, TSMixer, iTransformer
from nf_helpers import H, L
from trainer_settings import QUIET

from tsdistill_plugin import as_teacher
from tsdistill_plugin.neuralforecast import NeuralForecastTeacher
from tsdistill_plugin.neuralforecast.teacher import frames_to_long

STEPS = dict(max_steps=5, **QUIET)


def _nf_predict(
    teacher: NeuralForecastTeacher, user_model, frame: pd.DataFrame, column: str | None = None
) -> np.ndarray:
    """NeuralForecast's predict of the adapter's fitted model after ``frame``: [H, channels],
    with the series named as the adapter names them for fitting."""
    nf = NeuralForecast(models=[user_model], freq="h")
    long, _ = frames_to_long([frame])
    nf.dataset, nf.uids, nf.last_dates, nf.ds = nf._prepare_fit(long, None, "unique_id", "ds", "y")
    nf.models, nf._fitted = [teacher.model], True
    forecast = nf.predict()
    if column is None:
        column = "NHITS-median" if "NHITS-median" in forecast else forecast.columns[-1]
    wide = forecast.pivot(index="ds", columns="unique_id", values=column)
    return wide[long["unique_id"].unique()].to_numpy()


@pytest.mark.parametrize(
    "make, features",
    [
        # an own scaler (TemporalNorm) on the teacher: forecasts must come back in data scale
        (
            lambda: PatchTST(
                h=H,
                input_size=L,
                hidden_size=16,
                n_heads=2,
                encoder_layers=1,
                linear_hidden_size=32,
                scaler_type="standard",
                **STEPS,
            ),
            192,  # d_model 16 x 12 patches ((96 - 16) / 8 + 2), flattened per channel
        ),
        (
            lambda: iTransformer(
                h=H, input_size=L, n_series=7, hidden_size=16, d_ff=16, n_heads=2, **STEPS
            ),
            16,  # one encoder token per variate
        ),
        (  # not permutation-equivariant in the series: checks the channel order
            lambda: TSMixer(h=H, input_size=L, n_series=7, n_block=1, ff_dim=16, **STEPS),
            None,
        ),
        pytest.param(
            lambda: NHITS(
                h=H,
                input_size=L,
                loss=MQLoss(quantiles=[0.1, 0.5, 0.9]),
                scaler_type="robust",
                **STEPS,
            ),
            None,
            marks=pytest.mark.slow,
            id="nhits-quantiles-robust-scaler",
        ),
    ],
    ids=["patchtst-standard-scaler", "itransformer", "tsmixer", "nhits-quantiles-robust-scaler"],
)
def test_forecast_equals_neuralforecast_predict(etth1_wide, make, features):
    user_model = make()
    teacher = as_teacher(user_model)
    assert isinstance(teacher, NeuralForecastTeacher) and not teacher.is_fitted
    teacher.fit([etth1_wide])

    assert teacher.is_fitted
    assert teacher.model is not user_model  # NeuralForecast trained a deep copy
    assert not user_model.train_trajectories  # the object the user passed stays unfitted
    window = torch.tensor(etth1_wide.to_numpy()[-L:][None])
    out = teacher.forecast(window)
    assert out.prediction.shape == (1, H, 7)
    np.testing.assert_allclose(
        out.prediction[0].numpy(), _nf_predict(teacher, user_model, etth1_wide), atol=2e-5
    )
    if features is None:
        assert out.features is None
    else:
        assert out.features.shape == (1, 7, features)


@pytest.mark.slow
def test_distribution_teacher_gives_its_median(etth1_wide):
    teacher = as_teacher(NHITS(h=H, input_size=L, loss=DistributionLoss("Normal"), **STEPS))
    teacher.fit([etth1_wide])
    window = torch.tensor(etth1_wide.to_numpy()[-L:][None])
    prediction = teacher.forecast(window).prediction
    # NeuralForecast's first column is the sample mean; a Normal's median is its mean.
    nf_mean = _nf_predict(teacher, NHITS(h=H, input_size=L, **STEPS), etth1_wide, "NHITS")
    assert prediction.shape == (1, H, 7)
    np.testing.assert_allclose(prediction[0].numpy(), nf_mean, atol=0.15)


@pytest.mark.slow
def test_fitted_model_is_detected_and_left_untouched(etth1_long, etth1_wide):
    nf = NeuralForecast(models=[PatchTST(h=H, input_size=L, hidden_size=16, **STEPS)], freq="h")
    nf.fit(etth1_long)
    fitted = nf.models[0]
    before = {k: v.clone() for k, v in fitted.state_dict().items()}
    teacher = as_teacher(fitted)
    assert teacher.is_fitted and teacher.model is fitted
    teacher.forecast(torch.tensor(etth1_wide.to_numpy()[:L][None]))
    after = fitted.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert fitted.training == nf.models[0].training


@pytest.mark.slow
def test_feature_layer_by_name_and_none(etth1_wide):
    model = PatchTST(h=H, input_size=L, hidden_size=16, **STEPS)
    teacher = NeuralForecastTeacher(model, feature_layer="model.backbone.encoder")
    teacher.fit([etth1_wide])
    window = torch.tensor(etth1_wide.to_numpy()[:L][None])
    assert teacher.forecast(window).features.shape[:2] == (1, 7)
    without = NeuralForecastTeacher(teacher.model, feature_layer=None)  # the fitted copy
    assert without.forecast(window).features is None
    with pytest.raises(ValueError, match="not a submodule"):
        NeuralForecastTeacher(model, feature_layer="no.such.layer")


def test_recurrent_and_multivariate_mismatch_are_rejected(etth1_wide):
    with pytest.raises(ValueError, match="recurrent NeuralForecast model, which is not supported"):
        as_teacher(LSTM(h=H, input_size=L, recurrent=True, **STEPS))
    teacher = as_teacher(iTransformer(h=H, input_size=L, n_series=3, hidden_size=16, **STEPS))
    with pytest.raises(ValueError, match="n_series=3 but the data holds 7"):
        teacher.fit([etth1_wide])


@pytest.mark.slow
def test_model_loaded_from_disk_counts_as_fitted(etth1_long, tmp_path):
    nf = NeuralForecast(models=[PatchTST(h=H, input_size=L, hidden_size=16, **STEPS)], freq="h")
    nf.fit(etth1_long)
    nf.save(str(tmp_path))
    loaded = NeuralForecast.load(str(tmp_path)).models[0]
    assert not hasattr(loaded, "metrics")  # no training marks: detected by its weights
    assert as_teacher(loaded).is_fitted
    assert not as_teacher(PatchTST(h=H, input_size=L, hidden_size=16, **STEPS)).is_fitted


def test_integer_time_steps_are_read_as_a_range_or_refused() -> None:
    # pandas 2 gives joined RangeIndexes as an integer Index: the same steps
    values = np.arange(6, dtype="float32")
    ranged, step = frames_to_long([pd.DataFrame({"y": values}, index=pd.RangeIndex(10, 16))])
    joined, same = frames_to_long([pd.DataFrame({"y": values}, index=pd.Index(np.arange(10, 16)))])
    assert step == same == 1 and ranged.equals(joined)
    uneven = pd.DataFrame({"y": values}, index=pd.Index([0, 1, 2, 4, 5, 6]))
    with pytest.raises(TypeError, match="evenly spaced integer steps"):
        frames_to_long([uneven])
