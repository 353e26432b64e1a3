"""The OpenAPI paths of the Seldon v1, KServe V1 and MLflow routes (their bodies are the protocols')."""

from __future__ import annotations

from typing import Any

_OBJECT: dict[str, Any] = {"type": "object"}

SELDON_MESSAGE: dict[str, Any] = {
    "title": "SeldonMessage",
    "type": "object",
    "description": "One of data (names plus ndarray or tensor {shape, values}), jsonData, strData, binData; "
                   "and meta (puid, tags, routing, requestPath, metrics).",
    "properties": {
        "data": {"type": "object", "properties": {
            "names": {"type": "array", "items": {"type": "string"}},
            "ndarray": {"type": "array", "items": {}},
            "tensor": {"type": "object", "properties": {
                "shape": {"type": "array", "items": {"type": "integer"}},
                "values": {"type": "array", "items": {"type": "number"}}}}}},
        "jsonData": {},
        "strData": {"type": "string"},
        "binData": {"type": "string", "format": "byte"},
        "meta": {"type": "object", "properties": {
            "puid": {"type": "string"}, "tags": _OBJECT, "routing": _OBJECT, "requestPath": _OBJECT,
            "metrics": {"type": "array", "items": _OBJECT}}},
        "status": {"type": "object", "properties": {
            "code": {"type": "integer"}, "info": {"type": "string"}, "reason": {"type": "string"},
            "status": {"type": "string", "enum": ["SUCCESS", "FAILURE"]}}},
    },
}

SELDON_FEEDBACK: dict[str, Any] = {
    "title": "SeldonFeedback",
    "type": "object",
    "properties": {"request": {"$ref": "#/components/schemas/SeldonMessage"},
                   "response": {"$ref": "#/components/schemas/SeldonMessage"},
                   "reward": {"type": "number"},
                   "truth": {"$ref": "#/components/schemas/SeldonMessage"}},
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _post(tag: str, summary: str, request: dict[str, Any], response: dict[str, Any],
          errors: dict[str, Any], *codes: int, parameters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": "OK", "content": response}}
    for code in codes:
        responses[str(code)] = {"description": "Error or policy denial", "content": _json(errors)}
    operation: dict[str, Any] = {"tags": [tag], "summary": summary,
                                 "requestBody": {"required": True, "content": request}, "responses": responses}
    if parameters:
        operation["parameters"] = parameters
    return {"post": operation}


def _get(tag: str, summary: str, content: dict[str, Any], *codes: int,
         parameters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": "OK", "content": content}}
    for code in codes:
        responses[str(code)] = {"description": "Not ready or unknown"}
    operation: dict[str, Any] = {"tags": [tag], "summary": summary, "responses": responses}
    if parameters:
        operation["parameters"] = parameters
    return {"get": operation}


_NAME = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}]
_MODEL = [{"name": "model", "in": "path", "required": True, "schema": {"type": "string"}}]


def protocol_paths() -> tuple[dict[str, Any], dict[str, Any]]:
    """(paths, component schemas) of the protocol routes."""
    message = {"$ref": "#/components/schemas/SeldonMessage"}
    feedback = {"$ref": "#/components/schemas/SeldonFeedback"}
    seldon_in = {**_json(message), "application/x-www-form-urlencoded": {
        "schema": {"type": "object", "properties": {"json": {"type": "string"}}}}}
    paths: dict[str, Any] = {}
    for prefix, parameters in (("", None), ("/seldon/{model}", _MODEL)):
        paths[f"{prefix}/api/v1.0/predictions"] = _post(
            "seldon", "Seldon v1 prediction", seldon_in, _json(message), message, 400, 403, 404, 415, 422, 503,
            parameters=parameters)
        paths[f"{prefix}/api/v1.0/feedback"] = _post(
            "seldon", "Seldon v1 feedback (recorded, then handed to the model's chain)",
            {**_json(feedback)}, _json(message), message, 400, 404, 415, 503, parameters=parameters)
    for alias in ("/api/v0.1/predictions", "/predict"):  # Seldon's older and microservice paths
        paths[alias] = {"post": {**paths["/api/v1.0/predictions"]["post"],
                                 "summary": "Seldon v1 prediction (alias of /api/v1.0/predictions)"}}
    for alias in ("/api/v0.1/feedback", "/send-feedback"):
        paths[alias] = {"post": {**paths["/api/v1.0/feedback"]["post"],
                                 "summary": "Seldon v1 feedback (alias of /api/v1.0/feedback)"}}
    described = {"type": "object", "properties": {
        "name": {"type": "string"}, "versions": {"type": "array", "items": {"type": "string"}},
        "platform": {"type": "string"}, "inputs": {"type": "array", "items": _OBJECT},
        "outputs": {"type": "array", "items": _OBJECT}}}
    for path in ("/metadata", "/api/v1.0/metadata"):
        paths[path] = _get("seldon", "Seldon: the model's metadata (schemas as jsonData)", _json(described), 404, 503)
    text = {"text/plain": {"schema": {"type": "string"}}}
    paths["/health/ping"] = _get("seldon", "Seldon: the process answers (pong)", text)
    for path in ("/health/status", "/api/v1.0/health/status"):
        paths[path] = _get("seldon", "Seldon: 200 once the models loaded (the executor's health check)",
                           _json(message), 503)
    kserve_error = {"type": "object", "properties": {"error": {"type": "string"}}}
    instances = {"type": "object", "properties": {"instances": {"type": "array", "items": {}}}}
    paths["/v1/models"] = _get("kserve-v1", "KServe V1: served models",
                               _json({"type": "object", "properties": {"models": {"type": "array"}}}), 503)
    paths["/v1/models/{name}"] = _get("kserve-v1", "KServe V1: is the model ready", _json(
        {"type": "object", "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}}}), 404, 503,
        parameters=_NAME)
    paths["/v1/models/{name}:predict"] = _post(
        "kserve-v1", "KServe V1 prediction", _json(instances),
        _json({"type": "object", "properties": {"predictions": {"type": "array", "items": {}}}}),
        kserve_error, 400, 403, 404, 415, 422, 503, parameters=_NAME)
    mlflow_error = {"type": "object", "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}}}
    mlflow_in = {**_json({"type": "object", "description": "One of dataframe_split, dataframe_records, instances, "
                                                           "inputs; optionally params."}),
                 "text/csv": {"schema": {"type": "string"}}}
    paths["/invocations"] = _post(
        "mlflow", "MLflow scoring", mlflow_in,
        _json({"type": "object", "properties": {"predictions": {"type": "array", "items": {}}}}),
        mlflow_error, 400, 403, 404, 415, 422, 503)
    paths["/ping"] = _get("mlflow", "MLflow: ready", text, 503)
    paths["/health"] = _get("mlflow", "MLflow: ready (alias of /ping)", text, 503)
    paths["/version"] = _get("mlflow", "modelward's version", text)
    return paths, {"SeldonMessage": SELDON_MESSAGE, "SeldonFeedback": SELDON_FEEDBACK}
