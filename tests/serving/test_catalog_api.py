"""The catalog REST API through a real uvicorn server on a free port (auth flow, errors, search)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from modelward import catalog as c
from modelward.serving.catalog_routes import create_catalog_app
from modelward.settings import Settings
from tests.conftest import Server, child_env, write_config

pytestmark = pytest.mark.integration

BODY = {"model": {"qualified_name": "icm", "owner": "greg", "line_of_business": "pricing",
                  "description": "insurance charges", "tags": ["insurance"]},
        "version": {"version": "1.0.0", "artifact_uri": "s3://m/icm.zip", "artifact_digest": "sha256:aa"}}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    settings = Settings(data_dir=tmp_path, catalog_url=url, catalog_read_open=True)
    port = _free_port()
    config = uvicorn.Config(create_catalog_app(settings), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", url
    srv.should_exit = True
    thread.join(timeout=10)


def _token(url: str, role: str) -> str:
    catalog = c.open_catalog(url)
    plain, _ = c.create_token(catalog, role=role, actor="test")
    catalog.dispose()
    return plain


def test_writes_need_a_token_with_the_right_role(server: tuple[str, str]) -> None:
    base, url = server
    publisher, deployer = _token(url, "publisher"), _token(url, "deployer")
    with httpx.Client(base_url=base) as client:
        missing = client.post("/api/catalog/versions", json=BODY)
        assert missing.status_code == 401 and missing.json()["type"] == "Unauthorized"
        assert missing.headers["www-authenticate"] == "Bearer"
        bad = client.post("/api/catalog/versions", json=BODY, headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401 and "not valid" in bad.json()["messages"][0]
        wrong = client.post("/api/catalog/versions", json=BODY, headers={"Authorization": f"Bearer {deployer}"})
        assert wrong.status_code == 403 and "may not publish" in wrong.json()["messages"][0]
        auth = {"Authorization": f"Bearer {publisher}"}
        assert client.post("/api/catalog/versions", json=BODY, headers=auth).status_code == 201
        assert client.post("/api/catalog/versions", json=BODY, headers=auth).status_code == 200
        other = {**BODY, "version": {**BODY["version"], "artifact_digest": "sha256:bb"}}
        conflict = client.post("/api/catalog/versions", json=other, headers=auth)
        assert conflict.status_code == 409 and conflict.json()["type"] == "Conflict"
        deployment = {"model": "icm", "version": "1.0.0", "target": "seldon", "environment": "prod"}
        made = client.post("/api/catalog/deployments", json=deployment,
                           headers={"Authorization": f"Bearer {deployer}"})
        assert made.status_code == 201
        assert client.get("/api/catalog/deployments", params={"model": "icm"}).json()["total"] == 1
        assert client.get("/api/catalog/audit/verify").json()["events"] == 5


def test_reads_errors_and_search(server: tuple[str, str]) -> None:
    base, url = server
    publisher = _token(url, "publisher")
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {publisher}"}) as client:
        client.post("/api/catalog/versions", json=BODY)
        missing = client.get("/api/catalog/models/icm/versions/9")
        assert missing.status_code == 404 and "no version '9'" in missing.json()["messages"][0]
        invalid = client.post("/api/catalog/deployments", json={"model": "icm"})
        assert invalid.status_code in (401, 403, 422)
        hits = client.get("/api/catalog/search", params={"q": "insurance", "owner": "greg"}).json()
        assert hits["total"] == 1 and hits["hits"][0]["model"] == "icm"
        bad_page = client.get("/api/catalog/search", params={"page": "0"})
        assert bad_page.status_code == 422 and "page" in bad_page.json()["messages"][0]
        bad_stage = client.get("/api/catalog/search", params={"stage": "launched"})
        assert bad_stage.status_code == 422
        misspelt = client.get("/api/catalog/search", params={"lob": "claims"})  # the CLI's --lob is line_of_business
        assert misspelt.status_code == 422, misspelt.text
        assert "lob" in misspelt.json()["messages"][0] and "line_of_business" in misspelt.json()["messages"][0]
        unknown = client.get("/api/catalog/deployments", params={"modle": "icm", "limit": 5})
        assert unknown.status_code == 422 and "modle" in unknown.json()["messages"][0]
        assert client.get("/api/catalog/models", params={"limit": 5}).status_code == 200
        lineage = client.get("/api/catalog/lineage/icm/1.0.0").json()
        assert lineage["upstream"]["artifact_digest"] == "sha256:aa"
        assert client.get("/api/health").json() == {"health_status": "HEALTHY"}


def test_closed_reads_need_a_token(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    settings = Settings(data_dir=tmp_path, catalog_read_open=False)
    app = create_catalog_app(settings)
    reader = _token(settings.resolved_catalog_url(), "reader")
    with TestClient(app) as client:
        assert client.get("/api/catalog/models").status_code == 401
        ok = client.get("/api/catalog/models", headers={"Authorization": f"Bearer {reader}"})
        assert ok.status_code == 200 and ok.json() == {"models": []}


def test_rollback_needs_a_deployer_and_lands_in_the_audit_trail(server: tuple[str, str]) -> None:
    base, url = server
    publisher, deployer, reader = (_token(url, role) for role in ("publisher", "deployer", "reader"))
    with httpx.Client(base_url=base) as client:
        for number, digest in (("1.0.0", "sha256:aa"), ("1.1.0", "sha256:bb")):
            body = {**BODY, "version": {**BODY["version"], "version": number, "artifact_digest": digest}}
            assert client.post("/api/catalog/versions", json=body,
                               headers={"Authorization": f"Bearer {publisher}"}).status_code == 201
        ops = {"Authorization": f"Bearer {deployer}"}
        first = client.post("/api/catalog/deployments", headers=ops, json={
            "model": "icm", "version": "1.0.0", "target": "seldon", "environment": "prod"}).json()
        second = client.post("/api/catalog/deployments", headers=ops, json={
            "model": "icm", "version": "1.1.0", "target": "seldon", "environment": "prod",
            "replaces": first["id"]}).json()
        path = f"/api/catalog/deployments/{second['id']}/rollback"
        assert client.post(path).status_code == 401
        refused = client.post(path, headers={"Authorization": f"Bearer {reader}"})
        assert refused.status_code == 403 and "may not deploy" in refused.json()["messages"][0]
        assert client.get(f"/api/catalog/deployments/{second['id']}").json()["status"] == "running"
        bad = client.post(path, headers=ops, json={"reason": "x" * 1001})
        assert bad.status_code == 422 and "reason" in bad.json()["messages"][0]
        assert client.post(path, headers=ops, json={"why": "x"}).status_code == 422
        done = client.post(path, headers=ops, json={"reason": "error rate 4%"})
        assert done.status_code == 201, done.text
        answer = done.json()
        assert answer["deployment"]["version"] == "1.0.0" and answer["deployment"]["status"] == "running"
        assert answer["deployment"]["replaced_id"] == second["id"] and answer["restored"]["id"] == first["id"]
        assert answer["rolled_back"]["status"] == "rolled_back" and "error rate 4%" in answer["rolled_back"]["reason"]
        running = client.get("/api/catalog/deployments", params={"model": "icm", "status": "running"}).json()
        assert [d["version"] for d in running["deployments"]] == ["1.0.0"]
        newest = client.get("/api/catalog/audit", params={"limit": 2}).json()["events"]
        assert [e["action"] for e in newest] == ["deployment.rollback", "deployment.record"]
        assert newest[0]["entity"] == f"deployment:{second['id']}" and newest[0]["actor"].startswith("token:")
        assert client.get("/api/catalog/audit/verify").status_code == 200
        again = client.post(path, headers=ops)
        assert again.status_code == 409 and "not running" in again.json()["messages"][0]
        nothing = client.post(f"/api/catalog/deployments/{answer['deployment']['id']}/rollback", headers=ops)
        assert nothing.status_code == 409 and "nothing to roll back to" in nothing.json()["messages"][0]
        missing = client.post("/api/catalog/deployments/nope/rollback", headers=ops)
        assert missing.status_code == 404 and missing.json()["type"] == "NotFound"
        contract = client.get("/openapi.json").json()["paths"]["/api/catalog/deployments/{deployment_id}/rollback"]
        assert {"201", "401", "403", "404", "409", "422"} <= set(contract["post"]["responses"])
        assert contract["post"]["responses"]["201"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/RollbackView"}


SERVICE = """\
service_title: Echo Service
models:
  - qualified_name: echo_model
    class_path: tests.fixtures.EchoModel
    configuration: {version: "1.2.3"}
