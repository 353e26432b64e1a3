"""The data plane: protocol-independent prediction over the loaded models (MLServer's DataPlane).

HTTP layers parse nothing themselves: they hand request bytes to ``DataPlane`` and map the
``ModelwardError`` it raises to a status code in one place (``modelward.serving.errors``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from modelward.errors import (
    ModelNotFound,
    ModelwardError,
    PredictionError,
    RequestError,
    SchemaValidationError,
)
from modelward.model import PredictionNotAvailable
from modelward.services.config import dotted
from modelward.services.jsonbody import loads_strict
from modelward.services.loader import LoadedModel

logger = logging.getLogger(__name__)

#: ``execution: auto`` predicts on the event loop while the model's recent calls take less than this
INLINE_LIMIT = 0.010


@dataclass(frozen=True)
class Answer:
    """A prediction serialized for the wire, with the status the protocol should use."""

    body: bytes
    status_code: int = 200


def validation_errors(exc: ValidationError, prefix: tuple[int | str, ...] = ()) -> list[dict[str, Any]]:
    """Pydantic errors as ``{"field", "message", "type"}`` dicts naming the field path."""
    return [
        {
            "field": dotted((*prefix, *error["loc"])),
            "message": error["msg"],
            "type": error["type"],
        }
        for error in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
               float: "a number", type(None): "null"}


def json_type(value: Any) -> str:
    """What a parsed JSON value is, in JSON's words (``an object``, ``null``...)."""
    return _JSON_TYPES.get(type(value), type(value).__name__)


class ModelEndpoint:
    """One served model: validates input, predicts, serializes output."""

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.model = loaded.model
        self.qualified_name = loaded.qualified_name
        self.input_schema: type[BaseModel] = self.model.input_schema
        self.execution = loaded.config.execution
        self.recent: float | None = None  # moving average of predict() seconds (``auto``)

    def runs_inline(self, batch: bool = False) -> bool:
        """Whether the next call predicts on the event loop (see ``ModelConfig.execution``)."""
        if self.execution != "auto":
            return self.execution == "inline"
        return not batch and self.recent is not None and self.recent < INLINE_LIMIT

    def observe(self, seconds: float) -> None:
        """Fold one call's duration into the moving average that ``auto`` decides by."""
        self.recent = seconds if self.recent is None else 0.8 * self.recent + 0.2 * seconds

    @cached_property
    def output_adapter(self) -> TypeAdapter[Any]:
        return TypeAdapter(self.model.output_schema)

    def parse(self, document: Any, prefix: tuple[int | str, ...] = ()) -> BaseModel:
        if not isinstance(document, dict):
            where = dotted(prefix) if prefix else "request body"
            raise SchemaValidationError(
                f"{where}: expected a JSON object for {self.input_schema.__name__}, "
                f"got {json_type(document)}",
                errors=[{"field": where, "message": "expected an object", "type": "model_type"}],
            )
        try:
            return self.input_schema.model_validate(document)
        except ValidationError as exc:
            errors = validation_errors(exc, prefix)
            summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
            raise SchemaValidationError(f"input does not match the model's schema: {summary}",
                                        errors=errors) from None

    def predict(self, data: BaseModel) -> Any:
        try:
            return self.model.predict(data)
        except ModelwardError:
            raise
        except Exception as exc:
            if type(exc).__name__ == "MLModelSchemaValidationException":  # ml_base's client error
                raise SchemaValidationError(str(exc)) from exc
            logger.exception("model %s failed to predict", self.qualified_name)
            raise PredictionError(
                f"model '{self.qualified_name}' failed to predict ({type(exc).__name__}); "
                "the service log has the details"
            ) from exc

    def dump(self, prediction: Any) -> Answer:
        status = prediction.status_code if isinstance(prediction, PredictionNotAvailable) else 200
        if isinstance(prediction, BaseModel):
            return Answer(prediction.model_dump_json().encode(), status)
        try:
            return Answer(self.output_adapter.dump_json(self.output_adapter.validate_python(prediction)))
        except ValidationError as exc:
            raise PredictionError(
                f"model '{self.qualified_name}' returned output that does not match its output schema: "
                f"{validation_errors(exc)}"
            ) from None

    def dump_many(self, predictions: list[Any]) -> Answer:
        parts = [self.dump(p).body for p in predictions]
        return Answer(b"[" + b",".join(parts) + b"]")


