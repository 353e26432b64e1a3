"""The console's pages over plain HTTP (httpx against a real server on loopback), SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from modelward import catalog as c
from tests.conftest import Server, child_env, wait_for, write_config
from tests.web.conftest import Console
from tests.web.seed import XSS_DESCRIPTION

pytestmark = pytest.mark.integration
ICM = "insurance_charges_model"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _csrf(client: httpx.Client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found is not None, "the page has no CSRF field"
    return found.group(1)


def _login(client: httpx.Client, token: str) -> None:
    answer = client.post("/console/login", data={"csrf": _csrf(client, "/console/login"), "token": token,
                                                 "next": "/console/"})
    assert answer.status_code == 303 and answer.headers["location"] == "/console/", answer.text


def _stage(console: Console, version: str) -> str:
    cat = c.open_catalog(console.catalog_url)
    try:
        return c.get_version(cat, name=ICM, version=version).stage
    finally:
        cat.dispose()


def test_the_five_questions_are_on_the_pages_one_link_from_home(console: Console) -> None:
    with httpx.Client(base_url=console.base) as client:
        home = client.get("/console/").text
        assert 'href="/console/deployments"' in home and f'href="/console/models/{ICM}/versions/1.1.0"' in home
        deployments = client.get("/console/deployments").text  # when and where, which version
        assert f"{ICM}@1.1.0" in deployments and "kubernetes/production" in deployments
        assert "2026-03-08 09:00:00 UTC" in deployments and "cluster-a/ns-pricing" not in deployments.split(
            "<tbody>")[0]
        version = client.get(f"/console/models/{ICM}/versions/1.1.0").text  # which object, who owns it
        assert "s3://models/insurance_charges-1.1.0.zip" in version and "sha256:bbbb" in version
        assert "key-2026" in version and ">greg<" in version and "s3://data/charges-2026.csv" in version
        assert "https://git.example/pricing/insurance-charges" in version and "validation.jsonl" in version
        lineage = client.get(f"/console/lineage/{ICM}/1.1.0").text  # traced to code and data
        for node in ('data-node="dataset:0"', 'data-node="dataset:1"', 'data-node="code"', 'data-node="artifact"',
                     'data-node="version"', f'data-node="deployment:{console.seeded.running}"'):
            assert node in lineage
        assert lineage.count('class="edge ') == 2 + 1 + 1 + 2  # datasets->code, code->artifact, ->version, 2 deps
        model = client.get(f"/console/models/{ICM}").text
        assert ">greg<" in model and ">pricing<" in model and "<table>" in model and "<strong>charges</strong>" in model


def test_search_filters_and_full_text(console: Console) -> None:
    with httpx.Client(base_url=console.base) as client:
        def versions(**params: str) -> list[str]:
            page = client.get("/console/", params=params)
            assert page.status_code == 200, page.text
            results = page.text.split('class="results"')[1].split("</table>")[0]
            return re.findall(r'<td><a href="/console/models/[^"]+/versions/[^"]+">([^<]+)</a></td>', results)

        assert sorted(versions()) == sorted([f"{ICM}@1.0.0", f"{ICM}@1.1.0", f"{ICM}@1.2.0", "fraud_model@2.0.0",
                                             "churn_model@0.9.0"])
        assert versions(owner="ana") == ["fraud_model@2.0.0"]
        assert versions(q="insurance", stage="production") == [f"{ICM}@1.1.0"]
        assert sorted(versions(line_of_business="marketing", q="customers")) == ["churn_model@0.9.0"]
        assert versions(environment="staging") == [f"{ICM}@1.1.0"]
        assert versions(registered_until="2000-01-01") == []
        assert len(versions(registered_since="2000-01-01", owner="greg")) == 3
        assert versions(deployed_since="2026-03-08", deployed_until="2026-03-09") == [f"{ICM}@1.1.0"]
        bad = client.get("/console/", params={"registered_since": "yesterday"})
        assert bad.status_code == 422 and "registered_since" in bad.text
        assert client.get("/console/", params={"stage": "nowhere"}).status_code == 422
        assert client.get("/console/", params={"page": "0"}).status_code == 400
        failed = client.get("/console/deployments", params={"status": "failed"}).text
        assert console.seeded.failed[:12] in failed and console.seeded.running[:12] not in failed


def test_catalog_text_is_escaped_and_readme_html_is_inert(console: Console) -> None:
    with httpx.Client(base_url=console.base) as client:
        answer = client.get("/console/models/fraud_model")
        page = answer.text
        assert "<script>alert" not in page and "<img src=x" not in page and 'href="javascript:' not in page
        assert html.escape(XSS_DESCRIPTION, quote=False) in page
        assert "&lt;img src=x onerror=&quot;alert(&#x27;img&#x27;)&quot;&gt;" in page or \
            "&lt;img src=x onerror=&quot;alert('img')&quot;&gt;" in page
        assert "script-src 'self'" in answer.headers["content-security-policy"]
        search = client.get("/console/", params={"q": "<script>alert(2)</script>"}).text
        assert "<script>alert(2)" not in search and "&lt;script&gt;alert(2)&lt;/script&gt;" in search


def test_a_deployer_promotes_and_the_audit_trail_records_it(console: Console) -> None:
    with httpx.Client(base_url=console.base) as client:
        _login(client, console.seeded.tokens["deployer"])
        path = f"/console/models/{ICM}/versions/1.2.0"
        token = _csrf(client, path)
        done = client.post(path + "/promote", data={"csrf": token, "stage": "staging"})
        assert done.status_code == 303 and done.headers["location"] == path + "?changed=staging"
        assert _stage(console, "1.2.0") == "staging"
        audit = client.get("/console/audit").text
        first = audit.split("<tbody>")[1].split("</tr>")[0]
        assert "version.stage" in first and f"{ICM}@1.2.0" in first and "token:" in first and "deployer token" in first
        again = client.post(path + "/promote", data={"csrf": token, "stage": "nowhere"})
        assert again.status_code == 400 and "stage must be one of" in again.text
        unvalidated = client.post("/console/models/churn_model/versions/0.9.0/promote",
                                  data={"csrf": token, "stage": "production"})
        assert unvalidated.status_code == 422 and "not validated" in unvalidated.text


def test_a_reader_is_refused_and_nothing_changes(console: Console) -> None:
    with httpx.Client(base_url=console.base) as client:
        path = f"/console/models/{ICM}/versions/1.2.0"
        assert "with a deployer or admin token to change the stage" in client.get(path).text
        anonymous = client.post(path + "/promote", data={"csrf": _csrf(client, "/console/login"), "stage": "staging"})
        assert anonymous.status_code == 401 and "/console/login?next=" in anonymous.text
        _login(client, console.seeded.tokens["reader"])
        refused = client.post(path + "/promote", data={"csrf": _csrf(client, path), "stage": "staging"})
        assert refused.status_code == 403 and "Not allowed" in refused.text and "may not deploy" in refused.text
        assert _stage(console, "1.2.0") == "validated"
        assert client.get("/console/tokens").status_code == 403


def test_posts_without_the_sessions_csrf_token_change_nothing(console: Console) -> None:
    with httpx.Client(base_url=console.base) as client:
        _login(client, console.seeded.tokens["admin"])
        path = f"/console/models/{ICM}/versions/1.2.0/promote"
        for form in ({"stage": "staging"}, {"stage": "staging", "csrf": "forged"}):
            refused = client.post(path, data=form)
            assert refused.status_code == 403 and "CSRF" in refused.text
        token = _csrf(client, "/console/")
        foreign = client.post(path, data={"csrf": token, "stage": "staging"}, headers={"Origin": "http://evil.example"})
        assert foreign.status_code == 403 and "another origin" in foreign.text
    with httpx.Client(base_url=console.base) as stranger:  # a valid token from another session does not help
        refused = stranger.post(path, data={"csrf": token, "stage": "staging"})
        assert refused.status_code == 403 and "without a console session" in refused.text
    assert _stage(console, "1.2.0") == "validated"
    set_cookie = httpx.get(console.base + "/console/").headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=strict" in set_cookie and "path=/console" in set_cookie


def _deployment(console: Console, ident: str) -> c.DeploymentView:
    cat = c.open_catalog(console.catalog_url)
    try:
        return c.get_deployment(cat, deployment_id=ident)
    finally:
        cat.dispose()


def test_a_deployer_rolls_back_and_the_previous_version_is_current(console: Console) -> None:
    running = console.seeded.running
    path = f"/console/deployments/{running}"
    with httpx.Client(base_url=console.base) as client:
        anonymous = client.get(path).text
        assert f"{ICM}@1.0.0</a>" in anonymous and "with a deployer or admin token to roll back" in anonymous
        assert 'id="rollback-form"' not in anonymous
        unreachable = client.get(f"/console/deployments/{console.seeded.unreachable}").text
        assert "Nothing to roll back to" in unreachable and 'id="rollback-form"' not in unreachable
        _login(client, console.seeded.tokens["deployer"])
        page = client.get(path).text
        assert f'action="{path}/rollback"' in page and "Roll back to 1.0.0" in page
        done = client.post(path + "/rollback", data={"csrf": _csrf(client, path), "reason": "charges off by 10%"})
        assert done.status_code == 303, done.text
        new_path, _, query = done.headers["location"].partition("?")
        assert new_path.startswith("/console/deployments/") and query == f"rolled_back={running}"
        shown = client.get(done.headers["location"]).text
        assert "Rolled back: deployment" in shown and f"{ICM}@1.0.0</a>" in shown
        assert 'class="badge status-running">running<' in shown and "charges off by 10%" in shown
        assert "deployment.record" in shown and "Nothing to roll back to" in shown  # 1.1.0 is never restored
        old = client.get(path).text
        assert 'class="badge status-rolled_back">rolled_back<' in old and "deployment.rollback" in old
        first = client.get("/console/audit").text.split("<tbody>")[1].split("</tr>")[0]
        assert "deployment.rollback" in first and "deployer token" in first and running in first
        assert "The audit chain verifies" in client.get("/console/audit/verify").text
    current = _deployment(console, new_path.rsplit("/", 1)[1])
    assert (current.version, current.status, current.replaced_id) == ("1.0.0", "running", running)
    assert _deployment(console, running).status == "rolled_back"


def test_a_reader_may_not_roll_back_and_a_forged_post_changes_nothing(console: Console) -> None:
    running = console.seeded.running
    path = f"/console/deployments/{running}"
    with httpx.Client(base_url=console.base) as client:
        anonymous = client.post(path + "/rollback", data={"csrf": _csrf(client, "/console/login")})
        assert anonymous.status_code == 401 and "/console/login?next=" in anonymous.text
        _login(client, console.seeded.tokens["reader"])
        page = client.get(path).text
        assert 'id="rollback-form"' not in page and "(reader) may not roll back" in page
        refused = client.post(path + "/rollback", data={"csrf": _csrf(client, path)})
        assert refused.status_code == 403 and "may not deploy" in refused.text
    with httpx.Client(base_url=console.base) as client:
        _login(client, console.seeded.tokens["admin"])
        for form in ({}, {"csrf": "forged"}):
            forged = client.post(path + "/rollback", data=form)
            assert forged.status_code == 403 and "CSRF" in forged.text
        gone = client.post("/console/deployments/nope/rollback", data={"csrf": _csrf(client, path)})
        assert gone.status_code == 404 and "not in the catalog" in gone.text
        lone = client.post(f"/console/deployments/{console.seeded.unreachable}/rollback",
                           data={"csrf": _csrf(client, path)})
        assert lone.status_code == 409 and "nothing to roll back to" in lone.text
    assert _deployment(console, running).status == "running"


def test_an_admin_revokes_a_token_and_its_session_ends(console: Console) -> None:
    with httpx.Client(base_url=console.base) as admin, httpx.Client(base_url=console.base) as deployer:
        _login(deployer, console.seeded.tokens["deployer"])
        assert "deployer token" in deployer.get("/console/").text
        _login(admin, console.seeded.tokens["admin"])
        tokens = admin.get("/console/tokens").text
        ident = re.search(r'action="/console/tokens/([0-9a-f]+)/revoke"[^>]*>\s*<input type="hidden" name="csrf" '
                          r'value="[^"]+">\s*<button type="submit" aria-label="Revoke token \1"', tokens)
        cat = c.open_catalog(console.catalog_url)
        target = next(t.id for t in c.list_tokens(cat) if t.role == c.Role.DEPLOYER)
        cat.dispose()
        assert ident is not None
        done = admin.post(f"/console/tokens/{target}/revoke", data={"csrf": _csrf(admin, "/console/tokens")})
        assert done.status_code == 303
        assert "token.revoke" in admin.get("/console/audit").text
        after = deployer.get("/console/").text
        assert "deployer token" not in after and "Log in" in after
        assert deployer.post("/console/tokens/x/revoke", data={"csrf": "x"}).status_code == 403


def test_a_closed_catalog_needs_a_login_to_read(closed_console: Console) -> None:
    with httpx.Client(base_url=closed_console.base) as client:
        refused = client.get(f"/console/models/{ICM}")
        assert refused.status_code == 401 and "login?next=%2Fconsole%2Fmodels%2F" in refused.text
        bad = client.post("/console/login", data={"csrf": _csrf(client, "/console/login"), "token": "mwc_nope"})
        assert bad.status_code == 401 and "not valid" in bad.text
        _login(client, closed_console.seeded.tokens["reader"])
        assert client.get(f"/console/models/{ICM}").status_code == 200
        assert client.post("/console/logout", data={"csrf": _csrf(client, "/console/login")}).status_code == 303
        assert client.get(f"/console/models/{ICM}").status_code == 401


def test_login_redirects_only_inside_the_console(console: Console) -> None:
    with httpx.Client(base_url=console.base) as client:
        for target in ("https://evil.example/", "//evil.example/console/", "/console/../x"):
            answer = client.post("/console/login", data={"csrf": _csrf(client, "/console/login"), "next": target,
                                                         "token": console.seeded.tokens["reader"]})
            assert answer.status_code == 303
            assert answer.headers["location"] in ("/console/", target) and answer.headers["location"].startswith(
                "/console/")


def test_live_health_and_missing_pages(console: Console) -> None:
    seeded = console.seeded
    with httpx.Client(base_url=console.base) as client:
        live = client.get(f"/console/deployments/{seeded.running}/health", params={"format": "json"}).json()
        assert live["state"] == "healthy" and live["url"] == console.base + "/api/health"
        gone = client.get(f"/console/deployments/{seeded.unreachable}/health", params={"format": "json"}).json()
        assert gone["state"] == "unreachable"
        assert client.get(f"/console/deployments/{seeded.attempt}/health", params={"format": "json"}).json()[
            "state"] == "unknown"
        assert "healthy" in client.get(f"/console/deployments/{seeded.running}/health").text
        attempt = client.get(f"/console/deployments/{seeded.attempt}").text
        assert "never registered" in attempt and "key &#39;stranger&#39; is not in the keyring" in attempt
        missing = client.get("/console/models/nope")
        assert missing.status_code == 404 and "no model &#39;nope&#39;" in missing.text
        assert client.get("/console/no/such/page").status_code == 404
        assert client.get(f"/console/models/{ICM}/versions/9.9.9").status_code == 404
        assert client.get("/", follow_redirects=False).headers["location"] == "/console/"


def test_failed_attempts_show_their_reasons(console: Console) -> None:
    with httpx.Client(base_url=console.base) as client:
        page = client.get("/console/attempts").text
        assert "verify failed: key &#39;stranger&#39; is not in the keyring" in page
        assert "validate failed: validation.jsonl case 3 does not match" in page
        assert ">verify<" in page and "2 failed attempts" in page


def test_the_audit_page_verifies_the_chain_and_names_a_tampered_event(console: Console) -> None:
    with httpx.Client(base_url=console.base) as client:
        intact = client.get("/console/audit/verify").text
        assert "The audit chain verifies" in intact
        engine = sa.create_engine(console.catalog_url)
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3"))
        engine.dispose()
        broken = client.get("/console/audit/verify").text
        assert "does not verify" in broken and "audit event 3" in broken
        entity = client.get("/console/audit", params={"entity": f"{ICM}@1.1.0"}).text
        assert "version.register" in entity and "model.create" not in entity


SERVICE = """\
service_title: Echo Service
models:
  - qualified_name: echo_model
    class_path: tests.fixtures.EchoModel
