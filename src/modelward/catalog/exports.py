"""Exports: Apache Atlas v2 JSON (typedefs and ``/v2/entity/bulk`` bodies) and OpenLineage run events.

The Atlas ``model`` type is the one from the source article (a ``Process`` with ``deploy.*`` and
``model.*`` attributes), one entity per deployment, whose input is the ``model_version`` it runs
and whose output is the ``model_endpoint`` it serves; versions come from their datasets through a
``model_training`` process. ``push_atlas`` posts both bodies to an Atlas server with basic auth.
OpenLineage events are plain JSON dicts (spec 2-0-2 RunEvents).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from modelward.catalog import schema as s
from modelward.catalog.db import Catalog
from modelward.catalog.views import utc
from modelward.errors import CatalogError

ATLAS_ATTRIBUTES = ("deploy.datetime", "deploy.host.type", "deploy.host.detail", "deploy.obj.source",
                    "model.name", "model.version", "model.type", "model.description", "model.owner",
                    "model.owner.lob", "model.registry.url")
VERSION_ATTRIBUTES = ("model.name", "model.version", "model.owner", "model.owner.lob", "artifact.uri",
                      "artifact.digest", "signing.key")
DATASET_ATTRIBUTES = ("uri", "digest")
OPENLINEAGE_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
PRODUCER = "https://github.com/modelward/modelward"
NAMESPACE = "modelward"
RUN_IDS = uuid.UUID("6d6f6465-6c77-6172-6400-000000000000")


def _attribute(name: str, type_name: str = "string", *, optional: bool = False) -> dict[str, Any]:
    return {"name": name, "typeName": type_name, "cardinality": "SINGLE", "isUnique": False,
            "isOptional": optional, "isIndexable": True}


def _entity_def(name: str, super_type: str, attributes: tuple[str, ...], description: str, *,
                optional: bool = True) -> dict[str, Any]:
    return {"superTypes": [super_type], "name": name, "typeVersion": "1.0", "description": description,
            "attributeDefs": [_attribute(a, optional=optional) for a in attributes]}


def atlas_typedefs() -> dict[str, Any]:
    """The typedefs body: the article's ``model`` process and what it reads and writes.

    Each type extends Atlas's ``Process`` or ``DataSet`` and defines only attributes of its own:
    ``qualifiedName``, ``name``, ``description``, ``owner`` (``Referenceable``, ``Asset``) and
    ``inputs``/``outputs`` (``Process``) are inherited, never redefined (Atlas refuses overrides).

    - ``model_dataset`` (DataSet): a training dataset;
    - ``model_version`` (DataSet): a registered, signed package;
    - ``model_training`` (Process): datasets -> model version;
    - ``model`` (Process, one per deployment): model version -> ``model_endpoint``;
    - ``model_endpoint`` (DataSet): where a deployment serves.
    """
    entities = [
        _entity_def("model_dataset", "DataSet", DATASET_ATTRIBUTES, "A dataset a model version was trained on."),
        _entity_def("model_version", "DataSet", VERSION_ATTRIBUTES, "A registered, signed model package."),
        _entity_def("model_endpoint", "DataSet", ("deploy.host.type", "deploy.environment"),
                    "Where a model deployment serves."),
        _entity_def("model_training", "Process", ("model.name", "model.version"),
                    "The training of a model version from its datasets."),
        _entity_def("model", "Process", ATLAS_ATTRIBUTES, "One deployment of a model version.", optional=False),
    ]
    return {"enumDefs": [], "structDefs": [], "classificationDefs": [], "entityDefs": entities}


def _ref(type_name: str, qualified_name: str) -> dict[str, Any]:
    """An Atlas object id by unique attribute."""
    return {"typeName": type_name, "uniqueAttributes": {"qualifiedName": qualified_name}}


def _rows(session: Session) -> Iterator[tuple[s.Deployment, s.ModelVersion, s.Model]]:
    query = (select(s.Deployment, s.ModelVersion, s.Model)
             .join(s.ModelVersion, s.Deployment.version_id == s.ModelVersion.id).join(s.Model)
             .order_by(s.Deployment.deployed_at, s.Deployment.id))
    for row in session.execute(query):
        yield row[0], row[1], row[2]


def _version_name(version: s.ModelVersion, model: s.Model) -> str:
    return f"{model.qualified_name}@{version.version}"


def _dataset_name(dataset: s.Dataset) -> str:
    return f"dataset:{dataset.name}@{dataset.digest or dataset.uri or '-'}"


def _endpoint_name(dep: s.Deployment) -> str:
    return dep.endpoint_url or f"{dep.target}://{dep.environment or 'default'}/{dep.id}"


def _version_entities(version: s.ModelVersion, model: s.Model) -> list[dict[str, Any]]:
    """The version (a DataSet), its datasets, and the training process between them."""
    qualified = _version_name(version, model)
    datasets = [{"typeName": "model_dataset", "attributes": {
        "qualifiedName": _dataset_name(d), "name": d.name, "uri": d.uri, "digest": d.digest}}
        for d in version.datasets]
    values = (model.qualified_name, version.version, version.owner, version.line_of_business,
              version.artifact_uri, version.artifact_digest, version.signing_key_id)
    package = {"typeName": "model_version", "attributes": {
        "qualifiedName": qualified, "name": qualified, "owner": version.owner,
        **dict(zip(VERSION_ATTRIBUTES, values, strict=True))}}
    training = {"typeName": "model_training", "attributes": {
        "qualifiedName": f"training:{qualified}", "name": f"training of {qualified}",
        "model.name": model.qualified_name, "model.version": version.version,
        "inputs": [_ref("model_dataset", _dataset_name(d)) for d in version.datasets],
        "outputs": [_ref("model_version", qualified)]}}
    return [*datasets, package, training]


def _members(session: Session, version: s.ModelVersion) -> list[tuple[s.ModelVersion, s.Model]]:
    """The member versions of a graph's version (none for a plain model version)."""
    rows = session.scalars(select(s.GraphMember).where(s.GraphMember.graph_version_id == version.id)
                           .order_by(s.GraphMember.node)).all()
    return [(row.member, row.member.model) for row in rows]


