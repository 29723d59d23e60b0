"""The data loader against the protocol of ../shared/data/README.md, and its downloads (served
from this machine: the tests never reach the network)."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from benchmark_helpers import closed_port_url

from tsdistill_plugin.benchmark import data
from tsdistill_plugin.benchmark.data import (
    DATASETS,
    DatasetNotFoundError,
    DatasetSpec,
    load_dataset,
)


@pytest.fixture(scope="module")
def etth1_dataset(data_dir: Path) -> data.Dataset:
    return load_dataset("ETTh1", data_dir)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No data folder, an empty cache, and every known source unreachable."""
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for key, spec in DATASETS.items():
        if spec.url is not None:
            unreachable = dataclasses.replace(spec, url=closed_port_url(spec.filename))
            monkeypatch.setitem(DATASETS, key, unreachable)
    return tmp_path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 serving a temporary folder: ``(base URL, folder)``."""
    for variable in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{httpd.server_port}", folder
        httpd.shutdown()


def test_etth1_split_sizes_follow_the_protocol(etth1_dataset: data.Dataset) -> None:
    assert etth1_dataset.split_sizes() == {"train": 8640, "val": 2880, "test": 2880}
    assert len(etth1_dataset.frame) == 14400  # rows after 20 months are not used
    assert etth1_dataset.n_channels == 7
    assert etth1_dataset.freq == "h"


def test_a_target_column_keeps_its_values_and_the_splits(etth1_dataset: data.Dataset) -> None:
    ot = etth1_dataset.select(["OT"])
    assert ot.n_channels == 1 and ot.split_sizes() == etth1_dataset.split_sizes()
    np.testing.assert_array_equal(ot.frame["OT"], etth1_dataset.frame["OT"])
    assert list(ot.mean.index) == ["OT"] and ot.std["OT"] == etth1_dataset.std["OT"]
    assert etth1_dataset.n_channels == 7  # the data set it came from is unchanged


def test_standardization_uses_train_statistics_only(
    etth1_dataset: data.Dataset, data_dir: Path
) -> None:
    raw = pd.read_csv(data_dir / "ETTh1.csv", index_col="date")
    train = raw.iloc[:8640]
    np.testing.assert_allclose(etth1_dataset.mean, train.mean(), rtol=1e-12)
    np.testing.assert_allclose(etth1_dataset.std, train.std(ddof=0), rtol=1e-12)
    frame = etth1_dataset.frame
    np.testing.assert_allclose(frame.iloc[:8640].mean(), 0.0, atol=1e-5)
    np.testing.assert_allclose(frame.iloc[:8640].std(ddof=0), 1.0, atol=1e-5)
    expected_test = (raw.iloc[11520:14400] - train.mean()) / train.std(ddof=0)
    np.testing.assert_allclose(frame.iloc[11520:].to_numpy(), expected_test.to_numpy(), atol=1e-5)
    # statistics over all rows would centre the whole frame; train-only ones do not
    assert abs(float(frame["OT"].mean())) > 0.05


def test_first_test_forecast_starts_at_the_boundary(etth1_dataset: data.Dataset) -> None:
    frame = etth1_dataset.frame.to_numpy()
    x, y = etth1_dataset.windows("test", lookback=96, horizon=24)
    assert x.shape == (2880 - 24 + 1, 96, 7)  # stride 1, none dropped
    assert y.shape == (2880 - 24 + 1, 24, 7)
    np.testing.assert_array_equal(y[0], frame[11520 : 11520 + 24])
    np.testing.assert_array_equal(x[0], frame[11520 - 96 : 11520])
    np.testing.assert_array_equal(y[-1], frame[-24:])
    np.testing.assert_array_equal(x[5], frame[11520 - 96 + 5 : 11520 + 5])


def test_validation_windows_start_lookback_before_their_split(
    etth1_dataset: data.Dataset,
) -> None:
    frame = etth1_dataset.frame.to_numpy()
    x, y = etth1_dataset.windows("val", lookback=48, horizon=12)
    assert len(x) == 2880 - 12 + 1
    np.testing.assert_array_equal(y[0], frame[8640 : 8640 + 12])
    np.testing.assert_array_equal(x[0], frame[8640 - 48 : 8640])
    assert len(etth1_dataset.windows("train", 48, 12)[0]) == 8640 - 48 - 12 + 1


def test_ettm1_uses_four_times_the_rows(data_dir: Path) -> None:
    ettm1 = load_dataset("ettm1", data_dir)
    assert ettm1.split_sizes() == {"train": 34560, "val": 11520, "test": 11520}
    assert ettm1.freq == "15min"


def test_other_data_sets_split_70_10_20(data_dir: Path) -> None:
    ili = load_dataset("national_illness", data_dir)
    n = 966
    assert ili.split_sizes() == {
        "train": int(0.7 * n),
        "val": n - int(0.7 * n) - int(0.2 * n),
        "test": int(0.2 * n),
    }
    assert ili.lookback == 104 and ili.horizons == (24, 36, 48, 60)


def test_builtin_co2_needs_no_file(offline: Path) -> None:
    co2 = load_dataset("co2")
    assert len(co2.frame) == 2284 and co2.n_channels == 1
    assert not co2.frame.isna().any().any()  # the 59 missing weeks are interpolated
    assert co2.freq == "W-SAT"
    assert co2.split_sizes() == {"train": 1598, "val": 230, "test": 456}


def test_any_csv_with_a_date_column(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"date": pd.date_range("2020-01-01", periods=200, freq="D"), **{
            name: rng.normal(size=200) for name in ("a", "b")
        }}
    )  # fmt: skip
    path = tmp_path / "mine.csv"
    frame.to_csv(path, index=False)
    dataset = load_dataset(path)
    assert dataset.name == "mine"
    assert dataset.split_sizes() == {"train": 140, "val": 20, "test": 40}
    np.testing.assert_allclose(
        dataset.frame["a"].iloc[:140].mean(), 0.0, atol=1e-6
    )  # train statistics

    frame.drop(columns="date").to_csv(tmp_path / "nodate.csv", index=False)
    with pytest.raises(ValueError, match="'date' column"):
        load_dataset(tmp_path / "nodate.csv")


def test_unknown_dataset_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown dataset 'ETTh9'.*ETTh1.*CSV"):
        load_dataset("ETTh9")


def test_missing_file_offline_names_the_file_the_url_and_where_to_put_it(
    offline: Path,
) -> None:
    with pytest.raises(DatasetNotFoundError) as error:
        load_dataset("ETTh2", data_dir=offline / "nowhere")
    message = str(error.value)
    assert "ETTh2.csv could not be downloaded from " + DATASETS["etth2"].url in message
    assert str(offline / "nowhere") in message
    assert "--data-dir" in message and "$TSDISTILL_DATA" in message
    assert not list((offline / "cache").rglob("ETTh2.csv*"))
    with pytest.raises(DatasetNotFoundError, match="traffic.csv has no direct public download"):
        load_dataset("traffic")


def test_lookup_order_data_dir_then_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, data_dir: Path
) -> None:
    monkeypatch.setenv(data.ENV_VAR, str(data_dir))
    assert data.locate(DATASETS["etth1"]) == data_dir / "ETTh1.csv"
    mine = tmp_path / "ETTh1.csv"
    mine.write_bytes((data_dir / "ETTh1.csv").read_bytes())
    assert data.locate(DATASETS["etth1"], tmp_path) == mine


def test_published_checksums_match_the_shared_files(data_dir: Path) -> None:
    for spec in DATASETS.values():
        assert (spec.url is None) == (spec.sha256 is None), spec.name
        local = data_dir / spec.filename
        if spec.url is not None and not spec.url.endswith(".gz") and local.exists():
            assert _sha256(local) == spec.sha256, spec.name


def test_download_into_the_cache_verifies_the_checksum(
    server: tuple[str, Path], offline: Path, data_dir: Path
) -> None:
    url, served = server
    source = data_dir / "national_illness.csv"
    (served / "ili.csv").write_bytes(source.read_bytes())
    spec = DatasetSpec("ili", "ili.csv", f"{url}/ili.csv", _sha256(source))
    cached = data.locate(spec)
    assert cached.parent == data.cache_dir() and cached.read_bytes() == source.read_bytes()
    (served / "ili.csv").unlink()  # read from the cache from now on
    assert data.locate(spec) == cached

    (served / "bad.csv").write_bytes(source.read_bytes() + b"2020-07-01,1,1,1,1,1,1,1\n")
    wrong = DatasetSpec("bad", "bad.csv", f"{url}/bad.csv", spec.sha256)
    with pytest.raises(ValueError, match=rf"checksum mismatch for {url}/bad.csv") as error:
        data.locate(wrong)
    assert spec.sha256 in str(error.value) and "--data-dir" in str(error.value)
    assert not list(data.cache_dir().glob("bad*"))  # nothing unverified is kept


def test_a_gzip_source_is_decompressed(
    server: tuple[str, Path], tmp_path: Path, data_dir: Path
) -> None:
    url, served = server
    source = data_dir / "exchange_rate.csv"
    compressed = served / "rates.csv.gz"
    compressed.write_bytes(gzip.compress(source.read_bytes()))
    spec = DatasetSpec("rates", "rates.csv", f"{url}/rates.csv.gz", _sha256(compressed))
    path = data.download(spec, tmp_path / "cache")
    assert path == tmp_path / "cache" / "rates.csv"
    assert path.read_bytes() == source.read_bytes()


def test_lookback_and_horizon_longer_than_a_split(etth1_dataset: data.Dataset) -> None:
    with pytest.raises(ValueError, match=r"the train split has 8640 rows.*8641"):
        etth1_dataset.check_window(8600, 41)
    with pytest.raises(ValueError, match="the val split has 2880 rows"):
        etth1_dataset.windows("test", 96, 3000)
    with pytest.raises(ValueError, match="horizon must be a positive integer"):
        etth1_dataset.check_window(96, 0)
