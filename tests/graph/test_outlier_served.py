"""The outlier step in a real `modelward serve`: the insurance example's signed package, every protocol.

The insurance example is trained, packaged and signed by its own train script (which fits the
detector); the server verifies the package before reading the model or the detector.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT, Server, child_env, wait_started, write_config

pytestmark = pytest.mark.integration

EXAMPLES = ROOT / "examples"
NORMAL = {"age": 42, "sex": "female", "bmi": 24.0, "children": 2, "smoker": False, "region": "northwest"}
ABSURD = {"age": 500, "sex": "male", "bmi": 300.0, "children": 0, "smoker": False, "region": "northwest"}
#: inside every range of the schema, but unlike the training data taken together
UNUSUAL = {"age": 18, "sex": "male", "bmi": 50.0, "children": 5, "smoker": True, "region": "northwest"}
NAMES = list(NORMAL)

TAG_CONFIG = """\
python_path: ["{examples}", "{root}"]
models:
  - class_path: tests.graph.outlier_served_models.LooseInsuranceModel
    configuration: {{package: "{package}", keyring: "{keyring}"}}
    batching: {{max_batch_size: 16, max_batch_latency: 2}}
    decorators:
      - class_path: modelward.services.outlier.SignedOutlierDetector
        configuration: {{package: "{package}", keyring: "{keyring}"}}
"""


def meta(answer: httpx.Response) -> Any:
    return json.loads(answer.headers["x-modelward-meta"])["outlier"]


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(url + "/metrics", timeout=10).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def seldon(url: str, rows: list[dict[str, Any]]) -> httpx.Response:
    return httpx.post(url + "/api/v1.0/predictions", timeout=10,
                      json={"data": {"names": NAMES, "ndarray": [[row[n] for n in NAMES] for row in rows]}})


def test_tag_mode_scores_every_input_in_the_metadata_and_the_metrics(signed_insurance_package: tuple[Path, Path],
                                                                      serve: Callable[..., Server],
                                                                      tmp_path: Path) -> None:
    package, keyring = signed_insurance_package
    config = write_config(tmp_path / "tag.yaml", TAG_CONFIG.format(examples=EXAMPLES, root=ROOT, package=package,
                                                                  keyring=keyring))
    server = serve(config)
    assert wait_started(server.url).status_code == 200, server.output()
    url = f"{server.url}/api/models/insurance_charges_model"

    normal = httpx.post(f"{url}/prediction", json=NORMAL, timeout=10)
    assert normal.status_code == 200 and normal.json()["charges"] > 0
    verdict = meta(normal)
    assert verdict["is_outlier"] is False and 0 < verdict["score"] < verdict["threshold"]

    absurd = httpx.post(f"{url}/prediction", json=ABSURD, timeout=10)
    assert absurd.status_code == 200  # tagged, still answered
    assert meta(absurd)["is_outlier"] is True and meta(absurd)["score"] > 5 * verdict["threshold"]

    batch = httpx.post(f"{url}/predictions", json=[NORMAL, ABSURD, {**NORMAL, "age": 50}], timeout=10)
    assert batch.status_code == 200 and len(batch.json()) == 3
    assert [v["is_outlier"] for v in meta(batch)] == [False, True, False]  # one verdict per row, in order

    answer = seldon(server.url, [NORMAL, ABSURD])
    assert answer.status_code == 200, answer.text
    tags = answer.json()["meta"]["tags"]
    assert [v["is_outlier"] for v in tags["outlier"]] == [False, True]

    # concurrent single requests share the model's batches; each answer carries its own input's verdict
    inputs = [ABSURD if i % 3 == 0 else {**NORMAL, "age": 20 + i} for i in range(24)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda row: httpx.post(f"{url}/prediction", json=row, timeout=10), inputs))
    assert all(a.status_code == 200 for a in answers)
    assert [meta(a)["is_outlier"] for a in answers] == [row is ABSURD for row in inputs]

    metrics = scrape(server.url)
    model = (("model_name", "insurance_charges_model"),)
    assert metrics[("modelward_outlier_score_count", model)] == 31.0  # 1 + 1 + 3 + 2 + 24 inputs scored
    assert metrics[("modelward_outlier_score_bucket", (("le", "10.0"), *model))] == 20.0  # 11 absurd ones are > 10
    assert metrics[("modelward_outliers_total", (("action", "tagged"), *model))] == 11.0
    assert metrics[("modelward_outliers_total", (("action", "refused"), *model))] == 0.0


def test_refuse_mode_withholds_outliers_with_a_clear_422(signed_insurance_package: tuple[Path, Path],
                                                         serve: Callable[..., Server]) -> None:
    package, keyring = signed_insurance_package
    env = child_env(INSURANCE_PACKAGE=str(package), MODELWARD_KEYRING=str(keyring), OUTLIER_MODE="refuse")
    server = serve(EXAMPLES / "insurance_charges" / "rest_config_outlier.yaml", env=env)  # the example's config
    assert wait_started(server.url).status_code == 200, server.output()
    url = f"{server.url}/api/models/insurance_charges_model"

    normal = httpx.post(f"{url}/prediction", json=NORMAL, timeout=10)
    assert normal.status_code == 200 and meta(normal)["is_outlier"] is False

    unusual = httpx.post(f"{url}/prediction", json=UNUSUAL, timeout=10)
    assert unusual.status_code == 422, unusual.text
    (message,) = unusual.json()["messages"]
    assert message.startswith("the input to model 'insurance_charges_model' is an outlier: score ")
    assert message.endswith("; no prediction is made for it")
    assert meta(unusual)["is_outlier"] is True

    absurd = httpx.post(f"{url}/prediction", json=ABSURD, timeout=10)
    assert absurd.status_code == 422 and "age" in absurd.text  # the example's schema refuses it first

    answer = seldon(server.url, [UNUSUAL])
    assert answer.status_code == 422
    assert answer.json()["status"]["reason"] == "PredictionNotAvailable"
    assert "is an outlier" in answer.json()["status"]["info"]

    batch = httpx.post(f"{url}/predictions", json=[NORMAL, UNUSUAL], timeout=10)
    assert batch.status_code == 200
    first, second = batch.json()
    assert first["charges"] > 0 and "is an outlier" in second["messages"][0]  # its neighbour is answered

    metrics = scrape(server.url)
    model = (("model_name", "insurance_charges_model"),)
    assert metrics[("modelward_outliers_total", (("action", "refused"), *model))] == 3.0
    assert metrics[("modelward_outliers_total", (("action", "tagged"), *model))] == 0.0
    assert metrics[("modelward_outlier_score_count", model)] == 5.0  # the schema-refused input is never scored
    denied = metrics[("modelward_requests_total", (("model_name", "insurance_charges_model"),
                                                   ("model_version", "0.1.0"), ("protocol", "native"),
                                                   ("status", "denied")))]
    assert denied == 2.0