@dataclass
class ServiceStatus:
    """Startup progress of the service, for the health endpoints."""

    started: bool = False
    error: str | None = None
    loaded: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class DataPlane:
    """The models being served, addressed by qualified name."""

    def __init__(self, max_batch: int = 10_000) -> None:
        self._endpoints: dict[str, ModelEndpoint] = {}
        self.status = ServiceStatus()
        self.max_batch = max_batch

    def add(self, loaded: LoadedModel) -> ModelEndpoint:
        endpoint = ModelEndpoint(loaded)
        self._endpoints[endpoint.qualified_name] = endpoint
        with self.status.lock:
            self.status.loaded.append(endpoint.qualified_name)
        return endpoint

    def endpoints(self) -> list[ModelEndpoint]:
        return list(self._endpoints.values())

    def endpoint(self, qualified_name: str, *, for_prediction: bool = False) -> ModelEndpoint:
        endpoint = self._endpoints.get(qualified_name)
        if endpoint is None or (for_prediction and not endpoint.loaded.config.create_endpoint):
            known = ", ".join(sorted(self._endpoints)) or "none loaded yet"
            raise ModelNotFound(f"no model named '{qualified_name}' is served (models: {known})")
        return endpoint

    def prepare(self, qualified_name: str, body: bytes) -> tuple[ModelEndpoint, BaseModel]:
        """Find the model and validate one request body against its input schema."""
        endpoint = self.endpoint(qualified_name, for_prediction=True)
        return endpoint, self.parse_one(endpoint, body)

    def prepare_batch(self, qualified_name: str, body: bytes) -> tuple[ModelEndpoint, list[BaseModel]]:
        """Find the model and validate a JSON list of inputs."""
        endpoint = self.endpoint(qualified_name, for_prediction=True)
        return endpoint, self.parse_batch(endpoint, body)

    @staticmethod
    def parse_one(endpoint: ModelEndpoint, body: bytes) -> BaseModel:
        """Validate one request body against the model's input schema."""
        return endpoint.parse(loads_strict(body))

    def parse_batch(self, endpoint: ModelEndpoint, body: bytes) -> list[BaseModel]:
        """Validate a JSON list of inputs; every bad item is reported, by index."""
        document = loads_strict(body)
        if not isinstance(document, list):
            raise RequestError(f"expected a JSON list of inputs, got {json_type(document)}")
        if len(document) > self.max_batch:
            raise RequestError(f"batch of {len(document)} inputs is larger than the limit {self.max_batch}")
        items: list[BaseModel] = []
        errors: list[dict[str, Any]] = []
        for index, item in enumerate(document):
            try:
                items.append(endpoint.parse(item, (index,)))
            except SchemaValidationError as exc:
                errors.extend(exc.errors)
        if errors:
            summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:10])
            raise SchemaValidationError(f"input does not match the model's schema: {summary}", errors=errors)
        return items

    @staticmethod
    def run_one(endpoint: ModelEndpoint, data: BaseModel) -> Answer:
        return endpoint.dump(endpoint.predict(data))

    @staticmethod
    def run_many(endpoint: ModelEndpoint, items: list[BaseModel]) -> Answer:
        return endpoint.dump_many([endpoint.predict(item) for item in items])

    def close(self) -> None:
        """Call ``close()`` on every layer of every model's chain that has one (flush logs, stop watchers)."""
        for endpoint in self.endpoints():
            layer: Any = endpoint.model
            while layer is not None:
                closer = getattr(type(layer), "close", None)
                if callable(closer):
                    try:
                        closer(layer)
                    except Exception:
                        logger.exception("closing %r failed", layer)
                layer = getattr(layer, "__dict__", {}).get("_model")

    def metadata(self) -> list[dict[str, Any]]:
        return [endpoint_metadata(e) for e in self.endpoints()]


def endpoint_metadata(endpoint: ModelEndpoint) -> dict[str, Any]:
    """Metadata and JSON schemas of a model, as ``GET /api/models`` lists it."""
    model = endpoint.model
    return {
        "qualified_name": endpoint.qualified_name,
        "display_name": model.display_name,
        "description": model.description,
        "version": model.version,
        "decorators": repr(model),
        "endpoint": endpoint.loaded.config.create_endpoint,
        "input_schema": endpoint.input_schema.model_json_schema(),
        "output_schema": endpoint.output_adapter.json_schema(),
    }


def load_into(plane: DataPlane, build: Callable[[], list[LoadedModel]]) -> None:
    """Build the models and add them to ``plane``, recording success or the reason for failure."""
    try:
        for loaded in build():
            plane.add(loaded)
    except Exception as exc:
        with plane.status.lock:
            plane.status.error = str(exc)
        raise
    with plane.status.lock:
        plane.status.started = True
