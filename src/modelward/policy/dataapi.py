"""A small server that speaks the contract of OPA's Data API, evaluated by the embedded engine.

It is a stand-in for an OPA server where the OPA binary cannot be installed (tests, benchmarks):
``POST /v1/data/<package path>`` with ``{"input": ...}`` answers ``{"result": <document>}``, or
``{}`` when the document is undefined, as OPA does. It is not a replacement for OPA.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from modelward.policy.bundle import PolicyBundle
from modelward.policy.embedded import clean_error, compile_engine


class DataApiHandler(BaseHTTPRequestHandler):
    """Answers ``POST /v1/data/...``; keeps connections alive (HTTP/1.1)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: DataApiServer

    def finish(self) -> None:
        """Drop this thread's interpreter here: regorus engines must be freed by their own thread."""
        super().finish()
        self.server.release()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: no line per request on stderr."""

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        if not self.path.startswith("/v1/data"):
            self.reply(404, {"code": "resource_not_found", "message": "unknown path"})
            return
        try:
            document = json.loads(body or b"{}")
            result = self.server.query(self.path.removeprefix("/v1/").strip("/"), document.get("input"))
        except Exception as exc:
            self.reply(400, {"code": "invalid_parameter", "message": clean_error(exc)})
            return
        self.reply(200, {} if result is None else {"result": result})

    def reply(self, status: int, document: Any) -> None:
        """Send a JSON answer with a Content-Length (so the connection can be reused)."""
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class DataApiServer(ThreadingHTTPServer):
    """Serves one bundle on ``(host, port)``; port 0 picks a free one (see ``url``)."""

    daemon_threads = True

    def __init__(self, bundle: PolicyBundle, host: str = "127.0.0.1", port: int = 0,
                 handler: type[DataApiHandler] = DataApiHandler) -> None:
        super().__init__((host, port), handler)
        self.bundle = bundle
        self._local = threading.local()

    @property
    def url(self) -> str:
        """The base URL clients use."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def query(self, path: str, input: Any) -> Any:
        """The document at ``data/<path>`` for ``input`` (None when undefined)."""
        engine = getattr(self._local, "engine", None)
        if engine is None:
            engine = self._local.engine = compile_engine(self.bundle)
        engine.set_input_json(json.dumps(input))
        dotted = path.replace("/", ".")
        answer = json.loads(engine.eval_query_as_json(dotted))
        rows = answer.get("result") or []
        return rows[0]["expressions"][0]["value"] if rows else None

    def release(self) -> None:
        """Forget the calling thread's interpreter."""
        self._local.engine = None

    def start(self) -> threading.Thread:
        """Serve in a daemon thread; stop with ``shutdown()`` then ``server_close()``."""
        thread = threading.Thread(target=self.serve_forever, args=(0.05,), name="data-api-server",
                                  daemon=True)
        thread.start()
        return thread
