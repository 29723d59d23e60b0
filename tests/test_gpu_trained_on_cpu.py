"""A student trained on an accelerator this machine lacks (a GPU-trained student brought to a CPU
machine) loads and predicts on the CPU, with a warning, in both libraries.

The GPU run itself is simulated by the saved accelerator setting; on a GPU machine the lead
trained both students on CUDA, saved them and checked the forecasts here (closing note)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

pytest.importorskip("darts")
pytest.importorskip("neuralforecast")

from darts import TimeSeries  # noqa: E402
from neuralforecast import NeuralForecast  # noqa: E402

from tsdistill_plugin.darts import DistilledMLPModel  # noqa: E402
from tsdistill_plugin.neuralforecast import DistilledMLP  # noqa: E402

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
QUIET = dict(enable_progress_bar=False, enable_model_summary=False, logger=False)


def test_darts_student_saved_with_a_gpu_setting_predicts_on_the_cpu(etth1, tmp_path):
    series = TimeSeries.from_dataframe(etth1.iloc[:400][["OT"]])
    model = DistilledMLPModel(
        48,
        12,
        hidden_size=16,
        n_epochs=1,
        random_state=0,
        pl_trainer_kwargs={**QUIET, "accelerator": "cpu"},
    )
    model.fit(series)
    expected = model.predict(12, series=series).values()
    model.trainer_params["accelerator"] = "gpu"  # as if trained on a GPU
    model.save(str(tmp_path / "student.pt"))
    loaded = DistilledMLPModel.load(str(tmp_path / "student.pt"))
    with pytest.warns(
        UserWarning, match="which this machine does not have; it predicts on the CPU"
    ):
        forecast = loaded.predict(12, series=series).values()
    np.testing.assert_array_equal(forecast, expected)


def test_nf_student_saved_with_a_gpu_setting_loads_and_predicts_on_the_cpu(etth1, tmp_path):
    frame = etth1.iloc[:400][["OT"]].rename_axis("ds").reset_index()
    frame = frame.assign(unique_id="OT").rename(columns={"OT": "y"})
    student = DistilledMLP(
        h=12, input_size=48, hidden_size=16, max_steps=2, accelerator="cpu", **QUIET
    )
    nf = NeuralForecast(models=[student], freq="h")
    nf.fit(frame)
    expected = nf.predict()["DistilledMLP"].to_numpy()
    nf.models[0].hparams["accelerator"] = "gpu"  # as if trained on a GPU
    nf.models[0].trainer_kwargs["accelerator"] = "gpu"
    nf.save(str(tmp_path), overwrite=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = NeuralForecast.load(str(tmp_path))
    with pytest.warns(UserWarning, match="it predicts on the CPU"):
        forecast = loaded.predict()["DistilledMLP"].to_numpy()
    np.testing.assert_array_equal(forecast, expected)
