"""What the decorators share: JSON views of pydantic values, canonical JSON, masking and counters."""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import BaseModel

MASK = "****"


def as_document(value: Any) -> Any:
    """A JSON-ready view of a pydantic model (enums as their values); other values unchanged."""
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


def canonical(value: Any) -> bytes:
    """Canonical JSON of a value: sorted keys, no spaces (equal inputs give equal bytes)."""
    return orjson.dumps(as_document(value), option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY)


def masked(document: dict[str, Any], paths: Sequence[str]) -> dict[str, Any]:
    """A copy of ``document`` where each dotted path (``request.ssn``) that exists reads ``****``.

    A ``*`` segment matches every key of an object or every item of a list (``request.people.*.ssn``).
    """
    if not paths:
        return document
    result = copy.deepcopy(document)
    for path in paths:
        _mask(result, path.split("."))
    return result


def _mask(node: Any, parts: list[str]) -> None:
    head, rest = parts[0], parts[1:]
    if head == "*":
        children = list(node.keys()) if isinstance(node, dict) else range(len(node)) if isinstance(node, list) else []
        for key in children:
            _mask_at(node, key, rest)
    elif isinstance(node, dict) and head in node:
        _mask_at(node, head, rest)
    elif isinstance(node, list) and head.isdigit() and int(head) < len(node):
        _mask_at(node, int(head), rest)


def _mask_at(node: Any, key: Any, rest: list[str]) -> None:
    if rest:
        _mask(node[key], rest)
    else:
        node[key] = MASK


class Counters:
    """Named counters that request threads (and background threads) add to under one lock."""

    def __init__(self, *names: str) -> None:
        self._lock = threading.Lock()
        self._values = dict.fromkeys(names, 0)

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._values[name] += amount

    def __getitem__(self, name: str) -> int:
        with self._lock:
            return self._values[name]
