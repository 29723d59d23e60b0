"""``tsdistill export`` and ``tsdistill predict``: exporter and predictor on the command line.

:func:`register` adds both to the ``tsdistill`` parser.

- ``tsdistill export MODEL -o student.onnx``: MODEL is a Darts ``DistilledMLPModel`` save file
  or a ``NeuralForecast.save`` directory.
- ``tsdistill predict student.onnx --input history.csv --output forecast.csv``: the CSV is
  NeuralForecast's long format (``unique_id``, ``ds``, ``y``) or wide (first column the time,
  one column per component); the forecast is written in the same layout. A covariate student
  takes ``--past past.csv`` and ``--future future.csv`` (wide, time first, one column per
  covariate; the future ones through the end of the forecast) and ``--static static.csv``
  (one row); with a long history, NeuralForecast's frames: the exogenous columns in the
  history, ``--future`` its ``futr_df`` and ``--static`` its ``static_df``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``export`` and ``predict`` subcommands, each with its ``handler``."""
    export = subparsers.add_parser(
        "export",
        help="export a fitted student to ONNX",
        description="Export a fitted distilled student (a Darts DistilledMLPModel save file or "
        "a NeuralForecast save directory) as an ONNX graph of two matrix products.",
    )
    export.add_argument("model", type=Path, help="Darts save file or NeuralForecast directory")
    export.add_argument("-o", "--output", type=Path, required=True, help="the .onnx file")
    export.add_argument("--freq", help="pandas frequency, when the model did not record one")
    export.add_argument(
        "--name", help="NeuralForecast: alias of the student, when the directory holds several"
    )
    export.add_argument("-v", "--verbose", action="store_true", help="log the libraries' messages")
    export.set_defaults(handler=export_command)

    predict = subparsers.add_parser(
        "predict",
        help="forecast with an exported student (ONNX Runtime)",
        description="Forecast the horizon after the end of a history CSV with an exported "
        "student: long (unique_id, ds, y) or wide (time first, one column per component).",
    )
    predict.add_argument("student", type=Path, help="the .onnx file from `tsdistill export`")
    predict.add_argument("--input", type=Path, required=True, help="history CSV")
    predict.add_argument("--output", type=Path, required=True, help="forecast CSV")
    predict.add_argument(
        "--past", type=Path, help="covariate student: past covariates CSV (wide, time first)"
    )
    predict.add_argument(
        "--future",
        type=Path,
        help="covariate student: future covariates CSV (wide, time first, through the horizon; "
        "or NeuralForecast's futr_df, long, for a long --input)",
    )
    predict.add_argument(
        "--static",
        type=Path,
        help="covariate student: static covariates CSV (one row of columns; or "
        "NeuralForecast's static_df, unique_id first, for a long --input)",
    )
    predict.add_argument("--threads", type=int, help="ONNX Runtime threads (default: all)")
    predict.add_argument("-v", "--verbose", action="store_true", help="log more")
    predict.set_defaults(handler=predict_command)


def load_model(path: Path) -> object:
    """A saved student: a NeuralForecast directory or a Darts save file."""
    if path.is_dir():
        from neuralforecast import NeuralForecast

        import tsdistill_plugin.neuralforecast  # noqa: F401  (registers the students)

        return NeuralForecast.load(str(path))
    if not path.is_file():
        raise FileNotFoundError(f"no saved model at {path}")
    from tsdistill_plugin.darts import DistilledMLPModel

    return DistilledMLPModel.load(str(path))


def export_command(args: argparse.Namespace, command: str) -> int:
    """Run ``tsdistill export``."""
    from .exporter import to_onnx

    path = to_onnx(load_model(args.model), args.output, freq=args.freq, name=args.name)
    print(f"exported: {path}")
    return 0


def read_history(path: Path) -> pd.DataFrame:
    """Read a history CSV.

    It is long if it has ``unique_id`` and ``ds`` columns, else wide with the time in the first
    column.
    """
    frame = pd.read_csv(path)
    if {"unique_id", "ds"} <= set(frame.columns):
        if not pd.api.types.is_numeric_dtype(frame["ds"]):
            frame["ds"] = pd.to_datetime(frame["ds"])
        return frame
    time = frame.columns[0]
    index = frame[time]
    if not pd.api.types.is_numeric_dtype(index):
        index = pd.to_datetime(index)
    return frame.drop(columns=time).set_index(pd.Index(index, name=time))


def predict_command(args: argparse.Namespace, command: str) -> int:
    """Run ``tsdistill predict``."""
    from .predictor import Predictor

    predictor = Predictor.load(args.student, threads=args.threads)
    covariates = {
        f"{kind}_covariates": read_history(path)
        for kind, path in (("past", args.past), ("future", args.future))
        if path is not None
    }
    if args.static is not None:
        static = pd.read_csv(args.static)
        long = "unique_id" in static.columns
        covariates["static_covariates"] = static if long else static.iloc[0]
    forecast = predictor.predict(read_history(args.input), **covariates)
    forecast.to_csv(args.output, index=not {"unique_id", "ds"} <= set(forecast.columns))
    print(f"forecast: {args.output} ({predictor.spec.horizon} steps)")
    return 0
