"""ml_base models and decorators work unchanged with modelward (ml-base installed as a test dependency)."""

from __future__ import annotations

from ml_base import MLModel as BaseMLModel

from modelward.model import MLModelDecorator, enable_ml_base_interop, is_model
from tests.fixtures import EchoInput, EchoModel, SuffixDecorator
from tests.ml_base_fixtures import IrisInput, IrisModel, UpperCaseDecorator


def test_ml_base_model_is_a_model() -> None:
    assert is_model(IrisModel())


def test_modelward_decorator_wraps_an_ml_base_model() -> None:
    decorated = MLModelDecorator().set_model(IrisModel())
    assert decorated.qualified_name == "iris_model"
    assert decorated.predict(IrisInput(sepal_length=5, petal_length=1)).species == "setosa"
    assert repr(decorated) == "MLModelDecorator(IrisModel)"


def test_ml_base_decorator_wraps_a_modelward_model_after_interop() -> None:
    assert enable_ml_base_interop() is True
    assert isinstance(EchoModel(), BaseMLModel)
    decorated = UpperCaseDecorator().set_model(EchoModel())
    assert repr(decorated) == "UpperCaseDecorator(EchoModel)"
    assert decorated.version == "1.0.0"


def test_mixed_chain_of_both_kinds() -> None:
    enable_ml_base_interop()
    chain = SuffixDecorator(suffix="!").set_model(UpperCaseDecorator().set_model(IrisModel()))
    assert repr(chain) == "SuffixDecorator(UpperCaseDecorator(IrisModel))"
    # SuffixDecorator expects a label; the iris output has none, so check forwarding only
    assert chain.qualified_name == "iris_model"
    assert chain.input_schema is IrisInput
    echo = SuffixDecorator(suffix="!").set_model(EchoModel())
    assert echo.predict(EchoInput(value=1, label="a")).label == "a!"
