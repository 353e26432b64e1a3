"""Rollback: a target's running deployment goes back to the version that ran there before it.

``rollback_deployment`` takes a *running* deployment D and walks back the chain of deployments it
replaced (``replaced_id``) to the newest one that ran another version of the model, was not a
failed deployment, and whose version was not rolled back later in the chain: the deployment P to
restore. In one write transaction it

- records a new ``running`` deployment R of P's version at D's place (target, environment, host,
  endpoint, replicas) with P's configuration and policy digests, replacing D;
- marks D ``rolled_back`` (its reason names R and the version restored);
- appends two audit events: ``deployment.record`` for R and ``deployment.rollback`` for D.

Nothing is deleted or rewritten: D, P and every earlier deployment keep their rows, and the
``replaced_id`` chain now reads R → D → P → …. Rolling R back again skips D's version (rolled back)
and R's own, so a second rollback goes further back and never restores the bad version.
The catalog records the rollback; it does not restart servers (``modelward rollback`` does that
for a local deployment, through every deploy step, and records it the same way).
"""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from modelward.catalog import audit
from modelward.catalog import schema as s
from modelward.catalog.db import Catalog
from modelward.catalog.inputs import DeploymentStatus
from modelward.catalog.records import deployment_summary
from modelward.catalog.views import DeploymentView, deployment_view, now
from modelward.errors import CatalogError, Conflict, NotFound

MAX_REASON = 1000  # characters of the reason a rollback may carry


class RollbackView(BaseModel):
    """A finished rollback: the new current deployment, the one rolled back, and the one restored."""

    model_config = ConfigDict(frozen=True)

    deployment: DeploymentView
    rolled_back: DeploymentView
    restored: DeploymentView


def rollback_target(catalog: Catalog, *, deployment_id: str) -> DeploymentView | None:
    """The deployment a rollback of ``deployment_id`` would restore (None: nothing to roll back to).

    ``NotFound`` for an unknown id; a deployment that is not running has nothing to roll back either.
    """
    with catalog.read() as session:
        current = _deployment(session, deployment_id)
        if current.status != DeploymentStatus.RUNNING.value:
            return None
        found = _previous_good(session, current)
        return None if found is None else _view(found)


def rollback_deployment(catalog: Catalog, *, deployment_id: str, actor: str, reason: str = "") -> RollbackView:
    """Roll the running deployment ``deployment_id`` back to the version that ran before it (see the module).

    ``NotFound`` for an unknown deployment; ``Conflict`` when it is not running or nothing earlier
    ran another version; ``CatalogError`` for a reason longer than ``MAX_REASON`` characters.
    """
    reason = reason.strip()
    if len(reason) > MAX_REASON:
        raise CatalogError(f"a rollback reason has at most {MAX_REASON} characters, not {len(reason)}")
    with catalog.write() as session:
        current = _deployment(session, deployment_id)
        _ensure_running(current)
        previous = _previous_good(session, current)
        if previous is None:
            raise Conflict(f"deployment '{deployment_id}' ({_ref(current)}) has nothing to roll back to: no "
                           "deployment it replaced ran another version of the model (and was not rolled back)")
        restored = _restore(session, current, previous, actor, reason)
        _mark_rolled_back(session, current, restored, previous, actor, reason)
        return RollbackView(deployment=_view(restored), rolled_back=_view(current), restored=_view(previous))


def _deployment(session: Session, ident: str) -> s.Deployment:
    row = session.get(s.Deployment, ident)
    if row is not None:
        return row
    if session.get(s.DeploymentAttempt, ident) is not None:
        raise Conflict(f"'{ident}' is a failed attempt that never deployed a version: there is nothing to roll back")
    raise NotFound(f"deployment '{ident}' is not in the catalog")


def _ensure_running(row: s.Deployment) -> None:
    if row.status != DeploymentStatus.RUNNING.value:
        why = f" ({row.reason})" if row.reason else ""
        raise Conflict(f"deployment '{row.id}' is '{row.status}'{why}, not running: only the running "
                       "deployment of a target can be rolled back")


