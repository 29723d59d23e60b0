"""Forecasting a Spark table with an exported student, where the data lives.

:func:`predict_spark` runs :class:`~tsdistill_plugin.export.Predictor`'s long-frame forecast
(``unique_id, ds, y`` -> ``unique_id, ds, <name>``) inside Spark: the rows are grouped so that
every series lies whole in one group, Spark keeps each series' last ``lookback`` rows, each
group is forecast by ``applyInPandas`` as one batch, and each executor process loads the file
once (:func:`loaded_predictor`). Needs the ``spark`` and ``export`` extras; pyspark is imported
on first use.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ._extra import import_extra
from .predictor import LONG_COLUMNS, Predictor

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, GroupedData
    from pyspark.sql.types import StructType

SERIES_PER_GROUP = 1000
"""Series forecast together in one ``applyInPandas`` call (one ONNX Runtime batch)."""

GROUP_COLUMN = "__tsdistill_group"
"""The grouping key added to the rows (a hash bucket of ``unique_id``); not in the result."""

RANK_COLUMN = "__tsdistill_rank"
"""Each row's place from the end of its series, to keep the last ``lookback``; not in the result."""

_LOADED: dict[tuple[str, int | None], Predictor] = {}


def loaded_predictor(path: str, threads: int | None) -> Predictor:
    """The ``Predictor`` of ``path`` in the calling process, loaded there on first use.

    Spark reuses its Python worker processes across tasks, so an executor process opens the
    file once, whatever the number of groups it forecasts.
    """
    key = (path, threads)
    if key not in _LOADED:
        _LOADED[key] = Predictor.load(path, threads=threads)
    return _LOADED[key]


def predict_spark(
    df: DataFrame,
    path: str | Path,
    *,
    threads: int | None = 1,
    series_per_group: int = SERIES_PER_GROUP,
) -> DataFrame:
    """Forecast every series of a long-format Spark DataFrame with an exported student.

    Each series is forecast from its own last ``lookback`` rows for the ``horizon`` steps after
    its last timestamp, exactly as ``Predictor.load(path).predict(df.toPandas())`` would; only
    those rows are checked for repeated or missing timestamps and sent to Python.
    Before the forecast is planned, one Spark job counts the rows of each series (to refuse
    short series on the driver and to size the groups); the forecast itself is lazy.

    Parameters
    ----------
    df
        Columns ``unique_id`` (any type), ``ds`` (timestamps or integers) and ``y`` (numbers),
        one row per series and time step; at least ``lookback`` rows per series. Not modified.
    path
        The ``.onnx`` file of a channel-independent student (NeuralForecast's
        ``DistilledMLP``, exported by ``to_onnx``); it must be readable at this path on every
        executor (in local mode, any local path; on a cluster, shared storage).
    threads
        ONNX Runtime's intra-op threads in each executor process (``1``: one per Spark task,
        which runs on one core; ``None``: ONNX Runtime's default, all cores).
    series_per_group
        How many series one ``applyInPandas`` call forecasts (each group's rows are held in
        that executor's memory as one pandas frame).

    Returns
    -------
    pyspark.sql.DataFrame
        ``unique_id``, ``ds`` (of ``df``'s types) and the student's name (``float``):
        NeuralForecast's forecast layout, ``horizon`` rows per series.

    Raises
    ------
    TypeError
        If ``df`` is not a Spark DataFrame, or a column has a type the student cannot read.
    ValueError
        For a missing or unknown column, an empty frame, a series shorter than the lookback, a
        student that forecasts its channels together, or bad ``threads`` / ``series_per_group``.

    Examples
    --------
    >>> from tsdistill_plugin.export.spark import predict_spark
    >>> forecast = predict_spark(spark.table("sales"), "student.onnx")  # doctest: +SKIP
    >>> forecast.write.saveAsTable("sales_forecast")  # doctest: +SKIP
    """
    import_extra("pyspark", "forecasting a Spark DataFrame", extra="spark")
    from pyspark.sql import DataFrame as SparkFrame
    from pyspark.sql import types as T

    if not isinstance(df, SparkFrame):
        raise TypeError(
            f"predict_spark expects a pyspark.sql.DataFrame, got {type(df).__name__}; for a "
            "pandas frame use Predictor.load(path).predict(frame)."
        )
    if not isinstance(series_per_group, int) or series_per_group < 1:
        raise ValueError(f"series_per_group must be a positive integer, got {series_per_group!r}.")
    path = str(Path(path).resolve())
    spec = Predictor.load(path, threads=threads).spec  # on the driver: refuse bad input early
    if not spec.channel_independent:
        raise ValueError(
            f"{path} holds a student of the fixed channels {list(spec.components)} (Darts' "
            "DistilledMLPModel or NeuralForecast's DistilledMLPMultivariate), which forecasts "
            "them together, not series by series; "
            "export NeuralForecast's channel-independent DistilledMLP for Spark scoring, or "
            "forecast the collected frame with Predictor.predict."
        )
    _check_schema(df.schema)
    n_series = _count_series(df, spec.lookback)

    groups = math.ceil(n_series / series_per_group)
    schema = T.StructType(
        [df.schema["unique_id"], df.schema["ds"], T.StructField(spec.name, T.FloatType())]
    )

    def forecast_group(frame: pd.DataFrame) -> pd.DataFrame:
        return loaded_predictor(path, threads).predict(frame[list(LONG_COLUMNS)])

    return recent_rows(df, spec.lookback, groups).applyInPandas(forecast_group, schema)


