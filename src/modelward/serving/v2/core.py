"""The Open Inference Protocol's operations, shared by its REST and gRPC codecs.

Each operation takes and returns plain values (``Tensor``s, dicts) and raises ``ModelwardError``;
the codecs only translate wire formats and map errors (``modelward.serving.errors``). Inference is
one ``DataPlane.infer`` call; a policy denial becomes ``PolicyDenied`` with the policy's messages.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from modelward import __version__
from modelward.errors import ModelwardError, PolicyDenied, RequestError
from modelward.model import PredictionNotAvailable
from modelward.services.dataplane import DataPlane, ModelEndpoint
from modelward.services.inference import InferenceRequest
from modelward.services.statistics import InferenceStatistics
from modelward.serving.v2.tensors import Tensor, rows_from_tensors, schema_tensors, tensors_from_outputs

SERVER_NAME = "modelward"
EXTENSIONS = ("binary_tensor_data", "model_repository", "statistics")
PLATFORM = "modelward_python"


@dataclass(frozen=True)
class InferAnswer:
    """What an inference produced, ready for a codec to encode."""

    model: str
    version: str
    outputs: list[Tensor]
    request_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


class OpenInference:
    """The V2 operations over one data plane."""

    def __init__(self, plane: DataPlane, stats: InferenceStatistics | None = None) -> None:
        self.plane = plane
        self.stats = stats or InferenceStatistics()

    # --- health and metadata ---------------------------------------------------------------

    def live(self) -> bool:
        return self.plane.status.error is None

    def ready(self) -> bool:
        return self.plane.status.started

    def server_metadata(self) -> dict[str, Any]:
        return {"name": SERVER_NAME, "version": __version__, "extensions": list(EXTENSIONS)}

    def endpoint(self, name: str, version: str | None = None) -> ModelEndpoint:
        return self.plane.endpoint(name, version or None, for_prediction=True)

    def model_ready(self, name: str, version: str | None = None) -> bool:
        """Whether the model is served and the service is started; unknown models raise ``ModelNotFound``."""
        self.endpoint(name, version)
        return self.ready()

    def model_metadata(self, name: str, version: str | None = None) -> dict[str, Any]:
        endpoint = self.endpoint(name, version)
        return {
            "name": endpoint.qualified_name,
            "versions": [str(endpoint.model.version)],
            "platform": PLATFORM,
            "inputs": [spec.as_dict() for spec in schema_tensors(endpoint.input_schema)],
            "outputs": [spec.as_dict() for spec in schema_tensors(endpoint.model.output_schema)],
        }

    # --- inference ---------------------------------------------------------------------------

    async def infer(self, name: str, version: str | None, inputs: list[Tensor], *, protocol: str,
                    requested: list[str] | None = None, request_id: str | None = None,
                    parameters: dict[str, Any] | None = None) -> InferAnswer:
        """Rows from the input tensors, one data-plane call, output tensors (only those requested)."""
        endpoint = self.endpoint(name, version)
        model_version = str(endpoint.model.version)
        started = time.perf_counter_ns()
        rows = 0
        try:
            documents = rows_from_tensors(endpoint.qualified_name, endpoint.input_schema, inputs)
            rows = len(documents)
            result = await self.plane.infer(InferenceRequest(
                # one row is one input: it may then run on the event loop (``execution: auto``)
                model=endpoint.qualified_name, version=version or None, inputs=documents, many=rows != 1,
                protocol=protocol, request_id=request_id, parameters=dict(parameters or {})))
            denied = result.denied
            if denied:
                raise denial(endpoint.qualified_name, denied)
            outputs = tensors_from_outputs(endpoint.model.output_schema, result.outputs)
            outputs = select(outputs, requested, endpoint.qualified_name)
        except ModelwardError:
            self.stats.record(endpoint.qualified_name, model_version, rows=rows,
                              ns=time.perf_counter_ns() - started, ok=False)
            raise
        self.stats.record(endpoint.qualified_name, model_version, rows=rows, ns=time.perf_counter_ns() - started,
                          ok=True)
        return InferAnswer(endpoint.qualified_name, result.version, outputs, request_id, result.meta)

    # --- repository and statistics extensions ------------------------------------------------

    def repository_index(self, ready_only: bool = False) -> list[dict[str, Any]]:
        """Every served model: READY once the service has started (models come from the config)."""
        state, reason = ("READY", "") if self.ready() else ("UNAVAILABLE", "the service is still starting")
        if ready_only and state != "READY":
            return []
        return [{"name": e.qualified_name, "version": str(e.model.version), "state": state, "reason": reason}
                for e in self.plane.endpoints() if e.loaded.config.create_endpoint]

    def load(self, name: str) -> None:
        """A served model is already loaded; any other name is unknown (the config decides what is served)."""
        self.endpoint(name)

    def unload(self, name: str) -> None:
        self.endpoint(name)
        raise RequestError(f"model '{name}' cannot be unloaded: this server serves the models of its config "
                           "file; remove the model from the config and restart to stop serving it")

    def statistics(self, name: str | None = None, version: str | None = None) -> list[dict[str, Any]]:
        if name:
            endpoint = self.endpoint(name, version)
            served = [(endpoint.qualified_name, str(endpoint.model.version))]
        else:
            served = [(e.qualified_name, str(e.model.version)) for e in self.plane.endpoints()
                      if e.loaded.config.create_endpoint]
        return self.stats.snapshot(served)


def denial(model: str, denied: list[PredictionNotAvailable]) -> PolicyDenied:
    """A policy's refusal as an error that keeps its messages and the decorator's 4xx status."""
    messages = [m for item in denied for m in item.messages]
    statuses = [item.status_code for item in denied if 400 <= item.status_code < 500]
    return PolicyDenied(f"prediction not available from model '{model}': {'; '.join(messages) or 'denied by policy'}",
                        messages=messages, status=statuses[0] if statuses else 403)


def select(outputs: list[Tensor], requested: list[str] | None, model: str) -> list[Tensor]:
    """The requested outputs, in the order asked for (all when none are named)."""
    if not requested:
        return outputs
    by_name = {tensor.name: tensor for tensor in outputs}
    unknown = [name for name in requested if name not in by_name]
    if unknown:
        raise RequestError(f"output tensor '{unknown[0]}' is not an output of model '{model}' "
                           f"(outputs: {', '.join(by_name)})")
    return [by_name[name] for name in requested]
