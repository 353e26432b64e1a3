"""The deployment commands through ``modelward.cli.main.main`` (real keys, packages and servers)."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from modelward import artifacts
from modelward.cli.main import main
from modelward.services.local_target import alive, stop_pid

TOY = Path(__file__).resolve().parent.parent / "data" / "deploy" / "toy"
pytestmark = pytest.mark.integration


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A keyring, a signed toy package and a deployment file pointing at it; servers stopped after."""
    keys = tmp_path / "keyring"
    keys.mkdir()
    generated = artifacts.generate_key(tmp_path, key_id="cli-key", keyring=artifacts.Keyring.load(keys))
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.json").write_text('{"slope": 3.0, "intercept": 0.5}')
    (folder / "validation.jsonl").write_text('{"input": {"x": 1}, "output": {"y": 3.5}}\n')
    artifacts.build_package(folder, tmp_path / "toy.zip", qualified_name="toy_model", version="1.0.0",
                            signer=artifacts.load_signer(generated.private_path))
    document = yaml.safe_load((TOY / "deployment.yaml").read_text())
    document.update(package=str(tmp_path / "toy.zip"), policies=str(TOY / "policies"))
    document["model"]["python_path"] = [str(TOY)]
    (tmp_path / "deployment.yaml").write_text(yaml.safe_dump(document))
    monkeypatch.setenv("MODELWARD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MODELWARD_KEYRING", str(keys))
    yield tmp_path
    for pid_file in (tmp_path / "data").rglob("serve.pid"):
        pid = int(pid_file.read_text())
        if alive(pid):
            stop_pid(pid)


