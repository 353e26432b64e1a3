"""Helpers for the policy tests: policies written to tmp_path, toy models, and OPA stand-ins.

The OPA binary cannot be installed on the test machines. ``FaultyDataApi`` is the embedded-engine
implementation of OPA's Data API contract (``modelward.policy.DataApiServer``) that can also
misbehave on purpose: hang, answer garbage, answer HTTP 500, omit ``result``, or answer a
non-boolean ``allow``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from modelward.policy import DataApiServer, PolicyBundle, PolicyFile
from modelward.policy.dataapi import DataApiHandler
from tests.fixtures import EchoModel

ROOT = Path(__file__).resolve().parents[2]
ARTICLE_POLICIES = ROOT / "examples" / "insurance_charges" / "policies"
V1_POLICY = Path(__file__).resolve().parent / "rego" / "v1"

#: deny when the echo model's input value is above 100, or its output above 150
ECHO_POLICY = """package echo_policy

import rego.v1

default allow := false

allow if {
	input.model_input.value <= 100
	not output_too_large
}

output_too_large if input.model_output.doubled > 150

messages contains "value above 100" if input.model_input.value > 100

messages contains "output above 150" if output_too_large
"""


def write_policy(folder: Path, text: str = ECHO_POLICY, name: str = "echo_policy.rego") -> Path:
    """Write one Rego file into ``folder`` (created) and return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


def bundle_of(text: str, name: str = "policy.rego") -> PolicyBundle:
    """A bundle of one module."""
    return PolicyBundle.of([PolicyFile(name, text)])


def customer(age: Any, smoker: Any, charges: float | None = 12345.0) -> dict[str, Any]:
    """The policy input document of the article."""
    document: dict[str, Any] = {
        "model_qualified_name": "insurance_charges_model",
        "model_version": "0.1.0",
        "model_input": {"age": age, "sex": "female", "bmi": 24.0, "children": 2, "smoker": smoker,
                        "region": "northwest"},
    }
    if charges is not None:
        document["model_output"] = {"charges": charges}
    return document


class NamedEcho(EchoModel):
    """The echo model under a configurable qualified name, counting its predictions."""

    def __init__(self, name: str = "named_echo", version: str = "1.0.0") -> None:
        super().__init__(version=version)
        self._name = name
        self.calls = 0

    @property
    def qualified_name(self) -> str:  # type: ignore[override]
        return self._name

    def predict(self, data: Any) -> Any:
        self.calls += 1
        return super().predict(data)


class FaultyHandler(DataApiHandler):
    """The Data API contract, or the fault named by the server's ``mode``."""

    server: FaultyDataApi

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        mode = self.server.mode
        if mode == "ok":
            super().do_POST()
            return
        self.rfile.read(int(self.headers.get("content-length") or 0))
        if mode == "hang":
            self.server.release_hang.wait(30)
        answers: dict[str, tuple[int, bytes]] = {
            "hang": (200, b'{"result": {"allow": true}}'),
            "garbage": (200, b"<html>proxy error</html>"),
            "status500": (500, b'{"code": "internal_error", "message": "boom at 10.1.2.3"}'),
            "no_result": (200, b"{}"),
            "string_allow": (200, json.dumps({"result": {"allow": "false", "messages": []}}).encode()),
            "true_string": (200, json.dumps({"result": {"allow": "true", "messages": []}}).encode()),
        }
        status, body = answers[mode]
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class FaultyDataApi(DataApiServer):
    """A Data API stand-in whose behaviour the test chooses with ``mode``."""

    def __init__(self, bundle: PolicyBundle, mode: str = "ok") -> None:
        super().__init__(bundle, handler=FaultyHandler)
        self.mode = mode
        self.release_hang = threading.Event()


@contextmanager
def data_api(bundle: PolicyBundle, mode: str = "ok") -> Iterator[FaultyDataApi]:
    """A running stand-in server on 127.0.0.1 (free port), stopped afterwards."""
    server = FaultyDataApi(bundle, mode)
    thread = server.start()
    try:
        yield server
    finally:
        server.release_hang.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
        time.sleep(0.05)