def _atlas_entities(dep: s.Deployment, version: s.ModelVersion, model: s.Model,
                    members: list[tuple[s.ModelVersion, s.Model]]) -> list[dict[str, Any]]:
    """The deployment's ``model`` process (the article's entity) and the endpoint it serves on.

    A graph's deployment takes every member version as an input too.
    """
    host = dep.endpoint_url or dep.host_detail or dep.environment
    values = (utc(dep.deployed_at).strftime("%Y-%m-%d_%H:%M:%SUTC"), dep.target, host, version.artifact_uri,
              model.qualified_name, version.version, model.model_type, model.description, version.owner,
              version.line_of_business, version.registry_url or version.artifact_uri)
    name = f"{model.qualified_name} v{version.version}"
    endpoint = {"typeName": "model_endpoint", "attributes": {
        "qualifiedName": _endpoint_name(dep), "name": _endpoint_name(dep), "deploy.host.type": dep.target,
        "deploy.environment": dep.environment}}
    process = {"typeName": "model", "attributes": {
        "qualifiedName": f"{name}@{host}#{dep.id}".replace(" ", "-"), "name": name, "owner": version.owner,
        "inputs": [_ref("model_version", _version_name(version, model)),
                   *(_ref("model_version", _version_name(v, m)) for v, m in members)],
        "outputs": [_ref("model_endpoint", _endpoint_name(dep))],
        **dict(zip(ATLAS_ATTRIBUTES, values, strict=True))}}
    return [endpoint, process]


def atlas_entities(catalog: Catalog) -> dict[str, Any]:
    """The ``/v2/entity/bulk`` body: every version with its datasets and training, every deployment.

    Processes name their inputs and outputs by Atlas object id (``typeName`` + unique
    ``qualifiedName``); each referenced entity is in the same body, before the processes that use it.
    """
    with catalog.read() as session:
        versions = session.execute(select(s.ModelVersion, s.Model).join(s.Model)
                                   .order_by(s.ModelVersion.created_at, s.ModelVersion.id)).all()
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for version, model in versions:
            _add(found, _version_entities(version, model))
        for dep, version, model in _rows(session):
            _add(found, _atlas_entities(dep, version, model, _members(session, version)))
        return {"entities": list(found.values())}


def _add(found: dict[tuple[str, str], dict[str, Any]], entities: list[dict[str, Any]]) -> None:
    """Each entity once (a dataset shared by versions, an endpoint reused by deployments)."""
    for entity in entities:
        found.setdefault((entity["typeName"], entity["attributes"]["qualifiedName"]), entity)


