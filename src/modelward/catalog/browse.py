"""Reads for browsing: the values the search filters offer, and a model's versions one page at a time."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from modelward.catalog import schema as s
from modelward.catalog.db import Catalog
from modelward.catalog.records import find_model
from modelward.catalog.search import SearchPage, hits
from modelward.catalog.views import ModelView, VersionView, model_view, version_view

MAX_FACET_VALUES = 500  # a filter offers at most this many values (an index scan each)


class Facets(BaseModel):
    """The distinct non-empty values the search filters can take, sorted."""

    model_config = ConfigDict(frozen=True)

    owners: list[str]
    lines_of_business: list[str]
    model_types: list[str]
    environments: list[str]


class ModelPage(BaseModel):
    """A model, one page of its versions (newest first) and how many it has in all."""

    model_config = ConfigDict(frozen=True)

    model: ModelView
    total: int
    versions: list[VersionView]


def _distinct(session: Session, column: InstrumentedAttribute[str]) -> list[str]:
    query = select(column).where(column != "").distinct().order_by(column).limit(MAX_FACET_VALUES)
    return [str(v) for v in session.scalars(query)]


def facets(catalog: Catalog) -> Facets:
    """What the owner, line-of-business, type and environment filters can be set to."""
    with catalog.read() as session:
        return Facets(owners=_distinct(session, s.Model.owner),
                      lines_of_business=_distinct(session, s.Model.line_of_business),
                      model_types=_distinct(session, s.Model.model_type),
                      environments=_distinct(session, s.VersionPlacement.environment))


def model_page(catalog: Catalog, *, name: str, limit: int = 50, offset: int = 0) -> ModelPage:
    """``name`` and up to ``limit`` of its versions from ``offset``, newest first (``NotFound``)."""
    with catalog.read() as session:
        row = find_model(session, name)
        total = session.scalar(select(func.count()).where(s.ModelVersion.model_id == row.id)) or 0
        versions = session.scalars(select(s.ModelVersion).where(s.ModelVersion.model_id == row.id)
                                   .order_by(s.ModelVersion.id.desc()).limit(limit).offset(offset)).all()
        return ModelPage(model=model_view(row), total=total, versions=[version_view(v) for v in versions])


def newest(catalog: Catalog, *, page: int = 1, per_page: int = 20) -> SearchPage:
    """The newest versions, as ``search`` with no text and no filter returns them, but cheaper.

    The page walks the ``created_at`` index and the total is a plain count, where ``search`` would
    rank and window-count every version.
    """
    with catalog.read() as session:
        total = session.scalar(select(func.count()).select_from(s.ModelVersion)) or 0
        ids = session.scalars(select(s.ModelVersion.id)
                              .order_by(s.ModelVersion.created_at.desc(), s.ModelVersion.id.desc())
                              .limit(per_page).offset((page - 1) * per_page)).all()
        return SearchPage(total=total, page=page, per_page=per_page, hits=hits(session, [(i, 0.0) for i in ids]))
