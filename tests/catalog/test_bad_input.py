"""Bad input to the catalog, from a user's seat: every mistake is a 4xx or exit 1/2, never a 500 or a traceback.

The REST checks run a real uvicorn server on a free port over both databases (``catalog_url``).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from modelward import catalog as c
from modelward import errors
from modelward.cli.main import main
from modelward.serving.catalog_routes import create_catalog_app
from modelward.settings import Settings
from tests.catalog.conftest import model_info, version_info
from tests.conftest import child_env

HUGE = "99999999999999999999"  # more than any database integer holds


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def api(catalog_url: str, tmp_path: Path) -> Iterator[httpx.Client]:
    """A client of ``modelward catalog serve`` on ``catalog_url``, holding one registered version."""
    catalog = c.open_catalog(catalog_url)
    c.register_version(catalog, model=model_info(), version=version_info(), actor="alice")
    catalog.dispose()
    settings = Settings(data_dir=tmp_path, catalog_url=catalog_url, catalog_read_open=True)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_catalog_app(settings), host="127.0.0.1", port=port,
                                       log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        yield client
    srv.should_exit = True
    thread.join(timeout=10)


def _token(url: str, role: str, name: str = "") -> dict[str, str]:
    catalog = c.open_catalog(url)
    plain, _ = c.create_token(catalog, role=role, name=name, actor="test")
    catalog.dispose()
    return {"Authorization": f"Bearer {plain}"}


def _cli(url: str, *args: str) -> tuple[int, str]:
    """Run the installed ``modelward`` command on ``url``: its exit status and stderr."""
    command = Path(sys.executable).with_name("modelward")
    done = subprocess.run([str(command), *args], capture_output=True, text=True, timeout=60, check=False,
                          env=child_env(MODELWARD_CATALOG_URL=url))
    return done.returncode, done.stderr


def _refused(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    message = " ".join(response.json()["messages"])
    assert all(w in message for w in words), message


@pytest.fixture
def cli_url(catalog_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MODELWARD_CATALOG_URL", catalog_url)
    return catalog_url


@pytest.mark.parametrize("path", ["/api/catalog/deployments", "/api/catalog/models", "/api/catalog/audit"])
def test_an_offset_past_what_a_database_holds_is_422(api: httpx.Client, path: str) -> None:
    _refused(api.get(path, params={"offset": HUGE}), 422, "query.offset")
    _refused(api.get(path, params={"offset": str(2**63)}), 422, "query.offset")


def test_a_search_page_past_what_a_database_holds_is_422(api: httpx.Client) -> None:
    _refused(api.get("/api/catalog/search", params={"page": HUGE}), 422, "query.page")
    _refused(api.get("/api/catalog/search", params={"page": str(2**63 - 1)}), 422, "query.page")


def test_cli_paging_past_what_a_database_holds_is_a_usage_error(cli_url: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "deployments", "--offset", HUGE]) == 2
    assert "--offset" in capsys.readouterr().err
    assert main(["catalog", "search", "--page", str(2**63 - 1)]) == 2
    assert "--page" in capsys.readouterr().err


def test_an_offset_in_a_deployment_time_is_kept_on_both_databases(api: httpx.Client, catalog_url: str) -> None:
    deployer = _token(catalog_url, "deployer")
    body = {"model": "insurance_charges_model", "version": "1.2.0", "target": "local",
            "deployed_at": "2026-01-01T00:00:00+05:00", "deployment_id": "tz"}
    assert api.post("/api/catalog/deployments", json=body, headers=deployer).status_code == 201
    assert api.get("/api/catalog/deployments/tz").json()["deployed_at"] == "2025-12-31T19:00:00Z"
    attempt = {"model": "insurance_charges_model", "version": "9", "target": "local", "step": "verify",
               "reason": "bad signature", "attempted_at": "2026-01-01T00:00:00-02:00", "attempt_id": "tz-a"}
    assert api.post("/api/catalog/attempts", json=attempt, headers=deployer).status_code == 201
    assert api.get("/api/catalog/deployments/tz-a").json()["deployed_at"] == "2026-01-01T02:00:00Z"
    found = api.get("/api/catalog/deployments", params={"since": "2026-01-01T00:30:00+05:00"}).json()
    assert [d["id"] for d in found["deployments"]] == ["tz-a"]


def test_a_date_that_utc_cannot_hold_is_422_or_exit_1(api: httpx.Client, catalog_url: str,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    early, late = "0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00"
    deployer = _token(catalog_url, "deployer")
    body = {"model": "insurance_charges_model", "version": "1.2.0", "target": "local", "deployed_at": early}
    _refused(api.post("/api/catalog/deployments", json=body, headers=deployer), 422, "body.deployed_at", early)
    attempt = {"model": "m", "target": "local", "step": "verify", "reason": "r", "attempted_at": late}
    _refused(api.post("/api/catalog/attempts", json=attempt, headers=deployer), 422, "body.attempted_at")
    _refused(api.get("/api/catalog/deployments", params={"until": early}), 422, "query.until")
    _refused(api.get("/api/catalog/search", params={"deployed_since": late}), 422, "query.deployed_since")
    assert api.get("/api/catalog/deployments").json()["total"] == 0
    monkeypatch.setenv("MODELWARD_CATALOG_URL", catalog_url)
    capsys.readouterr()
    assert main(["catalog", "deployments", "--since", early]) == 1
    assert capsys.readouterr().err.startswith(f"error: --since: {early} is outside")
    assert main(["catalog", "search", "--registered-until", late]) == 1
    assert capsys.readouterr().err.startswith("error: invalid search: registered_until: Value error")


def test_a_deployment_cannot_take_the_id_of_a_failed_attempt(catalog: c.Catalog) -> None:
    c.register_version(catalog, model=model_info(), version=version_info(), actor="alice")
    c.record_failed_attempt(catalog, info=c.AttemptInfo(model="insurance_charges_model", version="1.3.0",
                                                         target="local", step="verify", reason="unknown key",
                                                         attempt_id="run-7"), actor="ci")
    again = c.DeploymentInfo(model="insurance_charges_model", version="1.2.0", target="local", deployment_id="run-7")
    with pytest.raises(errors.Conflict, match="deployment 'run-7' is already recorded"):
        c.record_deployment(catalog, info=again, actor="ci")
    page = c.list_deployments(catalog)
    assert [(d.id, d.version_registered) for d in page.deployments] == [("run-7", False)]
    assert c.get_deployment(catalog, deployment_id="run-7").failed_step == "verify"
    assert c.verify_audit(catalog).events == 3


def test_replicas_and_endpoints_are_checked_when_recorded_and_when_patched(api: httpx.Client,
                                                                         catalog_url: str) -> None:
    deployer = _token(catalog_url, "deployer")
    body = {"model": "insurance_charges_model", "version": "1.2.0", "target": "kubernetes", "deployment_id": "d1"}
    for replicas in (int(HUGE), 2**31):
        _refused(api.post("/api/catalog/deployments", json=body | {"replicas": replicas}, headers=deployer),
                 422, "body.replicas", "less than or equal to 2147483647")
    assert api.post("/api/catalog/deployments", json=body | {"replicas": 3}, headers=deployer).status_code == 201
    patch = "/api/catalog/deployments/d1"
    _refused(api.patch(patch, json={"replicas": -5}, headers=deployer), 422, "body.replicas", "greater than")
    _refused(api.patch(patch, json={"replicas": int(HUGE)}, headers=deployer), 422, "body.replicas")
    _refused(api.patch(patch, json={"endpoint_url": "x" * 1001}, headers=deployer), 422, "body.endpoint_url")
    assert api.get(patch).json()["replicas"] == 3
    assert api.patch(patch, json={"replicas": 0}, headers=deployer).json()["replicas"] == 0


def test_nan_and_infinity_in_metrics_or_manifest_are_422(api: httpx.Client, catalog_url: str) -> None:
    publisher = {**_token(catalog_url, "publisher"), "content-type": "application/json"}
    for field, text in (("metrics", '{"r2": NaN}'), ("manifest", '{"x": [Infinity]}')):
        body = '{"model": {"qualified_name": "m"}, "version": {"version": "1", "' + field + '": ' + text + "}}"
        _refused(api.post("/api/catalog/versions", content=body, headers=publisher), 422,
                 f"body.version.{field}", "NaN and Infinity are not JSON numbers")
    _refused(api.get("/api/catalog/models/m"), 404, "no model 'm'")


def test_a_value_the_database_cannot_hold_is_a_4xx_naming_the_problem(api: httpx.Client, catalog_url: str) -> None:
    # PostgreSQL refuses NUL bytes in text: it used to be a 500; SQLite simply finds nothing
    for response in (api.get("/api/catalog/models/a%00b"), api.get("/api/catalog/deployments?model=a%00b"),
                     api.get("/api/catalog/search?owner=a%00b")):
        assert response.status_code in (200, 400, 404), response.text
        assert response.headers["content-type"] == "application/json"
    if catalog_url.startswith("postgresql"):
        _refused(api.get("/api/catalog/models/a%00b"), 400, "cannot store or look up a value", "NUL")


def test_a_token_name_is_at_most_100_characters_and_an_older_long_one_still_writes(api: httpx.Client,
                                                                                  catalog_url: str) -> None:
    catalog = c.open_catalog(catalog_url)
    with pytest.raises(errors.CatalogError, match="a token name has at most 100 characters, not 101"):
        c.create_token(catalog, role="publisher", name="n" * 101, actor="test")
    plain, view = c.create_token(catalog, role="publisher", name="ci", actor="test")
    with catalog.engine.begin() as conn:  # a token named before the limit existed
        conn.execute(sa.text("UPDATE api_tokens SET name = :name WHERE id = :id"), {"name": "n" * 200, "id": view.id})
    catalog.dispose()
    body = {"model": {"qualified_name": "m"}, "version": {"version": "1"}}
    made = api.post("/api/catalog/versions", json=body, headers={"Authorization": f"Bearer {plain}"})
    assert made.status_code == 201, made.text
    assert made.json()["created_by"] == f"token:{view.id} ({'n' * 100})"
    status, err = _cli(catalog_url, "tokens", "create", "--role", "reader", "--name", "x" * 201)
    assert (status, err) == (1, "error: a token name has at most 100 characters, not 201\n")
    status, err = _cli(catalog_url, "tokens", "create", "--role", "reader", "--actor", "a" * 201)
    assert (status, err) == (1, "error: --actor has at most 200 characters, not 201\n")


def _tampered(url: str, statement: str) -> tuple[int, str]:
    """Three events (model, version, token), one SQL edit, then ``audit verify``: its status and stderr."""
    catalog = c.open_catalog(url)
    c.register_version(catalog, model=model_info(), version=version_info(), actor="alice")
    c.create_token(catalog, role="reader", actor="alice")
    with catalog.engine.begin() as conn:
        conn.execute(sa.text(statement))
    catalog.dispose()
    return _cli(url, "catalog", "audit", "verify")


@pytest.mark.parametrize(("statement", "message"), [
    ("UPDATE audit_events SET at = 'garbage' WHERE seq = 2",
     "error: audit event 2 (version.register insurance_charges_model@1.2.0) was altered: a stored value "
     "cannot be read (Invalid isoformat string: 'garbage')\n"),
    ("UPDATE audit_events SET after = '{not json' WHERE seq = 3",
     "error: audit event 3 (token.create token:"),
    ("UPDATE audit_events SET at = '2026-13-45 00:00:00' WHERE seq = 1",
     "error: audit event 1 (model.create model:insurance_charges_model) was altered: a stored value cannot"),
])
def test_audit_verify_names_an_event_edited_into_unreadable_values(tmp_path: Path, statement: str,
                                                                    message: str) -> None:
    url = f"sqlite:///{tmp_path / 'cat.db'}"  # PostgreSQL's column types refuse such values
    c.open_catalog(url, migrate=True).dispose()
    status, err = _tampered(url, statement)
    assert status == 1 and err.startswith(message) and "Traceback" not in err, err
    status, err = _cli(url, "catalog", "audit", "list")
    assert status == 1 and err.startswith("error: an audit event was altered: a stored value cannot be read"), err


def test_audit_verify_names_the_earliest_problem_when_a_later_event_is_unreadable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cat.db'}"
    c.open_catalog(url, migrate=True).dispose()
    status, err = _tampered(url, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 1")
    assert status == 1 and err.startswith("error: audit event 1 (model.create"), err
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_events SET at = 'garbage' WHERE seq = 3"))
    engine.dispose()
    assert _cli(url, "catalog", "audit", "verify")[1].startswith("error: audit event 1 (model.create")


def test_audit_verify_says_the_head_was_altered_when_its_hash_differs(catalog_url: str) -> None:
    status, err = _tampered(catalog_url, "UPDATE audit_head SET hash = 'x'")
    assert (status, err) == (1, "error: the audit chain head (event 3, hash x) does not match the newest event 3: "
                                "the head or the newest event was altered\n")


def test_export_to_a_path_that_cannot_be_written_is_exit_1(catalog_url: str, tmp_path: Path) -> None:
    for target, problem in ((tmp_path / "no" / "dir" / "atlas.json", "No such file or directory"),
                            (tmp_path, "Is a directory")):
        status, err = _cli(catalog_url, "catalog", "export", "--format", "atlas", "-o", str(target))
        assert (status, err) == (1, f"error: cannot write {target}: {problem}\n")


def test_a_version_with_an_at_sign_can_be_shown(catalog: c.Catalog, catalog_url: str) -> None:
    c.register_version(catalog, model=model_info(), version=version_info("2.0@rc1"), actor="alice")
    assert c.parse_ref("insurance_charges_model@2.0@rc1") == ("insurance_charges_model", "2.0@rc1")
    assert _cli(catalog_url, "catalog", "show", "insurance_charges_model@2.0@rc1") == (0, "")
    assert _cli(catalog_url, "catalog", "lineage", "insurance_charges_model@2.0@rc1") == (0, "")
    for ref in ("M@", "@1", "@", ""):
        with pytest.raises(errors.CatalogError, match="is not a model reference of the form NAME@VERSION"):
            c.parse_ref(ref)


def test_an_unknown_lineage_format_is_422(api: httpx.Client) -> None:
    path = "/api/catalog/lineage/insurance_charges_model/1.2.0"
    _refused(api.get(path, params={"format": "xml"}), 422, "query.format", "'json' or 'text'")
    assert api.get(path, params={"format": "text"}).text.startswith("upstream\n")


def test_ids_and_versions_with_a_slash_are_refused_as_the_rest_paths_could_not_reach_them(
        api: httpx.Client, catalog_url: str) -> None:
    deployer, publisher = _token(catalog_url, "deployer"), _token(catalog_url, "publisher")
    body = {"model": "insurance_charges_model", "version": "1.2.0", "target": "local", "deployment_id": "a/b"}
    _refused(api.post("/api/catalog/deployments", json=body, headers=deployer), 422, "body.deployment_id",
             "must not contain '/'")
    attempt = {"model": "m", "target": "local", "step": "verify", "reason": "bad", "attempt_id": "x/y"}
    _refused(api.post("/api/catalog/attempts", json=attempt, headers=deployer), 422, "body.attempt_id")
    version = {"model": {"qualified_name": "icm"}, "version": {"version": "1/2"}}
    _refused(api.post("/api/catalog/versions", json=version, headers=publisher), 422, "body.version.version")
    assert api.get("/api/catalog/deployments").json()["total"] == 0
