"""Distillation on several devices: Lightning's DDP on 2 CPU processes, in both libraries.

Each run is compared with one process that sees the same batches with the same effective
batch: one process accumulates the gradients of the two processes' batches (``accumulate_grad_
batches=2``). On CPU, BatchNorm normalizes each process's batch on its own (PyTorch's
SyncBatchNorm needs GPUs), so the single process does the same by taking each process's batch
as one micro-batch. The trained weights then agree to 1e-4; the BatchNorm running statistics,
which DDP takes from the first process alone, do not, so forecasts are compared more loosely.

``ddp_spawn`` pickles the model (with the teacher's cached outputs) to two worker processes; the
tests check that every worker reads the right teacher outputs for the windows Lightning's
``DistributedSampler`` deals it, that the distillation terms are reduced across processes, and
that ``predict`` works afterwards (in the main process, on one device).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.multiprocessing.spawn import ProcessExitedException
from torch.utils.data import DistributedSampler

from tsdistill_plugin.core import TorchTeacher, forecast_horizon

pytestmark = pytest.mark.slow

L, H = 48, 12
BATCH = 8
"""Windows per batch and process (Darts)."""
QUIET = {
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "logger": False,
    "enable_checkpointing": False,
    "accelerator": "cpu",
}
TWO_PROCESSES = {"devices": 2, "strategy": "ddp_spawn"}
T = TypeVar("T")


def spawned(fit: Callable[[], T]) -> T:
    """``fit()`` on ``TWO_PROCESSES``, run once more if a worker aborted.

    A worker that has finished ``Trainer.fit`` now and then aborts while it exits
    ("terminate called without an active exception", SIGABRT, in one full CI run of about
    eight; never in 12 runs of these tests alone). Only that signal is retried: a worker that
    fails in any other way, or wrong results, still fail the test.
    """
    try:
        return fit()
    except ProcessExitedException as error:
        if error.signal_name != "SIGABRT":
            raise
        return fit()


WEIGHTS_RTOL = 1e-4
SGD = torch.optim.SGD
"""The tests' optimizer: Adam's first steps move each weight by about the learning rate times
the sign of its gradient, so float rounding in a near-zero gradient (the order of a sum across
processes) moves it by twice the rate; SGD's steps are proportional to the gradients."""


