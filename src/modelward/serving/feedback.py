"""``POST /api/models/{qualified_name}/feedback``: the native protocol's feedback codec.

The body names what the feedback is about and what was learned::

    {"request": {...}, "response": {...}, "reward": 1.0, "truth": {...},
     "routing": {"route": "challenger"}, "request_id": "…", "tags": {}}

Every key is optional, but a feedback carries a reward or a truth. ``routing`` is the ``meta`` of
the prediction's answer (graph routes), so the router that chose learns from it.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from modelward.errors import ModelwardError, RequestError
from modelward.services.dataplane import DataPlane
from modelward.services.inference import FeedbackRequest
from modelward.services.jsonbody import loads_strict
from modelward.serving.errors import JSON, error_response
from modelward.serving.predict import receive_body

_KEYS = frozenset({"request", "response", "reward", "truth", "routing", "request_id", "tags"})


def feedback_request(model: str, document: Any, *, protocol: str = "native",
                     version: str | None = None) -> FeedbackRequest:
    """Check a native feedback document and turn it into a ``FeedbackRequest``."""
    if not isinstance(document, dict):
        raise RequestError("feedback must be a JSON object with 'reward' and/or 'truth'")
    unknown = sorted(set(document) - _KEYS)
    if unknown:
        raise RequestError(f"feedback: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_KEYS))}")
    reward = document.get("reward")
    if reward is not None and (isinstance(reward, bool) or not isinstance(reward, int | float)
                               or not math.isfinite(reward)):
        raise RequestError("feedback.reward: expected a finite number")
    if reward is None and document.get("truth") is None:
        raise RequestError("feedback: give a 'reward' or a 'truth' (or both)")
    for key in ("routing", "tags"):
        if not isinstance(document.get(key) or {}, dict):
            raise RequestError(f"feedback.{key}: expected an object")
    rid = document.get("request_id")
    if rid is not None and not isinstance(rid, str):
        raise RequestError("feedback.request_id: expected a string")
    return FeedbackRequest(model=model, version=version, request=document.get("request"),
                           response=document.get("response"),
                           reward=None if reward is None else float(reward), truth=document.get("truth"),
                           routing=document.get("routing") or {}, request_id=rid,
                           tags=document.get("tags") or {}, protocol=protocol)


def feedback_route(plane: DataPlane, limit: int) -> Any:
    """The Starlette endpoint of the native feedback route."""

    async def feedback(request: Request) -> Response:
        headers = {k.lower().encode(): v for k, v in request.headers.items()}
        try:
            body = await receive_body(request.receive, headers, limit)
            outcome = await plane.feedback(
                feedback_request(request.path_params["qualified_name"], loads_strict(body)))
        except ModelwardError as exc:
            return error_response(exc)
        document = {"model": outcome.model, "version": outcome.version, "recorded": outcome.recorded,
                    "delivered_to": outcome.delivered_to}
        return Response(orjson.dumps(document), media_type=JSON)

    return feedback
