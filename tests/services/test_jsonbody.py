"""Strict JSON for request bodies."""

from __future__ import annotations

import pytest

from modelward.errors import RequestError
from modelward.services.jsonbody import loads_strict


def test_parses_ordinary_json() -> None:
    assert loads_strict(b'{"a": [1, 2.5, true, null, "\\u00e9"], "b": {"c": -1e3}}') == {
        "a": [1, 2.5, True, None, "é"], "b": {"c": -1000.0}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"a": 1, "a": 2}', "duplicate key 'a'"),
        (b'{"x": {"b": 1, "b": 1}}', "duplicate key 'b'"),
        (b'{"a": NaN}', "'NaN' is not valid JSON"),
        (b'{"a": Infinity}', "'Infinity' is not valid JSON"),
        (b'{"a": -Infinity}', "'-Infinity' is not valid JSON"),
        (b'{"a": 1', "invalid JSON at line 1 column 8"),
        (b"", "invalid JSON at line 1 column 1"),
        (b'{"a": "\xff"}', "request body is not UTF-8 (byte 7)"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_refuses_what_is_not_strict_json(body: bytes, message: str) -> None:
    with pytest.raises(RequestError, match=message.replace("(", r"\(").replace(")", r"\)")):
        loads_strict(body)


def test_integer_longer_than_python_converts_is_a_request_error() -> None:
    with pytest.raises(RequestError, match="number in the JSON is too long"):
        loads_strict(b'{"a": ' + b"1" * 5000 + b"}")


def test_byte_order_mark_is_named() -> None:
    with pytest.raises(RequestError, match="byte order mark"):
        loads_strict('\ufeff{"a": 1}'.encode())
