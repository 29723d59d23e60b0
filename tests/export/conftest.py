"""Fixtures of the export tests: raw ETTh1 (the data's own scale) and tiny fitted students."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from export_helpers import H, L
from trainer_settings import QUIET

for _name in ("pytorch_lightning", "lightning_fabric", "lightning", "darts", "neuralforecast"):
    logging.getLogger(_name).setLevel(logging.ERROR)


@pytest.fixture(scope="session")
def raw(data_dir: Path) -> pd.DataFrame:
    """The first 800 hours of ETTh1 in its own units (not standardized), float32, 7 columns."""
    frame = pd.read_csv(data_dir / "ETTh1.csv", parse_dates=["date"], index_col="date")
    return frame.iloc[:800].asfreq("h").astype("float32")


@pytest.fixture(scope="session")
def darts_student(raw: pd.DataFrame) -> Callable[[str], object]:
    """``make(norm)``: a Darts ``DistilledMLPModel`` (width 32, one epoch) fitted on the first
    600 hours; one per norm, made once."""
    pytest.importorskip("darts")
    from darts import TimeSeries

    from tsdistill_plugin.darts import DistilledMLPModel

    made: dict[str, object] = {}

    def make(norm: str) -> object:
        if norm not in made:
            model = DistilledMLPModel(
                L,
                H,
                hidden_size=32,
                norm=norm,
                n_epochs=1,
                random_state=0,
                pl_trainer_kwargs=dict(QUIET),
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(TimeSeries.from_dataframe(raw.iloc[:600]))
            made[norm] = model
        return made[norm]

    return make


@pytest.fixture(scope="session")
def exported_darts(darts_student, tmp_path_factory) -> Path:
    """The ``"mean"`` Darts student exported to ONNX."""
    from tsdistill_plugin.export import to_onnx

    return to_onnx(darts_student("mean"), tmp_path_factory.mktemp("onnx") / "darts.onnx")
