"""The console in headless Chromium (Playwright, from tests/.envs/web) against `modelward catalog serve`.

Every test runs on SQLite and on PostgreSQL. Clicks are counted from the home page: each of the
five governance questions is answered in at most two.
"""

from __future__ import annotations

import pytest

from tests.web.conftest import Browse, Console
from tests.web.seed import XSS_DESCRIPTION

pytestmark = pytest.mark.integration
ICM = "insurance_charges_model"
HOME = {"do": "goto", "url": "/console/"}


def _clicks(steps: list[dict[str, object]]) -> int:
    return sum(1 for step in steps if step["do"] == "click")


def _login(token: str) -> list[dict[str, object]]:
    return [{"do": "goto", "url": "/console/login"}, {"do": "fill", "selector": "#token", "value": token},
            {"do": "click", "selector": "form.login button[type=submit]"}]


def test_the_five_questions_each_take_at_most_two_clicks(console_process: Console, browse: Browse) -> None:
    deployed = [HOME, {"do": "click", "selector": "nav[aria-label=Main] >> text=Deployments"},
                {"do": "texts", "selector": "main table tbody tr"}]
    which_object = [HOME, {"do": "click", "selector": f"table.results >> text={ICM}@1.1.0"},
                    {"do": "text", "selector": "#object-h + dl"}]
    which_version = [HOME, {"do": "click", "selector": "nav[aria-label=Main] >> text=Deployments"},
                     {"do": "click", "selector": f"a[href='/console/deployments/{console_process.seeded.running}']"},
                     {"do": "text", "selector": "#what-h + dl"}]
    owner = [HOME, {"do": "click", "selector": "table.results >> text=Insurance charges"},
             {"do": "text", "selector": "dl.fields"}]
    trace = [HOME, {"do": "click", "selector": f"table.results >> text={ICM}@1.1.0"},
             {"do": "click", "selector": "text=Lineage: data and code"},
             {"do": "eval", "js": "[...document.querySelectorAll('svg.graph g.node')].map(g => g.textContent)"}]
    for plan in (deployed, which_object, which_version, owner, trace):
        assert _clicks(plan) <= 2
    found = browse(console_process.base, deployed + which_object + which_version + owner + trace)["results"]
    rows = found[2]
    assert any(f"{ICM}@1.1.0" in r and "kubernetes/production" in r and "2026-03-08 09:00:00 UTC" in r for r in rows)
    assert "s3://models/insurance_charges-1.1.0.zip" in found[5] and "key-2026" in found[5]
    assert f"{ICM}@1.1.0" in found[9] and "s3://models/insurance_charges-1.1.0.zip" in found[9]
    assert "greg" in found[12] and "pricing" in found[12]
    nodes = found[16]
    assert any("charges" in n for n in nodes) and any("insurance-charges" in n for n in nodes)
    assert any("1.1.0" in n for n in nodes) and sum("DEPLOYMENT" in n.upper() for n in nodes) == 2


def test_search_with_text_and_filters(console_process: Console, browse: Browse) -> None:
    steps = [HOME, {"do": "fill", "selector": "#q", "value": "insurance"},
             {"do": "select", "selector": "#owner", "value": "greg"},
             {"do": "select", "selector": "#stage", "value": "production"},
             {"do": "click", "selector": "form.search button[type=submit]"},
             {"do": "texts", "selector": "table.results tbody tr"}, {"do": "url"},
             {"do": "select", "selector": "#stage", "value": ""},
             {"do": "select", "selector": "#owner", "value": "ana"},
             {"do": "fill", "selector": "#q", "value": ""},
             {"do": "click", "selector": "form.search button[type=submit]"},
             {"do": "texts", "selector": "table.results tbody tr"}]
    found = browse(console_process.base, steps)["results"]
    assert len(found[5]) == 1 and f"{ICM}@1.1.0" in found[5][0]
    assert "q=insurance" in found[6] and "owner=greg" in found[6] and "stage=production" in found[6]
    assert len(found[11]) == 1 and "fraud_model@2.0.0" in found[11][0]


def test_the_lineage_page_draws_every_node(console_process: Console, browse: Browse) -> None:
    steps = [{"do": "goto", "url": f"/console/lineage/{ICM}/1.1.0"},
             {"do": "eval", "js": "[...document.querySelectorAll('svg.graph g.node')].map(g => g.dataset.node)"},
             {"do": "count", "selector": "svg.graph path.edge"},
             {"do": "click", "selector": f"svg.graph a[href='/console/deployments/{console_process.seeded.running}']"},
             {"do": "text", "selector": "h1"}]
    found = browse(console_process.base, steps)["results"]
    running, unreachable = console_process.seeded.running, console_process.seeded.unreachable
    assert sorted(found[1]) == sorted(["dataset:0", "dataset:1", "code", "artifact", "version",
                                       f"deployment:{running}", f"deployment:{unreachable}"])
    assert found[2] == 6
    assert running[:12] in found[4]


