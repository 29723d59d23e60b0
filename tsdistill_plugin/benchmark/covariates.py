"""Covariates of a benchmark run: ``--past-covariates rest`` and ``--future-covariates calendar``.

The standard "MS" task of the ETT data (one target, OT, forecast with the other columns as
inputs) reads the six load columns as past covariates (known up to the forecast's start) and
calendar features as future covariates (known over the horizon too). Each covariate set is a
:class:`~tsdistill_plugin.benchmark.data.Dataset` of the same rows and splits as the target's,
so its windows line up with the target's windows.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from .config import BenchmarkConfig
from .data import Dataset

PAST = "past_covariates"
FUTURE = "future_covariates"

CALENDAR: dict[str, tuple[float, pd.Timedelta]] = {
    "hour": (24.0, pd.Timedelta(days=1)),
    "dayofweek": (7.0, pd.Timedelta(weeks=1)),
    "month": (12.0, pd.Timedelta(days=366)),
}
"""Calendar attribute -> (its period in its own units, the span of that period): an attribute
is used when its span holds at least two steps of the data (hourly data reads all three, daily
data the day of week and the month, weekly and monthly data the month)."""


def calendar(index: pd.DatetimeIndex) -> pd.DataFrame:
    """Calendar features of ``index``: each attribute of :data:`CALENDAR` as a sine and a cosine.

    Returns
    -------
    pandas.DataFrame
        ``[time, 2 * attributes]``, float32, columns ``hour_sin``, ``hour_cos``, ...

    Raises
    ------
    ValueError
        When no attribute varies at the index's step.

    Examples
    --------
    >>> import pandas as pd
    >>> from tsdistill_plugin.benchmark.covariates import calendar
    >>> list(calendar(pd.date_range("2024-01-01", periods=3, freq="D")).columns)
    ['dayofweek_sin', 'dayofweek_cos', 'month_sin', 'month_cos']
    """
    step = index[1] - index[0]
    columns = {}
    for attribute, (period, span) in CALENDAR.items():
        if step * 2 > span:
            continue
        values = getattr(index, attribute).to_numpy(dtype=np.float64)
        if attribute == "month":
            values = values - 1
        angle = 2 * np.pi * values / period
        columns[f"{attribute}_sin"] = np.sin(angle)
        columns[f"{attribute}_cos"] = np.cos(angle)
    if not columns:
        raise ValueError(
            f"--future-covariates calendar: no calendar feature varies at a step of {step}; "
            "leave out --future-covariates for this data set."
        )
    return pd.DataFrame(columns, index=index).astype(np.float32)


def covariate_sets(dataset: Dataset, config: BenchmarkConfig) -> dict[str, Dataset]:
    """The covariates ``config`` asks for, as data sets of ``dataset``'s rows and splits.

    Parameters
    ----------
    dataset
        The whole data set, before ``--target`` selects the channels to forecast.
    config
        The run's configuration.

    Returns
    -------
    dict[str, Dataset]
        ``{"past_covariates": ..., "future_covariates": ...}``, those asked for (none: empty).
        The past covariates are standardized with the training split's statistics (as the
        data set is); the calendar features are already in [-1, 1] and kept as they are.

    Raises
    ------
    ValueError
        ``--covariate-width`` without covariates, ``rest`` without ``--target`` (no column is
        left over) or with every column a target,
        ``calendar`` on a data set without regular timestamps, or a run the covariates cannot
        take: the NeuralForecast backend, quantile levels, a zero-shot or several teachers.
    """
    sets = {}
    if config.past_covariates is None and config.future_covariates is None:
        if config.covariate_width is not None:
            raise ValueError(
                "--covariate-width shapes how the students read covariates, and this run has "
                "none: add --past-covariates or --future-covariates, or leave it out."
            )
        return sets
    _check_run(config)
    if config.past_covariates == "rest":
        targets = config.target or tuple(dataset.frame.columns)
        rest = [column for column in dataset.frame.columns if column not in targets]
        if not rest:
            raise ValueError(
                "--past-covariates rest reads the columns outside --target, and there are none: "
                "name the columns to forecast with --target (e.g. --target OT on the ETT data)."
            )
        sets[PAST] = dataset.select(rest)
    if config.future_covariates == "calendar":
        index = dataset.frame.index
        if not isinstance(index, pd.DatetimeIndex) or dataset.freq is None:
            raise ValueError(
                f"--future-covariates calendar needs regular timestamps, and data set "
                f"{dataset.name!r} has none; leave out --future-covariates for it."
            )
        frame = calendar(index)
        zeros = pd.Series(0.0, index=frame.columns)
        sets[FUTURE] = replace(dataset, frame=frame, mean=zeros, std=zeros + 1.0)
    return sets


def _check_run(config: BenchmarkConfig) -> None:
    """Refuse what a covariate run cannot do, naming the option to change."""
    if config.backend != "darts":
        raise ValueError(
            "covariates (--past-covariates, --future-covariates) run with the Darts backend; "
            "use --backend darts."
        )
    if config.quantiles is not None:
        raise ValueError(
            "covariates and --quantiles do not go together in one run yet; leave out one of them."
        )
    if config.teacher is not None and len(config.teacher) > 1:
        raise ValueError(
            "a covariate run distils one teacher that reads the covariates; name one --teacher."
        )


def covariate_windows(
    sets: dict[str, Dataset], split: str, lookback: int, horizon: int
) -> dict[str, np.ndarray]:
    """Each covariate's windows over a split, lined up with the target's windows.

    Returns
    -------
    dict[str, numpy.ndarray]
        Past covariates ``[n_windows, lookback, Cp]`` (the target window's steps), future
        covariates ``[n_windows, lookback + horizon, Cf]`` (its steps and the horizon's): as
        the students read them, and as ``Predictor.predict`` takes them.
    """
    windows = {}
    for name, dataset in sets.items():
        x, y = dataset.windows(split, lookback, horizon)
        windows[name] = x if name == PAST else np.concatenate([x, y], axis=1)
    return windows
