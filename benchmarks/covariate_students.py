"""Covariate students on ETTh1 (issue 18): the "MS" task, OT forecast from its past, the six load
columns as past covariates and calendar features as future covariates.

Run: ``python benchmarks/covariate_students.py [--lookback 336] [--horizon 96] [--epochs 10]
[--teacher-epochs 10] [--hidden 512] [--seed 2021] [--past-covariates loads|none]
[--future-covariates calendar|none] [--covariate-width K] [--serving-only] [--data-dir DIR]``

Rows, all through ``DistilledMLPModel`` (Darts), test MSE on the standardized scale over every
stride-1 window of ETTh1's test split (the benchmark's 12/4/4-month split, train statistics):

- the covariate teacher: Darts' TiDE (RevIN on) with the loads as past covariates and the
  calendar as future covariates (Adam 1e-3, early stopping on validation);
- the plain covariate student (no teacher), the same covariates;
- the distilled covariate student (the TiDE teacher, ``beta=0``: the teacher gives no features);
- the distilled covariate-free student (``use_covariates=False``: the covariates reach the
  teacher only);
- the plain covariate-free student, for reference.

Then the distilled covariate student is exported (``to_onnx``; with ``--serving-only``, a
covariate student of the same shapes trained one epoch on 256 windows): its ``Predictor``
forecast of the last test window against ``DistilledMLPModel.predict`` (largest difference
relative to the forecast's scale), and the median time of one window through
``Predictor.predict`` (arrays, one thread, 2,000 calls).

One torch thread.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from darts import TimeSeries
from darts.models import TiDEModel
from darts.utils.timeseries_generation import datetime_attribute_timeseries
from pytorch_lightning.callbacks import EarlyStopping

from tsdistill_plugin.benchmark.data import load_dataset
from tsdistill_plugin.darts import DistilledMLPModel

QUIET = {
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "logger": False,
    "enable_checkpointing": False,
    "accelerator": "cpu",
}
LOADS = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL"]


def calendar(like: TimeSeries) -> TimeSeries:
    """Hour of day, day of week and month, each as a sine and a cosine."""
    parts = [
        datetime_attribute_timeseries(like, attribute, cyclic=True)
        for attribute in ("hour", "dayofweek", "month")
    ]
    return parts[0].stack(parts[1]).stack(parts[2]).astype(np.float32)


def test_mse(model, target, start, horizon, **covariates) -> float:
    forecasts = model.historical_forecasts(
        target,
        start=start,
        start_format="position",
        forecast_horizon=horizon,
        stride=1,
        retrain=False,
        last_points_only=False,
        overlap_end=False,
        verbose=False,
        show_warnings=False,
        **covariates,
    )
    values = target.values()[:, 0]
    errors = [
        np.mean((f.values()[:, 0] - values[start + i : start + i + horizon]) ** 2)
        for i, f in enumerate(forecasts)
    ]
    return float(np.mean(errors))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lookback", type=int, default=336)
    parser.add_argument("--horizon", type=int, default=96)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--teacher-epochs", type=int, default=10)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--seed", type=int, default=2021)
    parser.add_argument("--past-covariates", choices=("loads", "none"), default="loads")
    parser.add_argument("--future-covariates", choices=("calendar", "none"), default="calendar")
    parser.add_argument(
        "--covariate-width",
        type=int,
        default=None,
        help="the students' covariate_width: each step's covariates projected to this many "
        "features first (TiDE's temporal width); default none, the flat projection",
    )
    parser.add_argument(
        "--serving-only",
        action="store_true",
        help="only the exported student's figures, from a covariate student of the same shapes "
        "trained one epoch on 256 windows (serving cost depends on the shapes alone)",
    )
    parser.add_argument("--data-dir", default=None, help="folder of ETTh1.csv ($TSDISTILL_DATA)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    for name in ("pytorch_lightning", "lightning_fabric", "darts"):
        logging.getLogger(name).setLevel(logging.ERROR)

    data = load_dataset("ETTh1", args.data_dir)
    L, H = args.lookback, args.horizon
    frame = data.frame.astype("float32")
    target = TimeSeries.from_dataframe(frame[["OT"]])
    loads = TimeSeries.from_dataframe(frame[LOADS])
    future = calendar(target)
    train, val_end = data.train_end, data.val_end
    covariates = {}
    if args.past_covariates == "loads":
        covariates["past_covariates"] = loads
    if args.future_covariates == "calendar":
        covariates["future_covariates"] = future
    fit_data = {"series": target[:train], **covariates}
    val = {"val_series": target[train - L : val_end]}
    val.update((f"val_{name}", value) for name, value in covariates.items())
    test = target[: len(frame)]
    print(
        f"ETTh1 OT, L={L}, H={H}: {train} training rows, test from row {val_end}; past "
        f"covariates: {args.past_covariates}, future covariates: {args.future_covariates}"
    )

    if args.serving_only:
        model = DistilledMLPModel(
            L,
            H,
            hidden_size=args.hidden,
            n_epochs=1,
            random_state=args.seed,
            covariate_width=args.covariate_width,
            pl_trainer_kwargs=QUIET,
        )
        model.fit(target[:train], **covariates, max_samples_per_ts=256)
        serve(model, target, covariates, L, H)
        return

    def stop() -> dict:
        callback = EarlyStopping("val_loss", patience=3, mode="min")
        return {"pl_trainer_kwargs": {**QUIET, "callbacks": [callback]}}

    started = time.perf_counter()
    teacher = TiDEModel(
        L,
        H,
        hidden_size=128,
        decoder_output_dim=16,
        dropout=0.1,
        use_reversible_instance_norm=True,
        n_epochs=args.teacher_epochs,
        batch_size=256,
        optimizer_kwargs={"lr": 1e-3},
        random_state=args.seed,
        **stop(),
    )
    teacher.fit(**fit_data, **val)
    rows = [("covariate teacher (TiDE)", test_mse(teacher, test, val_end, H, **covariates))]
    print(f"{rows[-1][0]}: {rows[-1][1]:.5f} ({time.perf_counter() - started:.0f} s)", flush=True)

    students = [
        ("plain covariate student", {}, True),
        ("distilled covariate student", {"teacher": teacher, "beta": 0.0}, True),
        (
            "distilled covariate-free student",
            {"teacher": teacher, "beta": 0.0, "use_covariates": False},
            False,
        ),
        ("plain covariate-free student", {}, False),
    ]
    for name, settings, reads in students:
        started = time.perf_counter()
        model = DistilledMLPModel(
            L,
            H,
            hidden_size=args.hidden,
            n_epochs=args.epochs,
            batch_size=32,
            random_state=args.seed,
            covariate_width=args.covariate_width,
            **stop(),
            **settings,
        )
        if settings.get("teacher") is None and not reads:
            model.fit(target[:train], val_series=val["val_series"])
        else:
            model.fit(**fit_data, **val)
        used = covariates if reads else {}
        rows.append((name, test_mse(model, test, val_end, H, **used)))
        print(f"{name}: {rows[-1][1]:.5f} ({time.perf_counter() - started:.0f} s)", flush=True)
        if name == "distilled covariate student":
            exported = model

    print("\n| model | test MSE (OT) |\n|---|---|")
    for name, mse in rows:
        print(f"| {name} | {mse:.5f} |")
    serve(exported, target, covariates, L, H)


def serve(model, target, covariates, L, H) -> None:
    """Export ``model``; its Predictor against predict, and one window's latency."""
    from tsdistill_plugin.export import Predictor, to_onnx

    end = len(target) - H
    history = target[:end]
    expected = model.predict(H, series=history, **covariates, verbose=False).values()
    with tempfile.TemporaryDirectory() as folder:
        predictor = Predictor.load(to_onnx(model, Path(folder) / "student.onnx"), threads=1)
    arrays = {"x": history.values()[-L:].astype(np.float32)}
    if "past_covariates" in covariates:
        past = covariates["past_covariates"].slice_intersect(history)
        arrays["past_covariates"] = past.values()[-L:].astype(np.float32)
    if "future_covariates" in covariates:
        future = covariates["future_covariates"].values()[end - L : end + H]
        arrays["future_covariates"] = future.astype(np.float32)
    forecast = predictor.predict(**arrays)
    scale = float(np.abs(expected).max())
    print(
        f"\nexported covariate student: Predictor vs predict, largest difference "
        f"{np.abs(forecast - expected).max() / scale:.2e} of the forecast's scale"
    )
    times = []
    for _ in range(2000):
        started = time.perf_counter()
        predictor.predict(**arrays)
        times.append(time.perf_counter() - started)
    print(f"one window through Predictor.predict, one thread: {np.median(times) * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
