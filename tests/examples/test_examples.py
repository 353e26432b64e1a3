"""The example models train from the repo's scripts and answer their known cases, also over HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, Server, child_env, wait_started

EXAMPLES = ROOT / "examples"
CASES = {"insurance_charges": "insurance_charges_model", "diabetes_progression": "diabetes_progression_model"}


def train(example: str, output: Path) -> None:
    result = subprocess.run([sys.executable, "-m", f"{example}.train", "--output", str(output)],
                            cwd=EXAMPLES, env=child_env(), capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folders = {}
    for example in CASES:
        folder = tmp_path_factory.mktemp(example)
        train(example, folder)
        folders[example] = folder
    return folders


@pytest.mark.parametrize("example", sorted(CASES))
def test_training_writes_model_metrics_and_cases(trained: dict[str, Path], example: str) -> None:
    folder = trained[example]
    assert (folder / "model.skops").stat().st_size > 1000
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["r2"] > (0.9 if example == "insurance_charges" else 0.3)
    cases = [json.loads(line) for line in (folder / "validation.jsonl").read_text().splitlines()]
    assert len(cases) >= 5
    assert all(set(case) == {"input", "output", "tolerance"} for case in cases)
    profile = json.loads((folder / "data_profile.json").read_text())
    assert profile["format"] == "modelward-profile/1"
    assert set(profile["features"]) == set(cases[0]["input"])  # profiled as the model's input documents
    assert profile["features"]["sex"]["kind"] == "categorical" and profile["features"]["bmi"]["kind"] == "numeric"


@pytest.mark.integration
@pytest.mark.parametrize("example", sorted(CASES))
def test_served_example_answers_its_known_cases(trained: dict[str, Path], example: str,
                                                serve: Callable[..., Server]) -> None:
    folder = trained[example]
    variable = "INSURANCE_MODEL_PATH" if example == "insurance_charges" else "DIABETES_MODEL_PATH"
    env = child_env(**{variable: str(folder / "model.skops"), "MODELWARD_ALLOW_UNSIGNED": "true"})
    server = serve(EXAMPLES / example / "rest_config.yaml", env=env)
    assert wait_started(server.url).status_code == 200, server.output()
    name = CASES[example]
    for line in (folder / "validation.jsonl").read_text().splitlines():
        case = json.loads(line)
        answer = httpx.post(f"{server.url}/api/models/{name}/prediction", json=case["input"], timeout=10)
        assert answer.status_code == 200, answer.text
        for key, expected in case["output"].items():
            assert answer.json()[key] == pytest.approx(expected, abs=case["tolerance"]["absolute"])


@pytest.mark.integration
def test_unsigned_parameters_are_refused_by_default(trained: dict[str, Path], serve: Callable[..., Server]) -> None:
    model = trained["insurance_charges"] / "model.skops"
    server = serve(EXAMPLES / "insurance_charges" / "rest_config.yaml", env=child_env(INSURANCE_MODEL_PATH=str(model)))
    answer = wait_started(server.url)
    assert answer.status_code == 503
    assert answer.json()["reason"] == "models failed to load; see the service log"
    assert "refusing to load unsigned model parameters" in server.output()


def test_insurance_predict_batch_equals_predict_row_by_row(trained: dict[str, Path],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    from insurance_charges.model import InsuranceChargesModel
    from insurance_charges.schemas import InsuranceChargesModelInput

    model = InsuranceChargesModel.from_pipeline(load_skops(trained["insurance_charges"] / "model.skops"))
    items = [InsuranceChargesModelInput(age=20 + i, sex="male" if i % 2 else "female", bmi=20.0 + i,
                                        children=i % 4, smoker=i % 3 == 0, region="northwest") for i in range(12)]
    batched = model.predict_batch(items)
    assert batched == [model.predict(item) for item in items]
    assert len({output.charges for output in batched}) > 1


def load_skops(path: Path) -> object:
    """A pipeline this test run trained itself (its types are the ones skops reports)."""
    import skops.io as sio

    return sio.load(path, trusted=sio.get_untrusted_types(file=path))


def test_the_challenger_is_the_next_version_with_its_own_cases_and_detector(trained: dict[str, Path],
                                                                           tmp_path: Path) -> None:
    folder = tmp_path / "challenger"
    result = subprocess.run([sys.executable, "-m", "insurance_charges.train", "--challenger", "--output", str(folder)],
                            cwd=EXAMPLES, env=child_env(), capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert "insurance_charges_model 0.2.0" in result.stdout
    assert json.loads((folder / "metrics.json").read_text())["r2"] > 0.9
    cases = "validation.jsonl"
    champion = [json.loads(line) for line in (trained["insurance_charges"] / cases).read_text().splitlines()]
    challenger = [json.loads(line) for line in (folder / cases).read_text().splitlines()]
    assert [c["input"] for c in challenger] == [c["input"] for c in champion]
    assert [c["output"] for c in challenger] != [c["output"] for c in champion]  # other hyperparameters
    assert json.loads((folder / "outlier_detector.json").read_text())["model"]["version"] == "0.2.0"


def test_the_graph_example_deploys_as_one_pod_and_names_what_kserve_cannot_express() -> None:
    from modelward.deploy import load_deployment, render
    from modelward.errors import ConfigurationError

    spec = load_deployment(EXAMPLES / "insurance_charges" / "graph_deployment.yaml")
    assert spec.graph is not None and spec.graph["type"] == "OUTLIER_DETECTOR"
    assert spec.graph_nodes() == ["champion", "challenger"]
    assert spec.graph["children"][0]["implementation"] == "THOMPSON_SAMPLING"
    for target in ("kubernetes", "seldon"):
        manifests = render(spec, target)
        assert sum(m["kind"] in ("Deployment", "SeldonDeployment") for m in manifests) == 1
    with pytest.raises(ConfigurationError, match="cannot express an OUTLIER_DETECTOR"):
        render(spec, "kserve")
