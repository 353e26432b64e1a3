"""The catalog as its REST API and its web console reach it: who is asking, what they may do, one call each.

``CatalogFacade`` is the one implementation of "which token is this, and may it do that" (the
permission table lives in ``catalog.tokens``) and of every catalog read and write that the REST
routes (``serving.catalog_routes``) and the console pages (``web``) offer. A method checks the
``Principal`` it is given, then calls the catalog; writes record the principal's actor in the audit
trail. Reads need no token while ``read_open`` is set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelward import catalog as c
from modelward.errors import AuditChainBroken, Unauthorized, ValidationFailed

# a version may be promoted once its known cases and policy tests passed (``deploy`` validates it)
PROMOTABLE = frozenset({c.Stage.VALIDATED.value, c.Stage.STAGING.value, c.Stage.PRODUCTION.value})


@dataclass(frozen=True)
class Principal:
    """Who makes a request: a live token, or nobody (``token`` None) when reads are open."""

    actor: str
    token: c.TokenView | None = None

    @property
    def role(self) -> c.Role | None:
        """The token's role (None for an anonymous reader)."""
        return self.token.role if self.token is not None else None

    def may(self, action: c.Action) -> bool:
        """Whether this principal's role allows ``action`` (anonymous: never; open reads aside)."""
        return self.token is not None and c.allowed(self.token.role, action)


ANONYMOUS = Principal(actor="anonymous")


def actor_of(token: c.TokenView) -> str:
    """What the audit trail records for writes made with ``token``."""
    return f"token:{token.id}" + (f" ({token.name[:c.MAX_TOKEN_NAME]})" if token.name else "")


def promotable(stage: str) -> bool:
    """Whether a version at ``stage`` may be promoted."""
    return stage in PROMOTABLE


@dataclass(frozen=True)
class AuditCheck:
    """The audit chain's verification: intact (events, head) or broken (the first bad event)."""

    intact: bool
    events: int = 0
    head: str = ""
    problem: str = ""
    seq: int | None = None


