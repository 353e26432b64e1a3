"""Live health of a deployment: ``GET <origin of its endpoint URL>/api/health`` with a short timeout.

Only the origin (scheme, host, port) of the recorded endpoint is used, with the fixed path
``/api/health`` (what ``modelward serve`` answers), over http or https; redirects are not followed
and at most a few kilobytes of the answer are read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

TIMEOUT = 1.0  # seconds: a page must not wait on a host that is gone
MAX_BODY = 4096


@dataclass(frozen=True)
class Health:
    """What the probe found: ``healthy``, ``unhealthy``, ``unreachable`` or ``unknown`` (no endpoint)."""

    state: str
    detail: str
    url: str = ""


def health_url(endpoint_url: str) -> str | None:
    """The health URL of an endpoint (None when it is not an http(s) URL)."""
    parts = urlsplit(endpoint_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}/api/health"


def probe(endpoint_url: str, timeout: float = TIMEOUT) -> Health:
    """Ask the deployment's server whether it is healthy."""
    url = health_url(endpoint_url)
    if url is None:
        return Health("unknown", "no http(s) endpoint is recorded for this deployment")
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client, client.stream("GET", url) as answer:
            body = b""
            for chunk in answer.iter_bytes():
                body += chunk
                if len(body) >= MAX_BODY:
                    break
            status = answer.status_code
    except httpx.HTTPError as exc:
        return Health("unreachable", f"{type(exc).__name__}: {exc}"[:300], url)
    return _judge(status, body[:MAX_BODY], url)


def _judge(status: int, body: bytes, url: str) -> Health:
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    reported = document.get("health_status") if isinstance(document, dict) else None
    if status == 200 and reported in (None, "HEALTHY"):
        return Health("healthy", f"HTTP {status}" + (f", {reported}" if reported else ""), url)
    return Health("unhealthy", f"HTTP {status}" + (f", {reported}" if reported else ""), url)
