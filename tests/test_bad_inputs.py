"""The bad-input matrix (issue 11): one row per bad input, across the core, both integrations,
the data loader and the command line.

Each row does one bad thing as a user would, on small slices of real data, and expects one error
of a documented type (``ValueError`` or ``TypeError``; exit status 2 for the command line) whose
message names the problem and the fix (two patterns per row), raised in the one place that checks
it: the row names that module, and the test finds it in the traceback. Everything the row hands
in (series, frames, arrays, teachers, files) is fingerprinted when handed in and compared
afterwards: nothing the user passed is changed, even by a failed call.

A few rows are not errors on purpose (``error=None``): a teacher with a shorter horizon is rolled
out, constant series train, both libraries sort unsorted rows (and Darts unsorted quantiles),
integer values are cast. They check what happens instead.

:func:`test_numeric_argument_out_of_range` sweeps every numeric constructor argument of both
libraries' students over the out-of-range values (negative, zero, NaN, inf) at construction.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import pickle
import re
import shutil
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

pytest.importorskip("darts")
pytest.importorskip("neuralforecast")

from darts import TimeSeries  # noqa: E402
from darts.models import LinearRegressionModel, NLinearModel  # noqa: E402
from neuralforecast import NeuralForecast  # noqa: E402
from neuralforecast.models import LSTM, NLinear, iTransformer  # noqa: E402
from neuralforecast.tsdataset import TimeSeriesDataset  # noqa: E402

from tsdistill_plugin import _version  # noqa: E402
from tsdistill_plugin.benchmark.data import load_dataset  # noqa: E402
from tsdistill_plugin.cli import main  # noqa: E402
from tsdistill_plugin.core import TorchTeacher  # noqa: E402
from tsdistill_plugin.core.stamp import weights_digest  # noqa: E402
from tsdistill_plugin.darts import DistilledMLPModel  # noqa: E402
from tsdistill_plugin.neuralforecast import (  # noqa: E402
    DistilledMLP,
    DistilledMLPMultivariate,
    check_frame,
)

L, H = 24, 8
QUIET = {
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "logger": False,
    "enable_checkpointing": False,
    "accelerator": "cpu",
}
NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")


# -- what a row hands in, and how its unchanged state is checked --------------------------


def fingerprint(obj: object) -> object:
    """A value that changes when anything the user could see in ``obj`` changes."""
    if isinstance(obj, pd.DataFrame | pd.Series):
        hashed = pd.util.hash_pandas_object(obj, index=True).to_numpy().tobytes()
        columns = list(obj.columns) if isinstance(obj, pd.DataFrame) else obj.name
        return ("pandas", hashed, repr(obj.dtypes), columns)
    if isinstance(obj, np.ndarray):
        return ("array", obj.dtype.str, obj.shape, obj.tobytes())
    if isinstance(obj, TimeSeries):
        values = obj.values(copy=False)
        return ("series", values.tobytes(), values.dtype.str, list(obj.time_index), obj.columns)
    if isinstance(obj, Path):
        return ("file", obj.read_bytes())
    if isinstance(obj, list):
        return ("list", [fingerprint(item) if isinstance(item, list) else item for item in obj])
    if isinstance(obj, TorchTeacher):
        return ("torch teacher", fingerprint(obj.model))
    if isinstance(obj, torch.nn.Module):
        return ("module", obj.training, weights_digest(obj.state_dict()))
    if hasattr(obj, "_fit_called"):  # a Darts model
        module = getattr(obj, "model", None)
        state = fingerprint(module) if isinstance(module, torch.nn.Module) else pickle.dumps(module)
        return ("darts", obj._fit_called, state)
    if callable(obj):
        return ("callable", id(obj))
    raise TypeError(f"no fingerprint for {type(obj).__name__}")


class Given:
    """The inputs a row hands in (fingerprinted when handed in) and the fixtures it uses."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self.request = request
        self.handed: list[tuple[object, object]] = []

    def __call__(self, obj: Any) -> Any:
        self.handed.append((obj, fingerprint(obj)))
        return obj

    def fixture(self, name: str) -> Any:
        return self.request.getfixturevalue(name)

    def assert_unchanged(self) -> None:
        for obj, before in self.handed:
            assert fingerprint(obj) == before, f"{type(obj).__name__} was changed"


@dataclass(frozen=True)
class Row:
    """One bad input: what the user does, and the error it must give.

    Attributes
    ----------
    act
        Does the bad thing (its name is the row's name).
    error
        The error's type, or ``None`` for a row that is not an error.
    problem, fix
        Patterns the message must contain: what is wrong, and what to do.
    where
        The module whose check raises it (a prefix: ``"darts"`` for Darts' own checks).
    """

    act: Callable[[Given], object]
    error: type[BaseException] | None
    problem: str
    fix: str
    where: str
    marks: tuple = ()


ROWS: list[Row] = []


def row(
    error: type[BaseException] | None,
    problem: str = "",
    fix: str = "",
    where: str = "",
    marks: tuple = (),
) -> Callable[[Callable[[Given], object]], Callable[[Given], object]]:
    """Register the decorated function as a row of the matrix."""

    def register(act: Callable[[Given], object]) -> Callable[[Given], object]:
        ROWS.append(Row(act, error, problem, fix, where, marks))
        return act

    return register


OWNERS = ("tsdistill_plugin", "darts", "neuralforecast", "argparse")


def raised_in(excinfo: pytest.ExceptionInfo) -> str:
    """The module, among the plugin's and the libraries', where the error was raised."""
    for entry in reversed(excinfo.traceback):
        module = entry.frame.f_globals.get("__name__", "")
        if module.split(".", 1)[0] in OWNERS:
            return module
    return "?"


class CommandFailed(Exception):
    """``tsdistill`` exited with a non-zero status; the message is what it printed."""


def tsdistill(given: Given, *argv: str) -> None:
    """Run ``tsdistill`` in this process; raise :class:`CommandFailed` on exit status 2."""
    capsys = given.fixture("capsys")
    try:
        status = main(list(argv))
    except SystemExit as exit_:
        status = exit_.code
    error = capsys.readouterr().err
    if status:
        assert status == 2, status
        raise CommandFailed(error)


# -- data --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ot(etth1: pd.DataFrame) -> pd.Series:
    """200 hours of ETTh1's OT, standardized."""
    return etth1["OT"].iloc[:200]


@pytest.fixture(scope="module")
def three(etth1: pd.DataFrame) -> pd.DataFrame:
    """200 hours of three ETTh1 channels."""
    return etth1[["HUFL", "MUFL", "OT"]].iloc[:200]


def long_frame(wide: pd.DataFrame | pd.Series) -> pd.DataFrame:
    """NeuralForecast's long format of a wide frame (one series per column)."""
    wide = wide.to_frame() if isinstance(wide, pd.Series) else wide
    long = wide.rename_axis("ds").reset_index().melt(id_vars="ds", var_name="unique_id")
    return long.rename(columns={"value": "y"})[["unique_id", "ds", "y"]]


def darts_student(**kwargs: Any) -> DistilledMLPModel:
    settings = {"input_chunk_length": L, "output_chunk_length": H, "hidden_size": 8}
    quiet = {"n_epochs": 1, "random_state": 0, "pl_trainer_kwargs": dict(QUIET)}
    return DistilledMLPModel(**{**settings, **quiet, **kwargs})


