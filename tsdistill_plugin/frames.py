"""Checks of long-format frames (``unique_id, ds, y``): what is read silently but wrongly.

``NeuralForecast.fit`` sorts the rows by series and time, then hands its models the target
values alone, without their timestamps. Rows that share a ``(unique_id, ds)`` pair, and missing
timestamps, reach a model as consecutive steps of a series that is not the user's: no model,
the students included, can see them. Call :func:`check_frame` (exported as
``tsdistill_plugin.neuralforecast.check_frame``) on the frame before ``fit``
(``nf.fit(check_frame(df, freq="h"))``); the plugin does not change NeuralForecast to call it.
``Predictor.predict`` checks a long frame's timestamps with :func:`check_timestamps`.

Plain pandas: no torch, no forecasting library.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def check_frame(
    df: pd.DataFrame,
    freq: str | int,
    id_col: str = "unique_id",
    time_col: str = "ds",
    target_col: str = "y",
) -> pd.DataFrame:
    """Refuse a long-format frame that NeuralForecast would train on silently but wrongly.

    Checks that ``df`` has rows, a numeric and finite target, timestamps (or integers) in
    ``time_col``, one row per series and timestamp, and no missing timestamp between each
    series' first and last at ``freq``. The row order does not matter (NeuralForecast sorts).

    Parameters
    ----------
    df
        The frame for ``NeuralForecast.fit`` (one row per series and timestamp); not modified.
    freq
        The frequency passed to ``NeuralForecast`` (a pandas offset alias such as ``"h"``, or
        an integer step for integer timestamps).
    id_col, time_col, target_col
        Column names, as passed to ``NeuralForecast.fit``.

    Returns
    -------
    pandas.DataFrame
        ``df`` itself, for ``nf.fit(check_frame(df, "h"))``.

    Raises
    ------
    TypeError
        When ``df`` is not a DataFrame.
    ValueError
        Naming the first problem found, where it is, and the fix.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}; pass one.")
    missing = [c for c in (id_col, time_col, target_col) if c not in df.columns]
    if missing:
        raise ValueError(
            f"df has no column {missing[0]!r} (columns: {list(df.columns)}); rename the "
            "columns, or pass id_col, time_col and target_col as NeuralForecast.fit gets them."
        )
    if len(df) == 0:
        raise ValueError("df has no rows; pass the data to fit on.")
    _check_target(df, id_col, time_col, target_col)
    check_timestamps(df, freq, id_col, time_col)
    return df


def check_timestamps(
    df: pd.DataFrame, freq: str | int | None, id_col: str = "unique_id", time_col: str = "ds"
) -> None:
    """Refuse a long-format frame whose timestamps are not one regular grid per series.

    Parameters
    ----------
    df
        Rows of several series, in any order; not modified.
    freq
        The data's frequency (a pandas offset alias, or an integer step for integer
        timestamps), or ``None`` to check only that no timestamp repeats.
    id_col, time_col
        Column names.

    Raises
    ------
    ValueError
        For timestamps that are neither datetimes nor integers, a ``(id, time)`` pair on
        several rows, or a missing timestamp between a series' first and last.
    """
    kind = df[time_col]
    if not (
        pd.api.types.is_datetime64_any_dtype(kind)
        or (pd.api.types.is_integer_dtype(kind) and not pd.api.types.is_bool_dtype(kind))
    ):
        raise ValueError(
            f"column {time_col!r} has dtype {kind.dtype}; it must hold timestamps or integers: "
            f"convert it, e.g. df[{time_col!r}] = pd.to_datetime(df[{time_col!r}])."
        )
    times = df[[id_col, time_col]]
    repeated = times.duplicated(keep=False)
    if repeated.any():
        first = times[repeated].iloc[0]
        raise ValueError(
            f"{int(repeated.sum())} rows of df share their ({id_col}, {time_col}) with another "
            f"row (first: {id_col}={first[id_col]!r}, {time_col}={first[time_col]}), which "
            "would be read as consecutive steps. Keep one row per timestamp: "
            f"df.drop_duplicates([{id_col!r}, {time_col!r}], keep='last'), or aggregate them "
            f"with df.groupby([{id_col!r}, {time_col!r}], as_index=False).mean()."
        )
    if freq is not None:
        _check_regular(times, freq, id_col, time_col)


