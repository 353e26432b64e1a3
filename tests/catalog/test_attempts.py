"""Failed attempts of versions that were never registered: recorded, audited, listed with failures."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from modelward import catalog as c
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
