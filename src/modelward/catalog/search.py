"""Search model versions: attribute filters combined with ranked full text, paginated.

Full text covers a model's qualified name, display name, description, tags and README: FTS5 with
bm25 ranking on SQLite, a weighted ``tsvector`` with ``ts_rank`` on PostgreSQL. Every word of the
query must match (as a prefix); filters narrow by model, version and deployment attributes. Owner
and line of business are each version's own (a version registered under another owner is found
under that one).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, Select, and_, exists, func, literal, literal_column, select, text
from sqlalchemy.orm import Session

from modelward.catalog import schema as s
from modelward.catalog.db import Catalog
from modelward.catalog.inputs import MAX_PAGE, Stage, Target, UtcDateTime
from modelward.catalog.views import utc

WORD = re.compile(r"\w+", re.UNICODE)


class SearchQuery(BaseModel):
    """What to look for; every given filter must hold."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str | None = Field(default=None, max_length=500)
    owner: str | None = None
    line_of_business: str | None = None
    model_type: str | None = None
    project: str | None = None
    stage: Stage | None = None
    environment: str | None = None
    target: Target | None = None
    tags: tuple[str, ...] = ()
    registered_since: UtcDateTime | None = None
    registered_until: UtcDateTime | None = None
    deployed_since: UtcDateTime | None = None
    deployed_until: UtcDateTime | None = None
    page: int = Field(default=1, ge=1, le=MAX_PAGE)
    per_page: int = Field(default=20, ge=1, le=200)


class SearchHit(BaseModel):
    """One matching model version."""

    model_config = ConfigDict(frozen=True)

    model: str
    version: str
    display_name: str
    description: str
    model_type: str
    owner: str
    line_of_business: str
    project: str
    tags: list[str]
    stage: str
    artifact_uri: str
    created_at: datetime
    score: float


class SearchPage(BaseModel):
    """One page of hits, best first, and how many match in all."""

    model_config = ConfigDict(frozen=True)

    total: int
    page: int
    per_page: int
    hits: list[SearchHit]


def search(catalog: Catalog, *, query: SearchQuery) -> SearchPage:
    """Run ``query``: ranked by text relevance (when there is text), then newest first.

    One statement finds the page and counts every match (a window count over the same pass); only
    a page past the last match needs a second, counting statement.
    """
    words = [w.lower() for w in WORD.findall(query.text or "")]
    with catalog.read() as session:
        base = select(s.ModelVersion.id).join(s.Model, s.Model.id == s.ModelVersion.model_id)
        score: ColumnElement[float] = literal(0.0)
        if words:
            base, score = _full_text(session, base, words)
        base = base.where(*_filters(query))
        ranked = (base.add_columns(score.label("score"), func.count().over().label("total"))
                  .order_by(score.desc(), s.ModelVersion.created_at.desc(), s.ModelVersion.id.desc())
                  .limit(query.per_page).offset((query.page - 1) * query.per_page))
        rows = session.execute(ranked).all()
        total = int(rows[0][2]) if rows else _count(session, base, query.page)
        return SearchPage(total=total, page=query.page, per_page=query.per_page,
                          hits=_hits(session, [(r[0], float(r[1])) for r in rows]))


def _count(session: Session, base: Select[Any], page: int) -> int:
    if page == 1:
        return 0
    return session.scalar(select(func.count()).select_from(base.subquery())) or 0


def _full_text(session: Session, base: Select[Any],
               words: list[str]) -> tuple[Select[Any], ColumnElement[float]]:
    if session.get_bind().dialect.name == "sqlite":
        match = " AND ".join(f'"{w}"*' for w in words)
        fts = (select(literal_column("rowid").label("mid"),
                      literal_column("-bm25(models_fts, 10.0, 5.0, 2.0, 4.0, 1.0)").label("rank"))
               .select_from(text("models_fts")).where(text("models_fts MATCH :match"))
               .params(match=match).subquery("fts"))
        return base.join(fts, fts.c.mid == s.Model.id), fts.c.rank
    tsquery = func.to_tsquery("english", " & ".join(f"{w}:*" for w in words))
    vector: ColumnElement[Any] = literal_column("models.search_vector")
    return base.where(vector.op("@@")(tsquery)), func.ts_rank(vector, tsquery)


def _filters(query: SearchQuery) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    for column, value in ((s.ModelVersion.owner, query.owner),
                          (s.ModelVersion.line_of_business, query.line_of_business),
                          (s.Model.model_type, query.model_type), (s.Model.project, query.project),
                          (s.ModelVersion.stage, query.stage)):
        if value is not None:
            found.append(column == str(value))
    if query.registered_since is not None:
        found.append(s.ModelVersion.created_at >= utc(query.registered_since))
    if query.registered_until is not None:
        found.append(s.ModelVersion.created_at < utc(query.registered_until))
    found += [exists().where(s.ModelTag.model_id == s.Model.id, s.ModelTag.tag == tag.lower())
              for tag in query.tags]
    deployed = _deployment_filter(query)
    if deployed is not None:
        found.append(deployed)
    return found


def _deployment_filter(query: SearchQuery) -> ColumnElement[bool] | None:
    """Environment and target alone: one summary row per candidate; with dates, the deployments."""
    conditions: list[ColumnElement[bool]] = []
    place: list[ColumnElement[bool]] = []
    if query.environment is not None:
        conditions.append(s.Deployment.environment == query.environment)
        place.append(s.VersionPlacement.environment == query.environment)
    if query.target is not None:
        conditions.append(s.Deployment.target == str(query.target))
        place.append(s.VersionPlacement.target == str(query.target))
    if query.deployed_since is None and query.deployed_until is None:
        return exists().where(s.VersionPlacement.version_id == s.ModelVersion.id, *place) if place else None
    if query.deployed_since is not None:
        conditions.append(s.Deployment.deployed_at >= utc(query.deployed_since))
    if query.deployed_until is not None:
        conditions.append(s.Deployment.deployed_at < utc(query.deployed_until))
    return exists().where(and_(s.Deployment.version_id == s.ModelVersion.id, *conditions))


def hits(session: Session, ranked: list[tuple[int, float]]) -> list[SearchHit]:
    """The hits for (version id, score) pairs, in that order (``browse.newest`` shares it)."""
    return _hits(session, ranked)


def _hits(session: Session, ranked: list[tuple[int, float]]) -> list[SearchHit]:
    if not ranked:
        return []
    rows = session.execute(select(s.ModelVersion, s.Model).join(s.Model)
                           .where(s.ModelVersion.id.in_([i for i, _ in ranked]))).all()
    by_id = {v.id: (v, m) for v, m in rows}
    return [_hit(*by_id[i], score) for i, score in ranked]


def _hit(version: s.ModelVersion, model: s.Model, score: float) -> SearchHit:
    return SearchHit(model=model.qualified_name, version=version.version, display_name=model.display_name,
                     description=model.description, model_type=model.model_type, owner=version.owner,
                     line_of_business=version.line_of_business, project=model.project, tags=list(model.tags),
                     stage=version.stage, artifact_uri=version.artifact_uri,
                     created_at=utc(version.created_at), score=round(score, 6))