def test_a_deployer_promotes_and_the_audit_entry_appears(console_process: Console, browse: Browse) -> None:
    version = f"/console/models/{ICM}/versions/1.2.0"
    steps = [*_login(console_process.seeded.tokens["deployer"]), {"do": "goto", "url": version},
             {"do": "select", "selector": "#to-stage", "value": "staging"},
             {"do": "click", "selector": "#stage-h + form button[type=submit]"},
             {"do": "text", "selector": "p.notice"}, {"do": "text", "selector": "h1"},
             {"do": "click", "selector": "nav[aria-label=Main] >> text=Audit trail"},
             {"do": "text", "selector": "table.audit tbody tr"}]
    found = browse(console_process.base, steps)["results"]
    assert "Stage changed to staging" in found[6] and "staging" in found[7]
    assert "version.stage" in found[9] and f"{ICM}@1.2.0" in found[9] and "deployer token" in found[9]


def test_a_reader_gets_a_403_page_and_nothing_changes(console_process: Console, browse: Browse) -> None:
    version = f"/console/models/{ICM}/versions/1.2.0"
    steps = [*_login(console_process.seeded.tokens["reader"]), {"do": "goto", "url": version},
             {"do": "text", "selector": "#stage-h + form"},
             {"do": "select", "selector": "#to-stage", "value": "production"},
             {"do": "click", "selector": "#stage-h + form button[type=submit]"},
             {"do": "text", "selector": "h1"}, {"do": "text", "selector": "main"},
             {"do": "goto", "url": version}, {"do": "text", "selector": "h1"}]
    result = browse(console_process.base, steps)
    found = result["results"]
    assert "may not change stages" in found[4]
    assert "Not allowed" in found[7] and "(403)" in found[7] and "may not deploy" in found[8]
    assert 403 not in result["statuses"]  # the refusal came from the form, the pages loaded fine
    assert "validated" in found[10] and "production" not in found[10]


def test_a_form_without_its_csrf_token_is_refused(console_process: Console, browse: Browse) -> None:
    version = f"/console/models/{ICM}/versions/1.2.0"
    steps = [*_login(console_process.seeded.tokens["admin"]), {"do": "goto", "url": version},
             {"do": "eval", "js": "document.querySelector('#stage-h + form input[name=csrf]').remove()"},
             {"do": "select", "selector": "#to-stage", "value": "production"},
             {"do": "click", "selector": "#stage-h + form button[type=submit]"},
             {"do": "text", "selector": "main"},
             {"do": "goto", "url": version}, {"do": "text", "selector": "h1"}]
    found = browse(console_process.base, steps)["results"]
    assert "Request refused" in found[7] and "CSRF" in found[7]
    assert "validated" in found[9]


def test_a_deployer_rolls_back_and_the_previous_version_is_current(console_process: Console,
                                                                    browse: Browse) -> None:
    running = console_process.seeded.running
    steps = [*_login(console_process.seeded.tokens["deployer"]),
             {"do": "goto", "url": f"/console/deployments/{running}"},
             {"do": "text", "selector": "#rollback-h + p"},
             {"do": "fill", "selector": "#rollback-reason", "value": "charges off by 10%"},
             {"do": "click", "selector": "#rollback-form button[type=submit]"},
             {"do": "text", "selector": "p.notice"}, {"do": "text", "selector": "h1"},
             {"do": "text", "selector": "#what-h + dl"}, {"do": "text", "selector": "#status-h + dl"},
             {"do": "click", "selector": "p.notice a.mono"}, {"do": "text", "selector": "h1"},
             {"do": "count", "selector": "#rollback-form"},
             {"do": "click", "selector": "nav[aria-label=Main] >> text=Audit trail"},
             {"do": "texts", "selector": "table.audit tbody tr"},
             {"do": "goto", "url": "/console/audit/verify"}, {"do": "text", "selector": "main"}]
    found = browse(console_process.base, steps)["results"]
    assert f"restores {ICM}@1.0.0" in " ".join(found[4].split())
    assert "Rolled back" in found[7] and running[:12] in found[7] and f"{ICM}@1.0.0 again" in found[7]
    assert "running" in found[8]
    assert f"{ICM}@1.0.0" in found[9] and "(never registered)" not in found[9]
    assert "charges off by 10%" in found[10] and f"rollback of {running}" in found[10]
    assert running[:12] in found[12] and "rolled_back" in found[12] and found[13] == 0
    newest, before = found[15][0], found[15][1]
    assert "deployment.rollback" in newest and f"deployment:{running}" in newest and "deployer token" in newest
    assert "deployment.record" in before and f"{ICM}@1.0.0" in before
    assert "The audit chain verifies" in found[17]


