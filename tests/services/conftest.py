"""The catalog's backend fixtures (``catalog_url``: SQLite and PostgreSQL) for services tests."""

from tests.catalog.conftest import catalog_url, pg_database, sqlite_template  # noqa: F401
