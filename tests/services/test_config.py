"""The service config file: rest_model_service superset, ${VAR} expansion, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelward.errors import ConfigurationError
from modelward.services.config import configure_logging, expand_env, load_config, parse_config

ARTICLE_CONFIG = """\
service_title: Insurance Charges Model Service
models:
  - qualified_name: insurance_charges_model
    class_path: insurance_charges_model.prediction.model.InsuranceChargesModel
    create_endpoint: true
    decorators:
      - class_path: policy_decorator.policy_decorator.OPAPolicyDecorator
        configuration:
          host: "localhost"
          port: 8181
          policy_package: insurance_charges_model
"""


def test_the_articles_config_parses_unchanged() -> None:
    config = parse_config(ARTICLE_CONFIG)
    model = config.models[0]
    assert config.service_title == "Insurance Charges Model Service"
    assert model.qualified_name == "insurance_charges_model"
    assert model.decorators is not None
    assert model.decorators[0].configuration == {"host": "localhost", "port": 8181,
                                                  "policy_package": "insurance_charges_model"}


def test_defaults() -> None:
    config = parse_config("models:\n  - class_path: a.B\n")
    assert config.models[0].create_endpoint is True
    assert config.models[0].execution == "auto"
    assert config.version == "0.1.0"


def test_env_expansion_with_defaults_and_escape() -> None:
    env = {"HOST": "opa", "PORT": "8181"}
    text = ('models:\n  - class_path: a.B\n    configuration:\n'
            '      url: "http://${HOST}:${PORT}/v1"\n      fallback: "${MISSING:-none}"\n'
            '      literal: "$${HOST}"\n      empty: "${MISSING:-}"\n')
    configuration = parse_config(text, env=env).models[0].configuration
    assert configuration == {"url": "http://opa:8181/v1", "fallback": "none", "literal": "${HOST}", "empty": ""}


def test_unset_variable_names_the_key_path() -> None:
    text = "models:\n  - class_path: a.B\n    configuration:\n      secret: ${NOT_SET_ANYWHERE}\n"
    with pytest.raises(ConfigurationError) as info:
        parse_config(text, source="svc.yaml", env={})
    assert str(info.value).startswith("svc.yaml: models[0].configuration.secret:")
    assert "NOT_SET_ANYWHERE is not set" in str(info.value)


def test_expand_env_leaves_non_strings_alone() -> None:
    assert expand_env({"a": [1, True, None, "${X}"]}, {"X": "y"}) == {"a": [1, True, None, "y"]}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("models: [\n  - class_path", "svc.yaml:2:3: YAML syntax error"),
        ("models:\n  - class_path: a.B\n    colour: red\n", "svc.yaml: models[0].colour: unknown key"),
        ("models:\n  - create_endpoint: true\n",
         "svc.yaml: models[0]: class_path is missing: give class_path (a model class), or name and graph (an inference "
         "graph)"),
        ("servce_title: typo\n", "svc.yaml: servce_title: unknown key"),
        ("- a\n- b\n", "svc.yaml: the top level must be a mapping, not list"),
        ("models:\n  - class_path: a.B\n    create_endpoint: maybe\n", "svc.yaml: models[0].create_endpoint:"),
        ("models:\n  - class_path: a.B\n    decorators:\n      - {configuration: {}}\n",
         "svc.yaml: models[0].decorators[0].class_path: required field is missing"),
        ("service_title: a\nservice_title: b\n", "svc.yaml:2:1: YAML syntax error: duplicate key 'service_title'"),
        ("models:\n  - class_path: a.B\n    decorators: []\n    decorators: []\n",
         "svc.yaml:4:5: YAML syntax error: duplicate key 'decorators'"),
        ("models: &m [*m]\n", "svc.yaml: the document is nested too deeply, or a YAML alias refers to its own"),
    ],
)
def test_bad_files_name_file_key_and_problem(text: str, expected: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_config(text, source="svc.yaml")
    assert str(info.value).startswith(expected), str(info.value)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigurationError, match="is a directory"):
        load_config(tmp_path)


def test_python_path_is_resolved_against_the_file(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    file = tmp_path / "conf" / "svc.yaml"
    file.write_text("python_path: ['..', 'lib']\nmodels: []\n", encoding="utf-8")
    config = load_config(file)
    assert config.python_path == [str(tmp_path.resolve()), str((tmp_path / "conf" / "lib").resolve())]


def test_merge_keys_may_override_what_they_merge() -> None:  # not a duplicate key
    config = parse_config("models:\n  - <<: {class_path: a.B, create_endpoint: false}\n    create_endpoint: true\n")
    assert config.models[0].create_endpoint is True


@pytest.mark.parametrize(
    ("logging", "expected"),
    [
        ("{version: 2}", "svc.yaml: logging: Unsupported version: 2"),
        ("{version: 1, handlers: {h: {class: nope.Nope}}}",
         "svc.yaml: logging: Unable to configure handler 'h': Cannot resolve 'nope.Nope'"),
    ],
)
def test_a_logging_section_that_logging_refuses_names_the_file(logging: str, expected: str) -> None:
    config = parse_config(f"logging: {logging}\n", source="svc.yaml")
    with pytest.raises(ConfigurationError) as info:
        configure_logging(config, "svc.yaml")
    assert str(info.value).startswith(expected), str(info.value)
