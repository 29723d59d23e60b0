"""Probabilistic students (issue 19): a quantile TiDE teacher, plain and distilled quantile MLPs.

Run: ``python benchmarks/quantile_students.py [--dataset co2|ETTh1] [--seeds 2021 1 2]
[--quantiles 0.1 0.5 0.9] [--epochs 30]`` (ETTh1.csv from ``$TSDISTILL_DATA``).

The data set is loaded as ``tsdistill benchmark`` loads it (standardized with the training
statistics; CO2: 70/10/20, L=104, H=52; ETTh1: its OT column alone, 12/4/4 months, L=336,
H=96). The teacher is the benchmark's TiDE (one layer, width 256, dropout 0.3, RevIN, Adam 1e-3
for 10 epochs) with ``likelihood=QuantileRegression(quantiles)``. The students are
``DistilledMLPModel(likelihood=QuantileRegression(quantiles))`` (width 512, the window-mean
normalization), trained with Adam at 1e-3 without halving for ``--epochs`` epochs:

- ``plain``: no teacher (Darts' quantile loss alone);
- ``distilled``: the teacher, the reference's weights (alpha = beta = 1, three pooling levels,
  period term on the median);
- ``recipe, alpha=A``: the teacher, the objective ``docs/teachers.md`` chose on CO2 (beta = 0,
  scale_levels = 0, period_weight = 0: the MSE to each of the teacher's quantiles) at
  alpha = 4 and 16;
- ``distilled, chosen on val``: per seed, the distilled student with the lowest mean quantile
  loss on the validation windows.

``--unordered`` measures the alternative to the students' ordering of their quantiles: it
replaces :func:`tsdistill_plugin.core.student.order_quantiles` (the sort) by the identity, so
the head's values are used as they come.

Every model forecasts every stride-1 validation and test window (``historical_forecasts``
with ``predict_likelihood_parameters=True``). Printed per model, on test: the mean quantile
loss (the pinball loss ``max(q e, (q - 1) e)`` averaged over levels, steps and windows,
standardized scale), the coverage of the outer interval (the share of true values between the
lowest and the highest quantile: 10-90% by default), its mean width, and the share of
forecasts whose quantiles cross.
Means over the seeds, the spread (max - min) in brackets. One torch thread.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
import warnings

import numpy as np
import pandas as pd
import torch
from darts import TimeSeries
from darts.models import TiDEModel
from darts.utils.likelihood_models import QuantileRegression

from tsdistill_plugin.benchmark.data import Dataset, load_dataset
from tsdistill_plugin.core import student as student_module
from tsdistill_plugin.darts import DistilledMLPModel

SETTINGS = {"co2": (None, 104, 52), "etth1": ("OT", 336, 96)}
"""Data set -> (column, lookback, horizon)."""
QUIET = {
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "logger": False,
    "enable_checkpointing": False,
    "accelerator": "cpu",
}
RECIPE = {"beta": 0.0, "scale_levels": 0, "period_weight": 0.0}
STUDENTS = {
    "plain": {"alpha": 0.0, "beta": 0.0},
    "distilled": {},
    "recipe, alpha=4": {"alpha": 4.0, **RECIPE},
    "recipe, alpha=16": {"alpha": 16.0, **RECIPE},
}
CHOSEN = "distilled, chosen on val"


def load(name: str) -> tuple[Dataset, int, int]:
    """The data set (one column), its lookback and horizon."""
    column, lookback, horizon = SETTINGS[name.lower()]
    dataset = load_dataset(name)
    if column is not None:
        frame = dataset.frame[[column]]
        dataset = Dataset(
            dataset.name,
            frame,
            dataset.train_end,
            dataset.val_end,
            dataset.mean[[column]],
            dataset.std[[column]],
            dataset.source,
            lookback,
            (horizon,),
        )
    return dataset, lookback, horizon


def teacher(quantiles: list[float], lookback: int, horizon: int, seed: int) -> TiDEModel:
    """The benchmark's TiDE teacher with a quantile likelihood."""
    return TiDEModel(
        lookback,
        horizon,
        num_encoder_layers=1,
        num_decoder_layers=1,
        hidden_size=256,
        dropout=0.3,
        use_reversible_instance_norm=True,
        likelihood=QuantileRegression(quantiles),
        n_epochs=10,
        batch_size=32,
        optimizer_kwargs={"lr": 1e-3},
        random_state=seed,
        pl_trainer_kwargs=dict(QUIET),
    )


