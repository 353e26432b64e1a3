"""Building models and decorator chains from config, with errors naming the key path."""

from __future__ import annotations

import pytest

from modelward.errors import ConfigurationError, ModelLoadError
from modelward.services.config import parse_config
from modelward.services.loader import build_models
from tests.fixtures import EchoInput


def build(text: str) -> list:  # type: ignore[type-arg]
    return build_models(parse_config(text, source="svc.yaml"))


def test_builds_model_with_configuration_and_chain_in_order() -> None:
    (loaded,) = build(
        "models:\n  - class_path: tests.fixtures.EchoModel\n    configuration: {version: '2.0.0', factor: 3}\n"
        "    decorators:\n      - class_path: tests.fixtures.SuffixDecorator\n        configuration: {suffix: '-1'}\n"
        "      - class_path: tests.fixtures.SuffixDecorator\n        configuration: {suffix: '-2'}\n"
    )
    assert loaded.qualified_name == "echo_model"
    assert loaded.model.version == "2.0.0"
    assert repr(loaded.model) == "SuffixDecorator(SuffixDecorator(EchoModel))"
    # the first decorator listed is the innermost: its suffix is appended first
    assert loaded.model.predict(EchoInput(value=2, label="x")).label == "x-1-2"
    assert loaded.model.predict(EchoInput(value=2)).doubled == 6


def test_ml_base_model_and_decorator_load_unchanged() -> None:
    (loaded,) = build(
        "models:\n  - qualified_name: iris_model\n    class_path: tests.ml_base_fixtures.IrisModel\n"
        "    decorators:\n      - class_path: tests.ml_base_fixtures.UpperCaseDecorator\n"
    )
    assert repr(loaded.model) == "UpperCaseDecorator(IrisModel)"


def test_ml_base_decorator_around_modelward_model() -> None:
    (loaded,) = build(
        "models:\n  - class_path: tests.fixtures.EchoModel\n"
        "    decorators:\n      - class_path: tests.ml_base_fixtures.UpperCaseDecorator\n"
    )
    assert repr(loaded.model) == "UpperCaseDecorator(EchoModel)"


@pytest.mark.parametrize(
    ("models", "error", "message"),
    [
        ("- class_path: no_such_package.Model\n", ConfigurationError,
         "models[0].class_path: cannot import 'no_such_package.Model': No module named 'no_such_package'"),
        ("- class_path: tests.fixtures.NoSuchModel\n", ConfigurationError,
         "models[0].class_path: module 'tests.fixtures' has no attribute 'NoSuchModel'"),
        ("- class_path: Model\n", ConfigurationError,
         "models[0].class_path: 'Model' is not a dotted path"),
        ("- class_path: tests.fixtures.NotAModel\n", ConfigurationError,
         "models[0].class_path: 'tests.fixtures.NotAModel' is not an MLModel (missing: qualified_name"),
        ("- class_path: tests.fixtures.FailingInitModel\n  configuration: {reason: disk on fire}\n",
         ModelLoadError, "models[0]: FailingInitModel.__init__ raised RuntimeError: disk on fire"),
        ("- class_path: tests.fixtures.EchoModel\n  configuration: {colour: red}\n", ConfigurationError,
         "models[0].configuration: EchoModel: "),
        ("- class_path: tests.fixtures.EchoModel\n  qualified_name: other_name\n", ConfigurationError,
         "models[0].qualified_name: 'other_name' disagrees with the model's own qualified_name 'echo_model'"),
        ("- class_path: tests.fixtures.EchoModel\n- class_path: tests.fixtures.EchoModel\n", ConfigurationError,
         "models[1]: qualified_name 'echo_model' is already used by models[0]"),
        ("- class_path: tests.fixtures.EchoModel\n  decorators:\n    - class_path: tests.fixtures.EchoModel\n",
         ConfigurationError, "models[0].decorators[0].class_path: 'tests.fixtures.EchoModel' is not an "
         "MLModelDecorator"),
        ("- class_path: tests.fixtures.EchoModel\n  decorators:\n    - class_path: nope.Decorator\n",
         ConfigurationError, "models[0].decorators[0].class_path: cannot import 'nope.Decorator'"),
    ],
)
def test_errors_name_the_key_and_the_problem(models: str, error: type[Exception], message: str) -> None:
    indented = "".join(f"  {line}\n" for line in models.splitlines())
    with pytest.raises(error) as info:
        build("models:\n" + indented)
    assert message in str(info.value), str(info.value)