class CatalogFacade:
    """One catalog behind its access rules (``read_open``: reads need no token)."""

    def __init__(self, catalog: c.Catalog, *, read_open: bool) -> None:
        self.catalog = catalog
        self.read_open = read_open

    # --- who -------------------------------------------------------------------------------------

    def login(self, token: str) -> Principal:
        """The principal of a plain bearer token (``Unauthorized`` when it is unknown or revoked)."""
        return self._principal(c.authenticate(self.catalog, token=token))

    def resume(self, token_id: str, digest: str) -> Principal:
        """The principal of a session that holds a token's id and digest (``Unauthorized`` once revoked)."""
        found = c.authenticate_digest(self.catalog, digest=digest)
        if found.id != token_id:
            raise Unauthorized("the session does not match its token")
        return self._principal(found)

    def _principal(self, token: c.TokenView) -> Principal:
        return Principal(actor=actor_of(token), token=token)

    def principal(self, token: str | None, action: c.Action) -> Principal:
        """The REST rule: open reads are anonymous; otherwise ``token`` must be live and allowed ``action``."""
        if action is c.Action.READ and self.read_open:
            return ANONYMOUS
        if token is None:
            raise Unauthorized(f"this request needs a bearer token allowed to {action.value}")
        who = self.login(token)
        self.require(who, action)
        return who

    def require(self, who: Principal, action: c.Action) -> None:
        """Raise ``Unauthorized`` (no token) or ``Forbidden`` (wrong role) unless ``who`` may do ``action``."""
        if action is c.Action.READ and self.read_open:
            return
        if who.token is None:
            raise Unauthorized(f"this needs a token allowed to {action.value}; log in with one")
        c.ensure_allowed(who.token, action)

    # --- reads -----------------------------------------------------------------------------------

    def search(self, who: Principal, query: c.SearchQuery) -> c.SearchPage:
        self.require(who, c.Action.READ)
        return c.search(self.catalog, query=query)

    def newest(self, who: Principal, *, page: int = 1, per_page: int = 20) -> c.SearchPage:
        """The newest versions (what an empty search returns, without ranking every version)."""
        self.require(who, c.Action.READ)
        return c.newest(self.catalog, page=page, per_page=per_page)

    def facets(self, who: Principal) -> c.Facets:
        self.require(who, c.Action.READ)
        return c.facets(self.catalog)

    def models(self, who: Principal, *, limit: int = 100, offset: int = 0) -> list[c.ModelView]:
        self.require(who, c.Action.READ)
        return c.list_models(self.catalog, limit=limit, offset=offset)

    def model(self, who: Principal, name: str) -> c.ModelDetail:
        self.require(who, c.Action.READ)
        return c.get_model(self.catalog, name=name)

    def model_page(self, who: Principal, name: str, *, limit: int, offset: int) -> c.ModelPage:
        self.require(who, c.Action.READ)
        return c.model_page(self.catalog, name=name, limit=limit, offset=offset)

    def version(self, who: Principal, name: str, version: str) -> c.VersionView:
        self.require(who, c.Action.READ)
        return c.get_version(self.catalog, name=name, version=version)

    def lineage(self, who: Principal, name: str, version: str) -> c.Lineage:
        self.require(who, c.Action.READ)
        return c.lineage(self.catalog, name=name, version=version)

    def deployments(self, who: Principal, *, model: str | None = None, version: str | None = None,
                    since: datetime | None = None, until: datetime | None = None, environment: str | None = None,
                    target: str | None = None, status: str | None = None, limit: int = 100,
                    offset: int = 0) -> c.DeploymentPage:
        self.require(who, c.Action.READ)
        return c.list_deployments(self.catalog, model=model, version=version, since=since, until=until,
                                  environment=environment, target=target, status=status, limit=limit, offset=offset)

    def deployment(self, who: Principal, deployment_id: str) -> c.DeploymentView:
        self.require(who, c.Action.READ)
        return c.get_deployment(self.catalog, deployment_id=deployment_id)

    def audit(self, who: Principal, *, entity: str | None = None, limit: int = 100,
              offset: int = 0) -> list[c.AuditEventView]:
        self.require(who, c.Action.READ)
        return c.audit_events(self.catalog, entity=entity, limit=limit, offset=offset)

    def verify_audit(self, who: Principal) -> c.AuditReport:
        """The chain's report, or ``AuditChainBroken`` naming the first bad event."""
        self.require(who, c.Action.READ)
        return c.verify_audit(self.catalog)

    def check_audit(self, who: Principal) -> AuditCheck:
        """The chain's verification as a value (for pages that show either outcome)."""
        try:
            report = self.verify_audit(who)
        except AuditChainBroken as exc:
            return AuditCheck(intact=False, problem=exc.message, seq=exc.details.get("seq"))
        return AuditCheck(intact=True, events=report.events, head=report.head)

    def rollback_target(self, who: Principal, deployment_id: str) -> c.DeploymentView | None:
        """The deployment a rollback of ``deployment_id`` would restore (None: nothing to roll back to)."""
        self.require(who, c.Action.READ)
        return c.rollback_target(self.catalog, deployment_id=deployment_id)

    def tokens(self, who: Principal) -> list[c.TokenView]:
        self.require(who, c.Action.ADMIN)
        return c.list_tokens(self.catalog)

    # --- writes ----------------------------------------------------------------------------------

    def register(self, who: Principal, model: c.ModelInfo, version: c.VersionInfo) -> tuple[c.VersionView, bool]:
        self.require(who, c.Action.PUBLISH)
        return c.register_version(self.catalog, model=model, version=version, actor=who.actor)

    def describe(self, who: Principal, info: c.ModelInfo) -> c.ModelView:
        self.require(who, c.Action.PUBLISH)
        return c.describe_model(self.catalog, info=info, actor=who.actor)

    def set_stage(self, who: Principal, name: str, version: str, stage: c.Stage | str) -> c.VersionView:
        """Move a version to any stage (the REST ``PUT .../stage``)."""
        self.require(who, c.Action.DEPLOY)
        return c.set_stage(self.catalog, model=name, version=version, stage=stage, actor=who.actor)

    def promote(self, who: Principal, name: str, version: str, stage: c.Stage | str) -> c.VersionView:
        """Move a validated version to ``stage`` (``ValidationFailed`` for one never validated)."""
        self.require(who, c.Action.DEPLOY)
        return promote(self.catalog, name=name, version=version, stage=stage, actor=who.actor)

    def record_deployment(self, who: Principal, info: c.DeploymentInfo) -> c.DeploymentView:
        self.require(who, c.Action.DEPLOY)
        return c.record_deployment(self.catalog, info=info, actor=who.actor)

    def record_attempt(self, who: Principal, info: c.AttemptInfo) -> c.DeploymentView:
        self.require(who, c.Action.DEPLOY)
        return c.record_failed_attempt(self.catalog, info=info, actor=who.actor)

    def update_deployment(self, who: Principal, deployment_id: str, **changes: Any) -> c.DeploymentView:
        self.require(who, c.Action.DEPLOY)
        return c.update_deployment(self.catalog, deployment_id=deployment_id, actor=who.actor, **changes)

    def rollback(self, who: Principal, deployment_id: str, reason: str = "") -> c.RollbackView:
        """Roll a running deployment back to the version that ran before it (deployer or admin)."""
        self.require(who, c.Action.DEPLOY)
        return c.rollback_deployment(self.catalog, deployment_id=deployment_id, actor=who.actor, reason=reason)

    def revoke_token(self, who: Principal, token_id: str) -> c.TokenView:
        self.require(who, c.Action.ADMIN)
        return c.revoke_token(self.catalog, token_id=token_id, actor=who.actor)


def promote(catalog: c.Catalog, *, name: str, version: str, stage: c.Stage | str, actor: str) -> c.VersionView:
    """Move a validated version to ``stage``: the rule ``modelward promote`` and the console share."""
    view = c.get_version(catalog, name=name, version=version)
    if not promotable(view.stage):
        raise ValidationFailed(f"{name}@{version} is '{view.stage}', not validated: deploy it (which runs "
                               "its known cases and policy tests) before promoting it")
    return c.set_stage(catalog, model=name, version=version, stage=c.Stage(stage), actor=actor)
