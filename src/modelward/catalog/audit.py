"""The audit trail: one hash-chained event per mutation, written in the mutation's transaction.

Each event's ``hash`` is SHA-256 over its canonical JSON (seq, time, actor, action, entity,
before, after) and the previous event's hash; ``audit_head`` holds the newest seq and hash so that
deleting the newest events is detected as well as editing or deleting any other. From revision
0002 a trigger moves the head in the same statement that inserts an event (one round trip fewer).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from modelward.catalog import schema as s
from modelward.catalog.db import HEAD_KEY, Catalog
from modelward.catalog.views import now, utc
from modelward.errors import AuditChainBroken

GENESIS = "0" * 64


class AuditEventView(BaseModel):
    """One audit event as stored."""

    model_config = ConfigDict(frozen=True)

    seq: int
    at: datetime
    actor: str
    action: str
    entity: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    hash: str


class AuditReport(BaseModel):
    """The result of a successful verification."""

    model_config = ConfigDict(frozen=True)

    events: int
    head: str


def event_hash(*, seq: int, at: datetime, actor: str, action: str, entity: str,
               before: dict[str, Any] | None, after: dict[str, Any] | None, prev_hash: str) -> str:
    """The chain hash of one event."""
    body = {"seq": seq, "at": utc(at).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "actor": actor, "action": action,
            "entity": entity, "before": before, "after": after, "prev": prev_hash}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _jsonable(summary: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if summary is None else json.loads(json.dumps(summary, default=str))


def append(session: Session, *, actor: str, action: str, entity: str,
           before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
    """Append one event to the chain inside ``session``'s (write) transaction.

    Written with Core statements on the session's connection (no unit of work): the insert is one
    round trip, and the ``audit_events_head`` trigger moves the stored head with it.
    """
    connection = session.connection()
    head = session.info[HEAD_KEY] if HEAD_KEY in session.info else read_head(connection)
    seq, prev = (head[0] + 1, head[1]) if head is not None else (1, GENESIS)
    at = now()
    before, after = _jsonable(before), _jsonable(after)
    digest = event_hash(seq=seq, at=at, actor=actor, action=action, entity=entity, before=before,
                        after=after, prev_hash=prev)
    connection.execute(insert(s.AuditEvent), {
        "seq": seq, "at": at, "actor": actor, "action": action, "entity": entity, "before": before,
        "after": after, "prev_hash": prev, "hash": digest})
    if head is None:
        connection.execute(insert(s.AuditHead), {"id": 1, "seq": seq, "hash": digest})
    session.info[HEAD_KEY] = (seq, digest)


def read_head(connection: Connection) -> tuple[int, str] | None:
    """The chain's stored head, ``(seq, hash)``, or None before the first event."""
    table = s.AuditHead.__table__
    row = connection.execute(select(table.c.seq, table.c.hash).where(table.c.id == 1)).first()
    return None if row is None else (row[0], row[1])


def verify(catalog: Catalog, *, batch: int = 5000) -> AuditReport:
    """Walk the chain; raise ``AuditChainBroken`` naming the first event that does not verify."""
    prev, expected, count = GENESIS, 1, 0
    with catalog.read() as session:
        last = 0
        while True:
            rows = _batch(session, last, batch)
            for row in rows:
                prev, expected, count = _check(row, expected, prev), expected + 1, count + 1
            if len(rows) < batch:
                break
            last = rows[-1].seq
        _check_head(session.get(s.AuditHead, 1), count, prev)
    return AuditReport(events=count, head=prev)


@dataclass(frozen=True)
class _Unreadable:
    """An event row whose stored values do not parse (SQLite stores whatever an UPDATE puts there)."""

    seq: int
    action: str
    entity: str
    problem: str


def _batch(session: Session, after: int, size: int) -> list[s.AuditEvent | _Unreadable]:
    """Up to ``size`` events after seq ``after``, an unreadable one (an edited date or JSON) as ``_Unreadable``."""
    query = select(s.AuditEvent).where(s.AuditEvent.seq > after).order_by(s.AuditEvent.seq).limit(size)
    try:
        return list(session.scalars(query).all())
    except ValueError:  # some row in the batch: read them one by one
        pass
    found: list[s.AuditEvent | _Unreadable] = []
    keys = query.with_only_columns(s.AuditEvent.seq, s.AuditEvent.action, s.AuditEvent.entity)
    for seq, action, entity in session.execute(keys).all():
        try:
            found.append(session.scalars(select(s.AuditEvent).where(s.AuditEvent.seq == seq)).one())
        except ValueError as exc:
            found.append(_Unreadable(seq, action, entity, str(exc)))
    return found


def _check(row: s.AuditEvent | _Unreadable, expected: int, prev: str) -> str:
    """``row``'s hash, once it is the expected event, readable, linked and unaltered."""
    if row.seq != expected:
        raise AuditChainBroken(f"audit event {expected} is missing (the next stored event is {row.seq})",
                               seq=expected)
    if isinstance(row, _Unreadable):
        raise AuditChainBroken(f"audit event {row.seq} ({row.action} {row.entity}) was altered: a stored value "
                               f"cannot be read ({row.problem})", seq=row.seq)
    if row.prev_hash != prev:
        raise AuditChainBroken(f"audit event {row.seq} ({row.action} {row.entity}) does not link to "
                               f"event {row.seq - 1}: an event was edited or removed", seq=row.seq)
    digest = event_hash(seq=row.seq, at=row.at, actor=row.actor, action=row.action, entity=row.entity,
                        before=row.before, after=row.after, prev_hash=row.prev_hash)
    if digest != row.hash:
        raise AuditChainBroken(f"audit event {row.seq} ({row.action} {row.entity}) was altered: "
                               "its content does not match its hash", seq=row.seq)
    return row.hash


def _check_head(head: s.AuditHead | None, count: int, last_hash: str) -> None:
    if head is None:
        if count:
            raise AuditChainBroken("the audit chain head is missing", seq=count)
        return
    if head.seq > count:
        raise AuditChainBroken(f"audit event {count + 1} is missing: the chain head names event {head.seq} "
                               f"but the trail ends at event {count}", seq=count + 1)
    if head.seq != count or head.hash != last_hash:
        raise AuditChainBroken(f"the audit chain head (event {head.seq}, hash {head.hash[:12]}) does not match "
                               f"the newest event {count}: the head or the newest event was altered", seq=count)


def events(catalog: Catalog, *, entity: str | None = None, limit: int = 100,
           offset: int = 0) -> list[AuditEventView]:
    """The newest audit events first, optionally for one entity (e.g. ``model:M`` or ``M@1.0``)."""
    query = select(s.AuditEvent).order_by(s.AuditEvent.seq.desc()).limit(limit).offset(offset)
    if entity:
        query = query.where(s.AuditEvent.entity == entity)
    with catalog.read() as session:
        try:
            rows = session.scalars(query).all()
        except ValueError as exc:  # see _batch
            raise AuditChainBroken(f"an audit event was altered: a stored value cannot be read ({exc}); "
                                   "`modelward catalog audit verify` names the event") from exc
        return [AuditEventView(seq=r.seq, at=utc(r.at), actor=r.actor, action=r.action, entity=r.entity,
                               before=r.before, after=r.after, hash=r.hash) for r in rows]
