"""The catalog facade: one rule for who may do what, shared by the REST API and the console."""

from __future__ import annotations

import pytest

from modelward import catalog as c
from modelward.errors import Forbidden, Unauthorized, ValidationFailed
from modelward.services.catalog_facade import ANONYMOUS, CatalogFacade, actor_of
from tests.catalog.conftest import catalog, catalog_url, model_info, pg_database, sqlite_template, version_info

__all__ = ["catalog", "catalog_url", "pg_database", "sqlite_template"]  # the fixtures, imported


def test_open_reads_need_no_token_and_writes_need_the_right_role(catalog: c.Catalog) -> None:
    facade = CatalogFacade(catalog, read_open=True)
    reader, _ = c.create_token(catalog, role="reader", name="r", actor="t")
    deployer, _ = c.create_token(catalog, role="deployer", name="d", actor="t")
    assert facade.principal(None, c.Action.READ) is ANONYMOUS
    with pytest.raises(Unauthorized, match="needs a bearer token allowed to publish"):
        facade.principal(None, c.Action.PUBLISH)
    with pytest.raises(Forbidden, match="may not publish"):
        facade.principal(deployer, c.Action.PUBLISH)
    who = facade.login(reader)
    assert who.actor.startswith("token:") and who.actor.endswith("(r)") and who.may(c.Action.READ)
    assert not who.may(c.Action.DEPLOY) and not ANONYMOUS.may(c.Action.READ)
    with pytest.raises(Unauthorized, match="log in"):
        facade.register(ANONYMOUS, model_info(), version_info())
    closed = CatalogFacade(catalog, read_open=False)
    with pytest.raises(Unauthorized):
        closed.search(ANONYMOUS, c.SearchQuery())
    assert closed.search(who, c.SearchQuery()).total == 0


def test_a_session_resumes_by_digest_until_the_token_is_revoked(catalog: c.Catalog) -> None:
    facade = CatalogFacade(catalog, read_open=True)
    plain, view = c.create_token(catalog, role="admin", name="a", actor="t")
    who = facade.resume(view.id, c.token_digest(plain))
    assert who.actor == actor_of(view) and who.role == c.Role.ADMIN
    with pytest.raises(Unauthorized, match="does not match"):
        facade.resume("other", c.token_digest(plain))
    facade.revoke_token(who, view.id)
    with pytest.raises(Unauthorized, match="revoked"):
        facade.resume(view.id, c.token_digest(plain))


def test_promote_moves_only_validated_versions_and_records_the_actor(catalog: c.Catalog) -> None:
    facade = CatalogFacade(catalog, read_open=True)
    plain, _ = c.create_token(catalog, role="deployer", name="ops", actor="t")
    who = facade.login(plain)
    c.register_version(catalog, model=model_info(), version=version_info(), actor="alice")
    name = model_info().qualified_name
    with pytest.raises(ValidationFailed, match="not validated"):
        facade.promote(who, name, "1.2.0", "production")
    facade.set_stage(who, name, "1.2.0", "validated")  # the REST route's rule: any stage
    assert facade.promote(who, name, "1.2.0", "production").stage == "production"
    newest = facade.audit(who, limit=1)[0]
    assert newest.action == "version.stage" and newest.actor == who.actor and newest.after == {"stage": "production"}


def test_rollback_needs_the_deploy_role_and_records_the_token(catalog: c.Catalog) -> None:
    facade = CatalogFacade(catalog, read_open=True)
    deployer, _ = c.create_token(catalog, role="deployer", name="ops", actor="t")
    reader, _ = c.create_token(catalog, role="reader", name="r", actor="t")
    for number, digest in (("1.0.0", "sha256:a"), ("1.1.0", "sha256:b")):
        c.register_version(catalog, model=model_info(), version=version_info(number, digest), actor="alice")
    name = model_info().qualified_name
    old = c.record_deployment(catalog, info=c.DeploymentInfo(model=name, version="1.0.0", target=c.Target.LOCAL),
                              actor="ci")
    new = c.record_deployment(catalog, info=c.DeploymentInfo(model=name, version="1.1.0", target=c.Target.LOCAL,
                                                             replaces=old.id), actor="ci")
    assert facade.rollback_target(ANONYMOUS, new.id) is not None  # open reads show what it would restore
    with pytest.raises(Unauthorized, match="log in"):
        facade.rollback(ANONYMOUS, new.id)
    with pytest.raises(Forbidden, match="may not deploy"):
        facade.rollback(facade.login(reader), new.id)
    assert c.get_deployment(catalog, deployment_id=new.id).status == "running"
    who = facade.login(deployer)
    done = facade.rollback(who, new.id, "bad answers")
    assert done.deployment.version == "1.0.0" and done.deployment.deployed_by == who.actor
    newest = facade.audit(who, limit=1)[0]
    assert (newest.action, newest.actor, newest.entity) == ("deployment.rollback", who.actor, f"deployment:{new.id}")
