"""Each version keeps its own owner and line of business: registering v2 never changes what v1 shows.

Every surface is checked on SQLite and PostgreSQL: the library, ``catalog show`` (text and JSON),
the REST API of a real server on loopback, search and the Atlas export; and a catalog written
before revision 0003 upgrades with its versions' owners filled in.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from sqlalchemy.orm import sessionmaker

from modelward import catalog as c
from modelward.catalog import exports
from modelward.catalog.db import engine_for
from modelward.cli.main import main
from modelward.serving.catalog_routes import create_catalog_app
from modelward.settings import Settings
from tests.catalog.conftest import PG_SERVER, model_info, version_info
from tests.conftest import free_port

NAME = "insurance_charges_model"


def _two_owners(catalog: c.Catalog) -> None:
    """v1 registered by owner ann (claims), v2 by owner bob (pricing): the model's owner changes."""
    c.register_version(catalog, model=model_info(owner="ann", line_of_business="claims"),
                       version=version_info("1.0.0", "sha256:01"), actor="alice")
    c.register_version(catalog, model=model_info(owner="bob", line_of_business="pricing"),
                       version=version_info("2.0.0", "sha256:02"), actor="alice")


def test_a_new_version_never_changes_an_older_ones_owner(catalog: c.Catalog) -> None:
    _two_owners(catalog)
    old = c.get_version(catalog, name=NAME, version="1.0.0")
    new = c.get_version(catalog, name=NAME, version="2.0.0")
    assert (old.owner, old.line_of_business) == ("ann", "claims")
    assert (new.owner, new.line_of_business) == ("bob", "pricing")
    detail = c.get_model(catalog, name=NAME)
    assert (detail.model.owner, detail.model.line_of_business) == ("bob", "pricing"), "the model: the latest"
    assert [(v.version, v.owner) for v in detail.versions] == [("2.0.0", "bob"), ("1.0.0", "ann")]
    # a version's own value wins over the model's; an empty one takes the model's as it then is
    c.register_version(catalog, model=model_info(owner="", line_of_business=""),
                       version=version_info("3.0.0", "sha256:03", owner="cy", line_of_business="risk"), actor="a")
    c.register_version(catalog, model=model_info(owner="", line_of_business=""),
                       version=version_info("4.0.0", "sha256:04"), actor="a")
    assert c.get_version(catalog, name=NAME, version="3.0.0").owner == "cy"
    assert (c.get_version(catalog, name=NAME, version="4.0.0").owner, c.get_model(catalog, name=NAME).model.owner) \
        == ("bob", "bob")
    registered = c.audit_events(catalog, entity=f"{NAME}@1.0.0")[0]
    assert (registered.after or {})["owner"] == "ann"


def test_search_and_exports_show_each_versions_own_owner(catalog: c.Catalog) -> None:
    _two_owners(catalog)
    by_ann = c.search(catalog, query=c.SearchQuery(owner="ann"))
    assert [(h.version, h.owner, h.line_of_business) for h in by_ann.hits] == [("1.0.0", "ann", "claims")]
    by_lob = c.search(catalog, query=c.SearchQuery(text="insurance", line_of_business="pricing"))
    assert [(h.version, h.owner) for h in by_lob.hits] == [("2.0.0", "bob")]
    c.record_deployment(catalog, info=c.DeploymentInfo(model=NAME, version="1.0.0", target="seldon"), actor="ci")
    entities = exports.atlas_entities(catalog)["entities"]
    (deployed,) = [e["attributes"] for e in entities if e["typeName"] == "model"]
    assert (deployed["model.version"], deployed["model.owner"], deployed["model.owner.lob"]) == (
        "1.0.0", "ann", "claims")
    owners = {e["attributes"]["model.version"]: e["attributes"]["owner"] for e in entities
              if e["typeName"] == "model_version"}
    assert owners == {"1.0.0": "ann", "2.0.0": "bob"}