def student(
    quantiles: list[float], lookback: int, horizon: int, seed: int, epochs: int, **weights: object
) -> DistilledMLPModel:
    """A quantile student trained with Adam at 1e-3, no halving."""
    return DistilledMLPModel(
        lookback,
        horizon,
        hidden_size=512,
        likelihood=QuantileRegression(quantiles),
        n_epochs=epochs,
        batch_size=32,
        optimizer_kwargs={"lr": 1e-3},
        lr_scheduler_cls=None,
        random_state=seed,
        pl_trainer_kwargs=dict(QUIET),
        **weights,
    )


def forecasts(
    model: object, dataset: Dataset, split: str, lookback: int, horizon: int
) -> np.ndarray:
    """Quantile forecasts ``[windows, horizon, Q]`` of every stride-1 window of ``split``."""
    frame = dataset.split(split, lookback)
    predicted = model.historical_forecasts(
        TimeSeries.from_dataframe(frame),
        start=lookback,
        start_format="position",
        forecast_horizon=horizon,
        stride=1,
        retrain=False,
        last_points_only=False,
        overlap_end=False,
        predict_likelihood_parameters=True,
        verbose=False,
    )
    return np.stack([f.values(copy=False) for f in predicted])


def scores(forecast: np.ndarray, truth: np.ndarray, quantiles: list[float]) -> dict[str, float]:
    """Mean quantile loss, outer-interval coverage and width, share of crossed forecasts."""
    levels = np.asarray(quantiles)
    error = truth - forecast  # [windows, horizon, Q]
    loss = np.maximum(levels * error, (levels - 1) * error).mean()
    low, high = forecast[..., 0], forecast[..., -1]
    inside = (truth[..., 0] >= low) & (truth[..., 0] <= high)
    return {
        "mean quantile loss": float(loss),
        "coverage": float(inside.mean()),
        "width": float((high - low).mean()),
        "crossed": float((np.diff(forecast, axis=-1) < 0).any(axis=-1).mean()),
    }


def summary(values: list[float]) -> str:
    spread = f" [{max(values) - min(values):.4f}]" if len(values) > 1 else ""
    return f"{statistics.mean(values):.4f}{spread}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="co2", choices=["co2", "ETTh1"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[2021])
    parser.add_argument("--quantiles", type=float, nargs="+", default=[0.1, 0.5, 0.9])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--unordered", action="store_true", help="do not sort the quantiles")
    args = parser.parse_args()
    if args.unordered:
        student_module.order_quantiles = lambda prediction: prediction
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    for name in ("pytorch_lightning", "lightning_fabric", "darts", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)

    dataset, lookback, horizon = load(args.dataset)
    truth = {}
    for split in ("val", "test"):
        truth[split] = np.asarray(dataset.windows(split, lookback, horizon)[1])[..., :1]
    train = TimeSeries.from_dataframe(dataset.split("train"))
    val = TimeSeries.from_dataframe(dataset.split("val", lookback))
    q = args.quantiles
    print(
        f"{dataset.name} ({dataset.frame.columns[0]}), L={lookback}, H={horizon}, quantiles {q}, "
        f"{len(truth['test'])} test windows, students {args.epochs} epochs, seeds {args.seeds}"
        + (", quantiles not sorted" if args.unordered else "")
    )

    def score(model: object) -> dict[str, dict[str, float]]:
        return {
            split: scores(forecasts(model, dataset, split, lookback, horizon), truth[split], q)
            for split in truth
        }

    results: dict[str, list[dict[str, float]]] = {}
    for seed in args.seeds:
        start = time.perf_counter()
        tide = teacher(q, lookback, horizon, seed).fit(train, val_series=val)
        results.setdefault("teacher (TiDE)", []).append(score(tide)["test"])
        print(f"seed {seed}: teacher fitted and scored in {time.perf_counter() - start:.0f} s")
        distilled = []
        for name, weights in STUDENTS.items():
            start = time.perf_counter()
            model = student(q, lookback, horizon, seed, args.epochs, teacher=tide, **weights)
            model.fit(train, val_series=val)
            scored = score(model)
            results.setdefault(name, []).append(scored["test"])
            if name != "plain":
                distilled.append((scored["val"]["mean quantile loss"], name, scored["test"]))
            print(
                f"seed {seed}: {name} in {time.perf_counter() - start:.0f} s, val mean quantile "
                f"loss {scored['val']['mean quantile loss']:.4f}"
            )
        _, name, chosen = min(distilled)
        results.setdefault(CHOSEN, []).append(chosen)
        print(f"seed {seed}: validation chooses {name}")
    table = pd.DataFrame(
        {
            name: {key: summary([run[key] for run in runs]) for key in runs[0]}
            for name, runs in results.items()
        }
    ).T
    print(table.to_string())


if __name__ == "__main__":
    main()
