"""PolicyDecorator around a toy model: the input document, denials, failing closed, reloads, logs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from modelward.errors import ConfigurationError, PolicyCompileError, PolicyUnavailable
from modelward.model import PredictionNotAvailable
from modelward.model.context import request_id
from modelward.policy import PolicyDecorator, StaticEngine
from tests.conftest import free_port
from tests.fixtures import EchoInput, EchoOutput
from tests.policy.helpers import ECHO_POLICY, NamedEcho, bundle_of, data_api, write_policy


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Any]:
    made: list[PolicyDecorator] = []

    def build(**options: Any) -> tuple[PolicyDecorator, NamedEcho]:
        options.setdefault("package", "echo_policy")
        if options.get("engine", "embedded") == "embedded":
            options.setdefault("policies", [str(write_policy(tmp_path / "policies"))])
        options.setdefault("decision_log", {"path": str(tmp_path / "decisions.jsonl")})
        options.setdefault("reload_interval", 0)
        decorator = PolicyDecorator(**options)
        model = NamedEcho("echo_model")
        decorator.set_model(model)
        made.append(decorator)
        return decorator, model

    yield build
    for decorator in made:
        decorator.close()


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_allowed_prediction_passes_through(make: Any) -> None:
    decorator, model = make()
    assert decorator.predict(EchoInput(value=10)) == EchoOutput(doubled=20, label="x")
    assert repr(decorator) == "PolicyDecorator(NamedEcho)" and model.calls == 1


def test_input_denial_answers_prediction_not_available_without_running_the_model(make: Any) -> None:
    decorator, model = make()
    answer = decorator.predict(EchoInput(value=101))
    assert isinstance(answer, PredictionNotAvailable)
    assert answer.messages == ["value above 100"] and answer.status_code == 200
    assert model.calls == 0


def test_output_denial_and_configured_status(make: Any) -> None:
    decorator, model = make(denial_status=403)
    answer = decorator.predict(EchoInput(value=80))  # doubled: 160 > 150
    assert isinstance(answer, PredictionNotAvailable)
    assert (answer.messages, answer.status_code, model.calls) == (["output above 150"], 403, 1)


def test_check_input_only_lets_the_output_through(make: Any) -> None:
    decorator, _ = make(check="input")
    assert decorator.predict(EchoInput(value=80)) == EchoOutput(doubled=160, label="x")


def test_policy_input_document_is_exactly_the_articles(make: Any) -> None:
    decorator, _ = make()
    engine = StaticEngine()
    decorator._engine = engine
    decorator.predict(EchoInput(value=3, label="a"))
    first, second = engine.inputs
    assert first == {"model_qualified_name": "echo_model", "model_version": "1.0.0",
                     "model_input": {"value": 3.0, "label": "a"}}
    assert second == {**first, "model_output": {"doubled": 6.0, "label": "a"}}


@pytest.mark.parametrize("text", [
    'package echo_policy\nallow := "false"\n',
    "package echo_policy\nallow if input.nothing\n",
    "package echo_policy\nallow if { x := 1 / 0; x }\n",
])
def test_a_policy_that_cannot_decide_withholds_the_prediction(make: Any, tmp_path: Path, text: str) -> None:
    folder = write_policy(tmp_path / "bad", text)
    decorator, model = make(policies=[str(folder)])
    with pytest.raises(PolicyUnavailable, match="could not be evaluated") as caught:
        decorator.predict(EchoInput(value=1))
    assert model.calls == 0 and caught.value.details["decision"].error


def test_engine_that_raises_withholds_the_prediction(make: Any) -> None:
    decorator, _ = make(check="output")

    class Exploding(StaticEngine):
        def evaluate(self, query: str, input: Any) -> Any:
            raise MemoryError("out of memory")

    decorator._engine = Exploding()
    with pytest.raises(PolicyUnavailable):
        decorator.predict(EchoInput(value=1))


def test_opa_engine_down_withholds_the_prediction(make: Any) -> None:
    decorator, _ = make(engine="opa", opa_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(PolicyUnavailable) as caught:
        decorator.predict(EchoInput(value=1))
    assert "127.0.0.1" not in caught.value.message


def test_opa_engine_decides(make: Any) -> None:
    with data_api(bundle_of(ECHO_POLICY)) as server:
        decorator, _ = make(engine="opa", opa_url=server.url)
        assert decorator.predict(EchoInput(value=1)).doubled == 2
        assert decorator.predict(EchoInput(value=101)).messages == ["value above 100"]


def test_article_configuration_keys_select_the_opa_engine(make: Any) -> None:
    decorator, _ = make(engine="opa", host="localhost", port=8181, policy_package="echo_policy")
    assert decorator._engine.url == "http://localhost:8181"


@pytest.mark.parametrize(("options", "problem"), [
    ({"package": "echo_policy"}, "needs 'policies'"),
    ({"package": "p", "policies": ["x"], "check": "sometimes"}, "check"),
    ({"policies": ["x"]}, "package"),
    ({"package": "p", "engine": "opa"}, "opa_url"),
    ({"package": "p", "policies": ["x"], "colour": "red"}, "colour"),
    ({"package": "p", "policies": ["x"], "denial_status": 204}, "denial_status: Value error, 204 cannot carry"),
    ({"package": "p", "policies": ["x"], "denial_status": 304}, "denial_status: Value error, 304 cannot carry"),
    ({"package": "p", "engine": "opa", "opa_url": "localhost:8181"}, "opa_url: .* is not an http:// or https://"),
])
def test_configuration_errors_name_the_key(options: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        PolicyDecorator(**options)


def test_missing_allow_rule_or_files_are_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(PolicyCompileError, match="allow"):
        PolicyDecorator(package="echo_policy", policies=[str(write_policy(tmp_path / "a", "package echo_policy\n"))])
    with pytest.raises(PolicyCompileError, match="no such policy"):
        PolicyDecorator(package="echo_policy", policies=[str(tmp_path / "missing")])


def test_output_schema_is_the_union_named_like_the_output(make: Any) -> None:
    decorator, _ = make()
    schema = TypeAdapter(decorator.output_schema).json_schema()
    assert schema["title"] == "EchoOutput"
    assert {ref["$ref"].rsplit("/", 1)[1] for ref in schema["anyOf"]} == {"EchoOutput", "PredictionNotAvailable"}


def test_reload_replaces_the_bundle_and_refuses_a_broken_one(make: Any, tmp_path: Path) -> None:
    decorator, _ = make()
    first = decorator.policy_digest
    write_policy(tmp_path / "policies", ECHO_POLICY.replace("<= 100", "<= 5"))
    assert decorator.reload_now() is True
    assert decorator.policy_digest != first and decorator.health_problems() == []
    assert isinstance(decorator.predict(EchoInput(value=6)), PredictionNotAvailable)
    good = decorator.policy_digest
    write_policy(tmp_path / "policies", "package echo_policy\nallow if {\n")
    decorator.reload_now()
    assert decorator.policy_digest == good
    assert "refused" in decorator.health_problems()[0] and "echo_policy.rego" in decorator.health_problems()[0]
    assert isinstance(decorator.predict(EchoInput(value=6)), PredictionNotAvailable)  # last good serves
    write_policy(tmp_path / "policies", ECHO_POLICY)
    decorator.reload_now()
    assert decorator.health_problems() == [] and decorator.predict(EchoInput(value=6)).doubled == 12


def test_reload_refuses_a_bundle_without_the_allow_rule(make: Any, tmp_path: Path) -> None:
    decorator, _ = make()
    write_policy(tmp_path / "policies", "package echo_policy\nmessages := []\n")
    decorator.reload_now()
    assert "allow" in decorator.health_problems()[0]
    assert decorator.predict(EchoInput(value=1)).doubled == 2


def test_configmap_symlink_swap_is_picked_up_by_the_watcher(tmp_path: Path) -> None:
    mount = tmp_path / "mount"
    mount.mkdir()
    write_policy(mount / "..2024_01_01", ECHO_POLICY)
    (mount / "..data").symlink_to("..2024_01_01")
    (mount / "echo_policy.rego").symlink_to("..data/echo_policy.rego")
    decorator = PolicyDecorator(package="echo_policy", policies=[str(mount)], reload_interval=0.05,
                                decision_log={"enabled": False}).set_model(NamedEcho())
    try:
        assert decorator.predict(EchoInput(value=50)).doubled == 100
        write_policy(mount / "..2024_01_02", ECHO_POLICY.replace("<= 100", "<= 10"))
        (mount / "..data_tmp").symlink_to("..2024_01_02")
        (mount / "..data_tmp").replace(mount / "..data")  # the atomic swap kubelet does
        deadline = time.monotonic() + 5
        while not isinstance(decorator.predict(EchoInput(value=50)), PredictionNotAvailable):
            assert time.monotonic() < deadline, "the new bundle was not picked up"
            time.sleep(0.05)
    finally:
        decorator.close()


def test_every_decision_is_logged_with_the_request_id(make: Any, tmp_path: Path) -> None:
    decorator, _ = make()
    token = request_id.set("req-42")
    try:
        decorator.predict(EchoInput(value=101))
        decorator.predict(EchoInput(value=1))
    finally:
        request_id.reset(token)
    decorator.close()
    lines = records(tmp_path / "decisions.jsonl")
    assert [(r["stage"], r["result"]) for r in lines] == [("input", "deny"), ("input", "allow"), ("output", "allow")]
    first = lines[0]
    assert first["messages"] == ["value above 100"] and first["request_id"] == "req-42"
    assert first["policy_digest"] == decorator.policy_digest and first["package"] == "echo_policy"
    assert {"decision_id", "time", "model", "version", "duration_us"} <= set(first)
    assert "input" not in first


def test_error_decisions_are_logged_as_errors(make: Any, tmp_path: Path) -> None:
    decorator, _ = make(engine="opa", opa_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(PolicyUnavailable):
        decorator.predict(EchoInput(value=1))
    decorator.close()
    (line,) = records(tmp_path / "decisions.jsonl")
    assert line["result"] == "error" and "cannot be reached" in line["error"]


def test_inputs_are_logged_only_when_asked_and_masked(make: Any, tmp_path: Path) -> None:
    decorator, _ = make(decision_log={"path": str(tmp_path / "d.jsonl"), "include_input": True,
                                      "mask": ["model_input.label", "model_output.label", "no.such"]})
    decorator.predict(EchoInput(value=2, label="secret"))
    decorator.close()
    first, second = records(tmp_path / "d.jsonl")
    assert first["input"]["model_input"] == {"value": 2.0, "label": "***"}
    assert second["input"]["model_output"] == {"doubled": 4.0, "label": "***"}
    assert "secret" not in (tmp_path / "d.jsonl").read_text()


def test_metric_samples_count_decisions(make: Any) -> None:
    decorator, _ = make()
    decorator.predict(EchoInput(value=101))
    samples = {(name, tuple(sorted(labels.items()))): value
               for name, _, labels, value in decorator.metric_samples()}
    key = ("modelward_policy_decisions", (("model", "echo_model"), ("package", "echo_policy"),
                                          ("result", "deny"), ("stage", "input")))
    assert samples[key] == 1.0