def test_catalog_show_prints_each_versions_owner(catalog_url: str, catalog: c.Catalog,
                                                capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _two_owners(catalog)
    monkeypatch.setenv("MODELWARD_CATALOG_URL", catalog_url)
    capsys.readouterr()
    assert main(["catalog", "show", f"{NAME}@1.0.0"]) == 0
    shown = capsys.readouterr().out
    assert "owner      ann  (line of business claims" in shown and "bob" not in shown
    assert main(["catalog", "show", f"{NAME}@1.0.0", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["owner"], document["line_of_business"]) == ("ann", "claims")
    assert main(["catalog", "show", NAME]) == 0
    listing = capsys.readouterr().out
    assert "owner bob" in listing  # the model: the latest registration's
    assert any(line.split()[0] == "1.0.0" and "ann/claims" in line for line in listing.splitlines())


@pytest.fixture
def api(catalog_url: str, tmp_path: Path) -> Iterator[str]:
    settings = Settings(data_dir=tmp_path, catalog_url=catalog_url, catalog_read_open=True)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_catalog_app(settings), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/api/catalog"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.integration
def test_rest_registrations_keep_each_versions_owner(api: str, catalog: c.Catalog) -> None:
    plain, _ = c.create_token(catalog, role="publisher", actor="test")
    model = {"qualified_name": "icm", "description": "insurance charges"}
    with httpx.Client(base_url=api, headers={"Authorization": f"Bearer {plain}"}, timeout=10) as client:
        for version, owner, lob in (("1.0.0", "ann", "claims"), ("2.0.0", "bob", "pricing")):
            body = {"model": {**model, "owner": owner, "line_of_business": lob},
                    "version": {"version": version, "artifact_uri": f"s3://m/{version}.zip",
                                "artifact_digest": f"sha256:{version}"}}
            made = client.post("/versions", json=body)
            assert made.status_code == 201, made.text
            assert made.json()["owner"] == owner
        old = client.get("/models/icm/versions/1.0.0").json()
        assert (old["owner"], old["line_of_business"]) == ("ann", "claims")
        detail = client.get("/models/icm").json()
        assert detail["model"]["owner"] == "bob"
        assert [(v["version"], v["owner"]) for v in detail["versions"]] == [("2.0.0", "bob"), ("1.0.0", "ann")]
        hits = client.get("/search", params={"owner": "ann"}).json()["hits"]
        assert [(h["version"], h["owner"]) for h in hits] == [("1.0.0", "ann")]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no catalog in it yet (migrated by the test, step by step)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    name = f"mw_migrate_{secrets.token_hex(6)}"
    admin = sa.create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


def test_a_revision_0002_catalog_upgrades_with_each_version_owned_as_its_model(empty_url: str) -> None:
    engine = engine_for(empty_url)
    old = c.Catalog(engine, sessionmaker(engine), sessionmaker(engine))
    assert c.upgrade(old, "0002") == "0002"
    moment = "'2026-01-01 00:00:00+00'"
    with old.engine.begin() as conn:  # rows as revision 0002 wrote them: ownership on the model only
        conn.exec_driver_sql(
            "INSERT INTO models (qualified_name, display_name, description, model_type, owner, line_of_business,"
            f" project, tags, readme, created_at, updated_at) VALUES ('icm', '', 'insurance charges', '', 'ann',"
            f" 'claims', '', '[]', '', {moment}, {moment})")
        conn.exec_driver_sql(
            "INSERT INTO model_versions (model_id, version, artifact_uri, artifact_digest, manifest,"
            " manifest_digest, signing_key_id, code_repository, code_commit, metrics, registry_url, stage,"
            " created_by, created_at) SELECT id, '1.0.0', '', 'sha256:aa', '{}', '', '', '', '', '{}', '',"
            f" 'registered', 'alice', {moment} FROM models WHERE qualified_name = 'icm'")
    old.dispose()
    upgraded = c.open_catalog(empty_url, migrate=True)
    assert c.current_revision(upgraded) == c.head_revision() == "0004"
    view = c.get_version(upgraded, name="icm", version="1.0.0")
    assert (view.owner, view.line_of_business) == ("ann", "claims")
    c.register_version(upgraded, model=model_info("icm", owner="bob", line_of_business="pricing"),
                       version=version_info("2.0.0", "sha256:bb"), actor="alice")
    assert c.get_version(upgraded, name="icm", version="1.0.0").owner == "ann"
    assert [h.version for h in c.search(upgraded, query=c.SearchQuery(owner="ann")).hits] == ["1.0.0"]
    upgraded.dispose()
