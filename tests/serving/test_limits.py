"""Body caps, clipped error answers and the body timeout, against real servers on loopback.

`modelward serve --catalog` serves the prediction routes (their direct path, no middleware) and the
catalog write routes (behind ``BodyLimit``); `modelward catalog serve` is the catalog alone.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import orjson
import pytest

from modelward import catalog as c
from modelward.settings import Settings
from tests.conftest import (
    MODELWARD,
    Server,
    child_env,
    free_port,
    start_server,
    stop,
    wait_for,
    wait_started,
    write_config,
)

pytestmark = pytest.mark.integration

CAP = 2 * 1024 * 1024
TIMEOUT = 1.5
PREDICTION = "/api/models/echo_model/prediction"
BATCH = "/api/models/echo_model/predictions"
REGISTER = "/api/catalog/versions"
JSON_HEADERS = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """`modelward serve --catalog` with a 2 MiB cap and a 1.5 s body timeout; a publisher token."""
    workdir = tmp_path_factory.mktemp("limits")
    catalog = c.open_from_settings(Settings(data_dir=workdir / "data"))
    publisher, _ = c.create_token(catalog, role="publisher", actor="test")
    catalog.dispose()
    config = write_config(workdir / "svc.yaml", "models:\n  - class_path: tests.fixtures.EchoModel\n")
    server = start_server(config, workdir, "--catalog", env=child_env(
        MODELWARD_DATA_DIR=str(workdir / "data"), MODELWARD_MAX_BODY_BYTES=str(CAP),
        MODELWARD_BODY_TIMEOUT=str(TIMEOUT)))
    try:
        assert wait_started(server.url).status_code == 200, server.output()
        yield server, publisher
    finally:
        stop(server.process)


@pytest.fixture(scope="module")
def catalog_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`modelward catalog serve` with the same limits."""
    import subprocess

    workdir = tmp_path_factory.mktemp("catalog-limits")
    port = free_port()
    log = (workdir / "catalog.log").open("wb")
    process = subprocess.Popen([MODELWARD, "catalog", "serve", "--port", str(port)], stdout=log,
                               stderr=subprocess.STDOUT, cwd=workdir, env=child_env(
                                   MODELWARD_DATA_DIR=str(workdir / "data"), MODELWARD_MAX_BODY_BYTES=str(CAP),
                                   MODELWARD_BODY_TIMEOUT=str(TIMEOUT)))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url, process)
        assert process.poll() is None, (workdir / "catalog.log").read_text()
        yield url
    finally:
        stop(process)
        log.close()


def _chunks(total: int, piece: bytes = b"x" * 65536) -> Iterator[bytes]:
    """A body streamed in chunks (httpx sends it chunked, without Content-Length)."""
    yield b'{"value": "'
    sent = 0
    while sent < total:
        yield piece
        sent += len(piece)


@pytest.mark.parametrize("path", [PREDICTION, BATCH, REGISTER, "/api/catalog/models/m"])
@pytest.mark.parametrize("auth", [False, True], ids=["anonymous", "publisher"])
def test_chunked_body_over_the_cap_is_413_before_parsing(served: tuple[Server, str], path: str, auth: bool) -> None:
    server, token = served
    headers = {**JSON_HEADERS, **({"authorization": f"Bearer {token}"} if auth else {})}
    method = "PUT" if path.startswith("/api/catalog/models") else "POST"
    answer = httpx.request(method, server.url + path, content=_chunks(3 * CAP), headers=headers, timeout=30)
    assert answer.status_code == 413, answer.text  # the JSON is broken: parsed, it would be 400, 401 or 422
    assert answer.json() == {"type": "PayloadTooLarge",
                             "messages": [f"request body is larger than the limit of {CAP} bytes"]}
    assert answer.headers["connection"] == "close"


def test_catalog_serve_caps_chunked_bodies_too(catalog_server: str) -> None:
    answer = httpx.post(catalog_server + REGISTER, content=_chunks(3 * CAP), headers=JSON_HEADERS, timeout=30)
    assert answer.status_code == 413, answer.text
    assert answer.json()["type"] == "PayloadTooLarge"


def _raw(url: str, request: bytes, wait: float = 10) -> tuple[bytes, float]:
    """Send raw bytes, read until the server closes; the answer and how long it took."""
    host, port = url.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=wait) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received, time.monotonic() - started


