"""SeldonModelAdapter: a Seldon Python class served as an MLModel, and the loader that wraps it."""

from __future__ import annotations

from typing import Any

import pytest

from modelward.errors import ConfigurationError
from modelward.model import Feedback
from modelward.model.context import response_metadata
from modelward.model.seldon import SeldonInput, SeldonModelAdapter, looks_like_seldon
from modelward.services.config import ModelConfig
from modelward.services.loader import build_model
from tests.fixtures import EchoModel, SeldonStyleModel, WeatherModel


def test_predict_passes_numpy_and_collects_tags_and_metrics() -> None:
    adapter = SeldonModelAdapter(SeldonStyleModel())
    meta: dict[str, object] = {}
    token = response_metadata.set(meta)
    try:
        output = adapter.predict(SeldonInput(X=[[1, 2]], names=["a", "b"]))
    finally:
        response_metadata.reset(token)
    assert (output.data, output.names) == ([[2, 4]], ["t:0", "t:1"])
    assert meta["tags"] == {"model": "seldon-style", "loaded": True, "names": ["a", "b"]}
    assert meta["metrics"] == [{"type": "COUNTER", "key": "seldon_style_predictions", "value": 1}]
    assert (adapter.qualified_name, adapter.version) == ("seldon_style_model", "0")


def test_feedback_reaches_send_feedback_with_seldons_arguments(tmp_path: Any) -> None:
    journal = tmp_path / "f.jsonl"
    adapter = SeldonModelAdapter(SeldonStyleModel(str(journal)), qualified_name="s")
    adapter.receive_feedback(Feedback(model="s", request={"data": {"names": ["a"], "ndarray": [[3]]}},
                                      reward=0.5, truth={"data": {"ndarray": [[1]]}}, routing={"s": 2}))
    assert '"features": [[3]], "names": ["a"], "reward": 0.5, "truth": [[1]], "routing": 2' in journal.read_text()


def test_the_loader_wraps_seldon_classes_only() -> None:
    loaded = build_model(ModelConfig(class_path="tests.fixtures.WeatherModel"), "models[0]")
    assert repr(loaded.model) == "SeldonModelAdapter(WeatherModel)"
    assert loaded.qualified_name == "weather_model"
    assert not looks_like_seldon(EchoModel()) and looks_like_seldon(WeatherModel())
    with pytest.raises(ConfigurationError, match="is not a Seldon component"):
        build_model(ModelConfig(class_path="tests.fixtures.NotAModel", kind="seldon"), "models[0]")
    with pytest.raises(ConfigurationError, match="is not an MLModel"):
        build_model(ModelConfig(class_path="tests.fixtures.WeatherModel", kind="mlmodel"), "models[0]")
