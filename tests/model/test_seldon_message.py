"""The SeldonMessage codec: decoding payloads, encoding answers as Seldon's wrapper does."""

from __future__ import annotations

import pytest

from modelward.errors import RequestError
from modelward.model.seldon_message import decode_message, encode_payload, feedback_parts, flatten, reshape


def test_tensor_is_reshaped_row_major() -> None:
    payload = decode_message({"data": {"names": ["a", "b"], "tensor": {"shape": [2, 2], "values": [0, 0, 1, 1]}}})
    assert (payload.kind, payload.value, payload.names) == ("tensor", [[0, 0], [1, 1]], ["a", "b"])
    assert reshape([1, 2, 3, 4, 5, 6], [3, 2]) == [[1, 2], [3, 4], [5, 6]]
    assert flatten([[1, 2], [3, 4]]) == ([1, 2, 3, 4], [2, 2])
    assert flatten([[1, 2], [3]]) is None


@pytest.mark.parametrize(("message", "fragment"), [
    ({"data": {"tensor": {"shape": [3], "values": [1, 2]}}}, "request.data.tensor: shape [3] holds 3 values, got 2"),
    ({"data": {"tensor": {"shape": [1], "values": ["x"]}}}, "request.data.tensor.values: expected a list of numbers"),
    ({"data": {"tftensor": {}}}, "TensorFlow tensors are not supported"),
    ({"data": {"names": "a"}}, "request.data.names: expected a list of strings"),
    ({"strData": "a", "jsonData": {}}, "carries one of data, jsonData, strData, binData; got jsonData, strData"),
    ({"binData": "***"}, "request.binData: not valid base64"),
    ({"meta": []}, "request.meta: expected a JSON object"),
    ([], "request: expected a JSON object"),
])
def test_bad_messages_name_the_key(message: object, fragment: str) -> None:
    with pytest.raises(RequestError) as caught:
        decode_message(message)
    assert fragment in caught.value.message


def test_answers_follow_the_request_kind() -> None:
    assert encode_payload([[1, 2]], ["t:0", "t:1"], "tensor") == {
        "data": {"names": ["t:0", "t:1"], "tensor": {"shape": [1, 2], "values": [1, 2]}}}
    assert encode_payload([[1, "x"]], [], "tensor") == {"data": {"names": [], "ndarray": [[1, "x"]]}}
    assert encode_payload([[1, 2]], [], "ndarray") == {"data": {"names": [], "ndarray": [[1, 2]]}}
    assert encode_payload({"k": 1}, [], "ndarray") == {"jsonData": {"k": 1}}
    assert encode_payload("text", [], "strData") == {"strData": "text"}
    assert encode_payload(b"\x00\xff", [], "binData") == {"binData": "AP8="}


def test_feedback_reward_defaults_to_zero_as_in_seldon() -> None:
    assert feedback_parts({"truth": {"data": {"ndarray": [1]}}})["reward"] == 0.0
    with pytest.raises(RequestError, match=r"feedback\.response\.data\.ndarray: expected an array"):
        feedback_parts({"response": {"data": {"ndarray": 1}}})
