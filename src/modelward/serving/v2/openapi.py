"""The Open Inference (V2) REST routes in the service's OpenAPI document."""

from __future__ import annotations

from typing import Any

_TENSOR_META = {"type": "object", "required": ["name", "datatype", "shape"], "properties": {
    "name": {"type": "string"}, "datatype": {"type": "string"},
    "shape": {"type": "array", "items": {"type": "integer"}}}}
_PARAMETERS = {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}
_TENSOR = {"type": "object", "required": ["name", "datatype", "shape"], "properties": {
    "name": {"type": "string"}, "datatype": {"type": "string", "enum": [
        "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64",
        "BYTES"]},
    "shape": {"type": "array", "items": {"type": "integer"}},
    "parameters": {"$ref": "#/components/schemas/V2Parameters"},
    "data": {"type": "array", "description": "Row-major elements, flat or nested."}}}

SCHEMAS: dict[str, Any] = {
    "V2Error": {"type": "object", "required": ["error"], "properties": {
        "error": {"type": "string"}, "messages": {"type": "array", "items": {"type": "string"},
                                                  "description": "A policy denial's messages."}}},
    "V2Parameters": _PARAMETERS,
    "V2Tensor": _TENSOR,
    "V2InferenceRequest": {"type": "object", "required": ["inputs"], "properties": {
        "id": {"type": "string"}, "parameters": {"$ref": "#/components/schemas/V2Parameters"},
        "inputs": {"type": "array", "items": {"$ref": "#/components/schemas/V2Tensor"}},
        "outputs": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string"}, "parameters": {"$ref": "#/components/schemas/V2Parameters"}}}}}},
    "V2InferenceResponse": {"type": "object", "required": ["model_name", "outputs"], "properties": {
        "model_name": {"type": "string"}, "model_version": {"type": "string"}, "id": {"type": "string"},
        "parameters": {"$ref": "#/components/schemas/V2Parameters"},
        "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/V2Tensor"}}}},
    "V2ModelMetadata": {"type": "object", "properties": {
        "name": {"type": "string"}, "versions": {"type": "array", "items": {"type": "string"}},
        "platform": {"type": "string"}, "inputs": {"type": "array", "items": _TENSOR_META},
        "outputs": {"type": "array", "items": _TENSOR_META}}},
    "V2ServerMetadata": {"type": "object", "properties": {
        "name": {"type": "string"}, "version": {"type": "string"},
        "extensions": {"type": "array", "items": {"type": "string"}}}},
}


def _ref(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}


def _responses(ok: str | None, *codes: int) -> dict[str, Any]:
    answers: dict[str, Any] = {"200": {"description": "OK", **({"content": _ref(ok)} if ok else {})}}
    for code in codes:
        answers[str(code)] = {"description": "Error", "content": _ref("V2Error")}
    return answers


def _op(method: str, summary: str, ok: str | None, *codes: int, body: str | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {"tags": ["open inference (v2)"], "summary": summary,
                                 "responses": _responses(ok, *codes)}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {
            **_ref(body), "application/octet-stream": {"schema": {"type": "string", "format": "binary"},
                                                       "description": "JSON header, then binary tensor data "
                                                                      "(Inference-Header-Content-Length)"}}}
    return {method: operation}


def paths() -> dict[str, Any]:
    """Every V2 path (each model path also with ``/versions/{version}``)."""
    found: dict[str, Any] = {
        "/v2/health/live": _op("get", "Is the server live", None, 503),
        "/v2/health/ready": _op("get", "Are all models ready", None, 503),
        "/v2": _op("get", "Server metadata and extensions", "V2ServerMetadata"),
        "/v2/models/stats": _op("get", "Statistics of every model", None),
        "/v2/repository/index": _op("post", "Models in the repository (those of the config)", None, 400),
        "/v2/repository/models/{name}/load": _op("post", "Load a model (a served model is loaded)", None, 404),
        "/v2/repository/models/{name}/unload": _op("post", "Unload a model (refused: the config decides)",
                                                   None, 400, 404),
    }
    for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        found[prefix] = _op("get", "Model metadata: input and output tensors", "V2ModelMetadata", 404)
        found[f"{prefix}/ready"] = _op("get", "Is the model ready", None, 404, 503)
        found[f"{prefix}/stats"] = _op("get", "Statistics of the model", None, 404)
        found[f"{prefix}/infer"] = _op("post", "Infer with named tensors (JSON or binary)", "V2InferenceResponse",
                                       400, 403, 404, 413, 415, 422, 503, body="V2InferenceRequest")
    for path, item in found.items():
        parameters = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                      for n in ("name", "version") if "{" + n + "}" in path]
        if parameters:
            for operation in item.values():
                operation["parameters"] = parameters
    return found
