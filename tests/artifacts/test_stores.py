"""Stores: a local folder, and S3 through boto3 against a real S3-protocol server (moto) on loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelward.artifacts import S3Store, load_verified, open_store, read_manifest
from modelward.errors import ConfigurationError, StoreError, StoreUnavailable
from tests.artifacts.conftest import Keys
from tests.conftest import free_port

CREDENTIALS = {"MW_TEST_S3_ACCESS": "TEST", "MW_TEST_S3_SECRET": "ASDFGHJKL"}


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def _s3(endpoint: str, url: str = "s3://model-files/team") -> S3Store:
    store = open_store(url, endpoint_url=endpoint, access_key="${MW_TEST_S3_ACCESS}",
                       secret_key="${MW_TEST_S3_SECRET}")
    assert isinstance(store, S3Store)
    store.ensure_bucket()
    return store


def test_local_store_round_trip(tmp_path: Path, package: Path, keys: Keys) -> None:
    store = open_store((tmp_path / "store").as_uri())
    uri = store.put(package, "toy/1.0.0.zip")
    assert store.exists("toy/1.0.0.zip") and store.list("toy/") == ["toy/1.0.0.zip"]
    with load_verified(uri, keys.keyring()) as verified:
        assert verified.manifest.model.version == "1.0.0"
    with pytest.raises(StoreError, match=r"no object 'nope\.zip'"):
        store.get("nope.zip", tmp_path / "x.zip")


def test_store_keys_cannot_escape(tmp_path: Path, package: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    with pytest.raises(StoreError):
        store.put(package, "../outside.zip")
    with pytest.raises(ConfigurationError, match="unsupported scheme 'ftp'"):
        open_store("ftp://host/x")


@pytest.mark.integration
def test_s3_push_and_verified_load(s3_endpoint: str, package: Path, keys: Keys, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    store = _s3(s3_endpoint)
    uri = store.put(package, "toy-1.0.0.zip")
    assert uri == "s3://model-files/team/toy-1.0.0.zip"
    assert store.exists("toy-1.0.0.zip") and not store.exists("other.zip")
    assert store.list() == ["toy-1.0.0.zip"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "TEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "ASDFGHJKL")
    with load_verified(uri, keys.keyring(), endpoint_url=s3_endpoint, cache_dir=tmp_path / "cache") as verified:
        assert verified.key_id == "team-2026"
        assert verified.load("model.joblib") is not None
    assert list((tmp_path / "cache").iterdir()) == [], "the downloaded copy is deleted on close"
    assert read_manifest(uri, endpoint_url=s3_endpoint).model.qualified_name == "toy_model"


@pytest.mark.integration
def test_s3_large_file_uses_multipart_upload(s3_endpoint: str, tmp_path: Path) -> None:
    store = _s3(s3_endpoint)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(17 * 1024 * 1024))
    seen: list[int] = []
    store.put(big, "big.bin", progress=seen.append)
    assert sum(seen) == big.stat().st_size
    head = store._client.head_object(Bucket="model-files", Key="team/big.bin")
    assert head["ETag"].strip('"').endswith("-2"), head["ETag"]
    store.get("big.bin", tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == big.read_bytes()


@pytest.mark.integration
def test_missing_object_is_a_store_error(s3_endpoint: str, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"download 'absent\.zip' failed"):
        _s3(s3_endpoint).get("absent.zip", tmp_path / "a.zip")


def test_store_down_is_store_unavailable(tmp_path: Path, keys: Keys) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    store = open_store("s3://model-files", endpoint_url=endpoint, access_key="a", secret_key="b")
    with pytest.raises(StoreUnavailable, match=r"store s3://model-files \(endpoint http://127\.0\.0\.1:\d+\) "
                                                "cannot be reached"):
        store.get("toy.zip", tmp_path / "toy.zip")
    with pytest.raises(StoreUnavailable, match="cannot be reached"):
        load_verified("s3://model-files/toy.zip", keys.keyring(), endpoint_url=endpoint)


def test_missing_credential_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MW_TEST_S3_ACCESS", raising=False)
    with pytest.raises(ConfigurationError, match="MW_TEST_S3_ACCESS is not set"):
        open_store("s3://b", endpoint_url="http://127.0.0.1:1", access_key="${MW_TEST_S3_ACCESS}")


def test_local_store_bad_destinations_are_store_errors(tmp_path: Path, package: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    store.put(package, "toy.zip")
    (tmp_path / "folder").mkdir()
    with pytest.raises(StoreError, match=r"folder: is a directory; give the path of the file to write"):
        store.get("toy.zip", tmp_path / "folder")
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match=r"file/toy\.zip: cannot be written, .*file is not a directory"):
        store.get("toy.zip", tmp_path / "file" / "toy.zip")
    with pytest.raises(StoreError, match=r"store .*/file: cannot write 'toy\.zip'"):
        open_store(str(tmp_path / "file")).put(package, "toy.zip")
    assert list((tmp_path / "folder").iterdir()) == [] and (tmp_path / "file").read_text() == "x"


@pytest.mark.integration
def test_s3_missing_bucket_and_bad_destination(s3_endpoint: str, package: Path, tmp_path: Path) -> None:
    absent = open_store("s3://no-such-bucket", endpoint_url=s3_endpoint, access_key="${MW_TEST_S3_ACCESS}",
                        secret_key="${MW_TEST_S3_SECRET}")
    with pytest.raises(StoreError, match=r"upload 'toy\.zip' failed: NoSuchBucket: bucket 'no-such-bucket' does "
                                         r"not exist") as caught:
        absent.put(package, "toy.zip")
    assert type(caught.value) is StoreError, "the server answered: the store is not unavailable"
    with pytest.raises(StoreError, match=r"download 'toy\.zip' failed: 404: no such object \(or no bucket"):
        absent.get("toy.zip", tmp_path / "toy.zip")
    store = _s3(s3_endpoint)
    store.put(package, "toy.zip")
    (tmp_path / "folder").mkdir()
    with pytest.raises(StoreError, match="folder: is a directory"):
        store.get("toy.zip", tmp_path / "folder")
    assert list((tmp_path / "folder").iterdir()) == []
