"""Seldon Core v1 protocol: ``POST /api/v1.0/predictions`` and ``POST /api/v1.0/feedback``.

A thin codec over ``DataPlane``: a ``SeldonMessage`` is decoded (``modelward.model.seldon_message``),
its rows become the model's input documents, one ``DataPlane.infer`` call predicts, and the outputs
are written back as Seldon does: ``{"data": {"names": [...], "ndarray": [...]}, "meta": {...}}``.

- A model with a pydantic schema gets one document per row: ``ndarray`` or ``tensor`` rows are read
  by ``names`` (or, without names, in the order of the schema's fields), object rows as they are;
  ``jsonData`` is one document (or a list of them). Its outputs come back as rows under the output
  fields' names (a ``tensor`` when the request sent one and every value is a number).
- A Seldon Python class (``SeldonModelAdapter``) gets the whole payload, as Seldon's wrapper gives it.
- ``meta``: the request's ``puid`` (one is made when missing) and ``tags`` are echoed; the chain's
  metadata adds ``tags`` (a Seldon class's ``tags()``), ``metrics`` and ``routing``; ``requestPath``
  names the model and version.
- Errors and policy denials are ``{"status": {"code", "info", "reason", "status": "FAILURE"}}`` with
  the HTTP status (a denial is a 4xx carrying the policy's messages).

Also served: Seldon's microservice aliases ``/predict`` and ``/send-feedback`` (the paths Seldon's
executor posts to in the model's pod), its health paths ``/health/ping`` (``pong`` while the process
runs) and ``/health/status`` = ``/api/v1.0/health/status`` (200 once the models loaded, else 503; the
executor's full health check), ``/metadata`` = ``/api/v1.0/metadata`` (Seldon's model metadata: name,
versions, platform, and the input and output JSON schemas as ``jsonData``), form bodies
``json=<message>`` (as ``curl -d`` sends them), and ``/seldon/{model}/api/v1.0/...`` for a model by name.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.requests import Request
from starlette.responses import Response

from modelward.errors import ModelwardError, RequestError
from modelward.model.seldon import SeldonOutput
from modelward.model.seldon_message import (
    SeldonPayload,
    decode_message,
    encode_payload,
    failure,
    feedback_parts,
    routing_of,
)
from modelward.services.dataplane import DataPlane, ModelEndpoint, endpoint_metadata
from modelward.services.inference import FeedbackRequest, InferenceRequest, InferenceResult, to_python
from modelward.services.jsonbody import loads_strict
from modelward.serving import health
from modelward.serving.codecs import (
    denial,
    outputs_as_python,
    outputs_as_rows,
    read_body,
    row_documents,
    served_model,
    takes_messages,
)
from modelward.serving.errors import JSON, status_for
from modelward.serving.predict import new_request_id

ACCEPT = ("application/json", "application/x-www-form-urlencoded")
PREDICT_PATHS = ("/api/v1.0/predictions", "/api/v0.1/predictions", "/predict",
                 "/seldon/{model}/api/v1.0/predictions")
FEEDBACK_PATHS = ("/api/v1.0/feedback", "/api/v0.1/feedback", "/send-feedback", "/seldon/{model}/api/v1.0/feedback")
STATUS_PATHS = ("/health/status", "/api/v1.0/health/status")
METADATA_PATHS = ("/metadata", "/api/v1.0/metadata")


def answer(document: dict[str, Any], status: int = 200, puid: str | None = None) -> Response:
    headers = {"x-request-id": puid} if puid else None
    return Response(orjson.dumps(document, default=str), status_code=status, media_type=JSON, headers=headers)


def error_answer(exc: ModelwardError) -> Response:
    status = status_for(exc)
    return answer(failure(status, exc.message, type(exc).__name__), status)


def parse_message(body: bytes, media: str) -> Any:
    """The JSON of a body: JSON itself, or the ``json`` field of a form (Seldon's ``-d 'json=...'``)."""
    if media == "application/x-www-form-urlencoded" and not body.lstrip().startswith(b"{"):
        try:
            form = parse_qs(body.decode("utf-8"), strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            raise RequestError("form body: not a form with a 'json' field") from None
        if "json" not in form:
            raise RequestError(f"form body: no 'json' field (got {', '.join(sorted(form)) or 'none'})")
        return loads_strict(form["json"][0].encode("utf-8"))
    return loads_strict(body)


async def read_message(request: Request, limit: int) -> Any:
    body = await read_body(request, limit, ACCEPT)
    return parse_message(body, request.headers.get("content-type", "").split(";", 1)[0].strip().lower())


def model_for(request: Request, plane: DataPlane) -> ModelEndpoint:
    name = request.path_params.get("model")
    return plane.endpoint(name, for_prediction=True) if name else served_model(request, plane)


def inputs_for(payload: SeldonPayload, endpoint: ModelEndpoint) -> tuple[list[Any], bool]:
    """(input documents, many) for a model with a pydantic schema."""
    schema = endpoint.input_schema.__name__
    if payload.kind in ("ndarray", "tensor"):
        rows = payload.value
        where = f"data.{payload.kind}"
        if not rows:
            raise RequestError(f"{where}: no rows")
        if not any(isinstance(row, list | dict) for row in rows):
            rows = [rows]  # one row given as a vector, as Seldon's 1-D ndarray
        elif payload.kind == "tensor" and isinstance(rows[0], list) and rows[0] and isinstance(rows[0][0], list):
            raise RequestError(f"{where}: a tensor of more than 2 dimensions cannot be read as rows of {schema}")
        return row_documents(rows, payload.names, endpoint, where), True
    if payload.kind == "jsonData":
        if isinstance(payload.value, list):
            return row_documents(payload.value, None, endpoint, "jsonData"), True
        if isinstance(payload.value, dict):
            return [payload.value], False
        raise RequestError(f"jsonData: expected an object (or a list of objects) for {schema}")
    if payload.kind == "empty":
        raise RequestError("request: no payload; send data (ndarray or tensor, with names), jsonData or strData")
    raise RequestError(f"{payload.kind}: model '{endpoint.qualified_name}' takes {schema} objects, "
                       f"which {payload.kind} cannot carry; send data.ndarray with names, or jsonData")


def encode(result: InferenceResult, payload: SeldonPayload, many: bool, adapter: bool) -> dict[str, Any]:
    """The answer's payload part."""
    if adapter:
        (output,) = result.outputs
        if isinstance(output, SeldonOutput):
            return encode_payload(output.data, output.names, payload.kind)
        document = to_python(output)
        return encode_payload(document.get("data"), document.get("names") or [], payload.kind)
    outputs = outputs_as_python(result)
    if payload.kind == "jsonData":
        return {"jsonData": outputs if many else outputs[0]}
    names, rows = outputs_as_rows(outputs)
    return encode_payload(rows, names, payload.kind)


def answer_meta(result: InferenceResult, payload: SeldonPayload, puid: str) -> dict[str, Any]:
    """``meta``: puid, the request's tags plus the chain's, metrics, routing and requestPath."""
    chain = dict(result.meta)
    tags = dict(payload.meta.get("tags") or {})
    extra_tags = chain.pop("tags", None)
    metrics = chain.pop("metrics", None)
    routing = chain.pop("routing", None)
    tags.update(extra_tags if isinstance(extra_tags, dict) else {})
    tags.update(chain)  # anything else the chain noted (scores, route names)
    meta: dict[str, Any] = {"puid": puid}
    if tags:
        meta["tags"] = tags
    if isinstance(routing, dict):
        meta["routing"] = routing
    if isinstance(metrics, list) and metrics:
        meta["metrics"] = metrics
    meta["requestPath"] = {result.model: f"{result.model}:{result.version}"}
    return meta


def puid_of(payload: SeldonPayload) -> str:
    """The request's ``meta.puid`` (one is made when missing); ``meta.tags`` is checked too."""
    if payload.meta.get("tags") is not None and not isinstance(payload.meta["tags"], dict):
        raise RequestError("meta.tags: expected an object")
    puid = payload.meta.get("puid")
    if puid is None or puid == "":
        return new_request_id()
    if not isinstance(puid, str):
        raise RequestError("meta.puid: expected a string")
    return puid


def predictions_route(plane: DataPlane, limit: int) -> Any:
    """The Starlette endpoint of ``POST /api/v1.0/predictions``."""

    async def predictions(request: Request) -> Response:
        if not plane.status.started:
            return answer(failure(503, health.startup_reason(plane), "ServiceUnavailable"), 503)
        try:
            endpoint = model_for(request, plane)
            payload = decode_message(await read_message(request, limit))
            puid = puid_of(payload)
            adapter = takes_messages(endpoint)
            if adapter:
                x = [] if payload.kind == "empty" else payload.value
                inputs, many = [{"X": x, "names": payload.names or None, "meta": payload.meta}], False
            else:
                inputs, many = inputs_for(payload, endpoint)
            result = await plane.infer(InferenceRequest(model=endpoint.qualified_name, inputs=inputs, many=many,
                                                        protocol="seldon", request_id=puid))
        except ModelwardError as exc:
            return error_answer(exc)
        refused = denial(result)
        if refused is not None:
            status, messages = refused
            return answer(failure(status, "; ".join(messages), "PredictionNotAvailable"), status, puid)
        document = encode(result, payload, many, adapter)
        document["meta"] = answer_meta(result, payload, puid)
        return answer(document, 200, puid)

    return predictions


def feedback_route(plane: DataPlane, limit: int) -> Any:
    """The Starlette endpoint of ``POST /api/v1.0/feedback``."""

    async def feedback(request: Request) -> Response:
        try:
            endpoint = model_for(request, plane)
            parts = feedback_parts(await read_message(request, limit))
            response = parts["response"] if isinstance(parts["response"], dict) else {}
            meta: dict[str, Any] = response["meta"] if isinstance(response.get("meta"), dict) else {}
            puid = meta.get("puid") if isinstance(meta.get("puid"), str) else None
            outcome = await plane.feedback(FeedbackRequest(
                model=endpoint.qualified_name, request=parts["request"], response=parts["response"],
                reward=parts["reward"], truth=parts["truth"], routing=routing_of(parts["response"]),
                request_id=puid, tags=_tags(meta), protocol="seldon"))
        except ModelwardError as exc:
            return error_answer(exc)
        tags = {"model": outcome.model, "version": outcome.version, "recorded": outcome.recorded,
                "delivered_to": outcome.delivered_to}
        return answer({"data": {"names": [], "ndarray": []}, "meta": {"tags": tags}}, 200, puid)

    return feedback


def _tags(meta: dict[str, Any]) -> dict[str, Any]:
    tags = meta.get("tags")
    return dict(tags) if isinstance(tags, dict) else {}


def health_routes(plane: DataPlane) -> tuple[Any, Any]:
    """Seldon's ``/health/ping`` and ``/health/status`` endpoints."""

    async def ping(_: Request) -> Response:
        return Response("pong", media_type="text/plain")

    async def status(_: Request) -> Response:
        if not plane.status.started:
            return answer(failure(503, health.startup_reason(plane), "ServiceUnavailable"), 503)
        return answer({"status": {"code": 200, "info": "ready", "status": "SUCCESS"}})

    return ping, status


def seldon_metadata(endpoint: ModelEndpoint) -> dict[str, Any]:
    """A model's metadata as Seldon's wrapper answers ``/metadata`` (schemas as ``jsonData``)."""
    described = endpoint_metadata(endpoint)
    return {"name": endpoint.qualified_name, "versions": [described["version"]], "platform": "modelward",
            "inputs": [{"messagetype": "jsonData", "schema": described["input_schema"]}],
            "outputs": [{"messagetype": "jsonData", "schema": described["output_schema"]}]}


def metadata_route(plane: DataPlane) -> Any:
    """The Starlette endpoint of ``GET /api/v1.0/metadata``."""

    async def metadata(request: Request) -> Response:
        if not plane.status.started:
            return answer(failure(503, health.startup_reason(plane), "ServiceUnavailable"), 503)
        try:
            return answer(seldon_metadata(served_model(request, plane)))
        except ModelwardError as exc:
            return error_answer(exc)

    return metadata


def add_routes(app: Any, plane: DataPlane, limit: int) -> None:
    """Mount the Seldon v1 routes on the service's router."""
    for path in METADATA_PATHS:
        app.router.add_route(path, metadata_route(plane), methods=["GET"], include_in_schema=False)
    ping, status = health_routes(plane)
    app.router.add_route("/health/ping", ping, methods=["GET"], include_in_schema=False)
    for path in STATUS_PATHS:
        app.router.add_route(path, status, methods=["GET"], include_in_schema=False)
    predictions, feedback = predictions_route(plane, limit), feedback_route(plane, limit)
    for path in PREDICT_PATHS:
        app.router.add_route(path, predictions, methods=["POST"], include_in_schema=False)
    for path in FEEDBACK_PATHS:
        app.router.add_route(path, feedback, methods=["POST"], include_in_schema=False)
