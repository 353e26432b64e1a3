"""Health and 503 bodies: anonymous clients get a generic reason, operators (deploy tokens) the detail."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from modelward import catalog as c
from modelward.settings import Settings
from tests.conftest import Server, child_env, wait_started, write_config

pytestmark = pytest.mark.integration

MISSING = "/srv/models/insurance-1.0.0.zip"
PROBES = ("/api/health", "/api/health/ready", "/api/health/startup")


def _tokens(data_dir: Path) -> dict[str, str]:
    catalog = c.open_from_settings(Settings(data_dir=data_dir))
    made = {role: c.create_token(catalog, role=role, actor="test")[0] for role in ("reader", "deployer", "admin")}
    catalog.dispose()
    return made


@pytest.fixture
def failed(serve: Callable[..., Server], tmp_path: Path) -> tuple[Server, dict[str, str], Path]:
    """A service whose model failed to load with an error naming a package path that does not exist."""
    config = write_config(tmp_path / "svc.yaml", "models:\n  - class_path: tests.fixtures.FailingInitModel\n"
                          f"    configuration: {{reason: \"cannot open {MISSING}: [Errno 2] No such file\"}}\n")
    tokens = _tokens(tmp_path / "data")
    server = serve(config, "--catalog", env=child_env(MODELWARD_DATA_DIR=str(tmp_path / "data")))
    assert wait_started(server.url).status_code == 503, server.output()
    return server, tokens, config


def _leaks(text: str, config: Path) -> list[str]:
    return [s for s in (MISSING, "Errno", "RuntimeError", "FailingInitModel", str(config), "svc.yaml") if s in text]


def test_anonymous_bodies_name_no_path_and_no_exception(failed: tuple[Server, dict[str, str], Path]) -> None:
    server, tokens, config = failed
    answers = [httpx.get(server.url + path) for path in PROBES]
    answers.append(httpx.post(server.url + "/api/models/failing_model/prediction", json={"value": 1}))
    answers.append(httpx.get(server.url + "/api/health", headers={"authorization": "Bearer mwc_nope_nope"}))
    answers.append(httpx.get(server.url + "/api/health", headers={"authorization": f"Bearer {tokens['reader']}"}))
    for answer in answers:
        assert answer.status_code == 503
        assert _leaks(answer.text, config) == [], answer.text
        assert "models failed to load; see the service log" in answer.text
    assert MISSING in server.output()  # the detail is in the log


@pytest.mark.parametrize("role", ["deployer", "admin"])
def test_operators_see_the_detail(failed: tuple[Server, dict[str, str], Path], role: str) -> None:
    server, tokens, _ = failed
    for path in PROBES:
        answer = httpx.get(server.url + path, headers={"authorization": f"Bearer {tokens[role]}"})
        assert answer.status_code == 503
        assert f"FailingInitModel.__init__ raised RuntimeError: cannot open {MISSING}" in answer.json()["reason"]