def _previous_good(session: Session, current: s.Deployment) -> s.Deployment | None:
    """The newest deployment in ``current``'s replaced chain that may be restored.

    Skipped on the way back: failed deployments, rolled-back ones, and any deployment of ``current``'s
    version or of a version rolled back later in the chain (a bad version is never restored).
    """
    excluded = {current.version_id}
    seen = {current.id}
    ident = current.replaced_id
    while ident is not None and ident not in seen:
        seen.add(ident)
        row = session.get(s.Deployment, ident)
        if row is None:
            return None
        if row.status == DeploymentStatus.ROLLED_BACK.value:
            excluded.add(row.version_id)
        elif row.status != DeploymentStatus.FAILED.value and row.version_id not in excluded:
            return row
        ident = row.replaced_id
    return None


def _ref(row: s.Deployment) -> str:
    return f"{row.version.model.qualified_name}@{row.version.version}"


def _view(row: s.Deployment) -> DeploymentView:
    return deployment_view(row, row.version.model.qualified_name, row.version.version)


def _restore(session: Session, current: s.Deployment, previous: s.Deployment, actor: str,
             reason: str) -> s.Deployment:
    """Record the new running deployment of ``previous``'s version at ``current``'s place."""
    moment = now()
    why = f"rollback of {current.id} ({_ref(current)}) to {_ref(previous)}, as deployment {previous.id} ran it"
    row = s.Deployment(
        id=uuid.uuid4().hex, version_id=previous.version_id, target=current.target,
        host_detail=current.host_detail, endpoint_url=current.endpoint_url, environment=current.environment,
        replicas=current.replicas, deployed_by=actor, deployed_at=moment, status=DeploymentStatus.RUNNING.value,
        reason=f"{why}: {reason}" if reason else why, config_digest=previous.config_digest,
        policy_package=previous.policy_package, policy_bundle_digest=previous.policy_bundle_digest,
        replaced_id=current.id, updated_at=moment)
    session.add(row)
    session.flush()
    audit.append(session, actor=actor, action="deployment.record", entity=f"deployment:{row.id}",
                 after={"model": _ref(previous)} | deployment_summary(row) | {"rollback_of": current.id,
                                                                             "restores": previous.id})
    return row


def record_rolled_back(catalog: Catalog, *, deployment_id: str, by: str, actor: str) -> DeploymentView:
    """Mark ``deployment_id`` rolled back by deployment ``by``, which already replaced it (``modelward rollback``).

    For a rollback carried out elsewhere and recorded as a new deployment that replaces this one; the
    same ``deployment.rollback`` event as ``rollback_deployment``. ``Conflict`` unless ``by`` replaced it.
    """
    with catalog.write() as session:
        current = _deployment(session, deployment_id)
        restored = session.get(s.Deployment, by)
        if restored is None:
            raise NotFound(f"deployment '{by}' is not in the catalog")
        if restored.replaced_id != current.id:
            raise Conflict(f"deployment '{by}' does not replace '{deployment_id}': it cannot have rolled it back")
        if current.status != DeploymentStatus.ROLLED_BACK.value:
            _mark_rolled_back(session, current, restored, None, actor, "")
        return _view(current)


def _mark_rolled_back(session: Session, current: s.Deployment, restored: s.Deployment, previous: s.Deployment | None,
                      actor: str, reason: str) -> None:
    before = {"status": current.status, "reason": current.reason}
    current.status = DeploymentStatus.ROLLED_BACK.value
    current.reason = f"rolled back by {restored.id} to {_ref(restored)}" + (f": {reason}" if reason else "")
    current.updated_at = now()
    session.flush()
    after = {"status": current.status, "reason": current.reason, "model": _ref(restored), "deployment": restored.id}
    audit.append(session, actor=actor, action="deployment.rollback", entity=f"deployment:{current.id}",
                 before=before | {"model": _ref(current)},
                 after=after | ({"restores": previous.id} if previous is not None else {}))