class ChannelTeacher(nn.Module):
    """``[B, L, N] -> [B, H, N]`` through per-channel hidden features ``[B, N, 16]``."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(L, 16)
        self.head = nn.Linear(16, H)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.hidden(x.transpose(1, 2)))).transpose(1, 2)


def teacher() -> TorchTeacher:
    torch.manual_seed(0)
    return TorchTeacher(ChannelTeacher(), L, H, feature_layer="hidden")


@pytest.fixture(autouse=True)
def _quiet_lightning() -> None:
    for name in ("pytorch_lightning", "lightning_fabric", "darts"):
        logging.getLogger(name).setLevel(logging.ERROR)


def assert_same_weights(distributed: nn.Module, single: nn.Module) -> None:
    """Every trained parameter (BatchNorm's running statistics are buffers, not compared)."""
    ours = dict(single.named_parameters())
    theirs = dict(distributed.named_parameters())
    assert ours.keys() == theirs.keys() and ours
    for name, value in theirs.items():
        torch.testing.assert_close(value, ours[name], rtol=WEIGHTS_RTOL, atol=1e-6, msg=name)


def max_relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


# -- Darts -----------------------------------------------------------------------------------


class CheckTeacherTargets(pl.Callback):
    """Runs in every DDP process: each batch's cached teacher outputs are the teacher's
    forecasts of that batch's own inputs, and the processes' windows together are every
    training window exactly once. It holds its own copy of the teacher: the targets reach
    the processes without theirs when the outputs are cached."""

    def __init__(self, teacher: TorchTeacher) -> None:
        self.teacher = teacher

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.seen: list[torch.Tensor] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        targets = pl_module.training_run.targets
        cached = targets.get(batch.window_index, batch.past_target)
        direct = forecast_horizon(self.teacher, batch.past_target, H)
        torch.testing.assert_close(cached.prediction, direct.prediction, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(cached.features, direct.features, rtol=1e-5, atol=1e-6)
        self.seen.append(batch.window_index)

    def on_train_end(self, trainer, pl_module) -> None:
        seen = [None] * trainer.world_size
        torch.distributed.all_gather_object(seen, torch.cat(self.seen).tolist())
        windows = sorted(index for part in seen for index in part)
        assert windows == list(range(len(pl_module.training_run.targets.cache))), (
            "windows dealt wrongly"
        )


class AsTwoProcesses(torch.utils.data.Sampler):
    """One process's order of ``n`` windows that makes its batches the batches Lightning's
    ``DistributedSampler`` deals to 2 processes in the first epoch (shuffled with Lightning's
    seed): process 0's first batch, process 1's first batch, process 0's second, ..."""

    def __init__(self, n: int, batch: int) -> None:
        self.n, self.batch = n, batch

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        seed = int(os.environ.get("PL_GLOBAL_SEED", 0))  # as Lightning seeds its sampler
        ranks = [
            list(DistributedSampler(range(self.n), num_replicas=2, rank=rank, seed=seed))
            for rank in (0, 1)
        ]
        for start in range(0, len(ranks[0]), self.batch):
            for rank in ranks:
                yield from rank[start : start + self.batch]


def test_darts_student_on_two_processes_matches_one(etth1: pd.DataFrame) -> None:
    from darts import TimeSeries

    from tsdistill_plugin.darts import DistilledMLPModel

    n_windows = 3 * 2 * BATCH  # three steps of two processes' batches
    series = TimeSeries.from_dataframe(etth1.iloc[: n_windows + L + H - 1])

    def fit(trainer: dict, dataloader_kwargs: dict, batch_size: int) -> DistilledMLPModel:
        model = DistilledMLPModel(
            L,
            H,
            teacher=teacher(),
            hidden_size=16,
            n_epochs=1,
            batch_size=batch_size,
            random_state=0,
            optimizer_cls=SGD,
            optimizer_kwargs={"lr": 0.05},
            pl_trainer_kwargs={**QUIET, **trainer},
        )
        return model.fit(series, dataloader_kwargs=dataloader_kwargs)

    one = fit(
        {"accumulate_grad_batches": 2},
        {"shuffle": False, "sampler": AsTwoProcesses(n_windows, BATCH)},
        BATCH,
    )
    two = spawned(
        lambda: fit({**TWO_PROCESSES, "callbacks": [CheckTeacherTargets(teacher())]}, {}, BATCH)
    )

    assert_same_weights(two.model, one.model)
    # the epoch's terms, reduced over both processes (without sync_dist: process 0's alone)
    for term in ("train_supervised", "train_prediction_scale", "train_feature_period"):
        expected = one.trainer.callback_metrics[term]
        torch.testing.assert_close(two.trainer.callback_metrics[term], expected, rtol=1e-4, atol=0)

    forecast = two.predict(H)  # in this process, on one device
    assert forecast.n_timesteps == H and forecast.components.equals(series.components)
    assert np.isfinite(forecast.values()).all()
    # only BatchNorm's running statistics differ (DDP keeps process 0's)
    assert max_relative_difference(forecast.values(), one.predict(H).values()) < 0.05


# -- NeuralForecast --------------------------------------------------------------------------


def long_frame(frame: pd.DataFrame) -> pd.DataFrame:
    long = frame.rename_axis("ds").reset_index().melt(id_vars="ds", var_name="unique_id")
    return long.rename(columns={"value": "y"})[["unique_id", "ds", "y"]]


def one_step_student(**trainer: object) -> object:
    """An NF ``DistilledMLP`` trained for one SGD step on every window of a series per batch:
    a fit over two series in two processes takes the steps of one process accumulating them.
    """
    from tsdistill_plugin.neuralforecast import DistilledMLP

    return DistilledMLP(
        h=H,
        input_size=L,
        teacher=teacher(),
        hidden_size=16,
        max_steps=1,
        batch_size=1,
        windows_batch_size=None,  # every window of the step's series
        optimizer=SGD,
        learning_rate=0.05,
        random_seed=0,
        **QUIET,
        **trainer,
    )


def test_neuralforecast_student_on_two_processes_matches_one(etth1: pd.DataFrame) -> None:
    from neuralforecast import NeuralForecast

    # two series: each process takes one, and the single process one per micro-batch
    df = long_frame(etth1.iloc[:200, :2])

    def fit(**trainer: object) -> NeuralForecast:
        nf = NeuralForecast(models=[one_step_student(**trainer)], freq="h")
        nf.fit(df)
        return nf

    one = fit(accumulate_grad_batches=2)
    two = spawned(lambda: fit(**TWO_PROCESSES))
    assert_same_weights(two.models[0], one.models[0])
    for term in ("train_supervised", "train_prediction_period", "train_feature_scale"):
        expected = one.models[0].metrics[term]
        torch.testing.assert_close(two.models[0].metrics[term], expected, rtol=1e-4, atol=0)

    forecast = two.predict()  # in this process, on one device
    assert len(forecast) == 2 * H and np.isfinite(forecast["DistilledMLP"]).all()
    expected = one.predict()["DistilledMLP"].to_numpy()
    assert max_relative_difference(forecast["DistilledMLP"].to_numpy(), expected) < 0.05


def test_neuralforecast_multivariate_student_reads_its_shard_of_the_cache(
    etth1: pd.DataFrame,
) -> None:
    # NeuralForecast deals a multivariate model's windows, not its series, to the processes;
    # with the teacher's outputs read from the cache by window id, training is the same as
    # with the teacher run on every batch (teacher_cache="online").
    from neuralforecast import NeuralForecast

    from tsdistill_plugin.neuralforecast import DistilledMLPMultivariate

    df = long_frame(etth1.iloc[:200, :3])

    def fit(cache: str) -> NeuralForecast:
        student = DistilledMLPMultivariate(
            h=H,
            input_size=L,
            n_series=3,
            teacher=teacher(),
            teacher_cache=cache,
            hidden_size=16,
            max_steps=2,
            windows_batch_size=16,
            optimizer=SGD,
            learning_rate=0.05,
            random_seed=0,
            **QUIET,
            **TWO_PROCESSES,
        )
        nf = NeuralForecast(models=[student], freq="h")
        nf.fit(df)
        return nf

    cached, online = spawned(lambda: fit("auto")), spawned(lambda: fit("online"))
    assert_same_weights(cached.models[0], online.models[0])
    forecast = cached.predict()["DistilledMLPMultivariate"].to_numpy()
    np.testing.assert_allclose(
        forecast, online.predict()["DistilledMLPMultivariate"].to_numpy(), rtol=1e-4, atol=1e-6
    )


def test_neuralforecast_spark_fit_matches_the_fit_in_one_process(
    spark, etth1: pd.DataFrame, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # NeuralForecast's Spark fit rebuilds the student on each of 2 workers from its
    # hyperparameters (the teacher goes along) and trains it with Lightning's DDP, a series per
    # worker: the same steps as one process taking both series as two accumulated batches.
    from neuralforecast import DistributedConfig, NeuralForecast

    # the workers (torchrun processes) unpickle this module's teacher class by name
    path = [str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, path)))
    df = long_frame(etth1.iloc[:200, :2])

    one = NeuralForecast(models=[one_step_student(accumulate_grad_batches=2)], freq="h")
    one.fit(df)
    distributed = NeuralForecast(models=[one_step_student()], freq="h")
    config = DistributedConfig(partitions_path=str(tmp_path / "parts"), num_nodes=1, devices=2)
    distributed.fit(spark.createDataFrame(df), distributed_config=config)
    model = distributed.models[0]
    assert "teacher" not in model.hparams
    assert_same_weights(model, one.models[0])  # the distillation terms included
    for term in ("train_supervised", "train_feature_scale", "train_feature_period"):
        expected = one.models[0].metrics[term]
        torch.testing.assert_close(model.metrics[term], expected, rtol=1e-4, atol=0)

    # What differs is BatchNorm's running statistics: a DDP process keeps those of its own
    # series, and the first worker's come back. With the one-process statistics the two
    # students forecast the same.
    expected = one.predict(df=df)["DistilledMLP"].to_numpy()
    forecast = distributed.predict(df=df)["DistilledMLP"].to_numpy()
    assert 0 < max_relative_difference(forecast, expected) < 0.02
    model.load_state_dict(dict(one.models[0].named_buffers()), strict=False)
    forecast = distributed.predict(df=df)["DistilledMLP"].to_numpy()
    assert max_relative_difference(forecast, expected) < 1e-4

    # predict on a Spark frame runs on the executors (NeuralForecast through fugue)
    scored = distributed.predict(df=spark.createDataFrame(df)).toPandas()
    scored = scored.sort_values(["unique_id", "ds"])["DistilledMLP"].to_numpy()
    np.testing.assert_allclose(scored, forecast, rtol=1e-6)