"""


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_with_the_catalog_mounts_the_console(serve: Callable[..., Server], tmp_path: Path,
                                                   workers: str) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    c.open_catalog(url, migrate=True).dispose()
    server = serve(write_config(tmp_path / "svc.yaml", SERVICE), "--catalog", "--workers", workers,
                   env=child_env(MODELWARD_CATALOG_URL=url))
    wait_for(server.url, server.process, path="/console/")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        home = client.get("/console/")
        assert home.status_code == 200 and "Governance questions" in home.text, server.output()
        assert client.get("/api/models").json()["models"][0]["qualified_name"] == "echo_model"
        assert client.get("/", follow_redirects=False).headers["location"] == "/docs"  # serve's root is kept
    plain = serve(write_config(tmp_path / "svc2.yaml", SERVICE), env=child_env(MODELWARD_CATALOG_URL=url))
    assert httpx.get(plain.url + "/console/", timeout=10).status_code == 404  # no catalog, no console


def test_the_lineage_page_shows_a_graphs_members_and_a_members_graphs(console: Console) -> None:
    catalog = c.open_catalog(console.catalog_url)
    try:
        graph = c.VersionInfo(version="1.0.0", artifact_digest="sha256:graph",
                              manifest={"graph": {"name": "bandit", "type": "ROUTER"}})
        c.register_graph(catalog, model=c.ModelInfo(qualified_name="icm_graph"), version=graph, actor="t",
                         members=(c.GraphMemberRef(node="champion", model=ICM, version="1.1.0"),))
        dep = c.record_deployment(catalog, info=c.DeploymentInfo(model="icm_graph", version="1.0.0",
                                                                 target=c.Target.LOCAL), actor="t")
    finally:
        catalog.dispose()
    with httpx.Client(base_url=console.base) as client:
        page = html.unescape(client.get("/console/lineage/icm_graph/1.0.0").text)
        assert "Graph: <span class=\"mono\">bandit</span> (ROUTER at the root)" in page
        link = f'<a href="/console/lineage/{ICM}/1.1.0">{ICM}@1.1.0</a>'
        assert f'node <span class="mono">champion</span> → {link}' in page
        member = html.unescape(client.get(f"/console/lineage/{ICM}/1.1.0").text)
        assert 'Served in graph <a href="/console/lineage/icm_graph/1.0.0">icm_graph@1.0.0</a>' in member
        assert f'<a href="/console/deployments/{dep.id}">{dep.id[:12]}</a> (running, local/-)' in member