def nf_student(cls: type = DistilledMLP, **kwargs: Any) -> Any:
    return cls(**{"input_size": L, "h": H, "hidden_size": 8, "max_steps": 2, **QUIET, **kwargs})


def nf_fit(model: Any, frame: pd.DataFrame) -> NeuralForecast:
    nf = NeuralForecast(models=[model], freq="h")
    nf.fit(frame)
    return nf


def future_lags_teacher(g: Given) -> LinearRegressionModel:
    """A Darts teacher fitted on OT with lags of HUFL as future covariates."""
    teacher = LinearRegressionModel(lags=L, lags_future_covariates=(0, H), output_chunk_length=H)
    return teacher.fit(ot_series(g), future_covariates=three_series(g, ["HUFL"]))


def constant_teacher(value: float) -> TorchTeacher:
    """A teacher that forecasts ``value`` everywhere."""
    return TorchTeacher(lambda x: torch.full((x.shape[0], H, x.shape[2]), value), L, H)


class _NaNFeatures(torch.nn.Module):
    """A last-value forecaster whose hidden layer gives NaN (its forecasts are finite)."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = torch.nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.hidden(torch.full((x.shape[0], x.shape[2], 4), math.nan))
        return x[:, -1:].expand(-1, H, -1)


# -- saved students ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def darts_saved(ot: pd.Series, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fitted Darts student saved as ``student.pt`` (+ ``.ckpt``)."""
    path = tmp_path_factory.mktemp("darts") / "student.pt"
    darts_student().fit(TimeSeries.from_series(ot)).save(str(path))
    return path