def atlas_export(catalog: Catalog) -> dict[str, Any]:
    """Both Atlas bodies in one document: ``{"typedefs": ..., "entities": ...}``."""
    return {"typedefs": atlas_typedefs(), "entities": atlas_entities(catalog)}


def push_atlas(catalog: Catalog, *, url: str, username: str, password: str, timeout: float = 30.0) -> int:
    """POST the typedefs, then the entities, to the Atlas server at ``url``; return the entity count."""
    document = atlas_export(catalog)
    base = url.rstrip("/")
    with httpx.Client(auth=(username, password), timeout=timeout) as client:
        _post(client, f"{base}/api/atlas/v2/types/typedefs", document["typedefs"])
        _post(client, f"{base}/api/atlas/v2/entity/bulk", document["entities"])
    return len(document["entities"]["entities"])


def _post(client: httpx.Client, url: str, body: dict[str, Any]) -> None:
    try:
        answer = client.post(url, json=body)
    except httpx.HTTPError as exc:
        raise CatalogError(f"cannot reach Atlas at {url}: {exc}") from exc
    if answer.status_code == 401:
        raise CatalogError(f"Atlas at {url} refused the credentials (401)")
    if answer.status_code >= 400:
        raise CatalogError(f"Atlas at {url} answered {answer.status_code}: {answer.text[:200]}")


def _dataset(namespace: str, name: str, digest: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {"namespace": namespace or NAMESPACE, "name": name}
    if digest:
        found["facets"] = {"version": {"_producer": PRODUCER, "datasetVersion": digest,
                                       "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/"
                                                     "DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet"}}
    return found


def _split(uri: str, fallback: str) -> tuple[str, str]:
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return NAMESPACE, uri or fallback
    host, _, path = rest.partition("/")
    return f"{scheme}://{host}", "/" + path if path else fallback


def _event(kind: str, run_key: str, at: datetime, job: str, inputs: list[dict[str, Any]],
           outputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"eventType": kind, "eventTime": utc(at).isoformat(), "producer": PRODUCER,
            "schemaURL": OPENLINEAGE_SCHEMA, "run": {"runId": str(uuid.uuid5(RUN_IDS, run_key))},
            "job": {"namespace": NAMESPACE, "name": job}, "inputs": inputs, "outputs": outputs}


def _artifact(version: s.ModelVersion, model: s.Model) -> dict[str, Any]:
    namespace, name = _split(version.artifact_uri, f"{model.qualified_name}@{version.version}")
    return _dataset(namespace, name, version.artifact_digest)


def _registration(version: s.ModelVersion, model: s.Model) -> dict[str, Any]:
    inputs = [_dataset(*_split(d.uri, d.name), d.digest) for d in version.datasets]
    return _event("COMPLETE", f"register:{model.qualified_name}@{version.version}", version.created_at,
                  f"register.{model.qualified_name}", inputs, [_artifact(version, model)])


def _deployment(dep: s.Deployment, version: s.ModelVersion, model: s.Model,
                members: list[tuple[s.ModelVersion, s.Model]]) -> dict[str, Any]:
    """Artifact (and, for a graph, every member's artifact) -> endpoint."""
    kind = "FAIL" if dep.status == "failed" else "START" if dep.status == "pending" else "COMPLETE"
    target = _dataset(*_split(dep.endpoint_url or f"{dep.target}://{dep.environment or 'default'}",
                              f"deployment/{dep.id}"))
    inputs = [_artifact(version, model), *(_artifact(v, m) for v, m in members)]
    return _event(kind, f"deploy:{dep.id}", dep.deployed_at, f"deploy.{model.qualified_name}", inputs, [target])


def openlineage_events(catalog: Catalog) -> list[dict[str, Any]]:
    """One run event per registered version (datasets -> artifact) and per deployment (artifact -> endpoint)."""
    with catalog.read() as session:
        versions = session.execute(select(s.ModelVersion, s.Model).join(s.Model)
                                   .order_by(s.ModelVersion.created_at, s.ModelVersion.id))
        found = [_registration(row[0], row[1]) for row in versions]
        found += [_deployment(dep, version, model, _members(session, version)) for dep, version, model in
                  _rows(session)]
        return found
