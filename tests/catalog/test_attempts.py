"""Failed attempts of versions that were never registered: recorded, audited, listed with failures."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import sessionmaker

from modelward import catalog as c
from modelward.catalog.db import engine_for
from modelward.cli.main import main
from modelward.errors import Conflict, NotFound
from tests.catalog.conftest import model_info, version_info


def _attempt(catalog: c.Catalog, **overrides: object) -> c.DeploymentView:
    fields: dict[str, object] = {"model": "insurance_charges_model", "version": "2.0.0",
                                 "source_uri": "file:///pkgs/icm-2.0.0.zip", "target": "local",
                                 "environment": "staging", "step": "verify",
                                 "reason": "verify failed: weights.json differs from the manifest"}
    return c.record_failed_attempt(catalog, info=c.AttemptInfo(**(fields | overrides)), actor="ci")  # type: ignore[arg-type]


def test_attempt_is_recorded_audited_and_found(catalog: c.Catalog) -> None:
    view = _attempt(catalog)
    assert (view.status, view.failed_step, view.version_registered) == ("failed", "verify", False)
    assert c.get_deployment(catalog, deployment_id=view.id).reason.endswith("differs from the manifest")
    event = c.audit_events(catalog, entity=f"deployment:{view.id}")[0]
    assert event.action == "deployment.attempt_failed" and event.after is not None
    assert event.after["source_uri"] == "file:///pkgs/icm-2.0.0.zip" and event.after["step"] == "verify"
    assert c.verify_audit(catalog).events == 1
    with pytest.raises(Conflict, match="already recorded"):
        _attempt(catalog, attempt_id=view.id)


def test_failed_listing_merges_attempts_and_failed_deployments(catalog: c.Catalog) -> None:
    c.register_version(catalog, model=model_info(), version=version_info(), actor="alice")
    running = c.record_deployment(catalog, info=c.DeploymentInfo(
        model="insurance_charges_model", version="1.2.0", target="local",
        deployed_at=datetime(2026, 1, 1, tzinfo=UTC)), actor="ci")
    failed = c.record_deployment(catalog, info=c.DeploymentInfo(
        model="insurance_charges_model", version="1.2.0", target="local", status="failed",
        reason="validate failed: case 2", deployed_at=datetime(2026, 2, 1, tzinfo=UTC)), actor="ci")
    attempt = _attempt(catalog, attempted_at=datetime(2026, 3, 1, tzinfo=UTC))
    every = c.list_deployments(catalog, model="insurance_charges_model")
    assert [d.id for d in every.deployments] == [attempt.id, failed.id, running.id] and every.total == 3
    only_failed = c.list_deployments(catalog, status="failed")
    assert [d.id for d in only_failed.deployments] == [attempt.id, failed.id] and only_failed.total == 2
    assert c.list_deployments(catalog, status="running").total == 1
    second = c.list_deployments(catalog, status="failed", limit=1, offset=1)
    assert [d.id for d in second.deployments] == [failed.id] and second.total == 2
    assert c.list_deployments(catalog, since=datetime(2026, 2, 15)).total == 1
    assert c.list_deployments(catalog, environment="production").total == 0


def test_an_unregistered_model_is_listed_by_its_attempts(catalog: c.Catalog) -> None:
    _attempt(catalog, model="never_registered", version="")
    page = c.list_deployments(catalog, model="never_registered")
    assert page.total == 1 and page.deployments[0].version == ""
    with pytest.raises(NotFound, match="no model 'other'"):
        c.list_deployments(catalog, model="other")


def test_cli_shows_failed_attempts_with_their_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'cat.db'}"
    monkeypatch.setenv("MODELWARD_CATALOG_URL", url)
    catalog = c.open_catalog(url, migrate=True)
    c.register_version(catalog, model=model_info(), version=version_info(), actor="alice")
    c.record_deployment(catalog, info=c.DeploymentInfo(model="insurance_charges_model", version="1.2.0",
                                                       target="local"), actor="ci")
    _attempt(catalog)
    assert main(["catalog", "deployments", "--status", "failed"]) == 0
    shown = capsys.readouterr().out
    assert "insurance_charges_model@2.0.0  failed" in shown and "(version not registered)" in shown
    assert "step verify  reason: verify failed: weights.json differs from the manifest" in shown
    assert "1 of 1 deployments" in shown
    assert main(["catalog", "deployments"]) == 0
    assert "2 of 2 deployments" in capsys.readouterr().out
    catalog.dispose()


def test_a_revision_0001_catalog_upgrades_and_its_deployments_feed_search(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = engine_for(url)
    old = c.Catalog(engine, sessionmaker(engine), sessionmaker(engine))
    assert c.upgrade(old, "0001") == "0001"
    moment = "'2026-01-01 00:00:00.000000'"
    with old.engine.begin() as conn:  # rows as revision 0001 wrote them (no summary, no triggers)
        conn.exec_driver_sql(
            "INSERT INTO models (id, qualified_name, display_name, description, model_type, owner, line_of_business,"
            f" project, tags, readme, created_at, updated_at) VALUES (1, 'icm', '', 'insurance charges', '', '', '',"
            f" '', '[]', '', {moment}, {moment})")
        conn.exec_driver_sql(
            "INSERT INTO model_versions (id, model_id, version, artifact_uri, artifact_digest, manifest,"
            " manifest_digest, signing_key_id, code_repository, code_commit, metrics, registry_url, stage,"
            f" created_by, created_at) VALUES (1, 1, '1.0.0', '', 'sha256:aa', '{{}}', '', '', '', '', '{{}}', '',"
            f" 'registered', 'alice', {moment})")
        conn.exec_driver_sql(
            "INSERT INTO deployments (id, version_id, target, host_detail, endpoint_url, environment, replicas,"
            " deployed_by, deployed_at, status, reason, config_digest, policy_package, policy_bundle_digest,"
            f" updated_at) VALUES ('d1', 1, 'seldon', '', '', 'prod', 1, 'ci', {moment}, 'running', '', '', '',"
            f" '', {moment})")
    old.dispose()
    upgraded = c.open_catalog(url, migrate=True)
    assert c.current_revision(upgraded) == c.head_revision()
    found = c.search(upgraded, query=c.SearchQuery(text="insurance", environment="prod", target="seldon"))
    assert [(h.model, h.version) for h in found.hits] == [("icm", "1.0.0")]
    assert c.search(upgraded, query=c.SearchQuery(environment="dev")).total == 0
    c.register_version(upgraded, model=model_info(), version=version_info(), actor="alice")
    c.record_deployment(upgraded, info=c.DeploymentInfo(model="insurance_charges_model", version="1.2.0",
                                                        target="local", environment="dev"), actor="ci")
    assert c.search(upgraded, query=c.SearchQuery(environment="dev")).total == 1
    assert c.verify_audit(upgraded).events == 3
    upgraded.dispose()
