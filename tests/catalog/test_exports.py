"""Atlas export and push (to a real HTTP server on loopback), OpenLineage events."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from modelward import catalog as c
from modelward.catalog import exports
from modelward.errors import CatalogError
from tests.catalog.conftest import model_info, version_info


class _Atlas(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, Any]]] = []

    def do_POST(self) -> None:
        expected = "Basic " + base64.b64encode(b"admin:s3cret").decode()
        if self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.end_headers()
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_: object) -> None:
        return


@pytest.fixture
def atlas() -> Iterator[str]:
    _Atlas.received = []
    server = HTTPServer(("127.0.0.1", 0), _Atlas)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _fill(catalog: c.Catalog) -> c.DeploymentView:
    c.register_version(catalog, model=model_info(), version=version_info(registry_url="hdfs://reg/icm/1.2.0"),
                       actor="alice")
    c.record_deployment(catalog, info=c.DeploymentInfo(model="insurance_charges_model", version="1.2.0",
                                                       target="local", status="failed", reason="x"), actor="ci")
    return c.record_deployment(catalog, info=c.DeploymentInfo(
        model="insurance_charges_model", version="1.2.0", target="kubernetes", environment="prod",
        endpoint_url="http://icm.prod:8000/api"), actor="ci")


def test_atlas_push_sends_the_article_type_and_entities(catalog: c.Catalog, atlas: str) -> None:
    _fill(catalog)
    assert exports.push_atlas(catalog, url=atlas, username="admin", password="s3cret") == 2
    (types_path, typedefs), (bulk_path, bulk) = _Atlas.received
    assert types_path == "/api/atlas/v2/types/typedefs" and bulk_path == "/api/atlas/v2/entity/bulk"
    defined = {a["name"] for a in typedefs["entityDefs"][0]["attributeDefs"]}
    assert set(exports.ATLAS_ATTRIBUTES) <= defined and typedefs["entityDefs"][0]["superTypes"] == ["Process"]
    live = bulk["entities"][1]["attributes"]
    assert live["deploy.host.type"] == "kubernetes" and live["deploy.host.detail"] == "http://icm.prod:8000/api"
    assert (live["model.owner"], live["model.owner.lob"]) == ("greg", "pricing")
    assert live["model.registry.url"] == "hdfs://reg/icm/1.2.0"
    assert live["deploy.obj.source"] == "s3://models/icm-1.2.0.zip"


def test_atlas_push_with_wrong_password_fails_clearly(catalog: c.Catalog, atlas: str) -> None:
    _fill(catalog)
    with pytest.raises(CatalogError, match="refused the credentials"):
        exports.push_atlas(catalog, url=atlas, username="admin", password="wrong")


def test_openlineage_events_parse_as_openlineage_run_events(catalog: c.Catalog) -> None:
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState

    _fill(catalog)
    events = exports.openlineage_events(catalog)
    assert [e["eventType"] for e in events] == ["COMPLETE", "FAIL", "COMPLETE"]
    for event in events:  # the client's generated classes validate time, run id (UUID) and schema URL
        RunEvent(eventType=RunState(event["eventType"]), eventTime=event["eventTime"],
                 run=Run(runId=event["run"]["runId"]), job=Job(**event["job"]), producer=event["producer"],
                 inputs=[InputDataset(namespace=d["namespace"], name=d["name"]) for d in event["inputs"]],
                 outputs=[OutputDataset(namespace=d["namespace"], name=d["name"]) for d in event["outputs"]])
    assert events[0]["inputs"][0]["name"] == "/charges.csv"
    assert events[0]["inputs"][0]["facets"]["version"]["datasetVersion"] == "sha256:dddd"
