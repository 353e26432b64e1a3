"""Send KServe's ``InferRequest`` types to a V2 REST server; print one JSON document of the answers.

Usage: python kserve_rest.py http://HOST:PORT   (run in tests/.envs/peers; no modelward imports)
Uses kserve's own client (``InferenceRESTClient``, protocol v2) with JSON and binary inputs.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import httpx
import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest
from kserve.inference_client import RESTConfig


def request(binary: bool, values: list[float]) -> InferRequest:
    value = InferInput("value", [len(values)], "FP64")
    value.set_data_from_numpy(np.array(values, dtype=np.float64), binary_data=binary)
    label = InferInput("label", [len(values)], "BYTES")
    label.set_data_from_numpy(np.array(["k"] * len(values), dtype=np.object_), binary_data=binary)
    return InferRequest(model_name="echo_model", infer_inputs=[value, label], request_id="kserve-1")


async def main(url: str) -> dict[str, Any]:
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0))
    answers: dict[str, Any] = {}
    for mode, binary in (("json", False), ("binary", True)):
        response = await client.infer(url, request(binary, [1.0, 4.0]), model_name="echo_model")
        outputs = {o.name: o for o in response.outputs}
        answers[mode] = {"id": response.id, "doubled": outputs["doubled"].as_numpy().tolist(),
                         "label": [str(v) for v in outputs["label"].as_numpy().tolist()]}
    try:
        await client.infer(url, request(False, [2000.0]), model_name="echo_model")
        answers["invalid"] = None
    except httpx.HTTPStatusError as exc:
        answers["invalid"] = {"status": exc.response.status_code, "body": exc.response.json()}
    body, _ = request(False, [3.0]).to_rest()
    answers["to_rest"] = httpx.post(f"{url}/v2/models/echo_model/infer", json=body).json()
    await client.close()
    return answers


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1]))))
