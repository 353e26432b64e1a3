"""KServe's V1 protocol (TensorFlow Serving's REST shape), a thin codec over ``DataPlane``.

- ``GET /v1/models``: ``{"models": [names]}``
- ``GET /v1/models/{name}``: ``{"name": ..., "ready": true}`` (503 while models load, 404 unknown)
- ``POST /v1/models/{name}:predict``: ``{"instances": [row, ...]}`` (or ``"inputs"``) →
  ``{"predictions": [output, ...]}``; a row is an object by field name or a list in the order of
  the input schema's fields.
- ``POST /v1/models/{name}:explain``: 404, explain is not supported.

Errors are KServe's ``{"error": "..."}`` with the status ``modelward.serving.errors`` maps; a policy
denial is a 4xx whose ``error`` carries the policy's messages.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from modelward.errors import ModelNotFound, ModelwardError, RequestError
from modelward.services.dataplane import DataPlane, json_type
from modelward.services.jsonbody import loads_strict
from modelward.serving import health
from modelward.serving.codecs import denial, infer_request, predictions, read_body
from modelward.serving.errors import JSON, status_for
from modelward.serving.predict import new_request_id

VERBS = ("predict", "explain")


def answer(document: Any, status: int = 200, request_id: str | None = None) -> Response:
    headers = {"x-request-id": request_id} if request_id else None
    return Response(orjson.dumps(document, default=str), status_code=status, media_type=JSON, headers=headers)


def error(status: int, message: str) -> Response:
    return answer({"error": message}, status)


def error_answer(exc: ModelwardError) -> Response:
    return error(status_for(exc), exc.message)


def instances(document: Any) -> list[Any]:
    """The rows of a V1 request body."""
    if not isinstance(document, dict):
        raise RequestError(f"request body: expected an object with 'instances', got {json_type(document)}")
    keys = [key for key in ("instances", "inputs") if key in document]
    if len(keys) != 1:
        raise RequestError("request body: give 'instances' (a list of rows)" if not keys
                           else "request body: give 'instances' or 'inputs', not both")
    rows = document[keys[0]]
    if not isinstance(rows, list):
        raise RequestError(f"{keys[0]}: expected a list of rows, got {json_type(rows)}")
    if not rows:
        raise RequestError(f"{keys[0]}: no rows")
    return rows


def add_routes(app: Any, plane: DataPlane, limit: int) -> None:
    """Mount the KServe V1 routes on the service's router."""

    async def models(_: Request) -> Response:
        if not plane.status.started:
            return error(503, health.startup_reason(plane))
        return answer({"models": [e.qualified_name for e in plane.endpoints() if e.loaded.config.create_endpoint]})

    async def model(request: Request) -> Response:
        target = request.path_params["target"]
        if ":" in target:
            return error(405, f"use POST for {target}")
        if not plane.status.started:
            return error(503, health.startup_reason(plane))
        try:
            endpoint = plane.endpoint(target, for_prediction=True)
        except ModelwardError as exc:
            return error_answer(exc)
        return answer({"name": endpoint.qualified_name, "ready": True})

    async def verb(request: Request) -> Response:
        name, colon, action = request.path_params["target"].rpartition(":")
        if not colon or action not in VERBS:
            return error(404, f"unknown route; use POST /v1/models/{{name}}:predict ({', '.join(VERBS)})")
        if not plane.status.started:
            return error(503, health.startup_reason(plane))
        rid = request.headers.get("x-request-id") or new_request_id()
        try:
            endpoint = plane.endpoint(name, for_prediction=True)
            if action == "explain":
                raise ModelNotFound(f"model '{name}': explain is not supported")
            rows = instances(loads_strict(await read_body(request, limit)))
            result = await plane.infer(infer_request(endpoint, rows, "instances", "kserve-v1", rid))
        except ModelwardError as exc:
            return error_answer(exc)
        refused = denial(result)
        if refused is not None:
            return answer({"error": "; ".join(refused[1])}, refused[0], rid)
        return answer({"predictions": predictions(result)}, 200, rid)

    app.router.add_route("/v1/models", models, methods=["GET"], include_in_schema=False)
    app.router.add_route("/v1/models/{target}", model, methods=["GET"], include_in_schema=False)
    app.router.add_route("/v1/models/{target}", verb, methods=["POST"], include_in_schema=False)
