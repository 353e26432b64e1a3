"""Drive a V2 REST server with tritonclient.http; print one JSON document of what it saw.

Usage: python triton_http.py HOST:PORT   (run in tests/.envs/peers; no modelward imports)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def failure(call: Callable[[], Any]) -> dict[str, Any]:
    try:
        call()
    except InferenceServerException as exc:
        return {"status": exc.status(), "message": exc.message()}
    return {"status": None, "message": "no error"}


def echo_inputs(values: list[float], labels: list[str], binary: bool) -> list[httpclient.InferInput]:
    value = httpclient.InferInput("value", [len(values)], "FP64")
    value.set_data_from_numpy(np.array(values, dtype=np.float64), binary_data=binary)
    label = httpclient.InferInput("label", [len(labels)], "BYTES")
    label.set_data_from_numpy(np.array([s.encode() for s in labels], dtype=np.object_), binary_data=binary)
    return [value, label]


def infer(client: httpclient.InferenceServerClient, model: str, binary: bool, version: str = "",
          values: tuple[float, ...] = (1.5, 2.0), outputs: bool = True) -> dict[str, Any]:
    requested = [httpclient.InferRequestedOutput(name, binary_data=binary) for name in ("doubled", "label")] \
        if outputs else None
    result = client.infer(model, echo_inputs(list(values), ["a", "bc"][:len(values)], binary),
                          model_version=version, outputs=requested, request_id="req-7")
    response = result.get_response()
    return {"doubled": result.as_numpy("doubled").tolist(),
            "label": [text(v) for v in result.as_numpy("label").tolist()],
            "id": response.get("id"), "model_version": response.get("model_version"),
            "binary": [bool(o.get("parameters", {}).get("binary_data_size")) for o in response["outputs"]]}


def main(url: str) -> dict[str, Any]:
    client = httpclient.InferenceServerClient(url)
    bad_name = httpclient.InferInput("valu", [1], "FP64")
    bad_name.set_data_from_numpy(np.array([1.0]))
    bad_shape = httpclient.InferInput("value", [3], "FP64")
    bad_shape.set_data_from_numpy(np.array([1.0, 2.0, 3.0]))
    bad_shape._shape = [2]  # a malformed request, as another client might send it
    return {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "server": client.get_server_metadata(),
        "metadata": client.get_model_metadata("echo_model"),
        "versioned_metadata": client.get_model_metadata("echo_model", "1.0.0"),
        "model_ready": client.is_model_ready("echo_model"),
        "unknown_ready": client.is_model_ready("no_such_model"),
        "json": infer(client, "echo_model", binary=False),
        "binary": infer(client, "echo_model", binary=True),
        "default_outputs": infer(client, "echo_model", binary=False, outputs=False),
        "versioned": infer(client, "echo_model", binary=True, version="1.0.0"),
        "wrong_version": failure(lambda: infer(client, "echo_model", binary=False, version="9")),
        "denied": failure(lambda: infer(client, "guarded_echo", binary=True, values=(500.0,))),
        "allowed": infer(client, "guarded_echo", binary=True, values=(5.0,)),
        "bad_name": failure(lambda: client.infer("echo_model", [bad_name])),
        "bad_shape": failure(lambda: client.infer("echo_model", [bad_shape])),
        "unknown_model": failure(lambda: client.get_model_metadata("no_such_model")),
        "stats": client.get_inference_statistics("echo_model"),
        "index": client.get_model_repository_index(),
        "load": failure(lambda: client.load_model("echo_model")),
        "load_unknown": failure(lambda: client.load_model("no_such_model")),
        "unload": failure(lambda: client.unload_model("echo_model")),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