def test_deploy_status_list_stop(setup: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["deploy", str(setup / "deployment.yaml"), "--actor", "ci"]) == 0
    out, err = capsys.readouterr()
    shown = [step for step in ("stage", "verify", "validate", "register", "serve", "record") if f"  {step}" in err]
    assert len(shown) == 6 and sorted(shown, key=err.index) == shown, "every step, in order"
    endpoint = out.strip().rsplit(" at ", 1)[1]
    assert httpx.post(endpoint, json={"x": 2}, timeout=10).json() == {"y": 6.5}

    assert main(["deployments", "status", "toy"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["status"] == "running" and status["process"]["ready"] is True
    assert main(["deployments", "list"]) == 0
    assert "toy_model@1.0.0" in capsys.readouterr().out
    monkeypatch.delenv("MODELWARD_KEYRING")  # promoting and stopping verify nothing: no keyring needed
    monkeypatch.chdir(setup)
    monkeypatch.setenv("MODELWARD_DATA_DIR", "data")  # relative, as the demo prints it: the same server
    assert main(["promote", "toy_model", "1.0.0", "--to", "production", "--actor", "ci"]) == 0
    assert "is now production" in capsys.readouterr().out
    assert main(["deployments", "stop", "toy"]) == 0
    assert "stopped" in capsys.readouterr().out
    with pytest.raises(httpx.TransportError):
        httpx.post(endpoint, json={"x": 2}, timeout=2)


def test_kubernetes_target_renders_and_apply_without_kubectl_fails_clearly(
        setup: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(setup))  # no kubectl on this PATH
    manifests = setup / "manifests"
    # the registry is a local folder: a pod could not read the registered package
    assert main(["deploy", str(setup / "deployment.yaml"), "--target", "kubernetes", "-o", str(manifests)]) == 1
    err = capsys.readouterr().err
    assert "error: serve failed: model toy_model: package 'file://" in err and "which a pod cannot read" in err
    document = yaml.safe_load((setup / "deployment.yaml").read_text())
    document["kubernetes"] = {"package": "/service/packages/toy.zip"}  # baked into the image
    (setup / "deployment.yaml").write_text(yaml.safe_dump(document))
    assert main(["deploy", str(setup / "deployment.yaml"), "--target", "kubernetes", "-o", str(manifests)]) == 0
    assert "pending" in capsys.readouterr().out
    assert sorted(p.name for p in manifests.iterdir())[0] == "00-namespace-model-services.yaml"
    assert "value: /service/packages/toy.zip" in (manifests / "03-deployment-toy.yaml").read_text()
    assert main(["deploy", str(setup / "deployment.yaml"), "--target", "kubernetes", "-o", str(manifests),
                 "--apply"]) == 1
    err = capsys.readouterr().err
    assert f"error: serve failed: kubectl is not installed (or not on PATH): cannot apply. The manifests are in " \
           f"{manifests}; apply them yourself with `kubectl apply -f {manifests}`" in err


def test_deploy_without_keyring_is_one_clear_line(setup: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELWARD_KEYRING")
    assert main(["deploy", str(setup / "deployment.yaml")]) == 1
    err = capsys.readouterr().err  # where it looked: the data dir's keyring, the default
    assert f"error: no keyring at {setup / 'data' / 'keyring'}: pass --keyring, set MODELWARD_KEYRING" in err


def test_rollback_of_a_first_deployment_says_there_is_nothing(setup: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy", str(setup / "deployment.yaml")]) == 0
    capsys.readouterr()
    assert main(["rollback", "toy"]) == 1
    assert "replaced nothing: there is no version to roll back to" in capsys.readouterr().err


def test_list_refuses_a_status_that_does_not_exist(setup: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deployments", "list", "--status", "runing"]) == 2
    assert "Invalid value for '--status'" in capsys.readouterr().err


def test_status_of_a_deployment_whose_server_died_says_so(setup: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy", str(setup / "deployment.yaml")]) == 0
    capsys.readouterr()
    (pid_file,) = (setup / "data").rglob("serve.pid")
    pid = int(pid_file.read_text())
    os.kill(pid, signal.SIGKILL)  # the server this test started dies
    while alive(pid):
        time.sleep(0.05)
    assert main(["deployments", "status", "toy"]) == 1
    out, err = capsys.readouterr()
    status = json.loads(out)
    assert status["status"] == "running" and status["process"]["alive"] is False
    assert status["process"]["ready"] is False and status["process"]["pid"] == pid
    assert f"error: deployment {status['id']} is recorded 'running' but its server (pid {pid}) is not running" in err


def test_a_relative_keyring_is_named_in_full(setup: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    stranger = artifacts.generate_key(setup, key_id="stranger")
    artifacts.build_package(setup / "model", setup / "stranger.zip", qualified_name="toy_model", version="2.0.0",
                            signer=artifacts.load_signer(stranger.private_path))
    monkeypatch.chdir(setup)
    monkeypatch.setenv("MODELWARD_KEYRING", "keyring")
    assert main(["deploy", "deployment.yaml", "--package", "stranger.zip"]) == 1
    assert f"error: verify failed: key 'stranger' is not in the keyring {setup / 'keyring'}" in capsys.readouterr().err


def test_a_name_still_means_its_newest_deployment_once_stopped(setup: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    ids = []
    for _ in range(2):  # the second deployment of 'toy' replaces the first, then is stopped
        assert main(["deploy", str(setup / "deployment.yaml")]) == 0
        ids.append(capsys.readouterr().out.split()[1].rstrip(":"))
    assert main(["deployments", "stop", "toy"]) == 0
    assert capsys.readouterr().out.strip() == f"deployment {ids[1]}: stopped"

    assert main(["deployments", "status", "toy"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["id"], status["status"]) == (ids[1], "stopped")
    assert main(["deployments", "stop", "toy"]) == 0  # as `systemctl stop`: stopping a stopped one is no error
    assert capsys.readouterr().out.strip() == f"deployment {ids[1]}: already stopped"
    assert main(["deployments", "stop", ids[0]]) == 0
    assert capsys.readouterr().out.strip() == f"deployment {ids[0]}: replaced, nothing to stop"

    for command in (["deployments", "status", "tyo"], ["deployments", "stop", "tyo"], ["rollback", "tyo"]):
        assert main(command) == 1
        assert capsys.readouterr().err.strip() == "error: no deployment named or with id 'tyo'"


def test_a_deploy_refused_before_it_starts_is_in_the_attempts_file(setup: Path, capsys: pytest.CaptureFixture[str],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    attempts = setup / "data" / "deployments" / "attempts.jsonl"
    monkeypatch.setenv("MODELWARD_CATALOG_URL", "postgresql+psycopg://postgres@127.0.0.1:1/x")  # nobody listens
    assert main(["deploy", str(setup / "deployment.yaml"), "--actor", "ci"]) == 1
    (line,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    (entry,) = [json.loads(line) for line in attempts.read_text().splitlines()]
    assert (entry["status"], entry["step"], entry["error"], entry["actor"]) == ("failed", "catalog", "CatalogError",
                                                                                "ci")
    assert line == f"error: {entry['reason']}" and "127.0.0.1" in entry["reason"]
    assert (entry["model"], entry["target"], entry["package"]) == ("toy_model", "local", str(setup / "toy.zip"))

    monkeypatch.delenv("MODELWARD_CATALOG_URL")
    assert main(["deploy", str(setup / "deployment.yaml"), "--keyring", str(setup / "no-keys")]) == 1
    entry = json.loads(attempts.read_text().splitlines()[-1])
    assert (entry["step"], entry["error"]) == ("keyring", "ConfigurationError")
    assert entry["reason"].startswith(f"no keyring at {setup / 'no-keys'}")


def test_rollback_prints_the_header_deploy_prints(setup: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(2):
        assert main(["deploy", str(setup / "deployment.yaml")]) == 0
    second = capsys.readouterr().out.splitlines()[-1].split()[1].rstrip(":")
    assert main(["rollback", "toy"]) == 0
    out, err = capsys.readouterr()
    assert err.splitlines()[0] == "deploying toy_model as 'toy' to local"
    assert out.strip().endswith(f"(rolled back from {second})")
    assert main(["deployments", "list", "--status", "rolled_back"]) == 0
    assert second in capsys.readouterr().out  # recorded as the catalog's rollback records it


def test_the_port_flag_is_named_when_wrong_and_applies_without_a_file(setup: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy", str(setup / "deployment.yaml"), "--port", "-1"]) == 2
    err = capsys.readouterr().err
    assert "Invalid value for '--port'" in err and "deployment.yaml" not in err
    assert main(["deploy", "--name", "toy", "--model", "toy_model", "--class-path", "toy_model.ToyModel",
                 "--package", str(setup / "missing.zip"), "--port", "8123"]) == 1
    err = capsys.readouterr().err  # the flag was taken (it said 'command line: port: unknown key')
    assert f"error: stage failed: package: {setup / 'missing.zip'} does not exist" in err


def test_a_graph_deploys_from_the_command_line_with_node_packages(setup: Path, capsys: pytest.CaptureFixture[str],
                                                                  tmp_path: Path) -> None:
    graph = Path(__file__).resolve().parent.parent / "data" / "deploy" / "graph" / "deployment.yaml"
    document = yaml.safe_load(graph.read_text())
    document["model"]["python_path"] = [str(TOY)]
    (setup / "graph.yaml").write_text(yaml.safe_dump(document))
    toy = str(setup / "toy.zip")
    bad = main(["deploy", str(setup / "graph.yaml"), "--node-package", "champion"])
    assert bad == 1 and "--node-package 'champion': write NODE=SOURCE" in capsys.readouterr().err
    code = main(["deploy", str(setup / "graph.yaml"), "--node-package", f"champion={toy}", "--node-package",
                 f"challenger={toy}", "--target", "kubernetes", "-o", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "toy_graph@1.0.0 pending" in captured.out
    manifests = [yaml.safe_load(p.read_text()) for p in sorted((tmp_path / "out").glob("*.yaml"))]
    [pods] = [m for m in manifests if m["kind"] == "Deployment"]
    env = {e["name"]: e.get("value") for e in pods["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["MODEL_PACKAGE_CHAMPION"] == "s3://models/toy-1.0.0.zip" and env["MODEL_VERSION_CHALLENGER"] == "1.0.0"
    assert main(["deploy", "--node-package", f"champion={toy}", "--model", "m", "--class-path", "a.B"]) == 1
    assert "--node-package needs a deployment file with a graph" in capsys.readouterr().err
