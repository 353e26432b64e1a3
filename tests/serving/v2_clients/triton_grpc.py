"""Drive a V2 gRPC server with tritonclient.grpc; print one JSON document of what it saw.

Usage: python triton_grpc.py HOST:PORT   (run in tests/.envs/peers; no modelward imports)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import grpc
import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def failure(call: Callable[[], Any]) -> dict[str, Any]:
    try:
        call()
    except InferenceServerException as exc:
        return {"status": exc.status(), "message": exc.message()}
    return {"status": None, "message": "no error"}


def infer(client: grpcclient.InferenceServerClient, model: str, values: tuple[float, ...] = (1.5, 2.0),
          version: str = "") -> dict[str, Any]:
    value = grpcclient.InferInput("value", [len(values)], "FP64")
    value.set_data_from_numpy(np.array(values, dtype=np.float64))
    label = grpcclient.InferInput("label", [len(values)], "BYTES")
    label.set_data_from_numpy(np.array([b"a", b"bc"][:len(values)], dtype=np.object_))
    outputs = [grpcclient.InferRequestedOutput("doubled"), grpcclient.InferRequestedOutput("label")]
    result = client.infer(model, [value, label], model_version=version, request_id="req-9", outputs=outputs)
    response = result.get_response()
    return {"doubled": result.as_numpy("doubled").tolist(),
            "label": [text(v) for v in result.as_numpy("label").tolist()],
            "id": response.id, "model_version": response.model_version}


def typed_contents(url: str) -> dict[str, Any]:
    """A ModelInfer with typed ``contents`` (no raw_input_contents), through the official stubs."""
    with grpc.insecure_channel(url) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        request = service_pb2.ModelInferRequest(model_name="echo_model", id="typed")
        value = request.inputs.add(name="value", datatype="FP64", shape=[2])
        value.contents.fp64_contents.extend([3.0, 4.5])
        label = request.inputs.add(name="label", datatype="BYTES", shape=[2, 1])
        label.contents.bytes_contents.extend([b"x", b"y"])
        response = stub.ModelInfer(request)
    outputs = {o.name: o for o in response.outputs}
    return {"doubled": list(outputs["doubled"].contents.fp64_contents),
            "label": [b.decode() for b in outputs["label"].contents.bytes_contents],
            "raw": len(response.raw_output_contents), "id": response.id}


def main(url: str) -> dict[str, Any]:
    client = grpcclient.InferenceServerClient(url)
    bad_name = grpcclient.InferInput("valu", [1], "FP64")
    bad_name.set_data_from_numpy(np.array([1.0]))
    return {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "server": client.get_server_metadata(as_json=True),
        "metadata": client.get_model_metadata("echo_model", as_json=True),
        "model_ready": client.is_model_ready("echo_model"),
        "infer": infer(client, "echo_model"),
        "versioned": infer(client, "echo_model", version="1.0.0"),
        "typed": typed_contents(url),
        "wrong_version": failure(lambda: infer(client, "echo_model", version="9")),
        "denied": failure(lambda: infer(client, "guarded_echo", values=(500.0,))),
        "allowed": infer(client, "guarded_echo", values=(5.0,)),
        "bad_name": failure(lambda: client.infer("echo_model", [bad_name])),
        "unknown_model": failure(lambda: client.get_model_metadata("no_such_model")),
        "stats": client.get_inference_statistics("echo_model", as_json=True),
        "index": client.get_model_repository_index(as_json=True),
        "load": failure(lambda: client.load_model("echo_model")),
        "unload": failure(lambda: client.unload_model("echo_model")),
    }


def not_ready(url: str) -> dict[str, Any]:
    """While the models load: live, not ready, and inference UNAVAILABLE."""
    client = grpcclient.InferenceServerClient(url)
    return {"live": client.is_server_live(), "ready": client.is_server_ready(),
            "infer": failure(lambda: infer(client, "slow_model"))}


if __name__ == "__main__":
    print(json.dumps(not_ready(sys.argv[1]) if sys.argv[2:] == ["not-ready"] else main(sys.argv[1])))
