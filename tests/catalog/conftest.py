"""Catalog fixtures: every test that takes ``catalog_url`` runs on SQLite and on PostgreSQL.

PostgreSQL: one throwaway database with a random name per test session (dropped at the end);
tables are emptied between tests. SQLite: a fresh migrated file per test.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from modelward import catalog as c

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TABLES = ("graph_members", "version_datasets", "model_tags", "version_placements", "deployment_attempts", "deployments",
          "model_versions", "datasets", "models",
          "audit_events", "audit_head", "api_tokens")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    name = f"mw_test_{secrets.token_hex(6)}"
    admin = sa.create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is needed for the postgres tests: {exc}")
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    c.open_catalog(url, migrate=True).dispose()
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "catalog.db"
    c.open_catalog(f"sqlite:///{path}", migrate=True).dispose()
    return path


def _empty(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "catalog.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_database")
    _empty(url)
    return url


@pytest.fixture
def catalog(catalog_url: str) -> Iterator[c.Catalog]:
    handle = c.open_catalog(catalog_url)
    yield handle
    handle.dispose()


def model_info(name: str = "insurance_charges_model", **overrides: object) -> c.ModelInfo:
    fields: dict[str, object] = {
        "qualified_name": name, "display_name": "Insurance charges", "model_type": "gradient boosting regression",
        "description": "Predicts the yearly insurance charges of a customer", "owner": "greg",
        "line_of_business": "pricing", "project": "charges", "tags": ("insurance", "regression"),
        "readme": "# Insurance charges\nTrained on the synthetic charges dataset.",
    }
    return c.ModelInfo(**(fields | overrides))  # type: ignore[arg-type]


def version_info(version: str = "1.2.0", digest: str = "sha256:aaaa", **overrides: object) -> c.VersionInfo:
    fields: dict[str, object] = {
        "version": version, "artifact_uri": f"s3://models/icm-{version}.zip", "artifact_digest": digest,
        "signing_key_id": "key-2026", "code_repository": "https://git.example/icm", "code_commit": "abc123",
        "datasets": (c.DatasetRef(name="charges", uri="s3://data/charges.csv", digest="sha256:dddd"),),
        "metrics": {"r2": 0.87}, "manifest": {"model": {"qualified_name": "x"}},
    }
    return c.VersionInfo(**(fields | overrides))  # type: ignore[arg-type]