@pytest.fixture(scope="module")
def nf_saved(ot: pd.Series, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fitted NeuralForecast student saved by ``NeuralForecast.save``."""
    folder = tmp_path_factory.mktemp("nf") / "saved"
    nf_fit(nf_student(), long_frame(ot)).save(str(folder))
    return folder


def altered_copy(given: Given, saved: Path, name: str, alter: Callable[[bytes], bytes]) -> Path:
    """A copy of a saved student's folder in which the file ``name`` is altered; the original
    is handed in (and so checked unchanged)."""
    for file in saved.parent.iterdir() if saved.is_file() else saved.iterdir():
        given(file)
    source = saved.parent if saved.is_file() else saved
    target = given.fixture("tmp_path") / "altered"
    shutil.copytree(source, target)
    path = target / name
    path.write_bytes(alter(path.read_bytes()))
    return target / saved.name if saved.is_file() else target


def flip_tensor_bytes(data: bytes, member: str) -> bytes:
    """``data`` (a torch zip archive) with bytes of one stored tensor inverted."""
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(member)
    name_length, extra_length = struct.unpack("<HH", data[info.header_offset + 26 :][:4])
    start = info.header_offset + 30 + name_length + extra_length
    return data[:start] + bytes(b ^ 0xFF for b in data[start : start + 16]) + data[start + 16 :]


def largest_tensor(data: bytes) -> str:
    """The stored tensor of a torch zip archive with the most bytes (a weight matrix)."""
    infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    return max((i for i in infos if "/data/" in i.filename), key=lambda i: i.file_size).filename


def nf_student_file(folder: Path) -> str:
    return next(p.name for p in folder.iterdir() if p.name.startswith("DistilledMLP_"))


def with_nf_metadata(change: Callable[[dict], None]) -> Callable[[bytes], bytes]:
    """Alters the JSON header of a safetensors file with ``change(metadata)``."""

    def alter(data: bytes) -> bytes:
        (length,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + length])
        change(header["__metadata__"])
        encoded = json.dumps(header).encode()
        encoded += b" " * (-len(encoded) % 8)
        return struct.pack("<Q", len(encoded)) + encoded + data[8 + length :]

    return alter


def with_hyperparameter(name: str, value: object) -> Callable[[dict], None]:
    def change(metadata: dict) -> None:
        hyperparameters = json.loads(metadata["hyper_parameters"])
        hyperparameters[name] = value
        metadata["hyper_parameters"] = json.dumps(hyperparameters)

    return change


def weights_offset(data: bytes, key: str) -> int:
    """Where the bytes of tensor ``key`` of a safetensors file start."""
    (length,) = struct.unpack("<Q", data[:8])
    return 8 + length + json.loads(data[8 : 8 + length])[key]["data_offsets"][0]


class _Malicious:
    """Unpickling it would run a shell command that creates a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return os.system, (f"touch {self.marker}",)


# == rows ==================================================================================
# -- Darts ---------------------------------------------------------------------------------


def ot_series(given: Given, change: Callable[[np.ndarray], np.ndarray] | None = None) -> TimeSeries:
    """OT as a Darts series, its values changed by ``change``, handed in."""
    ot = given.fixture("ot")
    values = ot.to_numpy() if change is None else change(ot.to_numpy())
    return given(TimeSeries.from_times_and_values(ot.index, values, columns=["OT"]))


def at_step(step: int, value: float) -> Callable[[np.ndarray], np.ndarray]:
    """Sets one value."""
    return lambda values: np.where(np.arange(len(values)) == step, value, values)


@row(
    ValueError,
    r"series\[0\] contains NaN or infinite",
    "Fill or clip",
    "tsdistill_plugin.darts.model",
)
def darts_inf_in_the_target(g: Given) -> None:
    darts_student().fit(ot_series(g, at_step(50, np.inf)))


@row(ValueError, r"series\[0\] contains NaN", "MissingValuesFiller", "tsdistill_plugin.darts.model")
def darts_nan_in_the_target(g: Given) -> None:
    darts_student().fit(ot_series(g, at_step(50, np.nan)))


@row(
    ValueError,
    r"has 0 time steps, fewer than",
    "pass a longer series",
    "tsdistill_plugin.darts.model",
)
def darts_empty_series(g: Given) -> None:
    darts_student().fit(g(TimeSeries.from_values(np.empty((0, 1), dtype=np.float32))))


@row(
    ValueError,
    "has 31 time steps, fewer than",
    "or shorter chunk lengths",
    "tsdistill_plugin.darts.model",
)
def darts_series_too_short(g: Given) -> None:
    darts_student().fit(g(ot_series(g)[: L + H - 1]))


@row(None, where="tsdistill_plugin.core.student")
def darts_constant_series_trains(g: Given) -> None:
    series = ot_series(g, lambda values: np.full_like(values, 3.0))
    forecast = darts_student(teacher=constant_teacher(3.0)).fit(series).predict(H).values()
    assert np.isfinite(forecast).all()


@row(ValueError, "could not be directly inferred", "fill_missing_dates=True", "darts")
def darts_missing_timestamps(g: Given) -> None:
    TimeSeries.from_series(g(g.fixture("ot").drop(g.fixture("ot").index[50])))


@row(ValueError, "inconsistent date frequencies", "fill_missing_dates", "darts")
def darts_duplicate_timestamps(g: Given) -> None:
    ot = g.fixture("ot")
    TimeSeries.from_series(g(pd.concat([ot, ot.iloc[[50]] + 1.0])))


@row(None, where="darts")
def darts_unsorted_rows_are_sorted(g: Given) -> None:
    ot = g.fixture("ot")
    shuffled = g(ot.sample(frac=1.0, random_state=0))
    np.testing.assert_array_equal(TimeSeries.from_series(shuffled).values()[:, 0], ot.to_numpy())


@row(
    ValueError,
    r"series\[1\] has 3 components but series\[0\] has 1",
    "pass series with the same components",
    "tsdistill_plugin.darts.model",
)
def darts_series_with_other_components(g: Given) -> None:
    darts_student().fit([ot_series(g), TimeSeries.from_dataframe(g(g.fixture("three")))])


@row(
    ValueError,
    "the teacher forecasts 3 channels together but the student's windows have 1",
    "pass a teacher built for",
    "tsdistill_plugin.core.distillation",
)
def darts_teacher_with_other_channels(g: Given) -> None:
    three = TimeSeries.from_dataframe(g.fixture("three"))
    teacher = g(NLinearModel(L, H, n_epochs=1, pl_trainer_kwargs=dict(QUIET)).fit(three))
    darts_student(teacher=teacher).fit(ot_series(g))


@row(
    ValueError,
    "the teacher reads 48 steps but the student's input_chunk_length is 24",
    "give the student input_chunk_length >= 48",
    "tsdistill_plugin.core.distillation",
)
def darts_teacher_with_a_longer_lookback(g: Given) -> None:
    darts_student(teacher=g(LinearRegressionModel(lags=2 * L, output_chunk_length=H)))


@row(None, where="tsdistill_plugin.core.teacher")
def darts_teacher_with_a_shorter_horizon_is_rolled_out(g: Given) -> None:
    series = ot_series(g)
    teacher = g(LinearRegressionModel(lags=L, output_chunk_length=H // 2).fit(series))
    caplog = g.fixture("caplog")
    with caplog.at_level(logging.INFO, logger="tsdistill_plugin.core.distillation"):
        student = darts_student(teacher=teacher, beta=0.0)
    assert any("rolled out autoregressively" in r.message for r in caplog.records)
    assert np.isfinite(student.fit(series).predict(H).values()).all()


@row(
    ValueError,
    r"the teacher .*NLinearModel.* could not be fitted on the student's training data: "
    r"ValueError: The input `series` are too short",
    "or fit it yourself and pass it fitted",
    "tsdistill_plugin.core.distillation",
)
def darts_unfitted_teacher_that_cannot_be_fitted(g: Given) -> None:
    teacher = g(NLinearModel(L, 4 * L, n_epochs=1, pl_trainer_kwargs=dict(QUIET)))
    darts_student(teacher=teacher).fit(g(ot_series(g)[:60]))  # the teacher needs 5 L rows


@row(
    TypeError,
    "unsupported teacher type builtins.str",
    "pass a Darts forecasting model, a NeuralForecast model",
    "tsdistill_plugin.teachers",
)
def darts_unsupported_teacher(g: Given) -> None:
    darts_student(teacher="PatchTST")


@row(
    ValueError,
    "forecasts NaN or infinite values for some training windows",
    "refit the teacher on finite data",
    "tsdistill_plugin.core.teacher",
)
def darts_teacher_forecasting_nan(g: Given) -> None:
    darts_student(teacher=g(constant_teacher(math.nan))).fit(ot_series(g))


@row(
    ValueError,
    "forecasts NaN or infinite values for some training windows",
    "or pass teacher=None",
    "tsdistill_plugin.core.teacher",
)
def darts_teacher_forecasting_inf_online(g: Given) -> None:
    student = darts_student(teacher=g(constant_teacher(math.inf)), teacher_cache="online")
    student.fit(ot_series(g))


@row(
    ValueError,
    "gives NaN or infinite hidden features",
    "teacher_feature_layer=None",
    "tsdistill_plugin.core.teacher",
)
def darts_teacher_features_nan(g: Given) -> None:
    teacher = TorchTeacher(g(_NaNFeatures()), L, H, feature_layer="hidden")
    darts_student(teacher=teacher).fit(ot_series(g))


@row(None, where="darts")
def darts_integer_and_object_values_are_cast(g: Given) -> None:
    ot = g.fixture("ot")
    integers = g(np.round(ot.to_numpy() * 10).astype(np.int64))
    objects = g(ot.to_numpy().astype(object))
    assert TimeSeries.from_times_and_values(ot.index, objects).dtype == np.float64
    series = TimeSeries.from_times_and_values(ot.index, integers)
    assert series.dtype == np.float64
    assert np.isfinite(darts_student().fit(series).predict(H).values()).all()


@row(
    ValueError,
    r"pl_trainer_kwargs\['accelerator'\]='gpu' is not available on this machine",
    "use 'cpu', or 'auto'",
    "tsdistill_plugin.devices",
    marks=(NO_GPU,),
)
def darts_gpu_asked_for_and_absent(g: Given) -> None:
    # checked at fit: a GPU-trained student loads and predicts on a CPU machine
    darts_student(pl_trainer_kwargs={**QUIET, "accelerator": "gpu"}).fit(ot_series(g))


@row(
    ValueError,
    r"alpha must be a finite number >= 0, got -1\.0",
    r"pass a weight >= 0",
    "tsdistill_plugin.core.checks",
)
def darts_gridsearch_over_a_bad_weight(g: Given) -> None:
    grid = {
        "input_chunk_length": [L],
        "output_chunk_length": [H],
        "hidden_size": [8],
        "alpha": [-1.0],  # refused when the candidate is built, before anything trains
        "n_epochs": [1],
        "pl_trainer_kwargs": [dict(QUIET)],
    }
    series = ot_series(g)
    DistilledMLPModel.gridsearch(grid, series=series[:150], val_series=series)


@row(
    ValueError,
    r"val_series\[0\] has 20 time steps, fewer than",
    "pass a longer series",
    "tsdistill_plugin.darts.model",
)
def darts_validation_series_too_short(g: Given) -> None:
    series = ot_series(g)
    darts_student().fit(series, val_series=series[:20])


def three_series(given: Given, columns: list[str] | None = None) -> TimeSeries:
    """Three ETTh1 load channels (the covariates of OT), handed in."""
    frame = given.fixture("three")
    return given(TimeSeries.from_dataframe(frame[columns or ["HUFL", "MUFL"]]))


@row(
    ValueError,
    r"past_covariates holds 2 series but there are 1 target series",
    "pass one covariate series per target series",
    "tsdistill_plugin.darts.model",
)
def darts_covariates_count(g: Given) -> None:
    series, covariates = ot_series(g), three_series(g)
    darts_student().fit(series, past_covariates=[covariates, covariates])


@row(
    ValueError,
    r"past_covariates\[0\] contains NaN or infinite values",
    "Fill them first",
    "tsdistill_plugin.darts.model",
)
def darts_covariates_nan(g: Given) -> None:
    series = ot_series(g)
    frame = g.fixture("three")[["HUFL"]].copy()
    frame.iloc[5, 0] = np.nan
    darts_student().fit(series, past_covariates=g(TimeSeries.from_dataframe(frame)))


@row(
    ValueError,
    "teacher LinearRegressionModel was fitted with future_covariates, but the student's fit got",
    "pass the teacher's future_covariates to the student's fit",
    "tsdistill_plugin.darts.teacher",
)
def darts_covariate_teacher_without_covariates(g: Given) -> None:
    darts_student(teacher=g(future_lags_teacher(g))).fit(ot_series(g))


@row(
    ValueError,
    "teacher NHITS reads exogenous variables, which a Darts student cannot hand it",
    r"distil it into a NeuralForecast student \(DistilledMLP\)",
    "tsdistill_plugin.darts.model",
)
def darts_student_of_an_exogenous_nf_teacher(g: Given) -> None:
    from neuralforecast.models import NHITS

    frame = long_frame(g.fixture("ot")).assign(hour=lambda f: f["ds"].dt.hour.astype(float))
    nf = nf_fit(NHITS(h=H, input_size=L, hist_exog_list=["hour"], max_steps=1, **QUIET), frame)
    darts_student(teacher=g(nf.models[0])).fit(ot_series(g))


@row(
    ValueError,
    r"reads covariates, which a NeuralForecast student cannot hand it",
    "distil it into a Darts DistilledMLPModel fitted with its covariates",
    "tsdistill_plugin.neuralforecast.models",
)
def nf_student_of_a_covariate_darts_teacher(g: Given) -> None:
    nf_fit(nf_student(teacher=g(future_lags_teacher(g))), ot_frame(g))


@row(
    ValueError,
    "teacher LinearRegressionModel gives no forecast for the training window",
    "give the student a longer input_chunk_length, or covariates that start earlier",
    "tsdistill_plugin.darts._windows",
)
def darts_covariate_teacher_needs_more_history(g: Given) -> None:
    series, past = ot_series(g), three_series(g, ["HUFL"])
    teacher = LinearRegressionModel(lags=L, lags_past_covariates=2 * L, output_chunk_length=H)
    teacher.fit(series, past_covariates=past)
    darts_student(teacher=g(teacher)).fit(series, past_covariates=past)


@row(
    ValueError,
    "its likelihood must be a QuantileRegression, got GaussianLikelihood",
    r"pass likelihood=QuantileRegression\(quantiles=\[0.1, 0.5, 0.9\]\)",
    "tsdistill_plugin.darts.model",
)
def darts_likelihood_the_head_cannot_carry(g: Given) -> None:
    from darts.utils.likelihood_models import GaussianLikelihood

    darts_student(likelihood=GaussianLikelihood())


@row(None, where="darts")
def darts_unsorted_quantiles_are_sorted(g: Given) -> None:
    from darts.utils.likelihood_models import QuantileRegression

    levels = g([0.9, 0.5, 0.1])
    model = darts_student(likelihood=QuantileRegression(levels)).fit(ot_series(g))
    forecast = model.predict(H, predict_likelihood_parameters=True)
    assert list(forecast.components) == ["OT_q0.100", "OT_q0.500", "OT_q0.900"]
    assert (np.diff(forecast.values(), axis=1) >= 0).all()


@row(
    ValueError,
    r"input_chunk_length must be a positive integer, got None \(no teacher\)",
    "pass input_chunk_length=<int>",
    "tsdistill_plugin.core.distillation",
)
def darts_no_lengths_without_a_teacher(g: Given) -> None:
    DistilledMLPModel()


@row(
    ValueError,
    r"norm must be one of \('mean', 'revin', 'none'\), got 'batch'",
    "pass one of them",
    "tsdistill_plugin.core.student",
)
def darts_unknown_norm(g: Given) -> None:
    darts_student(norm="batch")


@row(
    ValueError,
    r"scale_levels=3 needs output_chunk_length >= 2 \*\* scale_levels = 8, but "
    "output_chunk_length=4",
    "lower scale_levels or use a longer horizon",
    "tsdistill_plugin.core.losses",
)
def darts_horizon_too_short_for_the_scale_levels(g: Given) -> None:
    darts_student(output_chunk_length=4, scale_levels=3)


@row(
    ValueError,
    "teacher_cache must be one of",
    "pass one of them",
    "tsdistill_plugin.core.distillation",
)
def darts_unknown_teacher_cache(g: Given) -> None:
    darts_student(teacher_cache="ram")


@row(
    ValueError,
    r"student\.pt\.ckpt is not a saved model \(not a torch archive\): it is truncated",
    "save the model again, or copy the file again from its source",
    "tsdistill_plugin.darts.model",
)
def darts_truncated_file(g: Given) -> None:
    saved = g.fixture("darts_saved")
    path = altered_copy(g, saved, f"{saved.name}.ckpt", lambda data: data[: len(data) // 2])
    DistilledMLPModel.load(str(path))


@row(
    ValueError,
    "the weights of the saved DistilledMLPModel checkpoint differ from those it was saved with",
    "save the student again, or copy the file again",
    "tsdistill_plugin.core.stamp",
)
def darts_corrupted_weights(g: Given) -> None:
    saved = g.fixture("darts_saved")
    path = altered_copy(
        g, saved, f"{saved.name}.ckpt", lambda data: flip_tensor_bytes(data, largest_tensor(data))
    )
    DistilledMLPModel.load(str(path))


@row(
    ValueError,
    r"could not be read as a saved DistilledMLPModel: Blocked unsafe global `(posix|nt)\.system`",
    "copy the file again from its source",
    "tsdistill_plugin.core.stamp",
)
def darts_file_carrying_code(g: Given) -> None:
    marker = g.fixture("tmp_path") / "executed"
    saved = g.fixture("darts_saved")

    def malicious(_: bytes) -> bytes:
        buffer = io.BytesIO()
        torch.save(_Malicious(marker), buffer)
        return buffer.getvalue()

    try:
        DistilledMLPModel.load(str(altered_copy(g, saved, saved.name, malicious)))
    finally:
        assert not marker.exists()  # the command never ran


@row(
    ValueError,
    r"this DistilledMLPModel file was saved by tsdistill_plugin 99\.0\.0, newer than the "
    r"installed 0\.",
    r"pip install --upgrade 'tsdistill-plugin>=99\.0\.0'",
    "tsdistill_plugin._version",
)
def darts_file_saved_by_a_newer_plugin(g: Given) -> None:
    saved = g.fixture("darts_saved")
    for file in saved.parent.iterdir():
        g(file)
    path = g.fixture("tmp_path") / "newer.pt"
    with g.fixture("monkeypatch").context() as patch:
        patch.setattr(_version, "__version__", "99.0.0")
        DistilledMLPModel.load(str(saved)).save(str(path))
    DistilledMLPModel.load(str(path))


# -- the core ------------------------------------------------------------------------------


@row(
    ValueError,
    r"quantiles must be strictly increasing, got \[0.9, 0.5, 0.1\]",
    "pass them sorted without repeats",
    "tsdistill_plugin.core.quantiles",
)
def core_unsorted_quantiles(g: Given) -> None:
    from tsdistill_plugin.core import DMLP

    DMLP(L, H, 1, hidden_size=8, quantiles=g([0.9, 0.5, 0.1]))


@row(
    ValueError,
    r"quantiles must lie strictly between 0 and 1, got 1.5",
    r"pass levels in \(0, 1\)",
    "tsdistill_plugin.core.quantiles",
)
def core_quantiles_out_of_range(g: Given) -> None:
    from tsdistill_plugin.core import DMLP

    DMLP(L, H, 1, hidden_size=8, quantiles=g([0.1, 0.5, 1.5]))


@row(
    ValueError,
    "quantiles must include the median 0.5",
    "add 0.5",
    "tsdistill_plugin.core.quantiles",
)
def core_quantiles_without_the_median(g: Given) -> None:
    from tsdistill_plugin.core import QuantileDistillationLoss

    QuantileDistillationLoss(g([0.1, 0.9]))


# -- NeuralForecast ------------------------------------------------------------------------


Change = Callable[[pd.DataFrame], pd.DataFrame]
"""A change of a frame: a new frame from the old one."""


def ot_frame(given: Given, change: Change | None = None) -> pd.DataFrame:
    """OT in NeuralForecast's long format, changed by ``change``, handed in."""
    frame = long_frame(given.fixture("ot"))
    return given(frame if change is None else change(frame))


def set_cell(row_index: int, column: str, value: object) -> Change:
    """Sets one cell."""
    return lambda frame: frame.assign(
        **{column: frame[column].where(frame.index != row_index, value)}
    )


@row(
    ValueError,
    "y contains NaN or infinite values",
    "fill, drop or clip them",
    "tsdistill_plugin.neuralforecast.models",
)
def nf_inf_in_the_target(g: Given) -> None:
    nf_fit(nf_student(), ot_frame(g, set_cell(50, "y", np.inf)))


@row(
    ValueError,
    r"column 'y' holds 1 NaN or infinite values \(first: unique_id='OT', ds=2016-07-03 02:00",
    "fill, drop or clip them",
    "tsdistill_plugin.frames",
)
def nf_nan_in_the_target(g: Given) -> None:
    check_frame(ot_frame(g, set_cell(50, "y", np.nan)), "h")


@row(ValueError, "df has no rows", "pass the data to fit on", "tsdistill_plugin.frames")
def nf_empty_frame(g: Given) -> None:
    check_frame(g(long_frame(g.fixture("ot")).iloc[:0]), "h")


@row(
    ValueError,
    r"the shortest series has 31 rows but input_size \+ h = 32",
    "use longer series, a smaller input_size",
    "tsdistill_plugin.neuralforecast.models",
)
def nf_series_too_short(g: Given) -> None:
    nf_fit(nf_student(), g(long_frame(g.fixture("ot").iloc[: L + H - 1])))


@row(None, where="tsdistill_plugin.core.student")
def nf_constant_series_trains(g: Given) -> None:
    constant = ot_frame(g, lambda frame: frame.assign(y=3.0))
    nf = nf_fit(nf_student(teacher=constant_teacher(3.0)), constant)
    assert np.isfinite(nf.predict()["DistilledMLP"]).all()


@row(
    ValueError,
    r"series 'OT' misses timestamps at freq='h': after 2016-07-03 01:00:00 comes 2016-07-03 "
    r"03:00:00 instead of 2016-07-03 02:00:00",
    r"utilsforecast\.preprocessing\.fill_gaps",
    "tsdistill_plugin.frames",
)
def nf_missing_timestamps(g: Given) -> None:
    check_frame(ot_frame(g, lambda frame: frame.drop(index=50)), "h")


@row(
    ValueError,
    r"2 rows of df share their \(unique_id, ds\) with another row",
    r"drop_duplicates\(\['unique_id', 'ds'\], keep='last'\)",
    "tsdistill_plugin.frames",
)
def nf_duplicate_timestamps(g: Given) -> None:
    frame = long_frame(g.fixture("ot"))
    check_frame(g(pd.concat([frame, frame.iloc[[50]].assign(y=9.0)])), "h")


@row(None, where="neuralforecast")
def nf_unsorted_rows_are_sorted(g: Given) -> None:
    frame = long_frame(g.fixture("three"))
    shuffled = g(frame.sample(frac=1.0, random_state=0))
    assert check_frame(shuffled, "h") is shuffled
    ordered, *_ = TimeSeriesDataset.from_df(frame)
    unordered, *_ = TimeSeriesDataset.from_df(shuffled)
    assert torch.equal(unordered.temporal, ordered.temporal)


@row(
    ValueError,
    r"futr_exog_list with a loss of 2 outputs per step \(DistributionLoss\) is not supported",
    r"use a point loss such as MSE\(\), or drop futr_exog_list",
    "tsdistill_plugin.neuralforecast.models",
)
def nf_future_exogenous_with_a_distribution_loss(g: Given) -> None:
    from neuralforecast.losses.pytorch import DistributionLoss

    nf_student(futr_exog_list=["hour"], loss=DistributionLoss("Normal"), valid_loss=None)


@row(
    ValueError,
    "the NHITS teacher reads exogenous variables, which the student cannot hand to its fit",
    r"fit it yourself \(NeuralForecast.fit with its exogenous columns\)",
    "tsdistill_plugin.core.distillation",  # which wraps the adapter's error
)
def nf_unfitted_exogenous_teacher(g: Given) -> None:
    from neuralforecast.models import NHITS

    teacher = g(NHITS(h=H, input_size=L, hist_exog_list=["hour"], max_steps=1, **QUIET))
    frame = long_frame(g.fixture("ot")).assign(hour=lambda f: f["ds"].dt.hour.astype(float))
    nf_fit(nf_student(teacher=teacher), g(frame))


@row(
    ValueError,
    "n_series=2 but the data holds 3 series",
    "pass n_series=3 to DistilledMLPMultivariate",
    "tsdistill_plugin.neuralforecast.models",
)
def nf_n_series_not_matching_the_data(g: Given) -> None:
    nf_fit(nf_student(DistilledMLPMultivariate, n_series=2), g(long_frame(g.fixture("three"))))


@row(
    ValueError,
    "the teacher forecasts 3 channels together but the student's windows have 1",
    r"use DistilledMLPMultivariate\(n_series=3\)",
    "tsdistill_plugin.core.distillation",
)
def nf_multivariate_teacher_with_the_univariate_student(g: Given) -> None:
    teacher = iTransformer(h=H, input_size=L, n_series=3, hidden_size=8, max_steps=1, **QUIET)
    nf_student(teacher=g(teacher))


@row(
    ValueError,
    "the teacher reads 48 steps but the student's input_size is 24",
    "give the student input_size >= 48",
    "tsdistill_plugin.core.distillation",
)
def nf_teacher_with_a_longer_lookback(g: Given) -> None:
    nf_student(teacher=g(NLinear(h=H, input_size=2 * L, max_steps=1, **QUIET)))


@row(None, where="tsdistill_plugin.core.teacher")
def nf_teacher_with_a_shorter_horizon_is_rolled_out(g: Given) -> None:
    teacher = g(NLinear(h=H // 2, input_size=L, max_steps=1, **QUIET))
    caplog = g.fixture("caplog")
    with caplog.at_level(logging.INFO, logger="tsdistill_plugin.core.distillation"):
        student = nf_student(teacher=teacher, beta=0.0)
    assert any("rolled out autoregressively" in r.message for r in caplog.records)
    assert np.isfinite(nf_fit(student, ot_frame(g)).predict()["DistilledMLP"]).all()


@row(
    ValueError,
    r"the teacher .*NLinearModel.* could not be fitted on the student's training data",
    "or fit it yourself and pass it fitted",
    "tsdistill_plugin.core.distillation",
)
def nf_unfitted_teacher_that_cannot_be_fitted(g: Given) -> None:
    teacher = g(NLinearModel(L, 4 * L, n_epochs=1, pl_trainer_kwargs=dict(QUIET)))
    nf_fit(nf_student(teacher=teacher), g(long_frame(g.fixture("ot").iloc[:60])))


@row(
    TypeError,
    "unsupported teacher type builtins.str",
    "pass a Darts forecasting model, a NeuralForecast model",
    "tsdistill_plugin.teachers",
)
def nf_unsupported_teacher(g: Given) -> None:
    nf_student(teacher="PatchTST")


@row(
    ValueError,
    "forecasts NaN or infinite values for some training windows",
    "refit the teacher on finite data",
    "tsdistill_plugin.core.teacher",
)
def nf_teacher_forecasting_inf(g: Given) -> None:
    nf_fit(nf_student(teacher=g(constant_teacher(math.inf))), ot_frame(g))


@row(None, where="neuralforecast")
def nf_integer_target_is_cast(g: Given) -> None:
    frame = ot_frame(g, lambda f: f.assign(y=np.round(f["y"] * 10).astype(np.int64)))
    assert check_frame(frame, "h") is frame
    assert np.isfinite(nf_fit(nf_student(), frame).predict()["DistilledMLP"]).all()


@row(
    ValueError,
    "column 'y' has dtype object, not numbers",
    r"pd\.to_numeric",
    "tsdistill_plugin.frames",
)
def nf_object_target(g: Given) -> None:
    check_frame(ot_frame(g, lambda f: f.assign(y=f["y"].astype(object))), "h")


@row(
    ValueError,
    "accelerator='gpu' is not available on this machine",
    "use 'cpu', or 'auto'",
    "tsdistill_plugin.devices",
    marks=(NO_GPU,),
)
def nf_gpu_asked_for_and_absent(g: Given) -> None:
    # checked at fit: NeuralForecast.load rebuilds a GPU-trained student on a CPU machine
    nf_fit(nf_student(accelerator="gpu"), ot_frame(g))


@row(
    ValueError,
    "y contains NaN or infinite values",
    "fill, drop or clip them",
    "tsdistill_plugin.neuralforecast.models",
)
def nf_nan_in_a_dataset_fitted_directly(g: Given) -> None:
    # NeuralForecast.fit refuses NaN itself; a dataset handed to the student directly is not
    dataset, *_ = TimeSeriesDataset.from_df(ot_frame(g, set_cell(50, "y", np.nan)))
    nf_student().fit(dataset)


@row(
    ValueError,
    "the teacher forecasts 2 channels together but the student's windows have 3",
    "build the teacher with n_series=3",
    "tsdistill_plugin.core.distillation",
)
def nf_n_series_not_matching_the_teacher(g: Given) -> None:
    teacher = iTransformer(h=H, input_size=L, n_series=2, hidden_size=8, max_steps=1, **QUIET)
    nf_student(DistilledMLPMultivariate, teacher=g(teacher), n_series=3)


@row(
    ValueError,
    "LSTM is a recurrent NeuralForecast model, which is not supported as a teacher",
    "use a direct model such as PatchTST",
    "tsdistill_plugin.neuralforecast.teacher",
)
def nf_recurrent_teacher(g: Given) -> None:
    nf_student(teacher=g(LSTM(h=H, input_size=L, recurrent=True, max_steps=1, **QUIET)))


@row(
    ValueError,
    r"scale_levels=3 needs h >= 2 \*\* scale_levels = 8, but h=4",
    "lower scale_levels or use a longer horizon",
    "tsdistill_plugin.core.losses",
)
def nf_horizon_too_short_for_the_scale_levels(g: Given) -> None:
    nf_student(h=4, scale_levels=3)


@row(
    ValueError,
    "refit_teacher=True needs a teacher that can be fitted afresh",
    "pass refit_teacher=False",
    "tsdistill_plugin.core.distillation",
)
def nf_refit_of_a_teacher_that_cannot_be_refitted(g: Given) -> None:
    nf_student(teacher=g(constant_teacher(0.0)), refit_teacher=True)


@row(
    ValueError,
    "is not a neuralforecast checkpoint: it is neither safetensors nor a legacy pickle",
    "re-copy it from the source",
    "neuralforecast",
)
def nf_truncated_file(g: Given) -> None:
    saved = g.fixture("nf_saved")
    name = nf_student_file(saved)
    NeuralForecast.load(str(altered_copy(g, saved, name, lambda data: data[: len(data) // 2])))


def flip_nf_weights(data: bytes) -> bytes:
    start = weights_offset(data, "dmlp.seasonal.embed.weight")
    return data[:start] + bytes(b ^ 0xFF for b in data[start : start + 16]) + data[start + 16 :]


@row(
    ValueError,
    "the weights of the saved DistilledMLP differ from those it was saved with",
    "save the student again, or copy the file again",
    "tsdistill_plugin.core.stamp",
)
def nf_corrupted_weights(g: Given) -> None:
    saved = g.fixture("nf_saved")
    NeuralForecast.load(str(altered_copy(g, saved, nf_student_file(saved), flip_nf_weights)))


@row(
    ValueError,
    "the weights of the saved DistilledMLP do not fit the student built from its saved settings",
    "its settings were altered after saving",
    "tsdistill_plugin.core.stamp",
)
def nf_settings_altered(g: Given) -> None:
    saved = g.fixture("nf_saved")
    alter = with_nf_metadata(with_hyperparameter("hidden_size", 16))
    NeuralForecast.load(str(altered_copy(g, saved, nf_student_file(saved), alter)))


@row(
    ValueError,
    r"could not be read as a saved DistilledMLP: loss 'os\.system' is not registered",
    "copy the file again from its source",
    "tsdistill_plugin.core.stamp",
)
def nf_settings_naming_code(g: Given) -> None:
    saved = g.fixture("nf_saved")
    loss = {"__nf__": "loss", "cls": "os.system", "args": {}, "state": {}}
    alter = with_nf_metadata(with_hyperparameter("loss", loss))
    NeuralForecast.load(str(altered_copy(g, saved, nf_student_file(saved), alter)))


@row(
    ValueError,
    r"the saved DistilledMLP was saved by tsdistill_plugin 99\.0\.0, newer than the installed 0\.",
    r"pip install --upgrade 'tsdistill-plugin>=99\.0\.0'",
    "tsdistill_plugin._version",
)
def nf_file_saved_by_a_newer_plugin(g: Given) -> None:
    saved = g.fixture("nf_saved")
    for file in saved.iterdir():
        g(file)
    path = g.fixture("tmp_path") / "newer"
    with g.fixture("monkeypatch").context() as patch:
        patch.setattr(_version, "__version__", "99.0.0")
        NeuralForecast.load(str(saved)).save(str(path))
    NeuralForecast.load(str(path))


# -- the exporter and Predictor ---------------------------------------------------------------


@pytest.fixture(scope="module")
def exported(darts_saved: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The saved Darts student (OT, hourly) exported to ONNX."""
    from tsdistill_plugin.export import to_onnx

    path = tmp_path_factory.mktemp("onnx") / "student.onnx"
    return to_onnx(DistilledMLPModel.load(str(darts_saved)), path)


def predictor(given: Given) -> Any:
    from tsdistill_plugin.export import Predictor

    return Predictor.load(given(given.fixture("exported")))


@row(
    ValueError,
    r"DistilledMLPModel is not fitted \(it has no trained student yet\)",
    r"call model\.fit\(series\) before exporting",
    "tsdistill_plugin.export.sources",
)
def export_an_unfitted_student(g: Given) -> None:
    from tsdistill_plugin.export import to_onnx

    to_onnx(darts_student(), g.fixture("tmp_path") / "student.onnx")


@row(
    ValueError,
    r"the student reads 1 future covariates but was fitted with 0 named ones \[\]",
    "fit the student without add_encoders, passing the encodings as covariates",
    "tsdistill_plugin.export.sources",
)
def export_a_student_with_encoders(g: Given) -> None:
    from tsdistill_plugin.export import to_onnx

    series = ot_series(g)
    model = darts_student(add_encoders={"datetime_attribute": {"future": ["hour"]}})
    to_onnx(model.fit(series), g.fixture("tmp_path") / "student.onnx")


@row(
    ValueError,
    r"the student scales its exogenous variables with scaler_type='revin'",
    r"train it with another scaler_type \(e.g. 'standard'\) to export it",
    "tsdistill_plugin.export.sources",
)
def export_an_nf_student_with_revin_scaled_exogenous_variables(g: Given) -> None:
    from tsdistill_plugin.export import to_onnx

    frame = long_frame(g.fixture("ot")).assign(hour=lambda f: f["ds"].dt.hour.astype(float))
    nf = nf_fit(nf_student(hist_exog_list=["hour"], scaler_type="revin"), g(frame))
    to_onnx(nf, g.fixture("tmp_path") / "student.onnx")


@row(
    ValueError,
    "the student was trained with DistributionLoss, which forecasts a distribution's parameters",
    r"only point losses \(MSE, MAE, ...\) and multi-quantile losses \(MQLoss, HuberMQLoss\)",
    "tsdistill_plugin.export.sources",
)
def export_a_distribution_student(g: Given) -> None:
    from neuralforecast.losses.pytorch import DistributionLoss

    from tsdistill_plugin.export import to_onnx

    nf = nf_fit(nf_student(loss=DistributionLoss("Normal")), ot_frame(g))
    to_onnx(nf, g.fixture("tmp_path") / "student.onnx")


@row(
    TypeError,
    "expected a NeuralForecast DistilledMLP or DistilledMLPMultivariate .*, got NLinear",
    "or a NeuralForecast holding one",
    "tsdistill_plugin.export.sources",
)
def export_the_teacher_instead_of_the_student(g: Given) -> None:
    from tsdistill_plugin.export import to_onnx

    teacher = g(NLinear(h=H, input_size=L, max_steps=1, **QUIET))
    to_onnx(teacher, g.fixture("tmp_path") / "teacher.onnx")


@row(
    ValueError,
    r"is not a student exported by tsdistill_plugin \(ONNX Runtime cannot read it",
    "export one with `tsdistill export`",
    "tsdistill_plugin.export.predictor",
)
def predictor_truncated_file(g: Given) -> None:
    from tsdistill_plugin.export import Predictor

    exported = g(g.fixture("exported"))
    path = g.fixture("tmp_path") / "truncated.onnx"
    path.write_bytes(exported.read_bytes()[: exported.stat().st_size // 2])
    Predictor.load(path)


@row(
    ValueError,
    r"newer\.onnx was saved by tsdistill_plugin 99\.0\.0, newer than the installed 0\.",
    r"pip install --upgrade 'tsdistill-plugin>=99\.0\.0'",
    "tsdistill_plugin._version",
)
def predictor_file_exported_by_a_newer_plugin(g: Given) -> None:
    from tsdistill_plugin.export import Predictor, exporter, to_onnx

    path = g.fixture("tmp_path") / "newer.onnx"
    with g.fixture("monkeypatch").context() as patch:
        patch.setattr(exporter, "__version__", "99.0.0")
        to_onnx(DistilledMLPModel.load(str(g(g.fixture("darts_saved")))), path)
    Predictor.load(path)


@row(
    ValueError,
    r"the last 24 steps must be finite, but there is nan at 2016-07-09 05:00:00, column 'OT'",
    "fill or drop missing values before predicting",
    "tsdistill_plugin.export.predictor",
)
def predictor_nan_in_the_history(g: Given) -> None:
    ot = g.fixture("ot").to_frame()
    history = ot.assign(OT=np.where(np.arange(len(ot)) == len(ot) - 3, np.nan, ot["OT"]))
    predictor(g).predict(g(history))


@row(
    ValueError,
    "the student needs the last 24 steps of history, but the input has 23 rows",
    "pass at least 24",
    "tsdistill_plugin.export.predictor",
)
def predictor_history_too_short(g: Given) -> None:
    predictor(g).predict(g(g.fixture("ot").to_frame().iloc[-(L - 1) :]))


@row(
    ValueError,
    r"2 rows of df share their \(unique_id, ds\) with another row",
    "Keep one row per timestamp",
    "tsdistill_plugin.frames",
)
def predictor_duplicate_timestamps(g: Given) -> None:
    frame = long_frame(g.fixture("ot"))
    predictor(g).predict(g(pd.concat([frame, frame.iloc[[-5]].assign(y=9.0)])))


@row(
    ValueError,
    r"series 'OT' misses timestamps at freq='h'",
    "Fill the missing timestamps",
    "tsdistill_plugin.frames",
)
def predictor_missing_timestamps(g: Given) -> None:
    frame = long_frame(g.fixture("ot"))
    predictor(g).predict(g(frame.drop(index=frame.index[-5])))


@row(
    ValueError,
    "the frame's index must increase strictly",
    "sort it and drop duplicates",
    "tsdistill_plugin.export.predictor",
)
def predictor_unsorted_frame(g: Given) -> None:
    predictor(g).predict(g(g.fixture("ot").to_frame().iloc[::-1]))


@row(
    TypeError,
    r"the frame has non-numeric columns \['OT'\]",
    "convert them to numbers",
    "tsdistill_plugin.export.predictor",
)
def predictor_text_values(g: Given) -> None:
    predictor(g).predict(g(g.fixture("ot").to_frame().astype(str)))


# -- the data loader -------------------------------------------------------------------------


def etth1_csv(given: Given, change: Change) -> Path:
    """The first 300 rows of ETTh1.csv, changed by ``change``, as a CSV file (handed in)."""
    frame = change(pd.read_csv(given.fixture("data_dir") / "ETTh1.csv", nrows=300))
    path = given.fixture("tmp_path") / "mine.csv"
    frame.to_csv(path, index=False)
    return given(path)


@row(
    ValueError,
    "has several rows for the date 2016-07-01 04:00:00",
    "keep one row per date",
    "tsdistill_plugin.benchmark.data",
)
def loader_duplicate_dates(g: Given) -> None:
    load_dataset(etth1_csv(g, set_cell(5, "date", "2016-07-01 04:00:00")))


@row(
    ValueError,
    r"the dates are not in increasing order \(row 6, 2016-07-01 05:00:00, comes after "
    r"2016-07-01 06:00:00\)",
    "sort the file by date",
    "tsdistill_plugin.benchmark.data",
)
def loader_unsorted_dates(g: Given) -> None:
    def swap(frame: pd.DataFrame) -> pd.DataFrame:
        dates = frame["date"].to_numpy().copy()
        dates[[5, 6]] = dates[[6, 5]]
        return frame.assign(date=dates)

    load_dataset(etth1_csv(g, swap))


@row(
    ValueError,
    r"has missing or infinite values in \['OT'\]",
    "fill or clip them",
    "tsdistill_plugin.benchmark.data",
)
def loader_infinite_values(g: Given) -> None:
    load_dataset(etth1_csv(g, set_cell(10, "OT", np.inf)))


@row(
    ValueError,
    r"has missing or infinite values in \['HUFL'\]",
    "fill or clip them",
    "tsdistill_plugin.benchmark.data",
)
def loader_missing_values(g: Given) -> None:
    load_dataset(etth1_csv(g, set_cell(10, "HUFL", np.nan)))


@row(
    ValueError,
    r"every column other than 'date' must be numeric; non-numeric: \['station'\]",
    "Drop or encode those columns",
    "tsdistill_plugin.benchmark.data",
)
def loader_non_numeric_column(g: Given) -> None:
    load_dataset(etth1_csv(g, lambda frame: frame.assign(station="north")))


@row(
    ValueError,
    "has no 'date' column",
    "the CSV needs a 'date' column",
    "tsdistill_plugin.benchmark.data",
)
def loader_no_date_column(g: Given) -> None:
    load_dataset(etth1_csv(g, lambda frame: frame.rename(columns={"date": "time"})))


@row(
    ValueError,
    "has 3 rows, too few for a train/validation/test split",
    "pass a file with more rows",
    "tsdistill_plugin.benchmark.data",
)
def loader_too_few_rows(g: Given) -> None:
    load_dataset(etth1_csv(g, lambda frame: frame.iloc[:3]))


@row(None, where="tsdistill_plugin.benchmark.data")
def loader_missing_timestamps_are_read_by_position(g: Given) -> None:
    dataset = load_dataset(etth1_csv(g, lambda frame: frame.drop(index=50)))
    assert isinstance(dataset.frame.index, pd.RangeIndex) and len(dataset.frame) == 299


# -- the command line ------------------------------------------------------------------------


@row(
    CommandFailed,
    "tsdistill: error: unknown dataset 'ETTh7'",
    "use one of co2, ETTh1",
    "tsdistill_plugin.benchmark.data",
)
def cli_unknown_dataset(g: Given) -> None:
    tsdistill(g, "benchmark", "--dataset", "ETTh7", "--quiet")


@row(
    CommandFailed,
    r"argument --alpha: expected a number >= 0 or 'auto', got inf",
    "expected a number >= 0 or 'auto'",
    "tsdistill_plugin.benchmark.config",
)
def cli_infinite_alpha(g: Given) -> None:
    tsdistill(g, "benchmark", "--alpha", "inf", "--quiet")


@row(
    CommandFailed,
    "argument --horizon: expected a positive integer, got 0",
    "expected a positive integer",
    "tsdistill_plugin.benchmark.config",
)
def cli_zero_horizon(g: Given) -> None:
    tsdistill(g, "benchmark", "--horizon", "0", "--quiet")


@row(
    CommandFailed,
    "lookback=104, horizon=5000 do not fit data set 'co2'",
    "use a shorter --lookback/--horizon",
    "tsdistill_plugin.benchmark.data",
)
def cli_horizon_longer_than_the_data(g: Given) -> None:
    tsdistill(g, "benchmark", "--horizon", "5000", "--quiet")


@row(
    CommandFailed,
    "device='cuda' is not available on this machine",
    "use 'cpu', or 'auto'",
    "tsdistill_plugin.devices",
    marks=(NO_GPU,),
)
def cli_gpu_asked_for_and_absent(g: Given) -> None:
    tsdistill(g, "benchmark", "--device", "cuda", "--quiet")


@row(
    CommandFailed,
    "missing.csv': no such CSV file",
    "give an existing path or a known name",
    "tsdistill_plugin.benchmark.data",
)
def cli_missing_csv(g: Given) -> None:
    tsdistill(g, "benchmark", "--dataset", str(g.fixture("tmp_path") / "missing.csv"))


# == the tests ===============================================================================


@pytest.mark.parametrize("case", [pytest.param(r, id=r.act.__name__, marks=r.marks) for r in ROWS])
def test_bad_input(case: Row, request: pytest.FixtureRequest) -> None:
    given = Given(request)
    if case.error is None:
        case.act(given)
    else:
        with pytest.raises(case.error) as caught:
            case.act(given)
        message = str(caught.value)
        assert re.search(case.problem, message), message
        assert re.search(case.fix, message), message
        if case.error is not CommandFailed:  # the command line prints, it does not raise
            assert raised_in(caught).startswith(case.where), raised_in(caught)
    given.assert_unchanged()


ALL = (-1, 0, math.nan, math.inf)
"""Out of range for an argument that must be positive."""
NEGATIVE = (-1, math.nan, math.inf)
"""Out of range for an argument that may be 0."""
NUMERIC_ARGUMENTS: dict[str, dict[str, tuple]] = {
    "darts": {
        "input_chunk_length": ALL,
        "output_chunk_length": ALL,
        "hidden_size": (*ALL, 8.0),
        "alpha": NEGATIVE,
        "beta": NEGATIVE,
        "temperature": ALL,
        "scale_levels": (*NEGATIVE, 1.5),
        "period_weight": NEGATIVE,
        "teacher_stride": ALL,
        "n_epochs": ALL,
        "batch_size": ALL,
        "random_state": NEGATIVE,
        "covariate_width": (*ALL, 1.5),
    },
    "neuralforecast": {
        "h": ALL,
        "input_size": ALL,
        "hidden_size": ALL,
        "alpha": NEGATIVE,
        "beta": NEGATIVE,
        "temperature": ALL,
        "scale_levels": NEGATIVE,
        "period_weight": NEGATIVE,
        "teacher_stride": ALL,
        "moving_avg": (*ALL, 24),
        "max_steps": ALL,
        "learning_rate": ALL,
        "batch_size": ALL,
        "valid_batch_size": ALL,
        "windows_batch_size": ALL,
        "inference_windows_batch_size": (-2, 0, math.nan, math.inf),
        "step_size": ALL,
        "val_check_steps": ALL,
        "early_stop_patience_steps": (-2, math.nan, math.inf),
        "num_lr_decays": (-2, math.nan, math.inf),
        "random_seed": NEGATIVE,
    },
    "neuralforecast multivariate": {"n_series": ALL},
}
BUILD = {
    "darts": darts_student,
    "neuralforecast": nf_student,
    "neuralforecast multivariate": lambda **kw: nf_student(DistilledMLPMultivariate, **kw),
}


@pytest.mark.parametrize(
    ("student", "argument", "value"),
    [
        (student, argument, value)
        for student, arguments in NUMERIC_ARGUMENTS.items()
        for argument, values in arguments.items()
        for value in values
    ],
)
def test_numeric_argument_out_of_range(student: str, argument: str, value: float) -> None:
    with pytest.raises(ValueError) as caught:
        BUILD[student](**{argument: value})
    message = str(caught.value)
    assert re.match(rf"{argument} must be .*, got {re.escape(repr(value))}\b", message), message
    assert re.search(r"; (pass|use) ", message), message
