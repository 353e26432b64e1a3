"""Open Inference Protocol (V2) over gRPC: a ``grpc.aio`` server on the service's event loop.

A thin codec over ``OpenInference``: protobuf messages in, one call, protobuf messages out; domain
errors become gRPC status codes through ``modelward.serving.errors.grpc_code``. Tensors arrive as
typed ``contents`` or as ``raw_input_contents``; outputs go back the same way the inputs came.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, NoReturn, TypeVar

from modelward.errors import ConfigurationError, ModelwardError, RequestError
from modelward.serving.errors import grpc_code
from modelward.serving.v2.core import InferAnswer, OpenInference
from modelward.serving.v2.tensors import Tensor, check_datatype, decode_binary, encode_binary, make_tensor

try:
    import grpc
    from grpc import aio

    from modelward.serving.v2.grpc_gen import inference_pb2 as pb
    from modelward.serving.v2.grpc_gen import inference_pb2_grpc as pb_grpc
except ImportError as exc:  # pragma: no cover - grpcio and protobuf are dependencies of modelward
    _MISSING: ImportError | None = exc
else:
    _MISSING = None

logger = logging.getLogger(__name__)

#: the ``InferTensorContents`` field that holds each datatype's elements
CONTENTS = {"BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents", "INT32": "int_contents",
            "INT64": "int64_contents", "UINT8": "uint_contents", "UINT16": "uint_contents",
            "UINT32": "uint_contents", "UINT64": "uint64_contents", "FP32": "fp32_contents",
            "FP64": "fp64_contents", "BYTES": "bytes_contents"}

Reply = TypeVar("Reply")


def parameter_value(parameter: Any) -> Any:
    """The Python value of an ``InferParameter`` (or ``ModelRepositoryParameter``)."""
    choice = parameter.WhichOneof("parameter_choice")
    return None if choice is None else getattr(parameter, choice)


def set_parameter(target: Any, value: Any) -> None:
    if isinstance(value, bool):
        target.bool_param = value
    elif isinstance(value, int):
        target.int64_param = value
    elif isinstance(value, float):
        target.double_param = value
    else:
        target.string_param = str(value)


def decode_inputs(request: Any) -> list[Tensor]:
    """The request's tensors, from ``raw_input_contents`` when given, else from typed ``contents``."""
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise RequestError(f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} inputs")
    tensors: list[Tensor] = []
    for index, item in enumerate(request.inputs):
        parameters = {key: parameter_value(value) for key, value in item.parameters.items()}
        if raw:
            data = decode_binary(item.name, check_datatype(item.name, item.datatype), raw[index])
        else:
            field = CONTENTS.get(item.datatype)
            if field is None:
                raise RequestError(f"tensor '{item.name}': datatype {item.datatype!r} needs raw_input_contents")
            data = list(getattr(item.contents, field))
        tensors.append(make_tensor(item.name, item.datatype, list(item.shape), data, parameters))
    return tensors


def encode_answer(answer: InferAnswer, raw: bool) -> Any:
    response = pb.ModelInferResponse(model_name=answer.model, model_version=answer.version,
                                     id=answer.request_id or "")
    for tensor in answer.outputs:
        output = response.outputs.add(name=tensor.name, datatype=tensor.datatype, shape=list(tensor.shape))
        if raw:
            response.raw_output_contents.append(encode_binary(tensor.datatype, tensor.data))
        elif tensor.datatype == "BYTES":
            output.contents.bytes_contents.extend(v if isinstance(v, bytes) else str(v).encode()
                                                  for v in tensor.data)
        else:
            getattr(output.contents, CONTENTS[tensor.datatype]).extend(tensor.data)
    return response


