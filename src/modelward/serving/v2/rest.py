"""Open Inference Protocol (V2) over REST: health, metadata, infer (JSON and binary tensors), and
Triton's model repository and statistics extensions. A thin codec over ``OpenInference``.

Every error answer is ``{"error": "..."}`` with the status ``modelward.serving.errors`` assigns.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from modelward.errors import ModelwardError, PayloadTooLarge, RequestError, UnsupportedMediaType
from modelward.services.jsonbody import loads_strict
from modelward.serving import limits
from modelward.serving.errors import JSON, v2_error_response
from modelward.serving.predict import ServiceApp
from modelward.serving.v2.core import InferAnswer, OpenInference
from modelward.serving.v2.tensors import (
    Tensor,
    check_datatype,
    decode_binary,
    encode_binary,
    flatten,
    make_tensor,
)

HEADER_LENGTH = "inference-header-content-length"
_MEDIA_TYPES = ("", "application/json", "application/octet-stream")


def _json(document: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(document), status_code=status, media_type=JSON)


def _error(status: int, message: str) -> Response:
    return _json({"error": message}, status)


Handler = Callable[[Request], Awaitable[Response]]


def _guarded(handler: Handler) -> Handler:
    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except ModelwardError as exc:
            return v2_error_response(exc)

    return run


# --- request decoding ------------------------------------------------------------------------


async def read_body(request: Request, limit: int, timeout: float | None = None) -> bytes:
    """The whole body, never more than ``limit`` bytes, within ``timeout`` s; JSON, octet-stream or none."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in _MEDIA_TYPES and not media_type.endswith("+json"):
        raise UnsupportedMediaType(f"Content-Type must be application/json or application/octet-stream, "
                                   f"got {media_type}")
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        raise UnsupportedMediaType(f"Content-Encoding '{encoding}' is not supported; send the body uncompressed")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body of {declared} bytes is larger than the limit of {limit} bytes")
    return await limits.read_body(request.receive, limit, timeout)


def split_body(body: bytes, header_length: str | None) -> tuple[Any, bytes]:
    """The JSON inference header and the binary tensor data after it."""
    if header_length is None:
        return loads_strict(body), b""
    if not header_length.strip().isdigit():
        raise RequestError(f"Inference-Header-Content-Length '{header_length}' is not a number")
    size = int(header_length)
    if size == 0:
        raise RequestError("a request without an inference header (Inference-Header-Content-Length: 0) is not "
                           "supported: send the JSON inference header before the binary data")
    if size > len(body):
        raise RequestError(f"Inference-Header-Content-Length {size} is larger than the body ({len(body)} bytes)")
    return loads_strict(body[:size]), body[size:]


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RequestError(f"{where} must be a JSON object")
    return value


def decode_inputs(document: dict[str, Any], binary: bytes) -> list[Tensor]:
    """The request's input tensors; binary data is taken in order, as ``binary_data_size`` says."""
    inputs = document.get("inputs")
    if not isinstance(inputs, list):
        raise RequestError("'inputs' must be a list of tensors")
    tensors: list[Tensor] = []
    offset = 0
    for index, item in enumerate(inputs):
        item = _object(item, f"inputs[{index}]")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise RequestError(f"inputs[{index}]: 'name' must be a non-empty string")
        parameters = _object(item.get("parameters") or {}, f"tensor '{name}': parameters")
        size = parameters.get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or size < 0 or offset + size > len(binary):
                raise RequestError(f"tensor '{name}': binary_data_size {size!r} does not fit the "
                                   f"{len(binary) - offset} bytes of binary data left")
            data = decode_binary(name, check_datatype(name, item.get("datatype")), binary[offset:offset + size])
            offset += size
        elif "data" in item:
            data = flatten(item["data"], name)
        else:
            raise RequestError(f"tensor '{name}' has neither 'data' nor a binary_data_size parameter")
        tensors.append(make_tensor(name, item.get("datatype"), item.get("shape"), data, parameters))
    if offset != len(binary):
        raise RequestError(f"{len(binary) - offset} bytes of binary data after the inference header belong "
                           "to no tensor")
    return tensors


def requested_outputs(document: dict[str, Any]) -> tuple[list[str], dict[str, bool]]:
    """The names of the requested outputs, and which of them want binary data."""
    outputs = document.get("outputs") or []
    if not isinstance(outputs, list):
        raise RequestError("'outputs' must be a list")
    request_parameters = _object(document.get("parameters") or {}, "parameters")
    default = bool(request_parameters.get("binary_data_output", False))
    names: list[str] = []
    binary: dict[str, bool] = {}
    for index, item in enumerate(outputs):
        item = _object(item, f"outputs[{index}]")
        name = item.get("name")
        if not isinstance(name, str):
            raise RequestError(f"outputs[{index}]: 'name' must be a string")
        parameters = _object(item.get("parameters") or {}, f"output '{name}': parameters")
        names.append(name)
        binary[name] = bool(parameters.get("binary_data", default))
    binary[""] = default
    return names, binary


# --- response encoding -----------------------------------------------------------------------


