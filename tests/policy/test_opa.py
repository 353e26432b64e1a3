"""The ``opa`` engine against a real HTTP server on 127.0.0.1.

The OPA binary cannot be installed on these machines, so the server is ``DataApiServer``: an
implementation of OPA's Data API contract (``POST /v1/data/<path>`` with ``{"input": ...}`` →
``{"result": ...}``) evaluated by the embedded engine, which can also misbehave on purpose.
"""

from __future__ import annotations

import time

import pytest

from modelward.policy import OpaEngine, read_bundle
from tests.conftest import free_port
from tests.policy.helpers import ARTICLE_POLICIES, customer, data_api

BUNDLE = read_bundle([ARTICLE_POLICIES])


def test_allows_and_denies_like_the_embedded_engine() -> None:
    with data_api(BUNDLE) as server:
        engine = OpaEngine(server.url, digest=BUNDLE.digest)
        denied = engine.evaluate("insurance_charges_model", customer(62, True))
        allowed = engine.evaluate("data.insurance_charges_model", customer(45, True))
        engine.close()
    assert (denied.allow, denied.error, denied.policy_digest) == (False, None, BUNDLE.digest)
    assert denied.messages == ("Prediction cannot be made if customer is a smoker over the age of 60.",)
    assert (allowed.allow, allowed.messages) == (True, ())


def test_connections_are_reused() -> None:
    with data_api(BUNDLE) as server:
        engine = OpaEngine(server.url)
        for _ in range(20):
            assert engine.evaluate("insurance_charges_model", customer(30, False)).allow is True
        pool = engine._client._transport._pool  # type: ignore[attr-defined]
        assert len(pool.connections) == 1
        engine.close()


def test_server_down_fails_closed() -> None:
    engine = OpaEngine(f"http://127.0.0.1:{free_port()}", timeout=1)
    decision = engine.evaluate("insurance_charges_model", customer(30, False))
    assert decision.allow is False and "cannot be reached" in (decision.error or "")
    engine.close()


def test_hanging_server_times_out_and_fails_closed() -> None:
    with data_api(BUNDLE, "hang") as server:
        engine = OpaEngine(server.url, timeout=0.2)
        started = time.monotonic()
        decision = engine.evaluate("insurance_charges_model", customer(30, False))
        elapsed = time.monotonic() - started
        engine.close()
    assert decision.allow is False and "did not answer in time" in (decision.error or "")
    assert elapsed < 2


@pytest.mark.parametrize(("mode", "problem"), [
    ("garbage", "not JSON"),
    ("status500", "HTTP 500"),
    ("no_result", "no result"),
    ("string_allow", "not a boolean"),
    ("true_string", "not a boolean"),
])
def test_unusable_answers_fail_closed(mode: str, problem: str) -> None:
    with data_api(BUNDLE, mode) as server:
        engine = OpaEngine(server.url)
        decision = engine.evaluate("insurance_charges_model", customer(30, False))
        engine.close()
    assert decision.allow is False and problem in (decision.error or ""), decision


def test_unknown_package_is_undefined_and_fails_closed() -> None:
    with data_api(BUNDLE) as server:
        engine = OpaEngine(server.url)
        decision = engine.evaluate("no_such_package", customer(30, False))
        engine.close()
    assert decision.allow is False and "no result" in (decision.error or "")