class Servicer(pb_grpc.GRPCInferenceServiceServicer if _MISSING is None else object):  # type: ignore[misc]
    """``GRPCInferenceService`` over ``OpenInference``."""

    def __init__(self, v2: OpenInference) -> None:
        self.v2 = v2

    async def _run(self, context: Any, work: Callable[[], Awaitable[Reply]]) -> Reply:
        try:
            return await work()
        except ModelwardError as exc:
            await _abort(context, exc)
        except Exception:
            logger.exception("unexpected error in a gRPC call")
            await context.abort(grpc.StatusCode.INTERNAL, "the service failed unexpectedly; see the service log")
        raise AssertionError("unreachable")  # pragma: no cover - context.abort raises

    async def ServerLive(self, request: Any, context: Any) -> Any:  # noqa: N802
        return pb.ServerLiveResponse(live=self.v2.live())

    async def ServerReady(self, request: Any, context: Any) -> Any:  # noqa: N802
        return pb.ServerReadyResponse(ready=self.v2.ready())

    async def ModelReady(self, request: Any, context: Any) -> Any:  # noqa: N802
        async def work() -> Any:
            return pb.ModelReadyResponse(ready=self.v2.model_ready(request.name, request.version))
        return await self._run(context, work)

    async def ServerMetadata(self, request: Any, context: Any) -> Any:  # noqa: N802
        return pb.ServerMetadataResponse(**self.v2.server_metadata())

    async def ModelMetadata(self, request: Any, context: Any) -> Any:  # noqa: N802
        async def work() -> Any:
            meta = self.v2.model_metadata(request.name, request.version)
            return pb.ModelMetadataResponse(
                name=meta["name"], versions=meta["versions"], platform=meta["platform"],
                inputs=[pb.ModelMetadataResponse.TensorMetadata(**t) for t in meta["inputs"]],
                outputs=[pb.ModelMetadataResponse.TensorMetadata(**t) for t in meta["outputs"]])
        return await self._run(context, work)

    async def ModelInfer(self, request: Any, context: Any) -> Any:  # noqa: N802
        if not self.v2.ready():
            await context.abort(grpc.StatusCode.UNAVAILABLE,
                                "the service is not ready: models are still loading or failed to load")

        async def work() -> Any:
            inputs = decode_inputs(request)
            parameters = {key: parameter_value(value) for key, value in request.parameters.items()}
            answer = await self.v2.infer(request.model_name, request.model_version, inputs, protocol="v2-grpc",
                                         requested=[o.name for o in request.outputs],
                                         request_id=request.id or None, parameters=parameters)
            return encode_answer(answer, raw=bool(request.raw_input_contents))
        return await self._run(context, work)

    async def ModelStatistics(self, request: Any, context: Any) -> Any:  # noqa: N802
        async def work() -> Any:
            stats = self.v2.statistics(request.name or None, request.version or None)
            response = pb.ModelStatisticsResponse()
            for entry in stats:
                response.model_stats.append(pb.ModelStatistics(
                    name=entry["name"], version=entry["version"], last_inference=entry["last_inference"],
                    inference_count=entry["inference_count"], execution_count=entry["execution_count"],
                    inference_stats=pb.InferStatistics(**{key: pb.StatisticDuration(**value) for key, value
                                                          in entry["inference_stats"].items()})))
            return response
        return await self._run(context, work)

    async def RepositoryIndex(self, request: Any, context: Any) -> Any:  # noqa: N802
        models = [pb.RepositoryIndexResponse.ModelIndex(**m) for m in self.v2.repository_index(request.ready)]
        return pb.RepositoryIndexResponse(models=models)

    async def RepositoryModelLoad(self, request: Any, context: Any) -> Any:  # noqa: N802
        async def work() -> Any:
            self.v2.load(request.model_name)
            return pb.RepositoryModelLoadResponse()
        return await self._run(context, work)

    async def RepositoryModelUnload(self, request: Any, context: Any) -> Any:  # noqa: N802
        async def work() -> Any:
            self.v2.unload(request.model_name)
            return pb.RepositoryModelUnloadResponse()
        return await self._run(context, work)


async def _abort(context: Any, exc: ModelwardError) -> NoReturn:
    await context.abort(getattr(grpc.StatusCode, grpc_code(exc)), exc.message)
    raise AssertionError("unreachable")  # pragma: no cover - context.abort raises


def check_port(host: str, port: int | None) -> None:
    """Fail before serving, with one clear line, when gRPC is wanted but cannot run or bind."""
    if port is None:
        return
    if _MISSING is not None:
        raise ConfigurationError(f"a gRPC port is configured but grpcio/protobuf cannot be imported "
                                 f"({_MISSING}); install modelward's dependencies or unset grpc_port")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigurationError(f"cannot serve gRPC on {_address(host, port)}: {exc.strerror}") from None


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@asynccontextmanager
async def serving(v2: OpenInference, host: str, port: int | None,
                  max_message: int = 4 * 1024 * 1024) -> AsyncIterator[int | None]:
    """Serve gRPC on ``host:port`` while the context is open (nothing when ``port`` is None).

    Requests larger than ``max_message`` bytes are refused (RESOURCE_EXHAUSTED). Yields the bound
    port (useful with port 0). Stops with a short grace period on exit.
    """
    if port is None:
        yield None
        return
    if _MISSING is not None:
        raise ConfigurationError(f"a gRPC port is configured but grpcio/protobuf cannot be imported "
                                 f"({_MISSING}); install modelward's dependencies or unset grpc_port")
    server = aio.server(options=[("grpc.max_receive_message_length", max_message)])
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(Servicer(v2), server)  # type: ignore[no-untyped-call]
    address = _address(host, port)
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise ConfigurationError(f"cannot serve gRPC on {address}: {exc}") from None
    await server.start()
    logger.info("Open Inference gRPC server listening on %s:%d", host, bound)
    try:
        yield bound
    finally:
        await server.stop(grace=5)
