"""The examples train -> package -> sign -> store -> serve, verifying at start (real processes)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from modelward.artifacts import open_store
from tests.conftest import ROOT, Server, child_env, free_port, wait_started

EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def signed_insurance(signed_insurance_package: tuple[Path, Path]) -> tuple[Path, Path]:
    """The example's signed package (trained once per session), put into a file store."""
    package, _ = signed_insurance_package
    root = package.parent
    store = open_store((root / "store").as_uri())
    store.put(package, package.name)
    return root, root / "store" / package.name


def _env(root: Path, package: str, **extra: str) -> dict[str, str]:
    return child_env(INSURANCE_PACKAGE=package, MODELWARD_KEYRING=str(root / "keyring"), INSURANCE_MODEL_PATH="",
                     **extra)


@pytest.mark.integration
def test_served_from_a_verified_package(signed_insurance: tuple[Path, Path],
                                        serve: Callable[..., Server]) -> None:
    root, stored = signed_insurance
    server = serve(EXAMPLES / "insurance_charges" / "rest_config.yaml", env=_env(root, stored.as_uri()))
    assert wait_started(server.url).status_code == 200, server.output()
    import zipfile

    with zipfile.ZipFile(stored) as archive:
        cases = [json.loads(line) for line in archive.read("validation.jsonl").decode().splitlines()]
    for case in cases:
        answer = httpx.post(f"{server.url}/api/models/insurance_charges_model/prediction", json=case["input"],
                            timeout=10)
        assert answer.status_code == 200, answer.text
        assert abs(answer.json()["charges"] - case["output"]["charges"]) <= 0.01


@pytest.mark.integration
def test_tampered_package_keeps_the_startup_probe_at_503(signed_insurance: tuple[Path, Path], tmp_path: Path,
                                                         serve: Callable[..., Server]) -> None:
    root, stored = signed_insurance
    tampered = tmp_path / "tampered.zip"
    tampered.write_bytes(stored.read_bytes() + b"\x00")
    server = serve(EXAMPLES / "insurance_charges" / "rest_config.yaml", env=_env(root, str(tampered)))
    answer = wait_started(server.url, timeout=20)
    assert answer.status_code == 503
    assert answer.json()["reason"] == "models failed to load; see the service log"  # no internals for anonymous
    assert "UnsafeArchive" in server.output() and "appended after the end of the archive" in server.output()


@pytest.mark.integration
def test_store_down_keeps_the_startup_probe_at_503_with_the_reason(signed_insurance: tuple[Path, Path],
                                                                   serve: Callable[..., Server]) -> None:
    root, _ = signed_insurance
    endpoint = f"http://127.0.0.1:{free_port()}"
    env = _env(root, "s3://model-files/insurance_charges-0.1.0.zip", MODELWARD_S3_ENDPOINT_URL=endpoint,
               AWS_ACCESS_KEY_ID="TEST", AWS_SECRET_ACCESS_KEY="ASDFGHJKL")
    server = serve(EXAMPLES / "insurance_charges" / "rest_config.yaml", env=env)
    answer = wait_started(server.url, timeout=30)
    assert answer.status_code == 503
    assert answer.json()["reason"] == "models failed to load; see the service log"
    assert "StoreUnavailable" in server.output() and f"endpoint {endpoint}) cannot be reached" in server.output()
