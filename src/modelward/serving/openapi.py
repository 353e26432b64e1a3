"""The OpenAPI contract of a service, generated from its models' (possibly decorated) schemas."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter

from modelward.services.config import ServiceConfig
from modelward.services.dataplane import ModelEndpoint
from modelward.serving.protocol_openapi import protocol_paths
from modelward.serving.v2 import openapi as v2_openapi

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "properties": {
        "type": {"type": "string", "description": "The kind of error."},
        "messages": {"type": "array", "items": {"type": "string"}, "description": "What is wrong."},
        "errors": {
            "type": "array",
            "description": "For schema errors: each field and the reason.",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    "required": ["type", "messages"],
}


def _status_schemas() -> dict[str, Any]:
    def status(name: str, values: list[str]) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {name: {"type": "string", "enum": values}, "reason": {"type": "string"},
                           "problems": {"type": "array", "items": {"type": "string"}}},
            "required": [name],
        }

    return {
        "HealthStatus": status("health_status", ["HEALTHY", "NOT_HEALTHY"]),
        "ReadinessStatus": status("readiness_status", ["ACCEPTING_TRAFFIC", "REFUSING_TRAFFIC"]),
        "StartupStatus": status("startup_status", ["STARTED", "NOT_STARTED"]),
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "Malformed JSON", 404: "Unknown model", 413: "Body too large", 415: "Not JSON, or compressed",
            422: "Input does not match the schema", 500: "The model failed", 503: "Not ready or policy "
            "could not be evaluated"}
    return {str(c): {"description": text[c], "content": _json_content(_ref("Error"))} for c in codes}


def schema_components(endpoint: ModelEndpoint) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(input schema, output schema, component definitions) with refs into ``components``."""
    prefix = endpoint.qualified_name
    template = f"#/components/schemas/{prefix}__{{model}}"
    defs: dict[str, Any] = {}

    def split(adapter: TypeAdapter[Any], mode: str) -> dict[str, Any]:
        schema = adapter.json_schema(ref_template=template, mode=mode)  # type: ignore[arg-type]
        for name, body in schema.pop("$defs", {}).items():
            defs[f"{prefix}__{name}"] = body
        return schema

    input_schema = split(TypeAdapter(endpoint.input_schema), "validation")
    output_schema = split(endpoint.output_adapter, "serialization")
    return input_schema, output_schema, defs


def model_paths(endpoint: ModelEndpoint) -> tuple[dict[str, Any], dict[str, Any]]:
    """The prediction paths of one model and the schemas they reference."""
    name = endpoint.qualified_name
    input_schema, output_schema, defs = schema_components(endpoint)
    in_name, out_name = f"{name}__Input", f"{name}__Output"
    defs[in_name] = input_schema
    defs[out_name] = output_schema
    model = endpoint.model
    errors = _errors(400, 413, 415, 422, 500, 503)
    single = {
        "post": {
            "tags": ["models"],
            "summary": f"Predict with {model.display_name}",
            "description": model.description,
            "operationId": f"predict_{name}",
            "requestBody": {"required": True, "content": _json_content(_ref(in_name))},
            "responses": {"200": {"description": "The prediction", "content": _json_content(_ref(out_name))},
                          **errors},
        }
    }
    batch = {
        "post": {
            "tags": ["models"],
            "summary": f"Predict a batch with {model.display_name}",
            "description": "A list of inputs in, a list of predictions out, in the same order.",
            "operationId": f"predict_batch_{name}",
            "requestBody": {"required": True,
                            "content": _json_content({"type": "array", "items": _ref(in_name)})},
            "responses": {"200": {"description": "The predictions",
                                  "content": _json_content({"type": "array", "items": _ref(out_name)})},
                          **errors},
        }
    }
    return {f"/api/models/{name}/prediction": single, f"/api/models/{name}/predictions": batch}, defs


def _service_paths() -> dict[str, Any]:
    def get(summary: str, schema: str, tag: str, *codes: int) -> dict[str, Any]:
        responses = {"200": {"description": "OK", "content": _json_content(_ref(schema))}}
        for code in codes:
            responses[str(code)] = {"description": "Not ready", "content": _json_content(_ref(schema))}
        return {"get": {"tags": [tag], "summary": summary, "responses": responses}}

    models = {"get": {"tags": ["models"], "summary": "Metadata and JSON schemas of every model",
                      "responses": {"200": {"description": "OK", "content": _json_content({"type": "object"})}}}}
    name = [{"name": "qualified_name", "in": "path", "required": True, "schema": {"type": "string"}}]
    metadata = {"get": {"tags": ["models"], "summary": "One model's metadata and JSON schemas",
                        "parameters": name, "responses": {
                            "200": {"description": "OK", "content": _json_content({"type": "object"})},
                            "404": {"description": "Unknown model", "content": _json_content(_ref("Error"))}}}}
    feedback_body = {"type": "object", "description": "reward and/or truth, optionally request, response, "
                     "routing (the prediction's meta), request_id, tags",
                     "properties": {key: {} for key in ("request", "response", "truth", "routing", "tags")} |
                     {"reward": {"type": "number"}, "request_id": {"type": "string"}}}
    feedback = {"post": {"tags": ["models"], "summary": "Feedback on a prediction (recorded, then handed to "
                         "the model's chain)", "parameters": name,
                         "requestBody": {"required": True, "content": _json_content(feedback_body)},
                         "responses": {"200": {"description": "Recorded",
                                               "content": _json_content({"type": "object"})},
                                       **{str(code): {"description": "Bad feedback, unknown model or not ready",
                                                      "content": _json_content(_ref("Error"))}
                                          for code in (400, 404, 413, 415, 503)}}}}
    metrics = {"get": {"tags": ["metrics"], "summary": "Prometheus metrics (text exposition format)",
                       "responses": {"200": {"description": "OK", "content": {
                           "text/plain": {"schema": {"type": "string"}}}}}}}
    return {
        "/api/models": models,
        "/api/models/{qualified_name}/metadata": metadata,
        "/api/models/{qualified_name}/feedback": feedback,
        "/metrics": metrics,
        "/api/health": get("Is the process alive", "HealthStatus", "health", 503),
        "/api/health/ready": get("Is every model loaded", "ReadinessStatus", "health", 503),
        "/api/health/startup": get("Has startup finished", "StartupStatus", "health", 503),
    }


def build_openapi(app: FastAPI | None, endpoints: list[ModelEndpoint], service: ServiceConfig) -> dict[str, Any]:
    """The whole OpenAPI document: service routes, FastAPI routes (e.g. catalog) and every model."""
    routes = app.routes if app is not None else []
    document = get_openapi(title=service.service_title, version=service.version,
                           description=service.description, routes=routes)
    paths: dict[str, Any] = document.setdefault("paths", {})
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    schemas.update(_status_schemas())
    paths.update(_service_paths())
    paths.update(v2_openapi.paths())
    schemas.update(v2_openapi.SCHEMAS)
    protocol_path_items, protocol_schemas = protocol_paths()
    paths.update(protocol_path_items)
    schemas.update(protocol_schemas)
    for endpoint in endpoints:
        if not endpoint.loaded.config.create_endpoint:
            continue
        model_path_items, defs = model_paths(endpoint)
        paths.update(model_path_items)
        schemas.update(defs)
    return document
