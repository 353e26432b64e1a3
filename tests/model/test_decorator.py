"""MLModelDecorator: forwarding, overriding, set_model, repr and chains."""

from __future__ import annotations

import pytest

from modelward.model import MLModel, MLModelDecorator, unwrap
from tests.fixtures import EchoInput, EchoModel, NotAModel, SuffixDecorator, Wrapped, WrappingDecorator


def test_plain_decorator_forwards_everything() -> None:
    model = EchoModel(version="3.1.0")
    decorated = MLModelDecorator().set_model(model)
    assert decorated.qualified_name == "echo_model"
    assert decorated.display_name == "Echo Model"
    assert decorated.description == "Doubles a number."
    assert decorated.version == "3.1.0"
    assert decorated.input_schema is EchoInput
    assert decorated.predict(EchoInput(value=2)).doubled == 4
    assert decorated.factor == 2.0  # an attribute of the model, not of the decorator


def test_set_model_returns_the_decorator_and_repr_names_both() -> None:
    decorator = SuffixDecorator(suffix="!")
    assert decorator.set_model(EchoModel()) is decorator
    assert repr(decorator) == "SuffixDecorator(EchoModel)"


def test_chain_repr_and_order_first_listed_is_innermost() -> None:
    inner = SuffixDecorator(suffix="-inner").set_model(EchoModel())
    outer = SuffixDecorator(suffix="-outer").set_model(inner)
    assert repr(outer) == "SuffixDecorator(SuffixDecorator(EchoModel))"
    assert outer.predict(EchoInput(value=1, label="a")).label == "a-inner-outer"
    assert isinstance(unwrap(outer), EchoModel)


def test_decorator_may_change_the_output_schema() -> None:
    decorated = WrappingDecorator().set_model(EchoModel())
    assert decorated.output_schema is Wrapped
    result = decorated.predict(EchoInput(value=5))
    assert result.result.doubled == 10
    assert result.wrapped_by == "WrappingDecorator"


def test_public_attribute_writes_go_to_the_model_private_ones_stay() -> None:
    model = EchoModel()
    decorated = MLModelDecorator().set_model(model)
    decorated.factor = 3.0
    assert model.factor == 3.0
    decorated._cache = {}
    assert "_cache" in decorated.__dict__
    assert not hasattr(model, "_cache")


def test_configuration_is_kept() -> None:
    decorator = SuffixDecorator(suffix="?", other=1)
    assert decorator._configuration == {"suffix": "?", "other": 1}


@pytest.mark.parametrize("bad", [NotAModel(), "model", 42])
def test_only_models_can_be_wrapped(bad: object) -> None:
    with pytest.raises(ValueError, match="Only objects of type MLModel"):
        MLModelDecorator().set_model(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Only objects of type MLModel"):
        MLModelDecorator(bad)  # type: ignore[arg-type]


def test_decorator_without_model_says_so() -> None:
    with pytest.raises(AttributeError, match="set_model"):
        _ = MLModelDecorator().version


def test_model_interface_is_abstract() -> None:
    with pytest.raises(TypeError):
        MLModel()  # type: ignore[abstract]
