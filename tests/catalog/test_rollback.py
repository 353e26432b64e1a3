"""Rolling a running deployment back to the version that ran before it, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from modelward import catalog as c
from modelward.errors import AuditChainBroken, CatalogError, Conflict, NotFound
from tests.catalog.conftest import model_info, version_info

ICM = "insurance_charges_model"


def _deploy(catalog: c.Catalog, version: str, **overrides: object) -> c.DeploymentView:
    fields: dict[str, object] = {"model": ICM, "version": version, "target": "kubernetes", "environment": "production",
                                 "host_detail": f"cluster-a/{version}", "endpoint_url": f"http://icm-{version}/api",
                                 "replicas": 2, "config_digest": f"sha256:config-{version}",
                                 "policy_package": "insurance", "policy_bundle_digest": f"sha256:policy-{version}"}
    return c.record_deployment(catalog, info=c.DeploymentInfo(**(fields | overrides)), actor="ci")  # type: ignore[arg-type]


def _versions(catalog: c.Catalog, *numbers: str) -> None:
    for index, number in enumerate(numbers):
        c.register_version(catalog, model=model_info(), version=version_info(number, f"sha256:{index}"), actor="ci")


def _status(catalog: c.Catalog, ident: str) -> str:
    return c.get_deployment(catalog, deployment_id=ident).status


def test_rollback_restores_the_previous_version_and_keeps_every_record(catalog: c.Catalog) -> None:
    _versions(catalog, "1.0.0", "1.1.0")
    old = _deploy(catalog, "1.0.0")
    new = _deploy(catalog, "1.1.0", replaces=old.id, replicas=5)
    assert c.rollback_target(catalog, deployment_id=new.id) == c.get_deployment(catalog, deployment_id=old.id)
    done = c.rollback_deployment(catalog, deployment_id=new.id, actor="ops", reason="latency doubled")
    current = done.deployment
    assert (current.model, current.version, current.status) == (ICM, "1.0.0", "running")
    assert current.replaced_id == new.id and current.deployed_by == "ops"
    # the place is the rolled-back deployment's; the configuration is what ran with 1.0.0
    assert (current.target, current.environment, current.replicas) == ("kubernetes", "production", 5)
    assert (current.host_detail, current.endpoint_url) == (new.host_detail, new.endpoint_url)
    assert (current.config_digest, current.policy_bundle_digest) == ("sha256:config-1.0.0", "sha256:policy-1.0.0")
    assert current.reason.startswith(f"rollback of {new.id} ({ICM}@1.1.0) to {ICM}@1.0.0") and \
        current.reason.endswith(": latency doubled")
    assert done.rolled_back.id == new.id and done.rolled_back.status == "rolled_back"
    assert done.restored.id == old.id
    assert _status(catalog, new.id) == "rolled_back" and _status(catalog, old.id) == "replaced"
    page = c.list_deployments(catalog, model=ICM)
    assert page.total == 3 and page.deployments[0].id == current.id  # history kept, newest first
    assert [d.id for d in c.list_deployments(catalog, model=ICM, status="running").deployments] == [current.id]
    assert c.list_deployments(catalog, model=ICM, status="rolled_back").total == 1


def test_rollback_is_in_the_audit_trail_and_the_chain_verifies(catalog: c.Catalog) -> None:
    _versions(catalog, "1.0.0", "1.1.0")
    old = _deploy(catalog, "1.0.0")
    new = _deploy(catalog, "1.1.0", replaces=old.id)
    before = c.verify_audit(catalog).events
    done = c.rollback_deployment(catalog, deployment_id=new.id, actor="token:ab12 (ops)")
    rollback, record = c.audit_events(catalog, limit=2)
    assert (rollback.action, rollback.entity, rollback.actor) == ("deployment.rollback", f"deployment:{new.id}",
                                                                  "token:ab12 (ops)")
    assert rollback.before == {"status": "running", "reason": "", "model": f"{ICM}@1.1.0"}
    assert rollback.after is not None and rollback.after["status"] == "rolled_back"
    assert rollback.after["deployment"] == done.deployment.id and rollback.after["restores"] == old.id
    assert (record.action, record.entity) == ("deployment.record", f"deployment:{done.deployment.id}")
    assert record.after is not None and record.after["model"] == f"{ICM}@1.0.0"
    assert record.after["replaced_id"] == new.id and record.after["rollback_of"] == new.id
    assert c.verify_audit(catalog).events == before + 2
    engine = sa.create_engine(str(catalog.engine.url.render_as_string(hide_password=False)))
    with engine.begin() as conn:  # the rollback's events are chained like every other
        conn.execute(sa.text("UPDATE audit_events SET actor = 'mallory' WHERE action = 'deployment.rollback'"))
    engine.dispose()
    with pytest.raises(AuditChainBroken, match=r"deployment\.rollback"):
        c.verify_audit(catalog)


def test_a_second_rollback_goes_further_back_never_to_the_bad_version(catalog: c.Catalog) -> None:
    _versions(catalog, "1.0.0", "1.1.0", "1.2.0")
    first = _deploy(catalog, "1.0.0")
    second = _deploy(catalog, "1.1.0", replaces=first.id)
    rescaled = _deploy(catalog, "1.1.0", replaces=second.id, replicas=4)  # same version: not a rollback target
    third = _deploy(catalog, "1.2.0", replaces=rescaled.id)
    back = c.rollback_deployment(catalog, deployment_id=third.id, actor="ops").deployment
    assert back.version == "1.1.0" and c.rollback_target(catalog, deployment_id=back.id) is not None
    again = c.rollback_deployment(catalog, deployment_id=back.id, actor="ops")
    assert again.deployment.version == "1.0.0" and again.restored.id == first.id  # 1.2.0 was rolled back: skipped
    assert c.rollback_target(catalog, deployment_id=again.deployment.id) is None
    with pytest.raises(Conflict, match="nothing to roll back to"):
        c.rollback_deployment(catalog, deployment_id=again.deployment.id, actor="ops")


def test_refusals_name_the_deployment_and_change_nothing(catalog: c.Catalog) -> None:
    _versions(catalog, "1.0.0", "1.1.0")
    lone = _deploy(catalog, "1.0.0")
    failed = _deploy(catalog, "1.1.0", replaces=lone.id, status="failed", reason="known case 3")
    events = c.verify_audit(catalog).events
    with pytest.raises(Conflict, match=rf"'{lone.id}' \({ICM}@1.0.0\) has nothing to roll back to"):
        c.rollback_deployment(catalog, deployment_id=lone.id, actor="ops")
    with pytest.raises(Conflict, match=rf"'{failed.id}' is 'failed' \(known case 3\), not running"):
        c.rollback_deployment(catalog, deployment_id=failed.id, actor="ops")
    with pytest.raises(NotFound, match="deployment 'nope' is not in the catalog"):
        c.rollback_deployment(catalog, deployment_id="nope", actor="ops")
    with pytest.raises(NotFound):
        c.rollback_target(catalog, deployment_id="nope")
    attempt = c.record_failed_attempt(catalog, info=c.AttemptInfo(
        model=ICM, version="9", target="local", step="verify", reason="unknown key"), actor="ci")
    with pytest.raises(Conflict, match="failed attempt"):
        c.rollback_deployment(catalog, deployment_id=attempt.id, actor="ops")
    new = _deploy(catalog, "1.1.0", replaces=lone.id)
    with pytest.raises(CatalogError, match="at most 1000 characters"):
        c.rollback_deployment(catalog, deployment_id=new.id, actor="ops", reason="x" * 1001)
    assert c.verify_audit(catalog).events == events + 3  # the attempt, the new deployment, the replaced one
    assert _status(catalog, new.id) == "running" and c.rollback_target(catalog, deployment_id=lone.id) is None
    c.rollback_deployment(catalog, deployment_id=new.id, actor="ops")
    with pytest.raises(Conflict, match=r"is 'rolled_back'.*not running"):
        c.rollback_deployment(catalog, deployment_id=new.id, actor="ops")


def test_a_rollback_done_by_redeploying_is_recorded_the_same_way(catalog: c.Catalog) -> None:
    _versions(catalog, "1.0.0", "1.1.0")
    old = _deploy(catalog, "1.0.0")
    bad = _deploy(catalog, "1.1.0", replaces=old.id)
    other = _deploy(catalog, "1.0.0", environment="staging")
    with pytest.raises(Conflict, match="does not replace"):
        c.record_rolled_back(catalog, deployment_id=bad.id, by=other.id, actor="ops")
    with pytest.raises(NotFound, match="'nope'"):
        c.record_rolled_back(catalog, deployment_id=bad.id, by="nope", actor="ops")
    redeployed = _deploy(catalog, "1.0.0", replaces=bad.id)  # what `modelward rollback` records
    assert _status(catalog, bad.id) == "replaced"
    view = c.record_rolled_back(catalog, deployment_id=bad.id, by=redeployed.id, actor="ops")
    assert view.status == "rolled_back" and view.reason == f"rolled back by {redeployed.id} to {ICM}@1.0.0"
    events = c.verify_audit(catalog).events
    assert c.record_rolled_back(catalog, deployment_id=bad.id, by=redeployed.id, actor="ops") == view
    assert c.verify_audit(catalog).events == events  # once only
    newest = c.audit_events(catalog, limit=1)[0]
    assert (newest.action, newest.before) == ("deployment.rollback", {"status": "replaced", "reason":
                                                                      f"replaced by {redeployed.id}",
                                                                      "model": f"{ICM}@1.1.0"})
    assert c.rollback_target(catalog, deployment_id=redeployed.id) is None  # 1.1.0 is never restored
