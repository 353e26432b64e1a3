"""A keyed row lookup in an SQL table (SQLAlchemy Core), for the enrichment decorator.

It lives in the catalog layer because that layer owns SQLAlchemy; it reads any database SQLAlchemy
reaches (``postgresql+psycopg://...``, ``sqlite:///...``), not the catalog's own tables.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, column, create_engine, select, table
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError

from modelward.errors import ConfigurationError, EnrichmentError, EnrichmentUnavailable


class SqlLookup:
    """``SELECT columns FROM table WHERE key_column = :key`` over a pooled engine."""

    def __init__(self, url: str, table_name: str, key_column: str, columns: list[str], *,
                 schema: str | None = None, timeout: float = 5.0) -> None:
        self.description = f"table {table_name}"
        try:
            self._engine: Engine = create_engine(url, pool_pre_ping=True, **_timeout_args(url, timeout))
        except (ArgumentError, NoSuchModuleError) as exc:
            raise ConfigurationError(f"enrichment lookup url: {exc}") from None
        source = table(table_name, *(column(c) for c in {key_column, *columns}), schema=schema)
        self._statement = select(*(source.c[c] for c in columns))
        self._source, self._key_column, self._columns = source, key_column, columns

    def get(self, key: Any) -> dict[str, Any] | None:
        """The row's columns for ``key``, or None when no row has it."""
        query = self._statement.where(self._source.c[self._key_column] == key).limit(1)
        try:
            with self._engine.connect() as connection:
                row = connection.execute(query).mappings().first()
        except OperationalError as exc:
            raise EnrichmentUnavailable(f"enrichment lookup {self.description} cannot be reached: "
                                        f"{str(exc.orig).strip().splitlines()[0]}") from None
        except SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            raise EnrichmentError(f"enrichment lookup {self.description} failed: {detail}") from None
        return dict(row) if row is not None else None

    def close(self) -> None:
        self._engine.dispose()


def _timeout_args(url: str, timeout: float) -> dict[str, Any]:
    if url.startswith("postgresql"):
        return {"connect_args": {"connect_timeout": max(1, int(timeout))}}
    return {}
