"""Bad request bodies against a real server (default body limit): a clear 4xx, never a 500."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Server, running

pytestmark = pytest.mark.integration

CONFIG = """\
service_title: Bad Input
models:
  - class_path: tests.fixtures.EchoModel
"""

PREDICTION = "/api/models/echo_model/prediction"
BATCH = "/api/models/echo_model/predictions"
JSON_HEADERS = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(CONFIG, tmp_path_factory.mktemp("bad-input")) as started:
        yield started


def post(server: Server, path: str, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(server.url + path, content=body, headers=headers or JSON_HEADERS, timeout=10)


def test_integer_too_long_for_python_is_400_not_500(server: Server) -> None:
    answer = post(server, PREDICTION, b'{"value": ' + b"9" * 5000 + b"}")
    assert answer.status_code == 400, answer.text
    assert answer.json()["type"] == "RequestError"
    assert "number in the JSON is too long" in answer.json()["messages"][0]
    assert "Traceback" not in server.output()


def test_byte_order_mark_is_named(server: Server) -> None:
    answer = post(server, PREDICTION, '\ufeff{"value": 1}'.encode())
    assert answer.status_code == 400
    assert "byte order mark" in answer.json()["messages"][0]


@pytest.mark.parametrize(
    ("path", "body", "fragment"),
    [
        (PREDICTION, b"null", "expected a JSON object for EchoInput, got null"),
        (PREDICTION, b'"text"', "expected a JSON object for EchoInput, got a string"),
        (BATCH, b'{"value": 1}', "expected a JSON list of inputs, got an object"),
        (BATCH, b"null", "expected a JSON list of inputs, got null"),
    ],
)
def test_wrong_json_type_is_named_in_json_terms(server: Server, path: str, body: bytes, fragment: str) -> None:
    answer = post(server, path, body)
    assert 400 <= answer.status_code < 500
    assert fragment in answer.json()["messages"][0]


@pytest.mark.parametrize("body", [gzip.compress(b'{"value": 1}'), b'{"value": 1}'], ids=["gzip", "plain"])
def test_compressed_body_is_415_naming_the_content_encoding(server: Server, body: bytes) -> None:
    answer = post(server, PREDICTION, body, {**JSON_HEADERS, "content-encoding": "gzip"})
    assert answer.status_code == 415, answer.text
    assert answer.json()["messages"] == ["Content-Encoding 'gzip' is not supported; send the body uncompressed"]


def test_identity_content_encoding_is_accepted(server: Server) -> None:
    answer = post(server, PREDICTION, b'{"value": 1}', {**JSON_HEADERS, "content-encoding": "identity"})
    assert answer.status_code == 200, answer.text
