"""The OpenAPI contract covers every REST route the service mounts (issue 11, item 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelward.serving.app import create_app
from modelward.settings import load_settings
from tests.conftest import write_config

#: FastAPI's own pages and the redirect to them, which describe the contract rather than belong to it
NOT_IN_THE_CONTRACT = {"/", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"}
#: KServe V1's one Starlette route ``/v1/models/{target}`` is the contract's ``{name}`` and ``{name}:predict``
SAME_ROUTE = {"/v1/models/{target}": "/v1/models/{name}:predict"}


@pytest.mark.parametrize("catalog", [False, True])
def test_every_mounted_route_is_in_the_contract(tmp_path: Path, catalog: bool) -> None:
    config = write_config(tmp_path / "svc.yaml", "models:\n  - class_path: tests.fixtures.EchoModel\n")
    settings = load_settings(config=config, data_dir=tmp_path / "data", catalog_enabled=catalog)
    app = create_app(settings, wait_for_models=True)
    paths = set(app.openapi()["paths"])
    mounted = {route.path for route in app.routes if hasattr(route, "path")} - NOT_IN_THE_CONTRACT
    # per-model routes are in the contract under the model's name, with its schemas
    missing = sorted(path for path in mounted if SAME_ROUTE.get(path, path) not in paths
                     and path.replace("{qualified_name}", "echo_model") not in paths)
    assert missing == [], f"routes without a contract: {missing}"
    assert {"/metrics", "/api/models/{qualified_name}/metadata", "/api/models/{qualified_name}/feedback",
            "/predict", "/send-feedback", "/health/status"} <= paths
