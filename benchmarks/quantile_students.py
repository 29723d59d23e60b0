"""Probabilistic students (issue 19): a quantile TiDE teacher, plain and distilled quantile MLPs.

Run: ``python benchmarks/quantile_students.py [--dataset co2|ETTh1] [--seeds 2021 1 2]
[--quantiles 0.1 0.5 0.9] [--epochs 30] [--conformal]`` (ETTh1.csv from ``$TSDISTILL_DATA``).

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

``--conformal`` also scores every model (teacher and students) wrapped in Darts'
``ConformalQRModel`` (conformalized quantile regression, ``symmetric=True``: the outer
quantiles move out or in by one calibrated amount per interval and step, the median is kept),
rows ``<model>, conformal``; the chosen student's row is the chosen model's, wrapped. The
wrapper forecasts the series made of the validation split (with its lookback) and the test
split, from the first test row on, so its test windows are the uncalibrated rows' windows. Its
calibration set is ``cal_length`` = the number of validation windows: the first test forecast
is calibrated on exactly the validation windows' errors (for every step, errors whose true
values lie in the validation split), and each later forecast on the same number of most recent
errors already known at its start (those of earlier test windows included), a window that
follows the series' level. No choice is made on test. The wrapper calibrates and adjusts
sampled forecasts (Darts' ``cal_num_samples`` = 500 samples drawn from the model's quantiles,
their empirical quantiles then used), so its median is the samples' median, not the model's.

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
from darts.models import ConformalQRModel, TiDEModel
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
CONFORMAL = ", conformal"


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


def forecasts(model: object, series: TimeSeries, start: int, horizon: int) -> np.ndarray:
    """Quantile forecasts ``[windows, horizon, Q]`` of every stride-1 window of ``series``
    whose first forecast row is at position ``start`` or later."""
    predicted = model.historical_forecasts(
        series,
        start=start,
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


def conformal_forecasts(
    model: object, dataset: Dataset, quantiles: list[float], lookback: int, horizon: int, seed: int
) -> np.ndarray:
    """Test forecasts ``[windows, horizon, Q]`` of ``model`` wrapped in ``ConformalQRModel``.

    Parameters
    ----------
    model
        A fitted Darts quantile model.
    dataset
        The data set; the wrapper forecasts its validation split (with the lookback before it)
        followed by its test split, from the first test row on.
    quantiles
        The levels, the model's own.
    lookback, horizon
        Input and output lengths.
    seed
        The wrapper's random state (it samples the model's forecasts).

    Returns
    -------
    numpy.ndarray
        One calibrated forecast per stride-1 test window, the first forecasting the first test
        row; ``cal_length`` is the number of validation windows.
    """
    validation = dataset.split("val", lookback)
    val_windows = len(dataset.windows("val", lookback, horizon)[1])
    calibrated = ConformalQRModel(
        model, quantiles=quantiles, cal_length=val_windows, random_state=seed
    )
    series = TimeSeries.from_dataframe(pd.concat([validation, dataset.split("test")]))
    return forecasts(calibrated, series, len(validation), horizon)


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
    parser.add_argument(
        "--conformal",
        action="store_true",
        help="also score every model wrapped in Darts' ConformalQRModel, calibrated on validation",
    )
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
        + (", also conformalized (ConformalQRModel)" if args.conformal else "")
    )
    results: dict[str, list[dict[str, float]]] = {}
    series = {"val": val, "test": TimeSeries.from_dataframe(dataset.split("test", lookback))}

    def score(model: object) -> dict[str, dict[str, float]]:
        return {
            split: scores(forecasts(model, series[split], lookback, horizon), truth[split], q)
            for split in truth
        }

    def conformal_score(name: str, model: object, seed: int) -> dict[str, float]:
        start = time.perf_counter()
        forecast = conformal_forecasts(model, dataset, q, lookback, horizon, seed)
        calibrated = scores(forecast, truth["test"], q)
        results.setdefault(name + CONFORMAL, []).append(calibrated)
        print(f"seed {seed}: {name}, conformal, in {time.perf_counter() - start:.0f} s")
        return calibrated

    for seed in args.seeds:
        start = time.perf_counter()
        tide = teacher(q, lookback, horizon, seed).fit(train, val_series=val)
        results.setdefault("teacher (TiDE)", []).append(score(tide)["test"])
        print(f"seed {seed}: teacher fitted and scored in {time.perf_counter() - start:.0f} s")
        if args.conformal:
            conformal_score("teacher (TiDE)", tide, seed)
        distilled = []
        for name, weights in STUDENTS.items():
            start = time.perf_counter()
            model = student(q, lookback, horizon, seed, args.epochs, teacher=tide, **weights)
            model.fit(train, val_series=val)
            scored = score(model)
            results.setdefault(name, []).append(scored["test"])
            print(
                f"seed {seed}: {name} in {time.perf_counter() - start:.0f} s, val mean quantile "
                f"loss {scored['val']['mean quantile loss']:.4f}"
            )
            calibrated = conformal_score(name, model, seed) if args.conformal else None
            if name != "plain":
                val_loss = scored["val"]["mean quantile loss"]
                distilled.append((val_loss, name, scored["test"], calibrated))
        _, name, chosen, calibrated = min(distilled, key=lambda candidate: candidate[:2])
        results.setdefault(CHOSEN, []).append(chosen)
        if args.conformal:
            results.setdefault(CHOSEN + CONFORMAL, []).append(calibrated)
        print(f"seed {seed}: validation chooses {name}")
    names = sorted(results, key=lambda name: name.endswith(CONFORMAL))  # uncalibrated first
    table = pd.DataFrame(
        {
            name: {key: summary([run[key] for run in results[name]]) for key in results[name][0]}
            for name in names
        }
    ).T
    print(table.to_string())


if __name__ == "__main__":
    main()
