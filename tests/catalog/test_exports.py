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
    # a dataset, the version, its training, and per deployment an endpoint and a ``model`` process
    assert exports.push_atlas(catalog, url=atlas, username="admin", password="s3cret") == 7
    (types_path, typedefs), (bulk_path, bulk) = _Atlas.received
    assert types_path == "/api/atlas/v2/types/typedefs" and bulk_path == "/api/atlas/v2/entity/bulk"
    (model,) = [d for d in typedefs["entityDefs"] if d["name"] == "model"]
    assert {a["name"] for a in model["attributeDefs"]} == set(exports.ATLAS_ATTRIBUTES)
    assert model["superTypes"] == ["Process"]
    live = [e["attributes"] for e in bulk["entities"] if e["typeName"] == "model"][1]
    assert live["deploy.host.type"] == "kubernetes" and live["deploy.host.detail"] == "http://icm.prod:8000/api"
    assert (live["model.owner"], live["model.owner.lob"]) == ("greg", "pricing")
    assert live["model.registry.url"] == "hdfs://reg/icm/1.2.0"
    assert live["deploy.obj.source"] == "s3://models/icm-1.2.0.zip"


# Atlas's base model (addons/models/0000-Area0/0010-base_model.json): what each supertype already has
SUPERTYPE_ATTRIBUTES = {
    "Referenceable": {"qualifiedName"},
    "Asset": {"qualifiedName", "name", "description", "owner", "displayName", "userDescription"},
    "DataSet": {"qualifiedName", "name", "description", "owner", "displayName", "userDescription"},
    "Process": {"qualifiedName", "name", "description", "owner", "displayName", "userDescription",
                "inputs", "outputs"},
}


def test_atlas_typedefs_never_redefine_an_inherited_attribute() -> None:
    """Atlas refuses a subtype whose attributeDefs name an attribute of a supertype (no overrides)."""
    definitions = exports.atlas_typedefs()["entityDefs"]
    assert {d["name"]: d["superTypes"] for d in definitions} == {
        "model_dataset": ["DataSet"], "model_version": ["DataSet"], "model_endpoint": ["DataSet"],
        "model_training": ["Process"], "model": ["Process"]}
    for definition in definitions:
        own = [a["name"] for a in definition["attributeDefs"]]
        assert len(own) == len(set(own)), definition["name"]
        for parent in definition["superTypes"]:
            clash = set(own) & SUPERTYPE_ATTRIBUTES[parent]
            assert not clash, f"{definition['name']} redefines {clash} of {parent}"


def test_atlas_processes_carry_their_inputs_and_outputs_as_object_ids(catalog: c.Catalog) -> None:
    _fill(catalog)
    entities = exports.atlas_entities(catalog)["entities"]
    present = {(e["typeName"], e["attributes"]["qualifiedName"]) for e in entities}
    defined = {d["name"] for d in exports.atlas_typedefs()["entityDefs"]}
    assert {e["typeName"] for e in entities} == defined
    processes = [e for e in entities if e["typeName"] in ("model", "model_training")]
    assert len(processes) == 3
    for process in processes:
        ends = process["attributes"]["inputs"] + process["attributes"]["outputs"]
        assert process["attributes"]["inputs"] and process["attributes"]["outputs"], process
        for ref in ends:  # an Atlas object id by unique attribute, of an entity in the same body
            assert set(ref) == {"typeName", "uniqueAttributes"} and set(ref["uniqueAttributes"]) == {"qualifiedName"}
            assert (ref["typeName"], ref["uniqueAttributes"]["qualifiedName"]) in present
    (training,) = [e["attributes"] for e in processes if e["typeName"] == "model_training"]
    assert training["inputs"] == [{"typeName": "model_dataset",
                                   "uniqueAttributes": {"qualifiedName": "dataset:charges@sha256:dddd"}}]
    assert training["outputs"] == [{"typeName": "model_version",
                                    "uniqueAttributes": {"qualifiedName": "insurance_charges_model@1.2.0"}}]
    live = [e["attributes"] for e in processes if e["typeName"] == "model"][1]
    assert live["inputs"] == training["outputs"]
    assert live["outputs"] == [{"typeName": "model_endpoint",
                                "uniqueAttributes": {"qualifiedName": "http://icm.prod:8000/api"}}]
    for entity in entities:  # every attribute set is inherited or defined on the entity's own type
        (definition,) = [d for d in exports.atlas_typedefs()["entityDefs"] if d["name"] == entity["typeName"]]
        allowed = {a["name"] for a in definition["attributeDefs"]} | SUPERTYPE_ATTRIBUTES[definition["superTypes"][0]]
        assert set(entity["attributes"]) <= allowed, entity["typeName"]


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