def test_a_reader_is_refused_a_rollback_and_a_post_without_csrf_too(console_process: Console,
                                                                      browse: Browse) -> None:
    page = f"/console/deployments/{console_process.seeded.running}"
    forge = ("(() => { const f = document.createElement('form'); f.method = 'post'; f.id = 'forged';"
             f" f.action = '{page}/rollback';"
             " const c = document.querySelector('header form input[name=csrf]').cloneNode();"
             " const b = document.createElement('button'); b.type = 'submit'; b.textContent = 'go';"
             " f.append(c, b); document.body.append(f); })()")
    steps = [*_login(console_process.seeded.tokens["reader"]), {"do": "goto", "url": page},
             {"do": "count", "selector": "#rollback-form"}, {"do": "text", "selector": "#rollback-h ~ p.hint"},
             {"do": "eval", "js": forge}, {"do": "click", "selector": "#forged button"},
             {"do": "text", "selector": "h1"}, {"do": "text", "selector": "main"},
             *_login(console_process.seeded.tokens["admin"]), {"do": "goto", "url": page},
             {"do": "eval", "js": "document.querySelector('#rollback-form input[name=csrf]').remove()"},
             {"do": "click", "selector": "#rollback-form button[type=submit]"},
             {"do": "text", "selector": "main"},
             {"do": "goto", "url": page}, {"do": "text", "selector": "h1"},
             {"do": "count", "selector": "#rollback-form"}]
    result = browse(console_process.base, steps)
    found = result["results"]
    assert found[4] == 0 and "(reader) may not roll back" in found[5]
    assert "Not allowed" in found[8] and "(403)" in found[8] and "may not deploy" in found[9]
    assert "Request refused" in found[16] and "CSRF" in found[16]
    assert "running" in found[18] and "rolled_back" not in found[18] and found[19] == 1  # nothing changed


def test_script_in_catalog_text_stays_inert(console_process: Console, browse: Browse) -> None:
    steps = [{"do": "goto", "url": "/console/models/fraud_model"},
             {"do": "text", "selector": "p.lead"}, {"do": "text", "selector": "article.markdown"},
             {"do": "count", "selector": "article.markdown script, article.markdown img, main script"},
             {"do": "count", "selector": "a[href^='javascript:']"},
             {"do": "goto", "url": "/console/?q=fraud"}, {"do": "text", "selector": "table.results"},
             {"do": "eval", "js": "window.__pwned === undefined"}]
    result = browse(console_process.base, steps)
    found = result["results"]
    assert result["dialogs"] == []  # no alert() ran
    assert found[1] == XSS_DESCRIPTION  # shown as text, exactly
    assert "<script>alert('readme')</script>" in found[2] and "<img src=x onerror=" in found[2]
    assert found[3] == 0 and found[4] == 0
    assert "<script>alert(1)</script>" in found[6]


def test_live_health_keyboard_and_a_narrow_screen(console_process: Console, browse: Browse) -> None:
    seeded = console_process.seeded
    steps = [{"do": "goto", "url": f"/console/deployments/{seeded.running}"},
             {"do": "wait_text", "selector": "#health .health-state", "value": "healthy"},
             {"do": "text", "selector": "#health"},
             {"do": "goto", "url": f"/console/deployments/{seeded.unreachable}"},
             {"do": "wait_text", "selector": "#health .health-state", "value": "unreachable"},
             HOME, {"do": "press", "key": "Tab"}, {"do": "press", "key": "Enter"},
             {"do": "eval", "js": "document.activeElement.id"},
             {"do": "press", "key": "/"}, {"do": "eval", "js": "document.activeElement.id"},
             {"do": "eval", "js": "document.documentElement.scrollWidth <= window.innerWidth + 1"},
             {"do": "goto", "url": f"/console/models/{ICM}/versions/1.1.0"},
             {"do": "eval", "js": "document.documentElement.scrollWidth <= window.innerWidth + 1"},
             {"do": "eval", "js": "[...document.querySelectorAll('input:not([type=hidden]), select')]"
                                  ".every(e => e.labels && e.labels.length > 0)"}]
    result = browse(console_process.base, steps, viewport=(375, 800))
    found = result["results"]
    assert "healthy" in found[2] and "/api/health" in found[2]
    assert "Skip to content" in found[6] and found[8] == "main" and found[10] == "q"
    assert found[11] is True and found[13] is True and found[14] is True
    assert result["errors"] == []
