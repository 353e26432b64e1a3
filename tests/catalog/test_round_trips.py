"""How many statements a write sends, and that folding lookups into them kept the errors and their order."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from modelward import catalog as c
from modelward.errors import Conflict, NotFound
from tests.catalog.conftest import model_info, version_info


@contextmanager
def _statements(catalog: c.Catalog) -> Iterator[list[str]]:
    sent: list[str] = []

    def _note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    sa.event.listen(catalog.engine, "before_cursor_execute", _note)
    try:
        yield sent
    finally:
        sa.event.remove(catalog.engine, "before_cursor_execute", _note)


def _info(**overrides: object) -> c.DeploymentInfo:
    fields: dict[str, object] = {"model": "insurance_charges_model", "version": "1.2.0", "target": "kubernetes",
                                 "environment": "production"}
    return c.DeploymentInfo(**(fields | overrides))


def test_record_deployment_sends_lock_insert_and_audit_insert_only(catalog: c.Catalog) -> None:
    c.register_version(catalog, model=model_info(), version=version_info(), actor="alice")
    with _statements(catalog) as sent:
        view = c.record_deployment(catalog, info=_info(deployment_id="d1"), actor="ci")
    # PostgreSQL: the lock with the audit head, INSERT ... SELECT, the audit insert (BEGIN and COMMIT
    # are the driver's); SQLite: BEGIN IMMEDIATE, the head read, the same two inserts
    expected = 3 if catalog.dialect == "postgresql" else 4
    assert len(sent) == expected, "\n".join(s[:150] for s in sent)
    assert view.id == "d1" and c.get_deployment(catalog, deployment_id="d1").model == "insurance_charges_model"
    assert c.verify_audit(catalog).events == 3


def test_update_deployment_loads_its_version_in_the_same_statement(catalog: c.Catalog) -> None:
    c.register_version(catalog, model=model_info(), version=version_info(), actor="alice")
    c.record_deployment(catalog, info=_info(deployment_id="d1", status="pending"), actor="ci")
    with _statements(catalog) as sent:
        view = c.update_deployment(catalog, deployment_id="d1", status="running", actor="ci")
    assert (view.model, view.version, view.status) == ("insurance_charges_model", "1.2.0", "running")
    assert len(sent) == (4 if catalog.dialect == "postgresql" else 5), sent
    assert c.verify_audit(catalog).events == 4


def test_errors_keep_their_order_when_several_apply(catalog: c.Catalog) -> None:
    c.register_version(catalog, model=model_info(), version=version_info(), actor="alice")
    c.record_deployment(catalog, info=_info(deployment_id="d1"), actor="ci")
    with pytest.raises(NotFound, match="no model 'nope'"):
        c.record_deployment(catalog, info=_info(model="nope", deployment_id="d1", replaces="gone"), actor="ci")
    with pytest.raises(NotFound, match=r"has no version '9\.9'"):
        c.record_deployment(catalog, info=_info(version="9.9", deployment_id="d1"), actor="ci")
    with pytest.raises(Conflict, match="'d1' is already recorded"):
        c.record_deployment(catalog, info=_info(deployment_id="d1", replaces="gone"), actor="ci")
    with pytest.raises(NotFound, match="'gone' \\(the one this replaces\\)"):
        c.record_deployment(catalog, info=_info(deployment_id="d2", replaces="gone"), actor="ci")
    assert c.verify_audit(catalog).events == 3 and c.list_deployments(catalog).total == 1


def test_a_recorded_deployment_is_the_same_row_that_reads_return(catalog: c.Catalog) -> None:
    c.register_version(catalog, model=model_info(), version=version_info(), actor="alice")
    old = c.record_deployment(catalog, info=_info(status="running"), actor="ci")
    new = c.record_deployment(catalog, info=_info(status="running", replaces=old.id, replicas=3,
                                                  host_detail="cluster-a"), actor="ci")
    assert c.get_deployment(catalog, deployment_id=new.id) == new
    assert c.get_deployment(catalog, deployment_id=old.id).status == "replaced"
    assert c.verify_audit(catalog).events == 5
