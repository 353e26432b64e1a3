"""Seldon v1's ``SeldonMessage`` and ``Feedback`` as plain Python values (no numpy, no web framework).

A message carries its payload in one of ``data`` (``names`` plus ``ndarray`` or ``tensor``
``{shape, values}``), ``jsonData``, ``strData`` or ``binData`` (base64), and ``meta`` (``puid``,
``tags``, ``routing``, ``requestPath``, ``metrics``). ``decode_message`` turns one into a
``SeldonPayload`` (a tensor is reshaped into nested lists); ``encode_payload`` writes one back, the
way Seldon's Python wrapper answers (a tensor request gets a tensor answer when every value is a
number). Problems are ``RequestError``s that name the key (``data.tensor.values: ...``).
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass, field
from typing import Any

from modelward.errors import RequestError

#: the payload keys of a SeldonMessage, in the order Seldon's wrapper looks for them
PAYLOAD_KEYS = ("data", "jsonData", "strData", "binData")
MESSAGE_KEYS = frozenset({*PAYLOAD_KEYS, "meta", "status", "customData"})
FEEDBACK_KEYS = frozenset({"request", "response", "reward", "truth"})


@dataclass(frozen=True)
class SeldonPayload:
    """What a SeldonMessage carries: ``kind`` is ndarray, tensor, jsonData, strData, binData or empty."""

    kind: str
    value: Any = None
    names: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RequestError(f"{where}: expected a JSON object")
    return value


def decode_message(document: Any, where: str = "request") -> SeldonPayload:
    """A SeldonMessage (parsed JSON) as a ``SeldonPayload``; raises ``RequestError`` naming the key."""
    message = _object(document, where)
    unknown = sorted(set(message) - MESSAGE_KEYS)
    if unknown:
        raise RequestError(f"{where}: unknown key(s) {', '.join(unknown)} in a SeldonMessage; "
                           f"known: {', '.join(sorted(MESSAGE_KEYS))}")
    meta = {} if message.get("meta") is None else _object(message["meta"], f"{where}.meta")
    payloads = [key for key in PAYLOAD_KEYS if key in message]
    if "customData" in message:
        raise RequestError(f"{where}.customData: customData (a protobuf Any) is not supported over REST; "
                           "send data, jsonData, strData or binData")
    if len(payloads) > 1:
        raise RequestError(f"{where}: a SeldonMessage carries one of data, jsonData, strData, binData; "
                           f"got {', '.join(payloads)}")
    if not payloads:
        return SeldonPayload("empty", None, [], meta)
    key = payloads[0]
    if key == "data":
        return _decode_data(_object(message["data"], f"{where}.data"), meta, f"{where}.data")
    if key == "strData":
        if not isinstance(message["strData"], str):
            raise RequestError(f"{where}.strData: expected a string")
        return SeldonPayload("strData", message["strData"], [], meta)
    if key == "binData":
        return SeldonPayload("binData", _base64(message["binData"], f"{where}.binData"), [], meta)
    return SeldonPayload("jsonData", message["jsonData"], [], meta)


def _base64(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise RequestError(f"{where}: expected base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(f"{where}: not valid base64") from None


def _decode_data(data: dict[str, Any], meta: dict[str, Any], where: str) -> SeldonPayload:
    unknown = sorted(set(data) - {"names", "ndarray", "tensor", "tftensor"})
    if unknown:
        raise RequestError(f"{where}: unknown key(s) {', '.join(unknown)}; known: names, ndarray, tensor")
    names = data.get("names") or []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise RequestError(f"{where}.names: expected a list of strings")
    if "tftensor" in data:
        raise RequestError(f"{where}.tftensor: TensorFlow tensors are not supported; send ndarray or tensor")
    if "ndarray" in data and "tensor" in data:
        raise RequestError(f"{where}: give ndarray or tensor, not both")
    if "ndarray" in data:
        if not isinstance(data["ndarray"], list):
            raise RequestError(f"{where}.ndarray: expected an array")
        return SeldonPayload("ndarray", data["ndarray"], names, meta)
    if "tensor" in data:
        return SeldonPayload("tensor", _tensor(_object(data["tensor"], f"{where}.tensor"), f"{where}.tensor"),
                             names, meta)
    return SeldonPayload("ndarray", [], names, meta)


def _tensor(tensor: dict[str, Any], where: str) -> list[Any]:
    shape, values = tensor.get("shape"), tensor.get("values")
    if not isinstance(shape, list) or not shape or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise RequestError(f"{where}.shape: expected a list of non-negative integers")
    if not isinstance(values, list) or not all(_is_number(v) for v in values):
        raise RequestError(f"{where}.values: expected a list of numbers")
    if math.prod(shape) != len(values):
        raise RequestError(f"{where}: shape {shape} holds {math.prod(shape)} values, got {len(values)}")
    return reshape(values, shape)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def reshape(values: list[Any], shape: list[int]) -> list[Any]:
    """A flat list as nested lists of ``shape`` (row-major, as numpy's ``reshape``)."""
    if len(shape) == 1:
        return list(values)
    step = math.prod(shape[1:])
    return [reshape(values[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


def flatten(nested: Any) -> tuple[list[Any], list[int]] | None:
    """Nested lists of numbers as (values, shape), or None when they are ragged or not all numbers."""
    if not isinstance(nested, list):
        return ([nested], []) if _is_number(nested) else None
    parts = [flatten(item) for item in nested]
    if any(p is None for p in parts):
        return None
    shapes = {tuple(p[1]) for p in parts if p is not None}
    if len(shapes) > 1:
        return None
    inner = list(shapes.pop()) if shapes else []
    return [v for p in parts if p is not None for v in p[0]], [len(nested), *inner]


def encode_payload(value: Any, names: list[str], request_kind: str) -> dict[str, Any]:
    """The payload part of an answer, as Seldon's Python wrapper writes it for this request kind.

    A dict is ``jsonData``, text ``strData``, bytes ``binData``; a list is ``data`` with ``names``:
    a ``tensor`` when the request sent a tensor (or no ``data``) and every value is a number, else
    an ``ndarray``.
    """
    if isinstance(value, dict):
        return {"jsonData": value}
    if isinstance(value, bytes | bytearray):
        return {"binData": base64.b64encode(value).decode("ascii")}
    if isinstance(value, str):
        return {"strData": value}
    if request_kind in ("tensor", "jsonData", "strData", "binData", "empty"):
        flat = flatten(value)
        if flat is not None and flat[1]:
            return {"data": {"names": names, "tensor": {"shape": flat[1], "values": flat[0]}}}
    return {"data": {"names": names, "ndarray": value}}


def failure(code: int, info: str, reason: str) -> dict[str, Any]:
    """A Seldon error answer: ``{"status": {"code", "info", "reason", "status": "FAILURE"}}``."""
    return {"status": {"code": code, "info": info, "reason": reason, "status": "FAILURE"}}


def feedback_parts(document: Any) -> dict[str, Any]:
    """A Seldon ``Feedback`` (request, response, reward, truth), checked; raises ``RequestError``."""
    feedback = _object(document, "feedback")
    unknown = sorted(set(feedback) - FEEDBACK_KEYS)
    if unknown:
        raise RequestError(f"feedback: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(FEEDBACK_KEYS))}")
    reward = feedback.get("reward")
    if reward is not None and (not _is_number(reward) or not math.isfinite(reward)):
        raise RequestError("feedback.reward: expected a finite number")
    for key in ("request", "response", "truth"):
        if feedback.get(key) is not None:
            decode_message(feedback[key], f"feedback.{key}")
    # proto3: a Feedback without a reward has reward 0, and Seldon hands 0 to routers and models
    return {"request": feedback.get("request"), "response": feedback.get("response"),
            "reward": 0.0 if reward is None else float(reward), "truth": feedback.get("truth")}


def routing_of(response: Any) -> dict[str, Any]:
    """``response.meta.routing`` of a feedback's response message (``{}`` when absent)."""
    if not isinstance(response, dict):
        return {}
    meta = response.get("meta")
    routing = meta.get("routing") if isinstance(meta, dict) else None
    return dict(routing) if isinstance(routing, dict) else {}
