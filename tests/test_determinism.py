"""Same seed, same data, same machine: identical weights and forecasts, in both libraries, with
the teacher's outputs cached in memory, on disk, or computed online.

Each student is fitted twice from scratch on three ETTh1 channels, distilling forecasts and
hidden features (so the feature regressor, initialized during the fit, is covered too) from one
fixed teacher, wrapped afresh for each fit, so that no fit reads the outputs an earlier one
left with its teacher adapter: both fits compute them. A cache on disk holds the same bytes as
one in memory, so those two fits are identical as well; the teacher run online on every batch
gives the same outputs to float rounding, so its student forecasts the same to 1e-5.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from long_format import to_long
from torch import nn
from trainer_settings import QUIET

pytest.importorskip("darts")
pytest.importorskip("neuralforecast")

from darts import TimeSeries  # noqa: E402
from neuralforecast import NeuralForecast  # noqa: E402

from tsdistill_plugin.core import TorchTeacher  # noqa: E402
from tsdistill_plugin.darts import DistilledMLPModel  # noqa: E402
from tsdistill_plugin.neuralforecast import DistilledMLPMultivariate  # noqa: E402

L, H = 48, 12
MODES = ("memory", "disk", "online")


class _Teacher(nn.Module):
    """A fixed two-layer forecaster of each channel; ``encoder`` gives its features
    ``[batch, channels, 16]``."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(1)
        self.encoder = nn.Linear(L, 16)
        self.head = nn.Linear(16, H)
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = torch.relu(self.encoder(x.transpose(1, 2)))
        return self.head(hidden).transpose(1, 2)


@pytest.fixture(scope="module")
def teacher() -> _Teacher:
    return _Teacher()


@pytest.fixture(scope="module")
def three(etth1: pd.DataFrame) -> pd.DataFrame:
    return etth1[["HUFL", "MUFL", "OT"]].iloc[:300]


def _state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items() if k != "_extra_state"}


def _assert_same(first: tuple, second: tuple) -> None:
    (weights, forecast), (other_weights, other_forecast) = first, second
    assert weights.keys() == other_weights.keys()
    for name in weights:
        assert torch.equal(weights[name], other_weights[name]), name
    np.testing.assert_array_equal(forecast, other_forecast)


def _darts_fit(module: _Teacher, frame: pd.DataFrame, mode: str) -> tuple:
    teacher = TorchTeacher(module, L, H, feature_layer="encoder")
    series = TimeSeries.from_dataframe(frame)
    model = DistilledMLPModel(
        L,
        H,
        teacher=teacher,
        hidden_size=16,
        teacher_cache=mode,
        n_epochs=2,
        random_state=0,
        pl_trainer_kwargs=dict(QUIET),
    )
    model.fit(series)
    assert model.trainer.callback_metrics["train_feature_scale"] > 0  # the feature terms trained
    return _state(model.model), model.predict(H, series=series).values()


def _nf_fit(module: _Teacher, frame: pd.DataFrame, mode: str) -> tuple:
    teacher = TorchTeacher(module, L, H, feature_layer="encoder")
    student = DistilledMLPMultivariate(
        teacher=teacher,
        n_series=3,
        hidden_size=16,
        teacher_cache=mode,
        max_steps=4,
        random_seed=0,
        **QUIET,
    )
    nf = NeuralForecast(models=[student], freq="h")
    nf.fit(to_long(frame))
    fitted = nf.models[0]
    assert float(fitted.metrics["train_feature_scale_epoch"]) > 0  # the feature terms trained
    return _state(fitted), nf.predict()["DistilledMLPMultivariate"].to_numpy()


FIT = {"darts": _darts_fit, "neuralforecast": _nf_fit}


@pytest.mark.slow
@pytest.mark.parametrize("library", ["darts", "neuralforecast"])
def test_same_seed_and_data_give_identical_students(library, teacher, three):
    fits = {mode: FIT[library](teacher, three, mode) for mode in MODES}
    for mode in MODES:
        _assert_same(fits[mode], FIT[library](teacher, three, mode))
    _assert_same(fits["memory"], fits["disk"])
    # the teacher run on every batch trains the student the cache trains, to float rounding
    np.testing.assert_allclose(fits["online"][1], fits["memory"][1], rtol=1e-5, atol=1e-5)
