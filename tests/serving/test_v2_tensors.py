"""V2 tensors without a server: datatypes from schemas, rows from tensors, binary data, outputs."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from modelward.errors import RequestError
from modelward.policy.decorator import union_schema
from modelward.serving.v2.tensors import (
    Tensor,
    decode_binary,
    encode_binary,
    flatten,
    make_tensor,
    rows_from_tensors,
    schema_tensors,
    tensors_from_outputs,
)
from tests.conftest import ROOT
from tests.fixtures import EchoInput, EchoOutput


class Mixed(BaseModel):
    flag: bool
    count: int
    score: float | None = None
    tags: list[str] = []


def test_datatypes_follow_the_field_types() -> None:
    assert [(t.name, t.datatype, t.shape) for t in schema_tensors(Mixed)] == [
        ("flag", "BOOL", (-1,)), ("count", "INT64", (-1,)), ("score", "FP64", (-1,)), ("tags", "BYTES", (-1,))]
    assert [t.name for t in schema_tensors(union_schema(EchoOutput))] == ["doubled", "label"]
    assert [(t.name, t.datatype) for t in schema_tensors(float)] == [("output", "FP64")]


def test_rows_take_one_element_of_each_tensor() -> None:
    value = make_tensor("value", "FP64", [2, 1], flatten([[1.0], [2.0]], "value"))
    label = make_tensor("label", "BYTES", [2], [b"a", "b"])
    assert rows_from_tensors("echo", EchoInput, [value, label]) == [{"value": 1.0, "label": "a"},
                                                                    {"value": 2.0, "label": "b"}]
    tags = make_tensor("tags", "BYTES", [1, 2], ["x", "y"])
    assert rows_from_tensors("m", Mixed, [tags]) == [{"tags": ["x", "y"]}]


@pytest.mark.parametrize(("tensors", "fragment"), [
    ([Tensor("nope", "FP64", (1,), [1.0])], "input tensor 'nope' is not an input of model 'echo'"),
    ([Tensor("value", "FP64", (1,), [1.0]), Tensor("value", "FP64", (1,), [1.0])], "given twice"),
    ([Tensor("value", "FP64", (1,), [1.0]), Tensor("label", "BYTES", (2,), ["a", "b"])], "has 2 rows"),
    ([], "no input tensors"),
])
def test_bad_tensors_are_named(tensors: list[Tensor], fragment: str) -> None:
    with pytest.raises(RequestError, match=fragment):
        rows_from_tensors("echo", EchoInput, tensors)


def test_shape_and_datatype_are_checked() -> None:
    with pytest.raises(RequestError, match=r"tensor 'v': shape \[3\] holds 3 elements, but data has 2"):
        make_tensor("v", "FP64", [3], [1.0, 2.0])
    with pytest.raises(RequestError, match="tensor 'v': unknown datatype 'FLOAT'"):
        make_tensor("v", "FLOAT", [1], [1.0])
    with pytest.raises(RequestError, match="non-negative integers"):
        make_tensor("v", "FP64", [-1], [])


@pytest.mark.parametrize(("datatype", "values"), [
    ("FP32", [0.5, -2.0]), ("FP64", [1.25]), ("INT64", [-3, 2**40]), ("UINT8", [0, 255]), ("BOOL", [True, False]),
    ("FP16", [1.5]), ("BYTES", [b"", b"abc"]),
])
def test_binary_round_trip(datatype: str, values: list[Any]) -> None:
    assert decode_binary("t", datatype, encode_binary(datatype, values)) == values


def test_binary_bytes_layout_and_truncation() -> None:
    assert encode_binary("BYTES", ["hi"]) == struct.pack("<I", 2) + b"hi"
    with pytest.raises(RequestError, match="runs past the data"):
        decode_binary("t", "BYTES", struct.pack("<I", 9) + b"hi")
    with pytest.raises(RequestError, match="not a whole number of FP64 elements"):
        decode_binary("t", "FP64", b"\x00" * 9)


def test_outputs_become_one_tensor_per_field() -> None:
    outputs = [EchoOutput(doubled=2.0, label="a"), EchoOutput(doubled=4.0, label="b")]
    doubled, label = tensors_from_outputs(union_schema(EchoOutput), outputs)
    assert (doubled.datatype, doubled.shape, doubled.data) == ("FP64", (2,), [2.0, 4.0])
    assert (label.datatype, label.data) == ("BYTES", ["a", "b"])
    (scalar,) = tensors_from_outputs(float, [1.5, 2.5])
    assert (scalar.name, scalar.datatype, scalar.data) == ("output", "FP64", [1.5, 2.5])
    (nested,) = tensors_from_outputs(dict[str, int], [{"a": 1}])
    assert (nested.datatype, nested.data) == ("BYTES", ['{"a":1}'])


def test_committed_grpc_stubs_match_the_proto(tmp_path: Path) -> None:
    source = ROOT / "src" / "modelward" / "serving" / "v2" / "grpc_gen"
    target = tmp_path / "modelward" / "serving" / "v2" / "grpc_gen"
    target.mkdir(parents=True)
    shutil.copy(source / "inference.proto", target)
    done = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{tmp_path}", f"--python_out={tmp_path}",
                           f"--pyi_out={tmp_path}", f"--grpc_python_out={tmp_path}",
                           str(target / "inference.proto")], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    for name in ("inference_pb2.py", "inference_pb2.pyi", "inference_pb2_grpc.py"):
        assert (target / name).read_text() == (source / name).read_text(), f"run scripts/gen_v2_grpc.sh ({name})"


def test_committed_grpc_stubs_import_with_every_grpcio_the_project_allows() -> None:
    """The generated modules refuse, at import, a grpcio or protobuf older than their generator's.

    pyproject's floors must be those versions, and the generator pinned to the one that wrote them."""
    gen = ROOT / "src" / "modelward" / "serving" / "v2" / "grpc_gen"
    pyproject = (ROOT / "pyproject.toml").read_text()
    grpc_generated = re.search(r"^GRPC_GENERATED_VERSION = '([^']+)'$", (gen / "inference_pb2_grpc.py").read_text(),
                               re.MULTILINE)
    grpc_floor = re.search(r'"grpcio>=([^,"]+)', pyproject)
    generator = re.search(r'"grpcio-tools==([^"]+)"', pyproject)
    assert grpc_generated and grpc_floor and generator
    assert grpc_generated.group(1) == grpc_floor.group(1) == generator.group(1)
    protobuf_generated = re.search(r"^# Protobuf Python Version: (\S+)$", (gen / "inference_pb2.py").read_text(),
                                   re.MULTILINE)
    protobuf_floor = re.search(r'"protobuf>=([^,"]+)', pyproject)
    assert protobuf_generated and protobuf_floor
    assert protobuf_generated.group(1) == protobuf_floor.group(1)
