"""Failed deployment attempts that never reached a registered version.

A package refused at the verify step (bad signature, unknown key) has no version in the catalog to
hang a ``failed`` deployment on; ``record_failed_attempt`` keeps the attempt anyway — model name,
claimed version, source, target, environment, who, when, the step and the reason — with an audit
event in the same transaction. Listings (``list_deployments``, ``get_deployment``) show these rows
as ``failed`` deployments with ``version_registered`` false.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from modelward.catalog import audit
from modelward.catalog import schema as s
from modelward.catalog.db import Catalog
from modelward.catalog.inputs import AttemptInfo
from modelward.catalog.views import DeploymentView, attempt_view, now
from modelward.errors import Conflict


def record_failed_attempt(catalog: Catalog, *, info: AttemptInfo, actor: str) -> DeploymentView:
    """Record a failed attempt of a version the catalog does not hold (``Conflict`` on a reused id)."""
    ident = info.attempt_id or uuid.uuid4().hex
    with catalog.write() as session:
        if info.attempt_id is not None and _recorded(session, ident):  # a fresh UUID needs no check
            raise Conflict(f"deployment '{ident}' is already recorded")
        row = s.DeploymentAttempt(
            id=ident, model=info.model, version=info.version, source_uri=info.source_uri, target=str(info.target),
            environment=info.environment, host_detail=info.host_detail, attempted_by=actor,
            attempted_at=info.attempted_at or now(), step=info.step, reason=info.reason)
        session.add(row)
        session.flush()
        audit.append(session, actor=actor, action="deployment.attempt_failed", entity=f"deployment:{ident}",
                     after=_summary(row))
        return attempt_view(row)


def _recorded(session: Session, ident: str) -> bool:
    return session.get(s.DeploymentAttempt, ident) is not None or session.get(s.Deployment, ident) is not None


def _summary(row: s.DeploymentAttempt) -> dict[str, Any]:
    return {"model": f"{row.model}@{row.version or '?'}", "status": "failed", "target": row.target,
            "environment": row.environment, "source_uri": row.source_uri, "step": row.step,
            "reason": row.reason}


def find_attempt(session: Session, ident: str) -> DeploymentView | None:
    """The failed attempt with this id, if any."""
    row = session.get(s.DeploymentAttempt, ident)
    return None if row is None else attempt_view(row)