def encode_answer(answer: InferAnswer, binary: dict[str, bool]) -> tuple[bytes, dict[str, str]]:
    """The response body (JSON header, then binary tensors) and its headers."""
    outputs: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for tensor in answer.outputs:
        entry: dict[str, Any] = {"name": tensor.name, "datatype": tensor.datatype, "shape": list(tensor.shape)}
        if binary.get(tensor.name, binary[""]):
            blob = encode_binary(tensor.datatype, tensor.data)
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = tensor.data
        outputs.append(entry)
    document: dict[str, Any] = {"model_name": answer.model, "model_version": answer.version}
    if answer.request_id is not None:
        document["id"] = answer.request_id
    if answer.meta:
        document["parameters"] = {"modelward_meta": orjson.dumps(answer.meta, default=str).decode()}
    document["outputs"] = outputs
    header = orjson.dumps(document)
    if not blobs:
        return header, {"content-type": JSON}
    return header + b"".join(blobs), {"content-type": "application/octet-stream",
                                      "inference-header-content-length": str(len(header))}


# --- routes ----------------------------------------------------------------------------------


class InferEndpoint:
    """``POST /v2/models/{name}[/versions/{version}]/infer`` as a raw ASGI app."""

    def __init__(self, v2: OpenInference, limit: int, timeout: float | None = None) -> None:
        self.v2 = v2
        self.limit = limit
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await self.answer(request)
        except ModelwardError as exc:
            response = v2_error_response(exc)
        await response(scope, receive, send)

    async def answer(self, request: Request) -> Response:
        if not self.v2.ready():
            return _error(503, "the service is not ready: models are still loading or failed to load")
        params = request.path_params
        self.v2.endpoint(params["name"], params.get("version"))  # 404 before reading the body
        body = await read_body(request, self.limit, self.timeout)
        document, binary = split_body(body, request.headers.get(HEADER_LENGTH))
        document = _object(document, "the inference request")
        request_id = document.get("id")
        if request_id is not None and not isinstance(request_id, str):
            raise RequestError("'id' must be a string")
        inputs = decode_inputs(document, binary)
        names, binary_outputs = requested_outputs(document)
        parameters = _object(document.get("parameters") or {}, "parameters")
        answer = await self.v2.infer(params["name"], params.get("version"), inputs, protocol="v2",
                                     requested=names, request_id=request_id, parameters=parameters)
        content, headers = encode_answer(answer, binary_outputs)
        return Response(content, headers=headers)


def add_routes(app: FastAPI, v2: OpenInference, limit: int, timeout: float | None = None) -> None:
    """Add every V2 route to ``app`` (statistics before model metadata: ``/v2/models/stats``)."""

    async def live(_: Request) -> Response:
        ok = v2.live()
        return _json({"live": ok}, 200 if ok else 503)

    async def ready(_: Request) -> Response:
        ok = v2.ready()
        return _json({"ready": ok}, 200 if ok else 503)

    async def server_metadata(_: Request) -> Response:
        return _json(v2.server_metadata())

    async def model_metadata(request: Request) -> Response:
        return _json(v2.model_metadata(request.path_params["name"], request.path_params.get("version")))

    async def model_ready(request: Request) -> Response:
        name = request.path_params["name"]
        ok = v2.model_ready(name, request.path_params.get("version"))
        return _json({"name": name, "ready": ok}, 200 if ok else 503)

    async def stats(request: Request) -> Response:
        return _json({"model_stats": v2.statistics(request.path_params.get("name"),
                                                   request.path_params.get("version"))})

    async def index(request: Request) -> Response:
        body = await request.body()
        document = _object(loads_strict(body), "the index request") if body.strip() else {}
        return _json(v2.repository_index(bool(document.get("ready", False))))

    async def load(request: Request) -> Response:
        v2.load(request.path_params["name"])
        return _json({})

    async def unload(request: Request) -> Response:
        v2.unload(request.path_params["name"])
        return _json({})

    get = [("/v2/health/live", live), ("/v2/health/ready", ready), ("/v2", server_metadata),
           ("/v2/models/stats", stats), ("/v2/models/{name}/stats", stats),
           ("/v2/models/{name}/versions/{version}/stats", stats),
           ("/v2/models/{name}/ready", model_ready), ("/v2/models/{name}/versions/{version}/ready", model_ready),
           ("/v2/models/{name}", model_metadata), ("/v2/models/{name}/versions/{version}", model_metadata)]
    for path, handler in get:
        app.router.add_route(path, _guarded(handler), methods=["GET"], include_in_schema=False)
    post = [("/v2/repository/index", index), ("/v2/repository/models/{name}/load", load),
            ("/v2/repository/models/{name}/unload", unload)]
    for path, handler in post:
        app.router.add_route(path, _guarded(handler), methods=["POST"], include_in_schema=False)
    infer = InferEndpoint(v2, limit, timeout)
    if isinstance(app, ServiceApp):
        app.v2_infer = infer  # called without the router when no middleware would run (as the native route)
    for path in ("/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer"):
        app.router.routes.append(Route(path, infer, methods=["POST"], include_in_schema=False))
