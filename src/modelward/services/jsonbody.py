"""Strict JSON for request bodies: no duplicate keys, no NaN/Infinity, UTF-8 only, no BOM."""

from __future__ import annotations

import json
from typing import Any, NoReturn

from modelward.errors import RequestError


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise RequestError(f"duplicate key '{key}' in JSON object")
            seen.add(key)
    return result


def _constant(name: str) -> NoReturn:
    raise RequestError(f"'{name}' is not valid JSON (only finite numbers are allowed)")


_DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_constant)


def loads_strict(body: bytes) -> Any:
    """Parse a request body; every problem is a ``RequestError`` saying what and where."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(f"request body is not UTF-8 (byte {exc.start})") from None
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        if exc.pos == 0 and text.startswith("\ufeff"):
            raise RequestError("request body starts with a byte order mark (BOM); send JSON without one") from None
        raise RequestError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise RequestError("JSON is nested too deeply") from None
    except ValueError as exc:  # an integer longer than sys.get_int_max_str_digits() (4300 by default)
        raise RequestError(f"a number in the JSON is too long: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    return str(exc).split(";", 1)[0]
