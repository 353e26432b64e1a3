"""Open Inference (V2) tensors: datatypes, shapes, binary data, and the mapping to schema rows.

A model with a pydantic input schema takes one tensor per field: element ``r`` of tensor ``f`` is
field ``f`` of row ``r``. Its outputs come back as one tensor per output field, or one tensor named
``output`` when the output type is not a pydantic model. Nothing here speaks HTTP or gRPC.
"""

from __future__ import annotations

import enum
import math
import struct
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel, RootModel

from modelward.errors import RequestError
from modelward.model import PredictionNotAvailable

#: struct format of each fixed-size datatype (BYTES is length-prefixed, see ``decode_binary``)
FORMATS = {"BOOL": "?", "UINT8": "B", "UINT16": "H", "UINT32": "I", "UINT64": "Q", "INT8": "b", "INT16": "h",
           "INT32": "i", "INT64": "q", "FP16": "e", "FP32": "f", "FP64": "d"}
DATATYPES = (*FORMATS, "BYTES")
#: the tensor of a model whose output type is not a pydantic model
SCALAR_OUTPUT = "output"


@dataclass(frozen=True)
class TensorSpec:
    """A tensor's metadata: name, datatype and shape (``-1`` for a variable dimension)."""

    name: str
    datatype: str
    shape: tuple[int, ...] = (-1,)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


@dataclass(frozen=True)
class Tensor:
    """One tensor: its elements flattened in row-major order."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: list[Any]
    parameters: dict[str, Any] = field(default_factory=dict)

    def rows(self) -> int:
        return self.shape[0] if self.shape else 1


# --- datatypes from Python types -------------------------------------------------------------


def datatype_of(annotation: Any) -> str:
    """The V2 datatype of a field type: bool BOOL, int INT64, float FP64, anything else BYTES."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return datatype_of(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        kinds = {datatype_of(a) for a in typing.get_args(annotation) if a is not type(None)}
        return kinds.pop() if len(kinds) == 1 else "BYTES"
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return "BYTES"
        if issubclass(annotation, bool):
            return "BOOL"
        if issubclass(annotation, int):
            return "INT64"
        if issubclass(annotation, float):
            return "FP64"
    return "BYTES"


def unwrap(schema: Any) -> Any:
    """The type a schema describes, without root-model wrappers and the policy's ``PredictionNotAvailable``."""
    if isinstance(schema, type) and issubclass(schema, RootModel):
        return unwrap(schema.model_fields["root"].annotation)
    if typing.get_origin(schema) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(schema) if a is not PredictionNotAvailable]
        if len(members) == 1:
            return unwrap(members[0])
    return schema


def schema_tensors(schema: Any) -> list[TensorSpec]:
    """One tensor per field of a pydantic schema, or one ``output`` tensor for any other type."""
    schema = unwrap(schema)
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return [TensorSpec(name, datatype_of(info.annotation)) for name, info in schema.model_fields.items()]
    return [TensorSpec(SCALAR_OUTPUT, datatype_of(schema))]


# --- shapes and data -------------------------------------------------------------------------


def flatten(data: Any, name: str) -> list[Any]:
    """Nested (natural) or flat tensor data as one row-major list."""
    if not isinstance(data, list):
        raise RequestError(f"tensor '{name}': data must be a JSON array, got {type(data).__name__}")
    if not any(isinstance(item, list) for item in data):
        return data
    flat: list[Any] = []
    stack: list[Iterable[Any]] = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            flat.append(item)
        else:
            stack.pop()
    return flat


def check_shape(name: str, shape: Any) -> tuple[int, ...]:
    """A request's shape as a tuple of non-negative integers."""
    if not isinstance(shape, list | tuple) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                                       for d in shape):
        raise RequestError(f"tensor '{name}': shape must be a list of non-negative integers, got {shape!r}")
    return tuple(shape)


def check_datatype(name: str, datatype: Any) -> str:
    if datatype not in DATATYPES:
        raise RequestError(f"tensor '{name}': unknown datatype {datatype!r} (one of {', '.join(DATATYPES)})")
    return str(datatype)


def make_tensor(name: str, datatype: Any, shape: Any, data: list[Any],
                parameters: dict[str, Any] | None = None) -> Tensor:
    """A request tensor whose element count must match its shape."""
    dims = check_shape(name, shape)
    kind = check_datatype(name, datatype)
    expected = math.prod(dims)
    if len(data) != expected:
        raise RequestError(f"tensor '{name}': shape {list(dims)} holds {expected} elements, "
                           f"but data has {len(data)}")
    return Tensor(name, kind, dims, data, parameters or {})


