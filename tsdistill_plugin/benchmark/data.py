"""Benchmark data sets and the standard long-term forecasting protocol.

:func:`load_dataset` returns a :class:`Dataset`: the whole series standardized with statistics of
the training split only, and the split boundaries of the protocol used by Informer, Autoformer,
Time-Series-Library and TimeDistill:

- ETTh1/ETTh2: 12 / 4 / 4 months of hourly rows (8640 / 2880 / 2880); ETTm1/ETTm2 the same
  months at 15 minutes (x4 rows). Rows after the test split are not used.
- every other data set: 70% / 20% of the rows for train / test (rounded down), validation the
  remainder in between.
- validation and test windows start ``lookback`` steps before their split boundary, so the first
  forecast starts exactly at the boundary; test windows have stride 1 and none is dropped.

Files are looked up in ``data_dir``, then in ``$TSDISTILL_DATA``; otherwise ``pooch`` downloads
them from their public source into the user cache folder (``~/.cache/tsdistill`` on Linux) once,
and checks them against their sha256 on every use.

``co2`` (the default data set of ``tsdistill benchmark``) needs no file: it is the weekly Mauna
Loa CO2 series shipped with statsmodels (``statsmodels.datasets.co2``, March 1958 to December
2001, 2284 weeks), whose 59 missing weeks are filled by linear interpolation in time.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Literal

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

ENV_VAR = "TSDISTILL_DATA"
"""Environment variable naming a folder that holds the benchmark CSV files."""

Split = Literal["train", "val", "test"]
SPLITS: tuple[str, ...] = ("train", "val", "test")


class DatasetNotFoundError(FileNotFoundError):
    """A data set file is in none of the searched folders and could not be downloaded.

    Examples
    --------
    >>> from tsdistill_plugin.benchmark import DatasetNotFoundError, load_dataset
    >>> try:
    ...     load_dataset("missing.csv")
    ... except DatasetNotFoundError as error:
    ...     print(isinstance(error, FileNotFoundError))
    True
    """


def cache_dir() -> Path:
    """The user cache folder for downloaded data sets: pooch's ``os_cache("tsdistill")``.

    On Linux: ``$XDG_CACHE_HOME/tsdistill``, by default ``~/.cache/tsdistill``.
    """
    return Path(_pooch().os_cache("tsdistill"))


# --------------------------------------------------------------------------------------------
# Split rules


def _ett_borders(rows_per_month: int) -> Callable[[int], tuple[int, int, int]]:
    def borders(n_rows: int) -> tuple[int, int, int]:
        month = rows_per_month
        return 12 * month, 16 * month, min(20 * month, n_rows)

    return borders


def ratio_borders(n_rows: int) -> tuple[int, int, int]:
    """Time-Series-Library's 70/10/20 split, as the ends of train, validation and test.

    ``int(0.7 n)`` rows train, ``int(0.2 n)`` test, the remainder validation.
    """
    n_train = int(n_rows * 0.7)
    n_test = int(n_rows * 0.2)
    return n_train, n_rows - n_test, n_rows


# --------------------------------------------------------------------------------------------
# Known data sets

# The sources and checksums of the project's data README (shared/data/README.md), pinned to a
# commit. ETTm2 is not in it: its sha256 is that of the file whose git blob id is ETDataset's
# ETTm2.csv at this commit (HiCR-Mamba's ETTm2.csv.gz, decompressed).
_GITHUB = "https://raw.githubusercontent.com"
_ETD = f"{_GITHUB}/zhouhaoyi/ETDataset/1d16c8f4f943005d613b5bc962e9eeb06058cf07/ETT-small"
_HICR = f"{_GITHUB}/ljnvs/HiCR-Mamba/d472c100956ed4373e9ca3700481ce88f8f1e4dd/datasets"
_THUML = (
    f"{_GITHUB}/junwoopark92/Self-Supervised-Contrastive-Forecsating/"
    "f394705adbf5217811276f5e59576c6e7ea7586c/dataset"
)
_TSLIB = "https://github.com/thuml/Time-Series-Library (README, 'Prepare Data')"


@dataclass(frozen=True)
class DatasetSpec:
    """Where a benchmark data set comes from and how it is split.

    Attributes
    ----------
    name
        Canonical name (also the file stem).
    filename
        CSV file name looked up in the data folders.
    url
        Public source (``.gz`` sources are decompressed), or ``None`` when no stable direct
        link exists (the user must place the file).
    sha256
        Checksum of the file at ``url`` (of the compressed file for a ``.gz`` source), or
        ``None`` when none is known (pooch then logs the downloaded file's).
    borders
        ``n_rows -> (train_end, val_end, test_end)``.
    lookback, horizons
        Defaults of the benchmark for this data set.
    source_note
        Where to get the file by hand.
    """

    name: str
    filename: str
    url: str | None
    sha256: str | None
    borders: Callable[[int], tuple[int, int, int]] = ratio_borders
    lookback: int = 720
    horizons: tuple[int, ...] = (96, 192, 336, 720)
    source_note: str = ""


DATASETS: dict[str, DatasetSpec] = {
    spec.name.lower(): spec
    for spec in (
        DatasetSpec(
            "ETTh1",
            "ETTh1.csv",
            f"{_ETD}/ETTh1.csv",
            "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066",
            _ett_borders(720),
        ),
        DatasetSpec(
            "ETTh2",
            "ETTh2.csv",
            f"{_ETD}/ETTh2.csv",
            "a3dc2c597b9218c7ce1cd55eb77b283fd459a1d09d753063f944967dd6b9218b",
            _ett_borders(720),
        ),
        DatasetSpec(
            "ETTm1",
            "ETTm1.csv",
            f"{_ETD}/ETTm1.csv",
            "6ce1759b1a18e3328421d5d75fadcb316c449fcd7cec32820c8dafda71986c9e",
            _ett_borders(2880),
        ),
        DatasetSpec(
            "ETTm2",
            "ETTm2.csv",
            f"{_ETD}/ETTm2.csv",
            "db973ca252c6410a30d0469b13d696cf919648d0f3fd588c60f03fdbdbadd1fd",
            _ett_borders(2880),
        ),
        DatasetSpec(
            "weather",
            "weather.csv",
            f"{_HICR}/weather/weather.csv.gz",  # weather.csv: sha256 34ee981d...a2ba63
            "862e9b447a3933f14b6f2d3d686a35d3adb5a486f97acfa46869be0e4bb682db",
        ),
        DatasetSpec(
            "exchange_rate",
            "exchange_rate.csv",
            f"{_THUML}/exchange_rate/exchange_rate.csv",
            "d55e7aa2641009814a18ba3279431b13f6d413b0eab195b9ff21988d8cf94e97",
        ),
        DatasetSpec(
            "national_illness",
            "national_illness.csv",
            f"{_THUML}/illness/national_illness.csv",
            "8594cecb98c6f2f9dc014eca11c4d5d1e38ad5ce6ed0592d4abe65b146fce395",
            lookback=104,
            horizons=(24, 36, 48, 60),
        ),
        DatasetSpec("electricity", "electricity.csv", None, None, source_note=_TSLIB),
        DatasetSpec("traffic", "traffic.csv", None, None, source_note=_TSLIB),
    )
}
ALIASES = {
    "ecl": "electricity",
    "ili": "national_illness",
    "illness": "national_illness",
    "exchange": "exchange_rate",
}

BUILTIN = "co2"
"""Name of the data set that ships with statsmodels and needs no file."""
BUILTIN_LOOKBACK = 104
"""Default lookback of ``co2``: two years of weeks."""
BUILTIN_HORIZONS = (52,)
"""Default horizon of ``co2``: one year of weeks."""


# --------------------------------------------------------------------------------------------
# The data set object


@dataclass(frozen=True)
class Dataset:
    """A standardized multivariate series with the protocol's split boundaries.

    Attributes
    ----------
    name
        Data set name (a CSV path's stem for custom files).
    frame
        All rows used by the protocol, standardized with the train statistics, float32, one
        column per channel. The index is a ``DatetimeIndex`` with a frequency when the
        timestamps are regular, otherwise a ``RangeIndex`` (rows are then used by position, as
        the reference does).
    train_end, val_end
        Row positions where validation and test begin (the test ends at ``len(frame)``).
    mean, std
        Per-column statistics of the raw training rows (``std`` with ``ddof=0``, as
        scikit-learn's ``StandardScaler``).
    source
        Path of the file read, or a description of a built-in series.
    lookback, horizons
        Default lookback and horizons of the benchmark for this data set.

    Examples
    --------
    >>> from tsdistill_plugin.benchmark import load_dataset
    >>> co2 = load_dataset("co2")
    >>> co2.n_channels, round(float(co2.frame.iloc[: co2.train_end].mean().iloc[0]), 6)
    (1, 0.0)
    """

    name: str
    frame: pd.DataFrame
    train_end: int
    val_end: int
    mean: pd.Series
    std: pd.Series
    source: str
    lookback: int = 720
    horizons: tuple[int, ...] = (96, 192, 336, 720)

    @property
    def n_channels(self) -> int:
        """Number of channels ``N``."""
        return self.frame.shape[1]

    @property
    def freq(self) -> str | None:
        """Frequency string of the index, or ``None`` for a positional index."""
        index = self.frame.index
        return index.freqstr if isinstance(index, pd.DatetimeIndex) else None

    def split_sizes(self) -> dict[str, int]:
        """Rows in each split: ``{"train": ..., "val": ..., "test": ...}``."""
        return {
            "train": self.train_end,
            "val": self.val_end - self.train_end,
            "test": len(self.frame) - self.val_end,
        }

    def select(self, columns: Sequence[str]) -> Dataset:
        """The data set restricted to ``columns`` (the channels to forecast), splits unchanged.

        Raises
        ------
        ValueError
            When a name is not a column of the data set.

        Examples
        --------
        >>> from tsdistill_plugin.benchmark import load_dataset
        >>> load_dataset("co2").select(["co2"]).n_channels
        1
        """
        missing = [name for name in columns if name not in self.frame.columns]
        if missing:
            raise ValueError(
                f"--target {' '.join(missing)}: no such column in data set {self.name!r}; "
                f"its columns are {', '.join(map(str, self.frame.columns))}."
            )
        names = list(columns)
        return replace(
            self, frame=self.frame[names].copy(), mean=self.mean[names], std=self.std[names]
        )

    def split(self, name: Split, lookback: int = 0) -> pd.DataFrame:
        """Rows of one split, starting ``lookback`` rows early for validation and test.

        Parameters
        ----------
        name
            ``"train"``, ``"val"`` or ``"test"``.
        lookback
            Rows of history prepended to validation and test (ignored for train), so that their
            first window forecasts the split's first row.

        Returns
        -------
        pandas.DataFrame
            A slice of :attr:`frame` (a copy).
        """
        starts = {"train": 0, "val": self.train_end, "test": self.val_end}
        ends = {"train": self.train_end, "val": self.val_end, "test": len(self.frame)}
        if name not in starts:
            raise ValueError(f"split must be one of {SPLITS}, got {name!r}.")
        start = starts[name] if name == "train" else max(starts[name] - lookback, 0)
        return self.frame.iloc[start : ends[name]].copy()

    def check_window(self, lookback: int, horizon: int) -> None:
        """Raise a ``ValueError`` unless every split holds at least one window.

        Training windows need ``lookback + horizon`` training rows; validation and test windows
        take their history from the previous split, so they need ``horizon`` rows.
        """
        for name, value in (("lookback", lookback), ("horizon", horizon)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        sizes = self.split_sizes()
        needed = {"train": lookback + horizon, "val": horizon, "test": horizon}
        for split, rows in sizes.items():
            if rows < needed[split]:
                what = "lookback + horizon" if split == "train" else "horizon"
                raise ValueError(
                    f"lookback={lookback}, horizon={horizon} do not fit data set {self.name!r}: "
                    f"the {split} split has {rows} rows but one window needs {what} = "
                    f"{needed[split]}; use a shorter --lookback/--horizon (splits: {sizes})."
                )

    def windows(self, split: Split, lookback: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """All stride-1 windows of a split, none dropped.

        Parameters
        ----------
        split
            ``"train"``, ``"val"`` or ``"test"``.
        lookback, horizon
            Input and output lengths.

        Returns
        -------
        tuple[numpy.ndarray, numpy.ndarray]
            Read-only views ``x [n_windows, lookback, channels]`` and ``y [n_windows, horizon,
            channels]``; window ``i`` of validation/test forecasts the split's row ``i`` onward.
        """
        self.check_window(lookback, horizon)
        values = self.split(split, lookback).to_numpy(dtype=np.float32)
        total = lookback + horizon
        stacked = np.lib.stride_tricks.sliding_window_view(values, total, axis=0)
        stacked = stacked.transpose(0, 2, 1)  # [n_windows, total, channels]
        return stacked[:, :lookback], stacked[:, lookback:]


# --------------------------------------------------------------------------------------------
# Loading


def load_dataset(
    name_or_path: str | os.PathLike, data_dir: str | os.PathLike | None = None
) -> Dataset:
    """Load a benchmark data set or a CSV file with a ``date`` column.

    Parameters
    ----------
    name_or_path
        ``"co2"`` (shipped with statsmodels), a benchmark name (``ETTh1``, ``ETTh2``, ``ETTm1``,
        ``ETTm2``, ``weather``, ``exchange_rate``, ``national_illness``, ``electricity``,
        ``traffic``; case-insensitive), or the path of a CSV file whose first date column is
        ``date`` and whose other columns are numeric.
    data_dir
        Folder searched first for the benchmark file.

    Returns
    -------
    Dataset
        The standardized series and its split boundaries.

    Raises
    ------
    ValueError
        Unknown name, or a CSV that does not follow the layout.
    DatasetNotFoundError
        The file is in no searched folder and cannot be downloaded.

    Examples
    --------
    >>> from tsdistill_plugin.benchmark import load_dataset
    >>> co2 = load_dataset("co2")  # shipped with statsmodels, no download
    >>> co2.frame.shape, co2.train_end, co2.val_end, co2.lookback, co2.horizons
    ((2284, 1), 1598, 1828, 104, (52,))
    >>> load_dataset("my_data.csv")
    Traceback (most recent call last):
        ...
    tsdistill_plugin.benchmark.data.DatasetNotFoundError: dataset='my_data.csv': no such ...
    """
    text = os.fspath(name_or_path)
    key = ALIASES.get(text.lower(), text.lower())
    if key == BUILTIN:
        raw, source = _co2(), "statsmodels.datasets.co2 (weekly Mauna Loa CO2, gaps interpolated)"
        return _standardize(BUILTIN, raw, ratio_borders, source, BUILTIN_LOOKBACK, BUILTIN_HORIZONS)
    if key in DATASETS:
        spec = DATASETS[key]
        path = locate(spec, data_dir)
        return _standardize(
            spec.name, _read_csv(path), spec.borders, str(path), spec.lookback, spec.horizons
        )
    path = Path(text).expanduser()
    if path.suffix.lower() in (".csv", ".gz") or path.exists():
        if not path.is_file():
            raise DatasetNotFoundError(
                f"dataset={text!r}: no such CSV file; give an existing path or a known name."
            )
        return _standardize(path.stem, _read_csv(path), ratio_borders, str(path), 96, (96,))
    known = ", ".join([BUILTIN, *(spec.name for spec in DATASETS.values())])
    raise ValueError(
        f"unknown dataset {text!r}; use one of {known}, or the path of a CSV file with a 'date' "
        "column."
    )


def locate(spec: DatasetSpec, data_dir: str | os.PathLike | None = None) -> Path:
    """Find ``spec``'s file in ``data_dir`` or ``$TSDISTILL_DATA``, else :func:`download` it.

    Raises
    ------
    DatasetNotFoundError
        Offline, or no public source: the message names the file, its source and where to put
        it.
    ValueError
        The downloaded file does not match its sha256.
    """
    folders = [Path(p).expanduser() for p in (data_dir, os.environ.get(ENV_VAR)) if p]
    for folder in folders:
        if (folder / spec.filename).is_file():
            return folder / spec.filename
    searched = ", ".join(str(f) for f in folders) or f"none (no data_dir, ${ENV_VAR} unset)"
    put = (
        f"put {spec.filename} in a folder passed as --data-dir (data_dir) or named by "
        f"${ENV_VAR}; searched: {searched}"
    )
    if spec.url is None:
        raise DatasetNotFoundError(
            f"{spec.filename} has no direct public download; get it from {spec.source_note} "
            f"and {put}."
        )
    try:
        return download(spec)
    except ValueError as error:  # pooch: the sha256 differs
        raise ValueError(
            f"checksum mismatch for {spec.url}: {error} The source changed or the download is "
            f"corrupt; download a verified copy yourself and {put}."
        ) from error
    except OSError as error:  # requests' errors are OSErrors: offline, refused, HTTP status
        raise DatasetNotFoundError(
            f"{spec.filename} could not be downloaded from {spec.url} ({error}); download it "
            f"yourself (on a machine with network access) and {put}."
        ) from error


def download(spec: DatasetSpec, folder: str | os.PathLike | None = None) -> Path:
    """The file of ``spec`` in ``folder`` (by default :func:`cache_dir`).

    Pooch downloads it when it is missing or does not match ``spec.sha256``; a ``.gz`` source
    is decompressed.

    Raises
    ------
    ValueError
        The downloaded file does not match ``spec.sha256`` (it is not kept).
    OSError
        The download failed (``requests``' errors are ``OSError``).
    """
    pooch = _pooch()
    compressed = spec.url.endswith(".gz")
    path = pooch.retrieve(
        spec.url,
        known_hash=None if spec.sha256 is None else f"sha256:{spec.sha256}",
        fname=spec.filename + ".gz" if compressed else spec.filename,
        path=folder or cache_dir(),
        processor=pooch.Decompress(name=spec.filename) if compressed else None,
    )
    return Path(path)


def _pooch() -> ModuleType:
    try:
        import pooch
    except ImportError as error:  # pragma: no cover - pooch is in the benchmark extra
        raise ImportError(
            "downloading data sets needs pooch; pip install 'tsdistill-plugin[benchmark]', or "
            f"put the files in a folder passed as data_dir or named by ${ENV_VAR}."
        ) from error
    return pooch


def _co2() -> pd.DataFrame:
    try:
        from statsmodels.datasets import co2
    except ImportError as error:  # pragma: no cover - statsmodels is in the benchmark extra
        raise ImportError(
            "the built-in 'co2' data set needs statsmodels; "
            "pip install 'tsdistill-plugin[benchmark]'."
        ) from error
    frame = co2.load_pandas().data.astype("float64")
    return frame.interpolate(method="time")


def _read_csv(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path)
    if "date" not in frame.columns:
        raise ValueError(
            f"{path} has no 'date' column (columns: {list(frame.columns)[:8]}...); the CSV needs "
            "a 'date' column with timestamps and one numeric column per channel."
        )
    dates = pd.to_datetime(frame.pop("date"))
    non_numeric = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric or frame.shape[1] == 0:
        raise ValueError(
            f"{path}: every column other than 'date' must be numeric; non-numeric: {non_numeric}."
            " Drop or encode those columns."
        )
    bad = ~np.isfinite(frame.to_numpy(dtype=np.float64))
    if bad.any():
        raise ValueError(
            f"{path} has missing or infinite values in {list(frame.columns[bad.any(axis=0)])}; "
            "fill or clip them before benchmarking."
        )
    if dates.duplicated().any():
        raise ValueError(
            f"{path} has several rows for the date {dates[dates.duplicated()].iloc[0]}; keep one "
            "row per date (the rows are read as consecutive steps)."
        )
    if not dates.is_monotonic_increasing:
        row = int(np.flatnonzero(np.diff(dates.to_numpy()) < np.timedelta64(0))[0]) + 1
        raise ValueError(
            f"{path}: the dates are not in increasing order (row {row}, {dates.iloc[row]}, "
            f"comes after {dates.iloc[row - 1]}); sort the file by date (the rows are read as "
            "consecutive steps)."
        )
    frame.index = pd.DatetimeIndex(dates, name="date")
    return frame


def _regular_index(frame: pd.DataFrame) -> pd.DataFrame:
    index = frame.index
    freq = None
    if len(index) >= 3 and index.is_unique:
        with warnings.catch_warnings():  # pandas 3 warns that infer_freq will return an offset
            warnings.simplefilter("ignore")
            freq = pd.infer_freq(index)
    if freq is not None:
        return frame.asfreq(freq)
    logger.info("timestamps are irregular; rows are indexed by position")
    return frame.reset_index(drop=True)


def _standardize(
    name: str,
    raw: pd.DataFrame,
    borders: Callable[[int], tuple[int, int, int]],
    source: str,
    lookback: int,
    horizons: tuple[int, ...],
) -> Dataset:
    train_end, val_end, test_end = borders(len(raw))
    if not 0 < train_end < val_end < test_end <= len(raw):
        raise ValueError(
            f"data set {name!r} has {len(raw)} rows, too few for a train/validation/test "
            "split; pass a file with more rows."
        )
    raw = raw.iloc[:test_end]
    train = raw.iloc[:train_end]
    mean = train.mean()
    std = train.std(ddof=0).replace(0.0, 1.0)
    standardized = ((raw - mean) / std).astype("float32")
    return Dataset(
        name=name,
        frame=_regular_index(standardized),
        train_end=train_end,
        val_end=val_end,
        mean=mean,
        std=std,
        source=source,
        lookback=lookback,
        horizons=horizons,
    )
