"""`modelward serve`, `openapi` and `check`: exit codes and messages, as a user runs them."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest
import yaml

from modelward.cli.main import main
from tests.conftest import MODELWARD, child_env, free_port, write_config

DECORATED = """\
service_title: Contract Test
models:
  - class_path: tests.fixtures.EchoModel
    decorators:
      - class_path: tests.fixtures.WrappingDecorator
"""


def run(*args: str, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MODELWARD, *args], capture_output=True, text=True, env=child_env(), cwd=cwd,
                          timeout=timeout, check=False)


def test_openapi_writes_the_contract_with_decorated_schemas(tmp_path: Path) -> None:
    config = write_config(tmp_path / "svc.yaml", DECORATED)
    result = run("openapi", str(config), "-o", str(tmp_path / "service_contract.yaml"))
    assert result.returncode == 0, result.stderr
    document = yaml.safe_load((tmp_path / "service_contract.yaml").read_text())
    assert document["info"]["title"] == "Contract Test"
    output = document["components"]["schemas"]["echo_model__Output"]
    assert output["title"] == "Wrapped"
    assert set(output["properties"]) == {"result", "wrapped_by"}
    assert "echo_model__EchoOutput" in document["components"]["schemas"]


def test_openapi_as_json_to_a_json_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path / "svc.yaml", DECORATED)
    assert main(["openapi", str(config), "-o", str(tmp_path / "contract.json")]) == 0
    assert json.loads((tmp_path / "contract.json").read_text())["openapi"].startswith("3.")


@pytest.mark.parametrize("command", ["serve", "openapi", "check"])
def test_bad_config_exits_1_naming_file_key_and_problem(tmp_path: Path, command: str) -> None:
    config = write_config(tmp_path / "bad.yaml", "models:\n  - class_path: tests.fixtures.EchoModel\n    colour: red\n")
    result = run(command, str(config))
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {config}: models[0].colour: unknown key"
    assert "Traceback" not in result.stderr + result.stdout


def test_model_whose_init_raises_fails_check_and_openapi(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path / "bad.yaml", "models:\n  - class_path: tests.fixtures.FailingInitModel\n")
    for command in ("check", "openapi"):
        assert main([command, str(config)]) == 1
        error = capsys.readouterr().err
        assert f"error: {config}: models[0]: FailingInitModel.__init__ raised RuntimeError: parameters missing" in error


def test_check_reports_each_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path / "svc.yaml", DECORATED)
    assert main(["check", str(config)]) == 0
    assert "ok  echo_model 1.0.0  WrappingDecorator(EchoModel)" in capsys.readouterr().out


def test_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", str(tmp_path / "absent.yaml")]) == 1
    assert "absent.yaml: config file not found" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-command"]) == 2
    assert main(["serve", "--port", "not-a-number"]) == 2
    assert main(["serve", "--workers", "0"]) == 2


@pytest.mark.parametrize("command", [["serve"], ["catalog", "serve"]], ids=["serve", "catalog-serve"])
def test_port_in_use_is_one_line_and_exit_1(tmp_path: Path, command: list[str]) -> None:
    args = [*command, *([str(write_config(tmp_path / "svc.yaml", DECORATED))] if command == ["serve"] else [])]
    port = free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        result = subprocess.run([MODELWARD, *args, "--port", str(port)], capture_output=True, text=True,
                                env=child_env(MODELWARD_DATA_DIR=str(tmp_path / "data")), timeout=60, check=False)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (f"error: port {port} on 127.0.0.1 is in use (another process listens there); "
                             "stop it or choose another port with --port or MODELWARD_PORT\n")


@pytest.mark.parametrize("command", ["serve", "openapi", "check"])
def test_bad_logging_section_exits_1_with_one_line(tmp_path: Path, command: str) -> None:
    config = write_config(tmp_path / "bad.yaml", "logging: {version: 2}\nmodels: []\n")
    result = run(command, str(config), *(["--port", str(free_port())] if command == "serve" else []), timeout=30)
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {config}: logging: Unsupported version: 2"
    assert "Traceback" not in result.stderr + result.stdout
