"""The insurance example with its policies, called through Seldon v1, KServe V1 and MLflow."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Server

pytestmark = pytest.mark.integration

MESSAGE = "Prediction cannot be made if customer is a smoker over the age of 60."
FIELDS = ["age", "sex", "bmi", "children", "smoker", "region"]
ALLOWED = [42, "male", 22, 5, False, "southwest"]
DENIED = [62, "male", 22, 5, True, "southwest"]


def test_every_protocol_predicts_and_keeps_the_denial(insurance_server: Server) -> None:
    server = insurance_server

    seldon = httpx.post(server.url + "/api/v1.0/predictions",
                        json={"data": {"names": FIELDS, "ndarray": [ALLOWED]}, "meta": {"tags": {"team": "a"}}})
    assert seldon.status_code == 200, seldon.text
    assert seldon.json()["data"]["names"] == ["charges"] and seldon.json()["data"]["ndarray"][0][0] > 0
    denied = httpx.post(server.url + "/api/v1.0/predictions", json={"data": {"names": FIELDS, "ndarray": [DENIED]}})
    assert denied.status_code == 403
    assert denied.json()["status"]["info"] == MESSAGE

    kserve = httpx.post(server.url + "/v1/models/insurance_charges_model:predict",
                        json={"instances": [dict(zip(FIELDS, ALLOWED, strict=True)), ALLOWED]})
    assert kserve.status_code == 200, kserve.text
    first, second = kserve.json()["predictions"]
    assert first == second and first["charges"] > 0
    denied = httpx.post(server.url + "/v1/models/insurance_charges_model:predict", json={"instances": [DENIED]})
    assert (denied.status_code, denied.json()) == (403, {"error": MESSAGE})

    csv = "age,sex,bmi,children,smoker,region\n42,male,22,5,false,southwest\n"
    mlflow = httpx.post(server.url + "/invocations", content=csv, headers={"content-type": "text/csv"})
    assert mlflow.status_code == 200, mlflow.text
    assert mlflow.json()["predictions"] == [first]
    denied = httpx.post(server.url + "/invocations", json={"dataframe_split": {"columns": FIELDS, "data": [DENIED]}})
    assert (denied.status_code, denied.json()["message"]) == (403, MESSAGE)
