"""The ``opa`` engine: an Open Policy Agent server (a sidecar) asked over its REST Data API.

``POST /v1/data/<package path>`` with ``{"input": ...}``; the answer's ``result`` is the package
document, whose ``allow`` and ``messages`` make the decision. Connections are pooled (one
``httpx.Client``, safe to share between threads) and every call has a timeout. Anything unexpected
(refused connection, timeout, a status other than 200, a body that is not JSON, no ``result``,
a non-boolean ``allow``) gives a decision with ``error`` set: the prediction is withheld.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from modelward.policy.decision import Decision, interpret_document
from modelward.policy.embedded import package_path


class OpaEngine:
    """Asks an OPA server for decisions; ``evaluate()`` never raises for a policy problem."""

    name = "opa"

    def __init__(self, url: str, *, timeout: float = 0.5, max_connections: int = 32,
                 digest: str | None = None, transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self.digest = digest
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._client = httpx.Client(base_url=self.url, timeout=httpx.Timeout(timeout), limits=limits,
                                    transport=transport, headers={"content-type": "application/json"})

    def evaluate(self, query: str, input: Mapping[str, Any]) -> Decision:
        """Ask the server for the package document of ``query`` with ``input``."""
        started = time.perf_counter()
        path = package_path(query)
        policy = path.removeprefix("data.")
        try:
            document = self._post(path, input)
        except Exception as exc:
            return Decision.failed(policy, self.digest, describe(exc), time.perf_counter() - started)
        return interpret_document(document, policy, self.digest, time.perf_counter() - started)

    def _post(self, path: str, input: Mapping[str, Any]) -> Any:
        url = "/v1/" + path.replace(".", "/")
        response = self._client.post(url, content=orjson.dumps({"input": input}))
        if response.status_code != 200:
            raise OpaAnswerError(f"OPA answered HTTP {response.status_code}: {response.text[:200]!r}")
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise OpaAnswerError(f"OPA answered something that is not JSON: {response.content[:80]!r}") from None
        if not isinstance(body, dict):
            raise OpaAnswerError(f"OPA answered a JSON {type(body).__name__}, not an object")
        return body.get("result")

    def health_problems(self) -> list[str]:
        """Problems are reported per decision (the server may come back at any time)."""
        return []

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()


class OpaAnswerError(Exception):
    """The OPA server answered, but not with a usable decision."""


def describe(exc: Exception) -> str:
    """A log line for a failed call (for the decision log and the service log, never the client)."""
    if isinstance(exc, httpx.TimeoutException):
        return f"OPA did not answer in time ({type(exc).__name__})"
    if isinstance(exc, httpx.TransportError):
        return f"OPA cannot be reached: {type(exc).__name__}: {exc}"
    return f"{type(exc).__name__}: {exc}"
