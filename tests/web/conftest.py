"""Console fixtures: a seeded catalog (SQLite and PostgreSQL) served on loopback, and a browser driver.

``console`` runs the app in-process under uvicorn (for the httpx tests); ``console_process`` runs the
real ``modelward catalog serve`` command (for the browser tests). ``browse`` drives headless Chromium
through Playwright, which lives in its own venv (tests/.envs/web, built by scripts/test_envs.sh).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from modelward.cli.apps import catalog_app
from modelward.settings import Settings
from tests.catalog.conftest import catalog_url, pg_database, sqlite_template  # noqa: F401 - fixtures
from tests.conftest import MODELWARD, ROOT, child_env, free_port, stop, wait_for
from tests.web.seed import Seeded, seed

BROWSER_PYTHON = ROOT / "tests" / ".envs" / "web" / "bin" / "python"
DRIVER = Path(__file__).with_name("browser_driver.py")
CHROMIUM = Path("/usr/bin/chromium")


@dataclass(frozen=True)
class Console:
    """A served, seeded catalog: its base URL, catalog URL and what the seed made."""

    base: str
    catalog_url: str
    seeded: Seeded


def _serve_in_thread(settings: Settings, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    server = uvicorn.Server(uvicorn.Config(catalog_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    return server, thread


def _console(tmp_path: Path, url: str, read_open: bool) -> Iterator[Console]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    seeded = seed(url, live_endpoint=base)
    settings = Settings(data_dir=tmp_path, catalog_url=url, catalog_read_open=read_open)
    server, thread = _serve_in_thread(settings, port)
    yield Console(base, url, seeded)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def console(tmp_path: Path, catalog_url: str) -> Iterator[Console]:  # noqa: F811 - the imported fixture
    yield from _console(tmp_path, catalog_url, read_open=True)


@pytest.fixture
def closed_console(tmp_path: Path, catalog_url: str) -> Iterator[Console]:  # noqa: F811
    yield from _console(tmp_path, catalog_url, read_open=False)


@pytest.fixture
def console_process(tmp_path: Path, catalog_url: str) -> Iterator[Console]:  # noqa: F811
    """``modelward catalog serve`` on a free port, over the seeded catalog."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    seeded = seed(catalog_url, live_endpoint=base)
    log = tmp_path / "console.log"
    with log.open("wb") as handle:
        process = subprocess.Popen([MODELWARD, "catalog", "serve", "--url", catalog_url, "--port", str(port)],
                                   stdout=handle, stderr=subprocess.STDOUT, cwd=tmp_path,
                                   env=child_env(MODELWARD_DATA_DIR=str(tmp_path), MODELWARD_LOG_LEVEL="warning"))
    try:
        wait_for(base, process)
        assert process.poll() is None, log.read_text(encoding="utf-8", errors="replace")
        yield Console(base, catalog_url, seeded)
    finally:
        stop(process)


Browse = Callable[..., dict[str, Any]]


def drive(base: str, steps: list[dict[str, Any]], viewport: tuple[int, int] = (1280, 900)) -> dict[str, Any]:
    """Run ``steps`` in headless Chromium against ``base``; fail with the step that failed."""
    if not BROWSER_PYTHON.exists():
        pytest.fail("the browser tests need tests/.envs/web: run `bash scripts/test_envs.sh` (make test does)")
    if not CHROMIUM.exists():
        pytest.fail("the browser tests need Debian's chromium: apt-get install -y chromium (.ci/run does)")
    plan = {"base": base, "steps": steps, "viewport": list(viewport), "executable": str(CHROMIUM)}
    done = subprocess.run([str(BROWSER_PYTHON), str(DRIVER)], input=json.dumps(plan), capture_output=True,
                          text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    assert "failed" not in result, result["failed"]
    return result


@pytest.fixture
def browse() -> Browse:
    return drive