# --- binary data (Triton's binary tensor extension, gRPC raw contents) -------------------------


def decode_binary(name: str, datatype: str, raw: bytes) -> list[Any]:
    """Little-endian row-major elements; BYTES elements are 4-byte-length-prefixed strings."""
    if datatype == "BYTES":
        values: list[Any] = []
        offset = 0
        while offset < len(raw):
            if offset + 4 > len(raw):
                raise RequestError(f"tensor '{name}': BYTES data ends inside a length prefix")
            (size,) = struct.unpack_from("<I", raw, offset)
            offset += 4
            if offset + size > len(raw):
                raise RequestError(f"tensor '{name}': BYTES element of {size} bytes runs past the data")
            values.append(raw[offset:offset + size])
            offset += size
        return values
    fmt = FORMATS[datatype]
    width = struct.calcsize(fmt)
    if len(raw) % width:
        raise RequestError(f"tensor '{name}': {len(raw)} bytes is not a whole number of {datatype} elements")
    return list(struct.unpack(f"<{len(raw) // width}{fmt}", raw))


def encode_binary(datatype: str, values: list[Any]) -> bytes:
    """The inverse of ``decode_binary``."""
    if datatype == "BYTES":
        parts: list[bytes] = []
        for value in values:
            item = value if isinstance(value, bytes) else str(value).encode()
            parts.append(struct.pack("<I", len(item)))
            parts.append(item)
        return b"".join(parts)
    return struct.pack(f"<{len(values)}{FORMATS[datatype]}", *values)


# --- rows <-> tensors ------------------------------------------------------------------------


def rows_from_tensors(model: str, schema: type[BaseModel], tensors: list[Tensor]) -> list[dict[str, Any]]:
    """One input document per row: element ``r`` of each tensor is that field of row ``r``."""
    fields = schema.model_fields
    if not tensors:
        raise RequestError(f"the request has no input tensors; model '{model}' takes {', '.join(fields)}")
    seen: set[str] = set()
    count = tensors[0].rows()
    for tensor in tensors:
        if tensor.name not in fields:
            raise RequestError(f"input tensor '{tensor.name}' is not an input of model '{model}' "
                               f"(inputs: {', '.join(fields)})")
        if tensor.name in seen:
            raise RequestError(f"input tensor '{tensor.name}' is given twice")
        seen.add(tensor.name)
        if tensor.rows() != count:
            raise RequestError(f"input tensor '{tensor.name}' has {tensor.rows()} rows but "
                               f"'{tensors[0].name}' has {count}: every input tensor needs one element per row")
    rows: list[dict[str, Any]] = [{} for _ in range(count)]
    for tensor in tensors:
        width = math.prod(tensor.shape[1:]) if len(tensor.shape) > 1 else 1
        values = [_element(v) for v in tensor.data]
        for index, row in enumerate(rows):
            row[tensor.name] = values[index] if width == 1 else values[index * width:(index + 1) * width]
    return rows


def _element(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise RequestError("a BYTES element is not UTF-8 text") from None
    return value


def tensors_from_outputs(output_type: Any, outputs: list[Any]) -> list[Tensor]:
    """One tensor per output field (rows in order), or one ``output`` tensor for a scalar output type."""
    specs = schema_tensors(output_type)
    documents = [o.model_dump(mode="json") if isinstance(o, BaseModel) else o for o in outputs]
    if len(specs) == 1 and specs[0].name == SCALAR_OUTPUT and not _is_model(unwrap(output_type)):
        columns = {SCALAR_OUTPUT: documents}
    else:
        columns = {spec.name: [d.get(spec.name) for d in documents] for spec in specs}
    return [_column(spec, columns[spec.name]) for spec in specs]


def _is_model(schema: Any) -> bool:
    return isinstance(schema, type) and issubclass(schema, BaseModel)


def _column(spec: TensorSpec, values: list[Any]) -> Tensor:
    if spec.datatype != "BYTES" and not any(v is None or isinstance(v, list | dict) for v in values):
        return Tensor(spec.name, spec.datatype, (len(values),), values)
    texts = [v if isinstance(v, str) else orjson.dumps(v).decode() for v in values]
    return Tensor(spec.name, "BYTES", (len(values),), texts)
