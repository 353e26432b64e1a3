"""What flows along a graph's edges: the schema a node produces, whether the next node accepts it.

A node's output may be declared as ``Output | PredictionNotAvailable`` (the policy decorator's
root model); the payload is ``Output``. A consumer accepts a producer's payload when every field it
requires is produced and every field both have is of the same JSON type.
"""

from __future__ import annotations

import types
import typing
from functools import cache
from typing import Any, Union

from pydantic import BaseModel, RootModel, TypeAdapter, create_model

from modelward.model import PredictionNotAvailable


def payload_schema(schema: Any) -> Any:
    """``schema`` without a ``PredictionNotAvailable`` alternative (root models unwrapped)."""
    if isinstance(schema, type) and issubclass(schema, RootModel):
        schema = schema.model_fields["root"].annotation
    if typing.get_origin(schema) in (Union, types.UnionType):
        members = [m for m in typing.get_args(schema) if m is not PredictionNotAvailable]
        if len(members) == 1:
            return members[0]
    return schema


def may_deny(schema: Any) -> bool:
    """Whether a node declared with ``schema`` may answer ``PredictionNotAvailable``."""
    if isinstance(schema, type) and issubclass(schema, RootModel):
        schema = schema.model_fields["root"].annotation
    return PredictionNotAvailable in typing.get_args(schema)


@cache
def or_denied(schema: Any) -> Any:
    """A root model that is ``schema`` or ``PredictionNotAvailable`` (the graph's output when a node may deny)."""
    name = getattr(schema, "__name__", "Output")
    root = RootModel[Union[schema, PredictionNotAvailable]]  # noqa: UP007
    return create_model(name, __base__=root, __doc__=f"{name}, or PredictionNotAvailable when a node denies.")


def _json_schema(schema: Any) -> dict[str, Any]:
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema.model_json_schema()
    return TypeAdapter(schema).json_schema()


def _field_type(spec: dict[str, Any]) -> str | None:
    kind = spec.get("type")
    if kind == "integer":
        return "number"
    return kind if isinstance(kind, str) else None


def mismatch(produced: Any, consumer: type[BaseModel]) -> str | None:
    """Why ``consumer`` cannot take what a node producing ``produced`` passes (``None``: it can)."""
    produced = payload_schema(produced)
    if produced is consumer:
        return None
    source, target = _json_schema(produced), _json_schema(consumer)
    given = source.get("properties")
    if not isinstance(given, dict):
        return f"it passes {getattr(produced, '__name__', produced)}, not an object with fields"
    missing = [name for name in target.get("required", []) if name not in given]
    if missing:
        return f"{consumer.__name__} requires {', '.join(missing)}, which {_name(produced)} does not have"
    for name, spec in target.get("properties", {}).items():
        if name in given:
            want, have = _field_type(spec), _field_type(given[name])
            if want is not None and have is not None and want != have:
                return (f"{consumer.__name__}.{name} is {want}, but {_name(produced)}.{name} is {have}")
    return None


def _name(schema: Any) -> str:
    return str(getattr(schema, "__name__", schema))


def convert(value: Any, consumer: type[BaseModel]) -> Any:
    """``value`` as an instance of ``consumer`` (as it is when it already is one)."""
    if isinstance(value, consumer):
        return value
    if isinstance(value, BaseModel):
        return consumer.model_validate(value.model_dump())
    return consumer.model_validate(value)
