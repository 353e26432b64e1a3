"""Drive headless Chromium through Playwright: JSON steps in (stdin), JSON results out (stdout).

Runs in tests/.envs/web (Playwright is no modelward dependency), launched by the tests as a
subprocess. The browser is Debian's chromium (``--executable``); Playwright's own browser download
is never used. Input: ``{"base": URL, "viewport": [w, h], "steps": [...]}``; each step is a dict with
``do`` and its arguments:

    goto url | click selector | fill selector value | select selector value | press key
    text selector | texts selector | count selector | attr selector name | url | title | status
    eval js | wait selector | screenshot path [full]

Output: ``{"results": [...], "dialogs": [...], "errors": [...], "statuses": [...]}`` where each
result is the step's value (or null); a failing step stops the run with ``"failed": {...}``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from playwright.sync_api import Page, sync_playwright

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage"]
TIMEOUT_MS = 15_000


def _step(page: Page, base: str, step: dict[str, Any], statuses: list[int]) -> Any:
    kind = step["do"]
    if kind == "goto":
        answer = page.goto(base + step["url"], wait_until="load")
        statuses.append(answer.status if answer else 0)
        return answer.status if answer else None
    if kind == "click":
        with page.expect_navigation(wait_until="load") if step.get("navigates", True) else _Null():
            page.locator(step["selector"]).first.click()
        return page.url.removeprefix(base)
    if kind == "fill":
        page.locator(step["selector"]).first.fill(step["value"])
        return None
    if kind == "select":
        page.locator(step["selector"]).first.select_option(step["value"])
        return None
    if kind == "press":
        page.keyboard.press(step["key"])
        return page.evaluate("document.activeElement ? document.activeElement.outerHTML.slice(0, 200) : ''")
    if kind == "text":
        return page.locator(step["selector"]).first.inner_text()
    if kind == "texts":
        return page.locator(step["selector"]).all_inner_texts()
    if kind == "count":
        return page.locator(step["selector"]).count()
    if kind == "attr":
        return page.locator(step["selector"]).first.get_attribute(step["name"])
    if kind == "url":
        return page.url.removeprefix(base)
    if kind == "title":
        return page.title()
    if kind == "eval":
        return page.evaluate(step["js"])
    if kind == "wait":
        page.wait_for_selector(step["selector"], state=step.get("state", "visible"))
        return None
    if kind == "wait_text":
        page.locator(step["selector"]).filter(has_text=step["value"]).first.wait_for()
        return None
    if kind == "screenshot":
        page.screenshot(path=step["path"], full_page=step.get("full", True))
        return step["path"]
    raise ValueError(f"unknown step {kind!r}")


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


def run(plan: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"results": [], "dialogs": [], "errors": [], "statuses": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=plan.get("executable", "/usr/bin/chromium"), args=ARGS,
                                     headless=True)
        width, height = plan.get("viewport", [1280, 900])
        page = browser.new_page(viewport={"width": width, "height": height})
        page.set_default_timeout(TIMEOUT_MS)
        page.on("dialog", lambda dialog: (out["dialogs"].append(dialog.message), dialog.dismiss()))
        page.on("pageerror", lambda error: out["errors"].append(str(error)))
        page.on("console", lambda msg: out["errors"].append(msg.text) if msg.type == "error" else None)
        for index, step in enumerate(plan["steps"]):
            try:
                out["results"].append(_step(page, plan["base"], step, out["statuses"]))
            except Exception as exc:  # report which step failed and where the page was
                out["failed"] = {"index": index, "step": step, "error": f"{type(exc).__name__}: {exc}"[:2000],
                                 "url": page.url}
                break
        browser.close()
    return out


if __name__ == "__main__":
    json.dump(run(json.load(sys.stdin)), sys.stdout)