def recent_rows(df: DataFrame, lookback: int, groups: int) -> GroupedData:
    """Each series' last ``lookback`` rows of ``df`` in ``groups`` groups of whole series.

    One shuffle; nothing runs until an action.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    keyed = df.withColumn(GROUP_COLUMN, F.pmod(F.xxhash64("unique_id"), F.lit(groups)))
    # one partition per group, stated: Spark's adaptive execution would otherwise coalesce the
    # shuffle of a few MB into one partition, one task on one core
    keyed = keyed.repartition(groups, GROUP_COLUMN)
    # the window reuses that partitioning: no second shuffle
    latest = Window.partitionBy(GROUP_COLUMN, "unique_id").orderBy(F.col("ds").desc())
    recent = keyed.withColumn(RANK_COLUMN, F.row_number().over(latest))
    recent = recent.filter(F.col(RANK_COLUMN) <= lookback).drop(RANK_COLUMN)
    return recent.groupBy(GROUP_COLUMN)


def _check_schema(schema: StructType) -> None:
    """Refuse missing or unknown columns and types the student cannot read (no Spark job)."""
    from pyspark.sql import types

    columns = list(schema.names)
    missing = [c for c in LONG_COLUMNS if c not in columns]
    unknown = [c for c in columns if c not in LONG_COLUMNS]
    if missing or unknown:
        raise ValueError(
            f"df needs exactly the columns {list(LONG_COLUMNS)}; missing {missing}, unknown "
            f"{unknown}. Rename or drop columns, e.g. df.select('unique_id', 'ds', 'y') (the "
            "student reads only past target values)."
        )
    times = (types.TimestampType, types.TimestampNTZType, types.IntegralType)
    ds = schema["ds"].dataType
    if not isinstance(ds, times):
        raise TypeError(
            f"column 'ds' has type {ds.simpleString()}; it must hold timestamps or integers: "
            "cast it, e.g. df.withColumn('ds', F.col('ds').cast('timestamp'))."
        )
    y = schema["y"].dataType
    if not isinstance(y, (types.FloatType, types.DoubleType, types.IntegralType)):
        raise TypeError(
            f"column 'y' has type {y.simpleString()}; it must hold numbers: cast it, e.g. "
            "df.withColumn('y', F.col('y').cast('double'))."
        )


def _count_series(df: DataFrame, lookback: int) -> int:
    """The number of series (one Spark job), refusing series shorter than ``lookback``."""
    from pyspark.sql import functions as F

    sizes = df.groupBy("unique_id").agg(F.count("*").alias("rows"))
    summary = sizes.agg(
        F.count("*").alias("series"),
        F.sum((F.col("rows") < lookback).cast("long")).alias("short"),
    ).first()
    if not summary["series"]:
        raise ValueError("df has no rows; give at least one series of `lookback` rows.")
    if summary["short"]:
        short = sizes.filter(F.col("rows") < lookback).limit(5).collect()
        raise ValueError(
            f"the student needs the last {lookback} steps of every series, but "
            f"{summary['short']} series have fewer rows, e.g. "
            f"{ {row['unique_id']: row['rows'] for row in short} }; drop them (or forecast "
            "them with a student of a shorter lookback)."
        )
    return int(summary["series"])
