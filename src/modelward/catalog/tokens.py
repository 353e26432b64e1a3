"""Bearer tokens with roles, stored as SHA-256 only, and the permission table (datasette style).

A token reads ``mwc_<id>_<secret>``; the plain token is returned once by ``create_token``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from modelward.catalog import audit
from modelward.catalog import schema as s
from modelward.catalog.db import Catalog
from modelward.catalog.views import now, utc
from modelward.errors import CatalogError, Forbidden, NotFound, Unauthorized

MAX_TOKEN_NAME = 100  # the name goes into the actor of every write the token makes


class Role(StrEnum):
    """What a token may do."""

    READER = "reader"
    PUBLISHER = "publisher"
    DEPLOYER = "deployer"
    ADMIN = "admin"


class Action(StrEnum):
    """What a request wants to do."""

    READ = "read"
    PUBLISH = "publish"  # register versions, describe models
    DEPLOY = "deploy"  # record deployments, change stages
    ADMIN = "admin"


GRANTS: dict[Role, frozenset[Action]] = {
    Role.READER: frozenset({Action.READ}),
    Role.PUBLISHER: frozenset({Action.READ, Action.PUBLISH}),
    Role.DEPLOYER: frozenset({Action.READ, Action.DEPLOY}),
    Role.ADMIN: frozenset(Action),
}


class TokenView(BaseModel):
    """A token's public record (never its secret)."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    role: Role
    created_by: str
    created_at: datetime
    revoked_at: datetime | None


def allowed(role: Role, action: Action) -> bool:
    """Whether ``role`` may do ``action``."""
    return action in GRANTS[role]


def ensure_allowed(token: TokenView, action: Action) -> None:
    """Raise ``Forbidden`` unless ``token``'s role may do ``action``."""
    if not allowed(token.role, action):
        needed = sorted(r.value for r in Role if allowed(r, action))
        raise Forbidden(f"token '{token.id}' has role '{token.role}', which may not {action.value}; "
                        f"this needs one of: {', '.join(needed)}")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _view(row: s.ApiToken) -> TokenView:
    return TokenView(id=row.id, name=row.name, role=Role(row.role), created_by=row.created_by,
                     created_at=utc(row.created_at),
                     revoked_at=utc(row.revoked_at) if row.revoked_at else None)


def create_token(catalog: Catalog, *, role: Role | str, name: str = "", actor: str) -> tuple[str, TokenView]:
    """Create a token; return the plain token (shown once, never stored) and its record."""
    if len(name) > MAX_TOKEN_NAME:
        raise CatalogError(f"a token name has at most {MAX_TOKEN_NAME} characters, not {len(name)}")
    ident = secrets.token_hex(6)
    plain = f"mwc_{ident}_{secrets.token_urlsafe(32)}"
    with catalog.write() as session:
        row = s.ApiToken(id=ident, name=name, role=Role(role).value, token_hash=_digest(plain),
                         created_by=actor, created_at=now())
        session.add(row)
        audit.append(session, actor=actor, action="token.create", entity=f"token:{ident}",
                     after={"role": row.role, "name": name})
        return plain, _view(row)


def list_tokens(catalog: Catalog) -> list[TokenView]:
    """Every token, oldest first."""
    with catalog.read() as session:
        return [_view(r) for r in session.scalars(select(s.ApiToken).order_by(s.ApiToken.created_at))]


def revoke_token(catalog: Catalog, *, token_id: str, actor: str) -> TokenView:
    """Revoke a token by id (``NotFound`` when there is none)."""
    with catalog.write() as session:
        row = session.get(s.ApiToken, token_id)
        if row is None:
            raise NotFound(f"no token '{token_id}'")
        if row.revoked_at is None:
            row.revoked_at = now()
            audit.append(session, actor=actor, action="token.revoke", entity=f"token:{token_id}",
                         before={"revoked": False}, after={"revoked": True})
        return _view(row)


def token_digest(token: str) -> str:
    """What the catalog stores of a plain token (a console session keeps this, never the token)."""
    return _digest(token)


def authenticate(catalog: Catalog, *, token: str) -> TokenView:
    """The live token matching ``token``, or ``Unauthorized``."""
    return authenticate_digest(catalog, digest=_digest(token))


def authenticate_digest(catalog: Catalog, *, digest: str) -> TokenView:
    """The live token whose SHA-256 is ``digest``, or ``Unauthorized``."""
    with catalog.read() as session:
        row = session.scalar(select(s.ApiToken).where(s.ApiToken.token_hash == digest))
        if row is None or not hmac.compare_digest(row.token_hash, digest):
            raise Unauthorized("the bearer token is not valid")
        if row.revoked_at is not None:
            raise Unauthorized(f"token '{row.id}' has been revoked")
        return _view(row)
