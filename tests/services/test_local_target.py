"""The local target names why a server did not start, though its probes tell anonymous clients nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelward.errors import TargetError
from modelward.services.local_target import LocalTarget
from tests.conftest import child_env, write_config

pytestmark = pytest.mark.integration


def test_a_model_that_fails_to_load_is_named_from_the_server_log(tmp_path: Path) -> None:
    config = write_config(tmp_path / "svc.yaml", "models:\n  - class_path: tests.fixtures.FailingInitModel\n"
                          "    configuration: {reason: disk on fire}\n")
    with pytest.raises(TargetError) as caught:
        LocalTarget().start(tmp_path / "run", config, "127.0.0.1", 0, child_env(), timeout=60)
    assert "the server did not start: models failed to load: " in caught.value.message
    assert "FailingInitModel.__init__ raised RuntimeError: disk on fire" in caught.value.message
