"""Registration, deployments, stages, the five questions and lineage, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from modelward import catalog as c
from modelward.errors import CatalogError, Conflict, NotFound
from tests.catalog.conftest import model_info, version_info


def _deploy(catalog: c.Catalog, **overrides: object) -> c.DeploymentView:
    fields: dict[str, object] = {"model": "insurance_charges_model", "version": "1.2.0", "target": "kubernetes",
                                 "environment": "production", "endpoint_url": "http://icm.prod/api"}
    return c.record_deployment(catalog, info=c.DeploymentInfo(**(fields | overrides)), actor="ci")  # type: ignore[arg-type]


def test_register_same_bytes_is_a_no_op_other_bytes_conflict(catalog: c.Catalog) -> None:
    view, created = c.register_version(catalog, model=model_info(), version=version_info(), actor="alice")
    assert created and view.stage == "registered" and view.owner == "greg"
    again, created_again = c.register_version(catalog, model=model_info(), version=version_info(), actor="alice")
    assert not created_again and again.artifact_digest == "sha256:aaaa"
    with pytest.raises(Conflict, match=r"sha256:aaaa.*sha256:bbbb"):
        c.register_version(catalog, model=model_info(), version=version_info(digest="sha256:bbbb"), actor="x")
    assert [e.action for e in c.audit_events(catalog)] == ["version.register", "model.create"]


def test_show_answers_what_which_object_who_and_where(catalog: c.Catalog) -> None:
    c.register_version(catalog, model=model_info(), version=version_info(), actor="alice")
    first = _deploy(catalog, target="local", environment="staging")
    view = c.get_version(catalog, name="insurance_charges_model", version="1.2.0")
    assert (view.artifact_uri, view.artifact_digest, view.signing_key_id) == (
        "s3://models/icm-1.2.0.zip", "sha256:aaaa", "key-2026")
    assert (view.owner, view.line_of_business, view.project) == ("greg", "pricing", "charges")
    assert [d.name for d in view.datasets] == ["charges"] and view.code_commit == "abc123"
    assert [d.id for d in view.deployments] == [first.id]


def test_replacement_failed_attempts_and_stage_changes(catalog: c.Catalog) -> None:
    c.register_version(catalog, model=model_info(), version=version_info(), actor="alice")
    old = _deploy(catalog)
    failed = _deploy(catalog, status="failed", reason="known case 3 did not match", replaces=old.id)
    assert c.get_deployment(catalog, deployment_id=old.id).status == "running"
    new = _deploy(catalog, status="pending", replaces=old.id)
    c.update_deployment(catalog, deployment_id=new.id, status="running", actor="ci")
    assert c.get_deployment(catalog, deployment_id=old.id).status == "replaced"
    assert c.get_deployment(catalog, deployment_id=failed.id).reason == "known case 3 did not match"
    c.set_stage(catalog, model="insurance_charges_model", version="1.2.0", stage="production", actor="ci")
    assert c.get_version(catalog, name="insurance_charges_model", version="1.2.0").stage == "production"
    with pytest.raises(NotFound, match="deployment 'nope'"):
        _deploy(catalog, replaces="nope")
    with pytest.raises(Conflict, match="already recorded"):
        _deploy(catalog, deployment_id=old.id)
    with pytest.raises(ValueError, match="'launched' is not a valid Stage"):
        c.set_stage(catalog, model="insurance_charges_model", version="1.2.0", stage="launched", actor="ci")


def test_deployments_by_model_and_date(catalog: c.Catalog) -> None:
    c.register_version(catalog, model=model_info(), version=version_info(), actor="alice")
    long_ago = datetime(2025, 6, 1, tzinfo=UTC)
    _deploy(catalog, deployed_at=long_ago, environment="staging")
    recent = _deploy(catalog)
    page = c.list_deployments(catalog, model="insurance_charges_model", since=datetime(2026, 1, 1))
    assert page.total == 1 and page.deployments[0].id == recent.id
    assert c.list_deployments(catalog, environment="staging").total == 1
    assert c.list_deployments(catalog, until=long_ago + timedelta(days=1)).total == 1
    with pytest.raises(NotFound, match="no model 'other'"):
        c.list_deployments(catalog, model="other")


def test_lineage_links_datasets_version_and_deployments(catalog: c.Catalog) -> None:
    c.register_version(catalog, model=model_info(), version=version_info(), actor="alice")
    old = _deploy(catalog)
    new = _deploy(catalog, replaces=old.id)
    graph = c.lineage(catalog, name="insurance_charges_model", version="1.2.0")
    edges = {(e["from"], e["to"], e["kind"]) for e in graph.edges()}
    node = "model_version:insurance_charges_model@1.2.0"
    assert ("dataset:charges@sha256:dddd", node, "trained") in edges
    assert (node, f"deployment:{new.id}", "deployed") in edges
    assert (f"deployment:{old.id}", f"deployment:{new.id}", "replaced_by") in edges
    assert [v.version for v in c.versions_of_dataset(catalog, name="charges")] == ["1.2.0"]


def test_bad_input_and_unknown_names(catalog: c.Catalog) -> None:
    with pytest.raises(ValidationError, match="qualified_name"):
        model_info(name="bad name!")
    c.register_version(catalog, model=model_info(), version=version_info(), actor="a")
    with pytest.raises(NotFound, match=r"has no version '9\.9'"):
        c.get_version(catalog, name="insurance_charges_model", version="9.9")
    with pytest.raises(CatalogError, match="NAME@VERSION"):
        c.parse_ref("no-version")


def test_uninitialised_catalog_names_the_upgrade_command(tmp_path: object) -> None:
    with pytest.raises(CatalogError, match="modelward catalog upgrade"):
        c.open_catalog(f"sqlite:///{tmp_path}/empty.db")
