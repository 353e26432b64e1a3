"""SIGTERM under load on a real server: readiness 503 first, every accepted request answered, exit 0.

A request is *cut* when its connection was accepted and it got no HTTP answer; a connection
refused once the server stopped listening is not a cut (the client knows it was never accepted).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, child_env, wait_started, write_config

pytestmark = pytest.mark.integration

SLEEPY = "models:\n  - class_path: tests.fixtures.SleepyModel\n"
PREDICTION = "/api/models/sleepy_model/prediction"


class Outcomes:
    """What each request got: a status code, 'refused' (never accepted) or 'cut: <error>'."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.found: list[str] = []

    def add(self, outcome: str) -> None:
        with self.lock:
            self.found.append(outcome)

    def cut(self) -> list[str]:
        return [o for o in self.found if o.startswith("cut")]


def _predict(url: str, millis: int, outcomes: Outcomes) -> str:
    try:
        with httpx.Client(timeout=30) as client:  # a connection of its own
            outcome = str(client.post(url + PREDICTION, json={"value": millis}).status_code)
    except httpx.ConnectError:
        outcome = "refused"
    except httpx.HTTPError as exc:
        outcome = f"cut: {type(exc).__name__}: {exc}"
    outcomes.add(outcome)
    return outcome


def _until(fn: Callable[[], str], done: Callable[[str], bool], stop: threading.Event) -> None:
    while not stop.is_set() and not done(fn()):
        time.sleep(0.05)


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_drains_in_flight_requests_and_exits_0(serve: Callable[..., Server], tmp_path: Path,
                                                       workers: int) -> None:
    """16 one-second predictions in flight at SIGTERM all get 200; a client that, like a load
    balancer, keeps sending until readiness says 503 is served too; the process exits 0."""
    server = serve(write_config(tmp_path / "svc.yaml", SLEEPY), "--workers", str(workers),
                   env=child_env(MODELWARD_SHUTDOWN_DELAY="1", MODELWARD_SHUTDOWN_GRACE="15"))
    assert wait_started(server.url).status_code == 200, server.output()
    in_flight, late, ready = Outcomes(), Outcomes(), Outcomes()
    first = [threading.Thread(target=_predict, args=(server.url, 1000, in_flight)) for _ in range(16)]
    for thread in first:
        thread.start()
    time.sleep(0.4)  # all 16 are being answered (each takes 1 s)

    server.process.send_signal(signal.SIGTERM)
    stop, refusing = threading.Event(), threading.Event()

    def probe() -> str:
        try:
            outcome = str(httpx.get(server.url + "/api/health/ready", timeout=5).status_code)
        except httpx.ConnectError:
            outcome = "refused"
        except httpx.HTTPError as exc:
            outcome = f"cut: {exc!r}"
        ready.add(outcome)
        if outcome != "200":
            refusing.set()
        return outcome

    watchers = [threading.Thread(target=_until, args=(probe, lambda o: o != "200", stop)),
                threading.Thread(target=_until, args=(lambda: _predict(server.url, 300, late),
                                                      lambda _: refusing.is_set(), stop))]
    for thread in watchers:
        thread.start()
    code = server.process.wait(timeout=40)
    stop.set()
    for thread in first + watchers:
        thread.join(30)

    assert in_flight.found == ["200"] * 16, in_flight.found
    assert late.cut() == [] and ready.cut() == [], (late.found, ready.found)
    assert set(late.found) == {"200"}, late.found  # sent after SIGTERM, before readiness said 503: served
    assert ready.found[-1] == "503", ready.found  # readiness turned 503 while the server still answered
    if workers == 1:
        assert ready.found == ["503"], ready.found  # at once (the supervisor of workers relays it within 0.5 s)
    assert code == 0, server.output()
    assert "Cancel" not in server.output() and "Traceback" not in server.output(), server.output()


def test_sigterm_while_idle_exits_0_at_once(serve: Callable[..., Server], tmp_path: Path) -> None:
    server = serve(write_config(tmp_path / "svc.yaml", SLEEPY))
    assert wait_started(server.url).status_code == 200, server.output()
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=20) == 0, server.output()
    assert time.monotonic() - started < 5
