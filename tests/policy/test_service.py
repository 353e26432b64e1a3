"""The policy decorator in a real service (`modelward serve` on a free port) over HTTP.

OPA cannot be installed here: the ``opa`` models talk to ``DataApiServer`` stand-ins (OPA's Data API
contract, evaluated by the embedded engine) started by the test on 127.0.0.1, some of which
misbehave on purpose.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import (
    INSURANCE_POLICY_CONFIG,
    MODELWARD,
    Server,
    child_env,
    free_port,
    insurance_env,
    wait_for,
    wait_started,
    write_config,
)
from tests.policy.helpers import ECHO_POLICY, bundle_of, data_api, write_policy

pytestmark = pytest.mark.integration
MODEL = "tests.policy.helpers.NamedEcho"


def model_entry(name: str, **policy: Any) -> str:
    options = ", ".join(f"{key}: {value}" for key, value in policy.items())
    return (f"  - class_path: {MODEL}\n    configuration: {{name: {name}}}\n    decorators:\n"
            f"      - class_path: modelward.policy.PolicyDecorator\n"
            f"        configuration: {{package: echo_policy, {options}}}\n")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    """One service, one model per behaviour, and the stand-in OPA servers it calls."""
    folder = tmp_path_factory.mktemp("service")
    policies = write_policy(folder / "policies")
    reloading = write_policy(folder / "reloading")
    nonbool = write_policy(folder / "nonbool", 'package echo_policy\nallow := "false"\n')
    bundle = bundle_of(ECHO_POLICY)
    with ExitStack() as stack:
        urls = {mode: stack.enter_context(data_api(bundle, mode)).url for mode in ("ok", "hang", "garbage")}
        log = f"{{path: {folder / 'decisions.jsonl'}}}"
        config = "service_title: policies\nmodels:\n" + "".join([
            model_entry("embedded_model", policies=f"[{policies}]", decision_log=log),
            model_entry("status_model", policies=f"[{policies}]", denial_status=403),
            model_entry("nonbool_model", policies=f"[{nonbool}]"),
            model_entry("reload_model", policies=f"[{reloading}]", reload_interval=0.1),
            model_entry("opa_model", engine="opa", opa_url=urls["ok"]),
            model_entry("opa_down_model", engine="opa", opa_url=f"http://127.0.0.1:{free_port()}"),
            model_entry("opa_hang_model", engine="opa", opa_url=urls["hang"], timeout=0.3),
            model_entry("opa_garbage_model", engine="opa", opa_url=urls["garbage"]),
        ])
        path = write_config(folder / "config.yaml", config)
        server = start(path, folder)
        try:
            assert wait_started(server.url).status_code == 200, server.output()
            yield server, folder
        finally:
            server.process.terminate()
            server.process.wait(10)


def start(config: Path, folder: Path) -> Server:
    port = free_port()
    log = folder / "server.log"
    env = child_env(MODELWARD_DATA_DIR=str(folder / "data"))
    with log.open("wb") as handle:
        process = subprocess.Popen([MODELWARD, "serve", str(config), "--port", str(port)], stdout=handle,
                                   stderr=subprocess.STDOUT, env=env, cwd=folder)
    url = f"http://127.0.0.1:{port}"
    wait_for(url, process)
    return Server(process, url, log)


def predict(server: Server, model: str, value: float) -> httpx.Response:
    return httpx.post(f"{server.url}/api/models/{model}/prediction", json={"value": value},
                      headers={"x-request-id": f"r-{model}-{value}"}, timeout=10)


@pytest.mark.parametrize("model", ["embedded_model", "opa_model"])
def test_allowed_and_denied_over_http(service: tuple[Server, Path], model: str) -> None:
    server, _ = service
    allowed = predict(server, model, 10)
    assert (allowed.status_code, allowed.json()) == (200, {"doubled": 20.0, "label": "x"})
    denied = predict(server, model, 101)
    assert (denied.status_code, denied.json()) == (200, {"messages": ["value above 100"]})


def test_denial_status_is_configurable(service: tuple[Server, Path]) -> None:
    denied = predict(service[0], "status_model", 90)
    assert (denied.status_code, denied.json()) == (403, {"messages": ["output above 150"]})


@pytest.mark.parametrize("model", ["nonbool_model", "opa_down_model", "opa_hang_model", "opa_garbage_model"])
def test_policy_that_cannot_be_evaluated_answers_503_and_no_prediction(
        service: tuple[Server, Path], model: str) -> None:
    answer = predict(service[0], model, 10)
    assert answer.status_code == 503
    body = answer.json()
    assert body == {"type": "PolicyUnavailable",
                    "messages": ["the policy 'echo_policy' could not be evaluated; the prediction is withheld"]}
    assert "doubled" not in answer.text and "127.0.0.1" not in answer.text


def test_decisions_are_logged_with_the_request_id(service: tuple[Server, Path]) -> None:
    server, folder = service
    predict(server, "embedded_model", 101)
    log = folder / "decisions.jsonl"
    deadline = time.monotonic() + 5
    while "r-embedded_model-101" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "the decision was not logged"
        time.sleep(0.05)


def test_reload_on_change_and_refused_bundle_in_health(service: tuple[Server, Path]) -> None:
    server, folder = service
    assert predict(server, "reload_model", 50).status_code == 200
    write_policy(folder / "reloading", ECHO_POLICY.replace("<= 100", "<= 10"))
    wait_until(lambda: "messages" in predict(server, "reload_model", 50).json())
    write_policy(folder / "reloading", "package echo_policy\nallow if {\n")
    wait_until(lambda: "problems" in httpx.get(server.url + "/api/health").json())
    health = httpx.get(server.url + "/api/health").json()
    assert health["health_status"] == "HEALTHY"
    assert health["problems"] == ["reload_model: a decorator reports a problem; see the service log"]
    assert "policy bundle refused" in server.output()  # the detail (it names the file) is in the log
    # the last good bundle (value <= 10) still decides; it has no message for this denial
    assert predict(server, "reload_model", 50).json() == {"messages": ["denied by policy 'echo_policy'"]}


def wait_until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.1)


def test_metrics_count_decisions(service: tuple[Server, Path]) -> None:
    server, _ = service
    predict(server, "embedded_model", 101)
    text = httpx.get(server.url + "/metrics").text
    assert ('modelward_policy_decisions_total{model="embedded_model",package="echo_policy",result="deny",'
            'stage="input"}') in text
    assert 'modelward_policy_decision_log_dropped_total{model="embedded_model"' in text
    assert 'result="error"' in text


def test_openapi_shows_the_union(service: tuple[Server, Path]) -> None:
    document = httpx.get(service[0].url + "/openapi.json").json()
    output = document["components"]["schemas"]["embedded_model__Output"]
    assert output["title"] == "EchoOutput"
    assert sorted(ref["$ref"].rsplit("__", 1)[1] for ref in output["anyOf"]) == [
        "EchoOutput", "PredictionNotAvailable"]


def test_insurance_example_with_its_policies(insurance_model: Path, tmp_path: Path, insurance_server: Server) -> None:
    url = f"{insurance_server.url}/api/models/insurance_charges_model/prediction"
    customer = {"age": 62, "sex": "male", "bmi": 22, "children": 5, "smoker": True, "region": "southwest"}
    denied = httpx.post(url, json=customer)
    assert denied.json() == {"messages": ["Prediction cannot be made if customer is a smoker over the age of 60."]}
    allowed = httpx.post(url, json={**customer, "age": 42, "smoker": False})
    assert allowed.status_code == 200 and allowed.json()["charges"] > 0
    assert httpx.post(url, json={**customer, "age": "70"}).status_code == 422
    contract = subprocess.run([MODELWARD, "openapi", str(INSURANCE_POLICY_CONFIG)],
                              env=insurance_env(insurance_model, tmp_path / "data"),
                              capture_output=True, text=True, check=True).stdout
    assert "insurance_charges_model__PredictionNotAvailable" in contract