def series_starts(ids: pd.Series) -> np.ndarray:
    """``[rows]``: whether each row of ``ids``, sorted by series, is its series' first."""
    codes, _ = pd.factorize(ids)
    return np.r_[True, codes[1:] != codes[:-1]]


def _check_target(df: pd.DataFrame, id_col: str, time_col: str, target_col: str) -> None:
    target = df[target_col]
    if not pd.api.types.is_numeric_dtype(target) or pd.api.types.is_bool_dtype(target):
        raise ValueError(
            f"column {target_col!r} has dtype {target.dtype}, not numbers; convert it, e.g. "
            f"df[{target_col!r}] = pd.to_numeric(df[{target_col!r}])."
        )
    finite = np.isfinite(target.to_numpy(dtype=np.float64))
    if not finite.all():
        first = df[~finite].iloc[0]
        raise ValueError(
            f"column {target_col!r} holds {int((~finite).sum())} NaN or infinite values (first: "
            f"{id_col}={first[id_col]!r}, {time_col}={first[time_col]}); fill, drop or clip "
            "them before fitting."
        )


def _check_regular(times: pd.DataFrame, freq: str | int, id_col: str, time_col: str) -> None:
    """Refuse a series with a missing timestamp between its first and last at ``freq``."""
    dated = pd.api.types.is_datetime64_any_dtype(times[time_col])
    if dated == (isinstance(freq, int | np.integer) and not isinstance(freq, bool)):
        kind = "timestamps" if dated else "integers"
        raise ValueError(
            f"column {time_col!r} holds {kind} but freq={freq!r}; pass "
            + ("a pandas frequency such as 'h'" if dated else "an integer step such as 1")
            + " as NeuralForecast's freq."
        )
    if dated:
        try:
            offset = pd.tseries.frequencies.to_offset(freq)
        except ValueError as error:
            raise ValueError(
                f"freq={freq!r} is not a pandas frequency ({error}); pass the data's frequency, "
                "e.g. 'h', 'D' or '15min'."
            ) from error
    ordered = times.sort_values([id_col, time_col])
    stamps = ordered[time_col]
    starts = series_starts(ordered[id_col])
    misplaced = np.zeros(len(stamps), dtype=bool)  # [rows]: a series starting off the grid
    if dated:
        values = pd.DatetimeIndex(stamps)
        following = values[:-1] + offset  # [rows - 1]: each stamp's successor at freq
        if not isinstance(offset, pd.offsets.Tick):
            first = np.flatnonzero(starts)
            misplaced[first] = [not offset.is_on_offset(values[i]) for i in first]
    else:
        values = stamps.to_numpy()
        following = values[:-1] + freq
    broken = misplaced | np.r_[False, ~starts[1:] & (values[1:] != following)]
    if not broken.any():
        return
    row = int(np.argmax(broken))
    uid = ordered[id_col].iloc[row]
    if starts[row]:
        raise ValueError(
            f"series {uid!r} starts at {stamps.iloc[row]}, which is not a timestamp of "
            f"freq={freq!r}; pass the data's own frequency as freq."
        )
    raise ValueError(
        f"series {uid!r} misses timestamps at freq={freq!r}: after {stamps.iloc[row - 1]} comes "
        f"{stamps.iloc[row]} instead of {following[row - 1]}. Fill the missing timestamps (e.g. "
        "utilsforecast.preprocessing.fill_gaps(df, freq=...), then fill the target), or "
        "pass the data's own frequency as freq."
    )