@pytest.mark.parametrize("path", [PREDICTION, REGISTER])
def test_declared_length_over_the_cap_is_refused_before_any_byte_is_read(served: tuple[Server, str],
                                                                         path: str) -> None:
    server, _ = served
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {100 * CAP}\r\n\r\n").encode()
    answer, _ = _raw(server.url, head)  # no body is sent: the answer cannot have waited for it
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert f"request body of {100 * CAP} bytes is larger than the limit".encode() in answer


@pytest.mark.parametrize("path", [PREDICTION, REGISTER])
def test_stalled_body_is_408_and_closed_within_the_timeout(served: tuple[Server, str], path: str) -> None:
    server, _ = served
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 1000\r\n\r\n").encode()
    answer, took = _raw(server.url, head + b'{"value": ')  # 10 of 1,000 bytes, then nothing
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"connection: close" in answer.lower()
    assert b"did not arrive within 1.5 seconds" in answer
    assert TIMEOUT <= took < TIMEOUT + 3


def test_catalog_serve_times_out_a_stalled_body(catalog_server: str) -> None:
    head = (f"POST {REGISTER} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 1000\r\n\r\n").encode()
    answer, took = _raw(catalog_server, head + b'{"model": ')
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert took < TIMEOUT + 3


def test_a_slow_but_complete_body_within_the_timeout_is_served(served: tuple[Server, str]) -> None:
    server, _ = served

    def slowly() -> Iterator[bytes]:
        for piece in (b'{"value": ', b"2", b"}"):
            time.sleep(0.3)
            yield piece

    answer = httpx.post(server.url + PREDICTION, content=slowly(), headers=JSON_HEADERS, timeout=10)
    assert answer.status_code == 200 and answer.json()["doubled"] == 4.0


SMALL = 8 * 1024


def test_huge_invalid_batch_gets_a_small_error(served: tuple[Server, str]) -> None:
    server, _ = served
    body = orjson.dumps([{"value": -1, "label": "y" * 60}] * 10_000)  # 20,000 errors in ~0.7 MB
    assert len(body) < CAP
    answer = httpx.post(server.url + BATCH, content=body, headers=JSON_HEADERS, timeout=30)
    assert answer.status_code == 422
    assert len(answer.content) < SMALL, len(answer.content)
    errors = answer.json()["errors"]
    assert errors[-1]["message"] == "... and 19990 more errors"
    assert len(errors) == 11


def test_huge_invalid_catalog_write_gets_a_small_error(served: tuple[Server, str]) -> None:
    server, token = served
    body = orjson.dumps({"model": {"qualified_name": "m", **{f"k{'x' * 300}{i}": i for i in range(3000)}},
                         "version": {"version": "1"}})
    assert len(body) < CAP
    answer = httpx.post(server.url + REGISTER, content=body, timeout=30,
                        headers={**JSON_HEADERS, "authorization": f"Bearer {token}"})
    assert answer.status_code == 422, answer.text[:300]
    assert len(answer.content) < SMALL, len(answer.content)
    assert "more errors" in answer.json()["messages"][0]


def test_long_values_in_a_schema_error_are_clipped(served: tuple[Server, str]) -> None:
    server, _ = served
    body = orjson.dumps({"value": 1, "z" * 1_000_000: 1, "label": ["x"] * 100_000})
    answer = httpx.post(server.url + PREDICTION, content=body, headers=JSON_HEADERS, timeout=30)
    assert 400 <= answer.status_code < 500
    assert len(answer.content) < SMALL, len(answer.content)


def test_read_body_times_out_only_the_stalled_read() -> None:
    """In process: the shared watchdog times out a stalled read, leaves a complete one alone and
    lets an outside cancellation stay a cancellation."""
    import asyncio

    from modelward.errors import RequestTimeout
    from modelward.serving.limits import read_body

    async def stalled() -> dict[str, object]:
        await asyncio.sleep(60)
        return {}

    async def complete() -> dict[str, object]:
        await asyncio.sleep(0.05)
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def scenario() -> tuple[object, ...]:
        slow = asyncio.create_task(read_body(stalled, 100, 0.3))
        fast = asyncio.create_task(read_body(complete, 100, 0.3))
        outside = asyncio.create_task(read_body(stalled, 100, 30))
        await asyncio.sleep(0.1)
        outside.cancel()
        return tuple(await asyncio.gather(slow, fast, outside, return_exceptions=True))

    started = time.monotonic()
    slow, fast, outside = asyncio.run(scenario())
    assert isinstance(slow, RequestTimeout) and fast == b"{}"
    assert isinstance(outside, asyncio.CancelledError)
    assert 0.3 <= time.monotonic() - started < 1.5
