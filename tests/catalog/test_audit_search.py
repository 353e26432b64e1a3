"""The audit chain detects edits and deletions; search ranks and filters; tokens authenticate."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from modelward import catalog as c
from modelward.errors import AuditChainBroken, Forbidden, Unauthorized
from tests.catalog.conftest import model_info, version_info


def _fill(catalog: c.Catalog) -> None:
    c.register_version(catalog, model=model_info(), version=version_info(), actor="alice")
    c.register_version(catalog, model=model_info(), version=version_info("1.3.0", "sha256:cc"), actor="alice")
    c.register_version(catalog, model=model_info(
        "fraud_detector", display_name="Fraud detector", description="Flags fraudulent card payments",
        owner="ana", line_of_business="cards",
        model_type="classifier", tags=("fraud",), readme="Uses gradient boosting on card transactions"),
        version=version_info("0.1.0", "sha256:ff"), actor="ana")
    c.record_deployment(catalog, info=c.DeploymentInfo(model="fraud_detector", version="0.1.0", target="kserve",
                                                       environment="production"), actor="ci")


def _sql(catalog: c.Catalog, statement: str) -> None:
    with catalog.engine.begin() as conn:
        conn.execute(sa.text(statement))


def test_intact_chain_verifies(catalog: c.Catalog) -> None:
    _fill(catalog)
    report = c.verify_audit(catalog)
    assert report.events == len(c.audit_events(catalog)) == 6


@pytest.mark.parametrize(("tamper", "message"), [
    ("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3", "audit event 3 .* was altered"),
    ("DELETE FROM audit_events WHERE seq = 2", "audit event 2 is missing"),
    ("DELETE FROM audit_events WHERE seq = 6", "audit event 6 is missing"),
])
def test_edited_or_deleted_event_is_named(catalog: c.Catalog, tamper: str, message: str) -> None:
    _fill(catalog)
    _sql(catalog, tamper)
    with pytest.raises(AuditChainBroken, match=message):
        c.verify_audit(catalog)


def test_search_ranks_text_and_filters(catalog: c.Catalog) -> None:
    _fill(catalog)
    page = c.search(catalog, query=c.SearchQuery(text="insurance"))
    assert page.total == 2 and {h.version for h in page.hits} == {"1.2.0", "1.3.0"}
    boosting = c.search(catalog, query=c.SearchQuery(text="boosting"))  # in one README; model types are filters
    assert {h.model for h in boosting.hits} == {"fraud_detector"}
    assert c.search(catalog, query=c.SearchQuery(text="card", environment="production",
                                                 target="kserve")).hits[0].model == "fraud_detector"
    assert c.search(catalog, query=c.SearchQuery(text="insurance", environment="production")).total == 0
    assert c.search(catalog, query=c.SearchQuery(owner="ana", tags=("fraud",))).total == 1
    assert c.search(catalog, query=c.SearchQuery(line_of_business="pricing", stage="registered")).total == 2
    later = c.search(catalog, query=c.SearchQuery(registered_since=datetime(2100, 1, 1, tzinfo=UTC)))
    assert later.total == 0
    second = c.search(catalog, query=c.SearchQuery(per_page=2, page=2))
    assert second.total == 3 and len(second.hits) == 1
    assert c.search(catalog, query=c.SearchQuery(text="insur YEARLY")).total == 2  # prefix, every word


def test_tokens_roles_and_revocation(catalog: c.Catalog) -> None:
    plain, view = c.create_token(catalog, role="publisher", name="ci", actor="admin")
    found = c.authenticate(catalog, token=plain)
    assert found.id == view.id and c.allowed(found.role, c.Action.PUBLISH)
    with pytest.raises(Forbidden, match="may not deploy"):
        c.ensure_allowed(found, c.Action.DEPLOY)
    with pytest.raises(Unauthorized, match="not valid"):
        c.authenticate(catalog, token=plain + "x")
    c.revoke_token(catalog, token_id=view.id, actor="admin")
    with pytest.raises(Unauthorized, match="revoked"):
        c.authenticate(catalog, token=plain)
    with catalog.read() as session:
        stored = session.execute(sa.text("SELECT token_hash FROM api_tokens")).scalar_one()
    assert plain not in stored and len(stored) == 64
