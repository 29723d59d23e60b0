"""``Predictor``: an exported student run by ONNX Runtime, without torch or either library.

Takes NumPy windows, a wide pandas frame (time index, one column per component) or
NeuralForecast's long frame (``unique_id``, ``ds``, ``y``) and answers in the same kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .._version import check_version
from ..frames import check_timestamps, series_starts
from ._extra import import_extra
from .metadata import (
    FUTURE_COVARIATES,
    HISTORIC_FUTURE_COVARIATES,
    INPUT_NAME,
    PAST_COVARIATES,
    STATIC_COVARIATES,
    StudentSpec,
)

LONG_COLUMNS = ("unique_id", "ds", "y")
"""NeuralForecast's long format: series id, time, target."""

DEVICES = ("auto", "cpu", "cuda")


class Predictor:
    """Forecasts with an exported student (see :func:`~tsdistill_plugin.export.to_onnx`).

    Build it with :meth:`load`. Windows longer than the lookback are cut to their last
    ``lookback`` steps; nothing passed in is modified.

    Attributes
    ----------
    spec
        What the file says about the student (lookback, horizon, components, frequency,
        teacher, training data digest, ...).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import pandas as pd
    >>> from darts import TimeSeries
    >>> from tsdistill_plugin.darts import DistilledMLPModel
    >>> from tsdistill_plugin.export import Predictor, to_onnx
    >>> hours = pd.date_range("2024-01-01", periods=300, freq="h")
    >>> frame = pd.DataFrame({"load": np.sin(np.arange(300) / 4)}, index=hours, dtype="float32")
    >>> model = DistilledMLPModel(48, 12, hidden_size=16, n_epochs=1, random_state=0)
    >>> model = model.fit(TimeSeries.from_dataframe(frame), verbose=False)
    >>> predictor = Predictor.load(to_onnx(model, Path(tempfile.mkdtemp()) / "s.onnx"), threads=1)
    >>> predictor.spec.lookback, predictor.spec.horizon, predictor.spec.components
    (48, 12, ('load',))
    >>> predictor.predict(np.zeros((5, 48, 1), dtype="float32")).shape  # [batch, time, channels]
    (5, 12, 1)
    >>> forecast = predictor.predict(frame)  # a frame: forecast timestamps follow its index
    >>> forecast.index[0], forecast.shape
    (Timestamp('2024-01-13 12:00:00'), (12, 1))
    """

    def __init__(self, session: object, spec: StudentSpec) -> None:
        self._session = session
        self.spec = spec

    @classmethod
    def load(cls, path: str | Path, threads: int | None = None, device: str = "auto") -> Predictor:
        """Open an exported student.

        Parameters
        ----------
        path
            The ``.onnx`` file written by ``to_onnx`` or ``tsdistill export``.
        threads
            Intra-op threads of ONNX Runtime (``None``: its default, all cores).
        device
            ``"cpu"``, ``"cuda"`` (ONNX Runtime's CUDA execution provider, which must be
            installed) or ``"auto"`` (CUDA when available, else CPU).

        Raises
        ------
        ValueError
            If the file is not an exported student, was exported by a newer plugin, or
            ``threads`` / ``device`` are invalid.
        """
        ort = import_extra("onnxruntime", "running an exported student")
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no exported student at {path}; export one first.")
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads must be a positive integer or None, got {threads!r}.")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or 0
        options.inter_op_num_threads = 1
        try:
            session = ort.InferenceSession(str(path), options, providers=_providers(ort, device))
        except _unreadable_model_errors(ort) as error:
            raise ValueError(
                f"{path} is not a student exported by tsdistill_plugin (ONNX Runtime cannot "
                f"read it: {str(error).splitlines()[0]}); export one with `tsdistill export`."
            ) from error
        spec = StudentSpec.from_props(session.get_modelmeta().custom_metadata_map, str(path))
        check_version(spec.plugin_version, str(path))
        return cls(session, spec)

    @property
    def providers(self) -> list[str]:
        """ONNX Runtime execution providers in use (first: where the graph runs)."""
        return self._session.get_providers()

    def run(self, windows: np.ndarray, **covariates: np.ndarray) -> np.ndarray:
        """Run the graph on ready windows, unchecked.

        ``[batch, lookback, channels]`` float32, contiguous -> ``[batch, horizon, channels]``
        (``[batch, horizon, channels, quantiles]`` for a probabilistic student); ``covariates``
        are the graph's covariate inputs by name (``past_covariates``, ...).
        """
        return self._session.run(None, {INPUT_NAME: windows, **covariates})[0]

    def predict(
        self,
        x: np.ndarray | pd.DataFrame,
        past_covariates: np.ndarray | pd.DataFrame | None = None,
        future_covariates: np.ndarray | pd.DataFrame | None = None,
        static_covariates: np.ndarray | pd.Series | None = None,
    ) -> np.ndarray | pd.DataFrame:
        """Forecast the ``horizon`` steps after the end of ``x``.

        Parameters
        ----------
        x
            - NumPy ``[time, channels]`` or ``[batch, time, channels]`` with
              ``time >= lookback``: returns ``[horizon, channels]`` or
              ``[batch, horizon, channels]`` (a probabilistic student: one more axis, the
              quantiles of ``spec.quantiles``).
            - A wide frame: a ``DatetimeIndex`` (or integer index), one column per component:
              returns a frame of the forecast timestamps and the same columns (a
              probabilistic student: one column per component and quantile, named as Darts
              names them, ``OT_q0.100``, ...).
            - A long frame with columns ``unique_id``, ``ds``, ``y``: returns ``unique_id``,
              ``ds`` and the model's name as column (NeuralForecast's layout; a
              probabilistic student: one column per quantile, named as NeuralForecast names
              them, ``DistilledMLP-lo-80``, ``DistilledMLP-median``, ...). A student with
              exogenous variables reads its past and future ones as columns of the frame,
              as NeuralForecast's ``df``, the future ones for the horizon from
              ``future_covariates`` (``futr_df``) and the static ones from
              ``static_covariates`` (``static_df``).
        past_covariates, future_covariates, static_covariates
            The covariates a covariate student reads (``spec.past_covariates``, ...), with an
            array ``x``: past ``[time, Cp]`` (batched ``[batch, time, Cp]``) over the same
            steps as ``x``, future ``[time + horizon, Cf]`` over them and the horizon, static
            ``[S]`` (``[batch, S]``); with a wide frame ``x``: frames with the covariates'
            columns whose index holds the history's last ``lookback`` timestamps (future: and
            the forecast's), static a ``Series`` by name.

        Raises
        ------
        ValueError
            For a wrong shape, too little history, NaN or inf, unknown or missing columns,
            (long frames) a timestamp repeated or missing among a series' last ``lookback``
            rows (the only ones read and checked), and covariates that are
            missing or not read, have missing or unknown columns, are misaligned with the
            history, or (future) do not cover the horizon.
        TypeError
            For an input that is none of the above.
        """
        given = {
            "past": past_covariates,
            "future": future_covariates,
            "static": static_covariates,
        }
        if isinstance(x, pd.DataFrame) and ("unique_id" in x.columns or "ds" in x.columns):
            return self._predict_long(x, given)
        self._check_covariate_kinds(given)
        if isinstance(x, pd.DataFrame):
            return self._predict_wide(x, given)
        if isinstance(x, np.ndarray):
            return self._predict_array(x, given)
        raise TypeError(
            "predict expects a NumPy array [time, channels] or [batch, time, channels], a wide "
            "DataFrame (time index, one column per component) or a long DataFrame "
            f"(unique_id, ds, y), got {type(x).__name__}."
        )

    # -- NumPy ---------------------------------------------------------------------------

    def _predict_array(self, x: np.ndarray, given: dict[str, object]) -> np.ndarray:
        spec = self.spec
        if x.ndim not in (2, 3):
            raise ValueError(
                f"expected an array [time, channels] or [batch, time, channels] (time >= "
                f"{spec.lookback}{self._channels_text()}), got shape {list(x.shape)}."
            )
        windows = x[None] if x.ndim == 2 else x
        self._check_channels(windows.shape[2], "channels (last axis)")
        self._check_history(windows.shape[1], "time steps (axis -2)")
        covariates = self._array_covariates(given, windows.shape[:2], x.ndim == 2)
        windows = _finite_float32(windows[:, -spec.lookback :], "the array")
        forecast = self.run(windows, **covariates)
        return forecast[0] if x.ndim == 2 else forecast

    # -- frames --------------------------------------------------------------------------

    def _predict_wide(
        self, frame: pd.DataFrame, given: dict[str, object] | None = None
    ) -> pd.DataFrame:
        columns = [str(c) for c in frame.columns]
        if not self.spec.channel_independent:
            self._check_names(columns, "columns")
            frame = frame.set_axis(columns, axis=1)[list(self.spec.components)]
            columns = list(self.spec.components)
        elif not columns:
            raise ValueError("the frame has no columns; give one column per series.")
        self._check_index(frame.index, "the frame's index")
        self._check_history(len(frame), "rows")
        tail = frame.iloc[-self.spec.lookback :]
        windows = _finite_float32(_numeric(tail, "the frame")[None], tail)
        index = self._future(frame.index[-1:], self._frequency(frame.index), self.spec.horizon)
        covariates = self._frame_covariates(given or {}, tail.index, index)
        forecast = self.run(windows, **covariates)[0]  # [H, C] or [H, C, Q]
        names = [name for column in columns for name in self.spec.darts_columns(column)]
        return pd.DataFrame(forecast.reshape(len(index), -1), index=index, columns=names)

    def _predict_long(self, frame: pd.DataFrame, given: dict[str, object]) -> pd.DataFrame:
        read = self._long_exogenous()
        if read and not self.spec.channel_independent and self.spec.library != "neuralforecast":
            raise ValueError(
                "a covariate student of fixed channels forecasts from arrays or a wide frame "
                "with its covariates; long frames are not supported for it."
            )
        exogenous = list(dict.fromkeys([*read.get("past", ()), *read.get("future", ())]))
        expected = [*LONG_COLUMNS, *exogenous]
        missing = [c for c in expected if c not in frame.columns]
        unknown = [c for c in frame.columns if c not in expected]
        if missing or unknown:
            reads = f"; the student reads the exogenous columns {exogenous}" if read else ""
            raise ValueError(
                f"a long frame needs exactly the columns {expected}; missing {missing}, "
                f"unknown {unknown}. Rename or drop columns{reads}."
            )
        self._check_long_covariate_kinds(given)
        freq = self.spec.freq
        recent = self._recent_rows(frame.sort_values(["unique_id", "ds"], kind="stable"))
        check_timestamps(recent, int(freq) if freq and freq.lstrip("-").isdigit() else freq)
        return self._predict_each_series(recent, given)

    def _long(self, uids: np.ndarray, stamps: pd.Index, values: np.ndarray) -> pd.DataFrame:
        """A long frame of ``values`` ``[series, horizon, columns]`` at ``stamps`` ``[S * H]``."""
        horizon = values.shape[1]
        columns = self.spec.neuralforecast_columns()
        return pd.DataFrame(
            {
                "unique_id": np.repeat(uids, horizon),
                "ds": stamps.to_numpy(),
                **dict(zip(columns, values.reshape(-1, len(columns)).T, strict=True)),
            }
        )

    def _recent_rows(self, ordered: pd.DataFrame) -> pd.DataFrame:
        """Each series' last ``lookback`` rows of a frame sorted by series and time.

        They are what the student reads and all that is checked; a series with fewer rows is
        refused.
        """
        lookback, rows = self.spec.lookback, len(ordered)
        starts = np.flatnonzero(series_starts(ordered["unique_id"]))
        sizes = np.diff(np.r_[starts, rows])  # [series]
        short = np.flatnonzero(sizes < lookback)
        if len(short):
            uids = ordered["unique_id"].to_numpy()[starts[short[:5]]]
            raise ValueError(
                f"the student needs the last {lookback} steps of every series; too few rows "
                f"for {list(uids)} ({list(sizes[short[:5]])} rows)."
            )
        ends = np.repeat(starts + sizes, sizes)  # [rows]: the end of each row's series
        return ordered[np.arange(rows) >= ends - lookback]

    def _predict_each_series(self, tail: pd.DataFrame, given: dict[str, object]) -> pd.DataFrame:
        """One window per series, each with its own end, or all of them together.

        ``tail`` holds the series' last ``lookback`` rows, one series after another. Together
        for a student of fixed channels: each series a channel (NeuralForecast's multivariate
        student with exogenous variables reads those of all the series in one row).
        """
        lookback, horizon = self.spec.lookback, self.spec.horizon
        uids = tail["unique_id"].to_numpy()[::lookback]
        values = _numeric(tail[["y"]], "column 'y'").reshape(len(uids), lookback, 1)
        stamps = self._long_future(pd.Index(tail["ds"]), len(uids))
        if not self.spec.channel_independent:
            order = self._channel_order(uids, tail["ds"].to_numpy().reshape(len(uids), lookback))
        arrays = self._long_covariates(tail, uids, stamps, given)  # each [series, ...]
        windows = _finite_float32(values, "column 'y'")
        if self.spec.channel_independent:
            covariates = self._array_covariates(arrays, (len(uids), lookback), single=False)
            forecast = self.run(windows, **covariates)[:, :, 0]  # [series, H, ...]
            return self._long(uids, stamps, forecast.reshape(len(uids), horizon, -1))
        rows = {  # [1, time, X N] column by column, static [1, N S] series by series
            kind: value[order].transpose(1, 2, 0).reshape(1, value.shape[1], -1)
            if value.ndim == 3
            else value[order].reshape(1, -1)
            for kind, value in arrays.items()
        }
        covariates = self._array_covariates(rows, (1, lookback), single=False)
        forecast = self.run(windows[order, :, 0].T[None], **covariates)[0]  # [H, series, ...]
        values = np.swapaxes(forecast, 0, 1).reshape(len(uids), horizon, -1)
        return self._long(uids[order], stamps, values)  # the series share their stamps

    def _channel_order(self, uids: np.ndarray, recent: np.ndarray) -> np.ndarray:
        """The positions of the student's components among a long frame's series ``uids``.

        Their last timestamps ``recent`` ``[series, lookback]`` must be the same.
        """
        self._check_names([str(u) for u in uids], "series (unique_id)")
        if (recent != recent[:1]).any():
            raise ValueError(
                "the series of a multivariate student must share their timestamps, but some "
                "series lack rows that others have; align them before predicting."
            )
        position = {str(u): i for i, u in enumerate(uids)}
        return np.array([position[c] for c in self.spec.components])

    def _long_future(self, recent: pd.Index, series: int) -> pd.Index:
        """The forecast timestamps ``[series * horizon]`` of a long frame's series.

        ``recent`` holds the series' last ``lookback`` stamps, ``[series * lookback]``, series
        by series; without a recorded frequency each series' own is inferred.
        """
        lookback, horizon = self.spec.lookback, self.spec.horizon
        ends = recent[lookback - 1 :: lookback]
        if self.spec.freq is not None:
            return self._future(ends, self._frequency(recent[-lookback:]), horizon)
        freqs = np.array(
            [self._frequency(recent[i * lookback : (i + 1) * lookback]) for i in range(series)]
        )
        pieces, positions = [], []
        for freq in np.unique(freqs):
            rows = np.flatnonzero(freqs == freq)
            pieces.append(self._future(ends[rows], freq.item(), horizon))
            positions.append((rows[:, None] * horizon + np.arange(horizon)).reshape(-1))
        return pieces[0].append(pieces[1:])[np.argsort(np.concatenate(positions))]

    # -- covariates ----------------------------------------------------------------------

    def _check_long_covariate_kinds(self, given: dict[str, object]) -> None:
        """The covariates given beside a long frame, as NeuralForecast takes them.

        Past covariates are the frame's columns (NeuralForecast's ``df``); future ones its
        columns and ``futr_df`` for the horizon; static ones ``static_df``.
        """
        read = self.spec.covariate_names
        if given["past"] is not None:
            raise ValueError(
                "with a long frame the past covariates are columns of the frame (NeuralForecast's "
                "df); drop past_covariates=..."
            )
        for kind, frame in (("future", "futr_df"), ("static", "static_df")):
            if kind in read and not isinstance(given[kind], pd.DataFrame):
                raise ValueError(
                    f"the student reads {kind} covariates {list(read[kind])}; with a long frame "
                    f"pass {kind}_covariates= a frame as NeuralForecast's {frame} (unique_id"
                    + (", ds" if kind == "future" else "")
                    + f" and those columns), got {type(given[kind]).__name__}."
                )
            if kind not in read and given[kind] is not None:
                raise ValueError(f"the student reads no {kind} covariates; drop {kind}_covariates.")

    def _long_covariates(
        self,
        tail: pd.DataFrame,
        uids: np.ndarray,
        stamps: pd.Index,
        given: dict[str, object],
    ) -> dict[str, np.ndarray]:
        """The graph's covariate inputs for each series of a long frame (a batch row each).

        ``tail`` holds the series' last ``lookback`` rows, ``stamps`` their forecast times
        ``[series * horizon]``. Returns past ``[series, L, X]``, future ``[series, L + H, F]``
        and static ``[series, S]`` arrays of the kinds the student reads.
        """
        read = self._long_exogenous()
        series, lookback = len(uids), self.spec.lookback
        arrays = {}
        for kind in ("past", "future"):
            if kind in read:
                columns = list(read[kind])
                values = _numeric(tail[columns], f"{kind} covariates")
                arrays[kind] = values.reshape(series, lookback, len(columns))
        if "future" in read:
            columns = list(read["future"])
            futr = given["future"]
            self._check_covariate_columns(
                [c for c in futr.columns if c not in LONG_COLUMNS[:2]], "future", columns
            )
            wanted = pd.MultiIndex.from_arrays(
                [
                    np.repeat(uids, self.spec.horizon),
                    stamps.to_numpy(),
                ],
                names=["unique_id", "ds"],
            )
            _check_unique_rows(futr, ["unique_id", "ds"], "future_covariates")
            given_rows = futr.set_index(["unique_id", "ds"])[columns]
            ahead = given_rows.reindex(wanted)  # a NaN in a given row is refused as NaN below
            lacking = wanted[~wanted.isin(given_rows.index)]
            if len(lacking):
                uid, ds = lacking[0]
                raise ValueError(
                    f"future_covariates do not cover the horizon: they lack {len(lacking)} of "
                    f"the {len(wanted)} forecast rows (first: series {uid!r} at {ds}); pass "
                    "NeuralForecast's futr_df with every series' next horizon steps."
                )
            horizon = _numeric(ahead, "future_covariates").reshape(series, -1, len(columns))
            arrays["future"] = np.concatenate([arrays["future"], horizon], axis=1)
        if "static" in read:
            columns = list(read["static"])
            static = given["static"]
            given_columns = [c for c in static.columns if c != "unique_id"]
            self._check_covariate_columns(given_columns, "static", columns)
            _check_unique_rows(static, ["unique_id"], "static_covariates")
            rows = static.set_index("unique_id")[columns].reindex(uids)
            absent = rows.index[rows.isna().any(axis=1).to_numpy()]
            if len(absent):
                raise ValueError(
                    f"static_covariates lack the series {list(absent[:5])}; pass "
                    "NeuralForecast's static_df with a row for every series."
                )
            arrays["static"] = _numeric(rows, "static_covariates")
        return arrays

    def _long_exogenous(self) -> dict[str, tuple[str, ...]]:
        """The exogenous columns of a long frame and NeuralForecast's frames, by kind.

        The student's covariate names, except for NeuralForecast's multivariate student, whose
        graph columns ``"<column>[<series>]"`` (see the exporter) come from the frames'
        ``<column>`` of each series.
        """
        read = self.spec.covariate_names
        if self.spec.channel_independent or self.spec.library != "neuralforecast":
            return read
        series, first = len(self.spec.components), f"[{self.spec.components[0]}]"
        return {  # the first series' names: past and future series by series, static in a row
            kind: tuple(
                name[: -len(first)]
                for name in (names[: len(names) // series] if kind == "static" else names[::series])
            )
            for kind, names in read.items()
        }

    def _check_covariate_kinds(self, given: dict[str, object]) -> None:
        read = self.spec.covariate_names
        for kind, value in given.items():
            if kind in read and value is None:
                raise ValueError(
                    f"the student reads {kind} covariates {list(read[kind])}; pass "
                    f"{kind}_covariates=... with them."
                )
            if kind not in read and value is not None:
                raise ValueError(
                    f"the student reads no {kind} covariates (it reads "
                    f"{sorted(read) or 'none'}); drop {kind}_covariates."
                )

    def _array_covariates(
        self, given: dict[str, object], batch_time: tuple[int, int], single: bool
    ) -> dict[str, np.ndarray]:
        """The graph's covariate inputs from arrays aligned with a history of ``time`` steps."""
        batch, time = batch_time
        lookback, horizon = self.spec.lookback, self.spec.horizon
        read = self.spec.covariate_names
        inputs = {}
        for kind, steps in (("past", time), ("future", time + horizon), ("static", None)):
            if kind not in read:
                continue
            value = np.asarray(given[kind])
            value = value[None] if single else value
            width = len(read[kind])
            expected = [batch, width] if steps is None else [batch, steps, width]
            if list(value.shape) != expected:
                need = "" if steps is None else f" (the history's {time} steps"
                need += " and the horizon's" if kind == "future" else ""
                need += ")" if steps is not None else ""
                problem = (
                    "do not cover the horizon"
                    if kind == "future"
                    and value.ndim == len(expected)
                    and value.shape[-2] < expected[-2]
                    else "are misaligned with the history"
                    if steps is not None
                    and value.ndim == len(expected)
                    and value.shape[-1] == width
                    else "have the wrong shape"
                )
                shape = expected[1:] if single else expected
                raise ValueError(
                    f"{kind}_covariates {problem}: expected shape {shape}{need}, columns "
                    f"{list(read[kind])}, got {list(value.shape[1:] if single else value.shape)}."
                )
            value = _finite_float32(value, f"{kind}_covariates")
            if kind == "past":
                inputs[PAST_COVARIATES] = np.ascontiguousarray(value[:, -lookback:])
            elif kind == "future":
                history = value[:, :-horizon]
                inputs[HISTORIC_FUTURE_COVARIATES] = np.ascontiguousarray(history[:, -lookback:])
                inputs[FUTURE_COVARIATES] = np.ascontiguousarray(value[:, -horizon:])
            else:
                inputs[STATIC_COVARIATES] = value
        return inputs

    def _frame_covariates(
        self, given: dict[str, object], history: pd.Index, forecast: pd.Index
    ) -> dict[str, np.ndarray]:
        """The graph's covariate inputs from frames, by the history's and forecast's stamps."""
        read = self.spec.covariate_names
        arrays = {}
        for kind in read:
            value = given[kind]
            if kind == "static":
                series = value if isinstance(value, pd.Series) else None
                if series is None:
                    arrays[kind] = np.asarray(value)
                    continue
                self._check_covariate_columns(list(series.index), kind)
                arrays[kind] = series[list(read[kind])].to_numpy()
                continue
            if not isinstance(value, pd.DataFrame):
                raise TypeError(
                    f"with a frame as history, {kind}_covariates must be a frame too (its index "
                    f"the history's timestamps), got {type(value).__name__}."
                )
            self._check_covariate_columns([str(c) for c in value.columns], kind)
            value = value.set_axis([str(c) for c in value.columns], axis=1)[list(read[kind])]
            missing = history.difference(value.index)
            if len(missing):
                raise ValueError(
                    f"{kind}_covariates are misaligned with the history: they lack "
                    f"{len(missing)} of its last {len(history)} timestamps (first: {missing[0]}); "
                    "pass covariates over the history's timestamps."
                )
            stamps = history
            if kind == "future":
                ahead = forecast.difference(value.index)
                if len(ahead):
                    raise ValueError(
                        f"future_covariates do not cover the horizon: they lack {len(ahead)} of "
                        f"the {len(forecast)} forecast timestamps (first: {ahead[0]}); pass "
                        "future covariates through the end of the forecast."
                    )
                stamps = history.append(forecast)
            arrays[kind] = _numeric(value.loc[stamps], f"{kind}_covariates")
        return self._array_covariates(arrays, (1, len(history)), single=True)

    def _check_covariate_columns(
        self, given: Sequence[str], kind: str, expected: Sequence[str] | None = None
    ) -> None:
        expected = list(self.spec.covariate_names[kind] if expected is None else expected)
        missing = [c for c in expected if c not in given]
        unknown = [c for c in given if c not in expected]
        if missing or unknown:
            raise ValueError(
                f"the student reads the {kind} covariates {expected}; {kind}_covariates miss "
                f"{missing} and have unknown {unknown}. Give exactly those columns."
            )

    # -- checks and timestamps -----------------------------------------------------------

    def _channels_text(self) -> str:
        if self.spec.channel_independent:
            return ", any number of channels"
        return f", channels = {len(self.spec.components)}"

    def _check_channels(self, given: int, what: str) -> None:
        expected = len(self.spec.components)
        if not self.spec.channel_independent and given != expected:
            raise ValueError(
                f"the student forecasts {expected} channels {list(self.spec.components)}, but "
                f"the input has {given} {what}; pass them in that order."
            )

    def _check_history(self, given: int, what: str) -> None:
        if given < self.spec.lookback:
            raise ValueError(
                f"the student needs the last {self.spec.lookback} steps of history, but the "
                f"input has {given} {what}; pass at least {self.spec.lookback}."
            )

    def _check_names(self, given: Sequence[str], what: str) -> None:
        expected = list(self.spec.components)
        missing = [c for c in expected if c not in given]
        unknown = [c for c in given if c not in expected]
        if missing or unknown:
            raise ValueError(
                f"the student forecasts the components {expected}; the input's {what} miss "
                f"{missing} and have unknown {unknown}. Give exactly those {what}."
            )

    @staticmethod
    def _check_index(index: pd.Index, what: str) -> None:
        if not (isinstance(index, pd.DatetimeIndex) or pd.api.types.is_integer_dtype(index)):
            raise TypeError(
                f"{what} must be a DatetimeIndex (or integer time steps), got "
                f"{type(index).__name__}; set the time column as index, e.g. "
                "frame.set_index(pd.to_datetime(frame['date']))."
            )
        if not index.is_monotonic_increasing or index.has_duplicates:
            raise ValueError(f"{what} must increase strictly (sort it and drop duplicates).")

    def _frequency(self, recent: pd.Index) -> str | int:
        """A series' frequency: the file's, else inferred from its last stamps ``recent``.

        A pandas offset alias for timestamps, an integer step for integer time steps.
        """
        freq = self.spec.freq
        recorded = freq is not None and freq.lstrip("-").isdigit()
        if not isinstance(recent, pd.DatetimeIndex):
            if recorded:
                return int(freq)
            return int(recent[-1] - recent[-2]) if len(recent) > 1 else 1
        if freq is not None and not recorded:
            return freq
        inferred = pd.infer_freq(recent[-3:]) if len(recent) >= 3 else None
        if inferred is None:
            raise ValueError(
                "the forecast timestamps need a frequency: the exported file records none and "
                "pandas cannot infer one from the input's last timestamps; export with "
                "to_onnx(..., freq='h') (or `tsdistill export --freq h`)."
            )
        return inferred

    @staticmethod
    def _future(ends: pd.Index, freq: str | int, horizon: int) -> pd.Index:
        """The ``horizon`` time steps after each of ``ends``.

        Parameters
        ----------
        ends
            ``[series]``: each series' last timestamp (or integer time step).
        freq
            Their frequency (see :meth:`_frequency`).
        horizon
            Steps to give.

        Returns
        -------
        pandas.Index
            ``[series * horizon]``, series by series; of ``ends``' type, time zone and name.
        """
        if not isinstance(ends, pd.DatetimeIndex):
            steps = ends.to_numpy()[:, None] + freq * np.arange(1, horizon + 1)
            return pd.Index(steps.reshape(-1), name=ends.name)
        offset = pd.tseries.frequencies.to_offset(freq)
        steps = [ends + offset]  # each [series]
        for _ in range(horizon - 1):
            steps.append(steps[-1] + offset)
        order = np.arange(len(ends) * horizon).reshape(horizon, -1).T.reshape(-1)
        return steps[0].append(steps[1:])[order]


def _unreadable_model_errors(ort: object) -> tuple[type[BaseException], ...]:
    """ONNX Runtime's exceptions for a file that is not a valid model."""
    state = ort.capi.onnxruntime_pybind11_state
    names = ("InvalidProtobuf", "InvalidGraph", "Fail", "NoModel")
    return tuple(getattr(state, name) for name in names if hasattr(state, name))


def _providers(ort: object, device: str) -> list[str]:
    available = ort.get_available_providers()
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}.")
    cuda = "CUDAExecutionProvider" in available
    if device == "cuda" and not cuda:
        raise ValueError(
            "device='cuda' needs ONNX Runtime's CUDA execution provider, which this "
            f"onnxruntime lacks (available: {available}); install onnxruntime-gpu or use "
            "device='cpu'."
        )
    if device == "cpu" or not cuda:
        return ["CPUExecutionProvider"]
    return ["CUDAExecutionProvider", "CPUExecutionProvider"]


def _check_unique_rows(frame: pd.DataFrame, keys: list[str], what: str) -> None:
    """Refuse a covariate frame that gives some key (series, time) more than one row."""
    repeated = frame[frame.duplicated(keys, keep=False)]
    if len(repeated):
        first = ", ".join(f"{key}={repeated[key].iloc[0]!r}" for key in keys)
        raise ValueError(
            f"{what} repeat {len(repeated)} rows of the same {' and '.join(keys)} (first: "
            f"{first}); give one row each."
        )


def _numeric(frame: pd.DataFrame, what: str) -> np.ndarray:
    """A frame's values as a float array ``[rows, columns]``, refusing non-numeric columns."""
    bad = [str(c) for c, dtype in frame.dtypes.items() if not pd.api.types.is_numeric_dtype(dtype)]
    if bad:
        raise TypeError(f"{what} has non-numeric columns {bad}; convert them to numbers.")
    return frame.to_numpy(dtype=np.float64)


def _finite_float32(windows: np.ndarray, source: object) -> np.ndarray:
    """``windows`` ``[batch, lookback, channels]`` as contiguous float32, refusing NaN / inf.

    ``source`` is a name, or the frame the windows came from (its index and columns name the
    first bad value).
    """
    try:
        values = np.ascontiguousarray(windows, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise TypeError(f"the input must hold numbers ({error}).") from error
    finite = np.isfinite(values)
    if not finite.all():
        batch, step, channel = (int(i[0]) for i in np.nonzero(~finite))
        value = values[batch, step, channel]
        if isinstance(source, pd.DataFrame):
            where = f"at {source.index[step]!s}, column {source.columns[channel]!r}"
        else:
            where = f"in {source} at window {batch}, step {step}, channel {channel}"
        raise ValueError(
            f"the last {values.shape[1]} steps must be finite, but there is {value} {where}; "
            "fill or drop missing values before predicting."
        )
    return values