"""


def test_serve_config_with_catalog_answers_models_and_catalog_from_one_process(
        serve: Callable[..., Server], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    deployer = _token(_migrated(url), "deployer")
    server = serve(write_config(tmp_path / "svc.yaml", SERVICE), "--catalog",
                   env=child_env(MODELWARD_CATALOG_URL=url))
    with httpx.Client(base_url=server.url, timeout=10) as client:
        models = client.get("/api/models")
        assert models.status_code == 200
        assert [m["qualified_name"] for m in models.json()["models"]] == ["echo_model"]
        predicted = client.post("/api/models/echo_model/prediction", json={"value": 2.0, "label": "a"})
        assert predicted.status_code == 200 and predicted.json()["doubled"] == 4.0
        attempt = {"model": "echo_model", "version": "9.9.9", "target": "local", "step": "verify",
                   "reason": "verify failed: unknown key", "source_uri": "file:///tmp/echo.zip"}
        made = client.post("/api/catalog/attempts", json=attempt, headers={"Authorization": f"Bearer {deployer}"})
        assert made.status_code == 201, made.text
        failed = client.get("/api/catalog/deployments", params={"status": "failed"}).json()
        assert failed["total"] == 1 and failed["deployments"][0]["reason"] == "verify failed: unknown key"
        assert failed["deployments"][0]["version_registered"] is False
        assert client.get("/api/catalog/audit/verify").json()["events"] == 2  # token, attempt
        assert client.get("/api/catalog/search", params={"q": "echo"}).json()["total"] == 0
    assert server.process.poll() is None  # one process answered both


def _migrated(url: str) -> str:
    c.open_catalog(url, migrate=True).dispose()
    return url


def test_catalog_serve_counts_requests_per_route_on_metrics(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient
    from prometheus_client.parser import text_string_to_metric_families

    app = create_catalog_app(Settings(data_dir=tmp_path, catalog_read_open=True))
    with TestClient(app) as client:
        assert client.get("/api/catalog/models").status_code == 200
        assert client.get("/api/catalog/models/nope").status_code == 404
        text = client.get("/metrics").text
    counts = {tuple(sorted(s.labels.items())): s.value for family in text_string_to_metric_families(text)
              for s in family.samples if s.name == "modelward_http_requests_total"}
    assert counts[(("method", "GET"), ("route", "/api/catalog/models"), ("status", "200"))] == 1
    assert counts[(("method", "GET"), ("route", "/api/catalog/models/{name}"), ("status", "404"))] == 1
