"""The orchestrator end to end on the local target: real packages, real keys, a real catalog, real
``modelward serve`` processes on free ports (stopped by PID in the fixture's finalizer)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import sqlite3
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelward import artifacts
from modelward import catalog as cat
from modelward.deploy import DeploymentSpec, load_deployment
from modelward.errors import (
    Conflict,
    DeployError,
    ManifestMismatch,
    NotFound,
    SignatureInvalid,
    StoreUnavailable,
    TargetError,
    UnknownKey,
    ValidationFailed,
    VersionMismatch,
)
from modelward.services.deploy_state import StepReport
from modelward.services.local_target import alive, free_port, stop_pid
from modelward.services.orchestrator import Orchestrator
from modelward.settings import Settings

TOY = Path(__file__).resolve().parent.parent / "data" / "deploy" / "toy"
pytestmark = pytest.mark.integration


@dataclass
class World:
    """Keys, a package factory, a catalog and an orchestrator in one temporary folder."""

    root: Path
    keyring: artifacts.Keyring
    signer: Any
    catalog: cat.Catalog
    orchestrator: Orchestrator
    reports: list[StepReport]

    def package(self, version: str, slope: float, intercept: float = 1.0,
                cases: list[dict[str, Any]] | None = None, signer: Any = None) -> Path:
        folder = self.root / f"model-{version}"
        folder.mkdir(exist_ok=True)
        (folder / "weights.json").write_text(json.dumps({"slope": slope, "intercept": intercept}))
        known = cases if cases is not None else [
            {"input": {"x": 2.0}, "output": {"y": slope * 2 + intercept}, "tolerance": {"absolute": 1e-6}},
            {"input": {"x": 10.0}, "output": {"y": slope * 10 + intercept}, "tolerance": {"relative": 1e-9}},
        ]
        (folder / "validation.jsonl").write_text("".join(json.dumps(c) + "\n" for c in known))
        output = self.root / f"toy-{version}.zip"
        artifacts.build_package(folder, output, qualified_name="toy_model", version=version,
                                signer=signer or self.signer)
        return output

    def spec(self, package: Path | str, **changes: Any) -> DeploymentSpec:
        spec = load_deployment(TOY / "deployment.yaml")
        return spec.model_copy(update={"package": str(package), **changes})


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    keys = tmp_path / "keyring"
    keys.mkdir()
    keyring = artifacts.Keyring.load(keys)
    generated = artifacts.generate_key(tmp_path, key_id="test-key", keyring=keyring)
    settings = Settings(data_dir=tmp_path / "data", keyring=keys)
    catalog = cat.open_from_settings(settings, migrate=True)
    reports: list[StepReport] = []
    orchestrator = Orchestrator(settings=settings, catalog=catalog, keyring=keyring, actor="tester",
                                progress=reports.append)
    world = World(tmp_path, keyring, artifacts.load_signer(generated.private_path), catalog, orchestrator,
                  reports)
    yield world
    for pid_file in (tmp_path / "data").rglob("serve.pid"):
        pid = int(pid_file.read_text())
        if alive(pid):
            stop_pid(pid)


def predict(url: str, x: float) -> float:
    answer = httpx.post(f"{url}/api/models/toy_model/prediction", json={"x": x}, timeout=10)
    assert answer.status_code == 200, answer.text
    return float(answer.json()["y"])


def url_of(world: World, deployment_id: str) -> str:
    running = world.orchestrator.running(deployment_id)
    assert running is not None
    return running.url


def test_deploy_serves_real_requests_and_records_everything(world: World) -> None:
    outcome = world.orchestrator.deploy(world.spec(world.package("1.0.0", slope=2.0)))
    assert [s.name for s in outcome.steps] == ["stage", "verify", "validate", "register", "serve", "record"]
    assert all(s.ok and s.seconds >= 0 for s in outcome.steps)
    assert [r.name for r in world.reports] == [s.name for s in outcome.steps]
    assert predict(url_of(world, outcome.deployment.id), 3.0) == 7.0

    view = cat.get_deployment(world.catalog, deployment_id=outcome.deployment.id)
    assert (view.status, view.target, view.environment, view.deployed_by) == ("running", "local", "staging",
                                                                               "tester")
    assert view.endpoint_url.endswith("/api/models/toy_model/prediction")
    assert "pid" in view.host_detail and view.config_digest.startswith("sha256:")
    assert view.policy_bundle_digest.startswith("sha256:")
    version = cat.get_version(world.catalog, name="toy_model", version="1.0.0")
    assert version.stage == "validated" and version.signing_key_id == "test-key"
    assert version.artifact_digest.startswith("sha256:")
    registered = Path(version.artifact_uri.removeprefix("file://"))
    assert registered.read_bytes() == (world.root / "toy-1.0.0.zip").read_bytes()
    store = (world.root / "data" / "store").resolve()
    assert registered.parent == store / "sha256", "the content-addressed store copy, not the path given"
    assert registered.name == version.artifact_digest.removeprefix("sha256:") + ".zip"
    assert "sha256:" + hashlib.sha256(registered.read_bytes()).hexdigest() == version.artifact_digest
    actions = [e.action for e in cat.audit_events(world.catalog, entity=f"deployment:{view.id}")]
    assert "deployment.record" in actions


def test_new_version_replaces_old_after_startup_and_rollback_restores_it(world: World) -> None:
    first = world.orchestrator.deploy(world.spec(world.package("1.0.0", slope=2.0)))
    first_url = url_of(world, first.deployment.id)
    second = world.orchestrator.deploy(world.spec(world.package("2.0.0", slope=5.0)))
    assert predict(url_of(world, second.deployment.id), 3.0) == 16.0
    assert world.orchestrator.running(first.deployment.id) is None, "the old server was stopped"
    with pytest.raises(httpx.TransportError):
        httpx.get(first_url + "/api/health", timeout=2)
    assert cat.get_deployment(world.catalog, deployment_id=first.deployment.id).status == "replaced"
    assert second.deployment.replaced_id == first.deployment.id

    back = world.orchestrator.rollback(second.deployment.id)
    assert back.deployment.version == "1.0.0"
    assert predict(url_of(world, back.deployment.id), 3.0) == 7.0
    assert cat.get_deployment(world.catalog, deployment_id=second.deployment.id).status == "rolled_back"
    assert cat.audit_events(world.catalog, entity=f"deployment:{second.deployment.id}", limit=1)[0].action == \
        "deployment.rollback"
    assert back.deployment.replaced_id == second.deployment.id


def assert_failed(world: World, error: type[Exception], step: str, text: str,
                  serving: str | None = None) -> str:
    """The last attempt failed at ``step`` and is journaled; what served still serves."""
    attempt = world.orchestrator.state.attempts()[-1]
    assert (attempt["status"], attempt["step"], attempt["error"]) == ("failed", step, error.__name__)
    assert text in attempt["reason"]
    assert world.reports[-1].name == step and not world.reports[-1].ok
    if serving is not None:
        assert predict(serving, 3.0) == 7.0
    return str(attempt["recorded"])


def assert_rejected(world: World, version: str, package: Path | None = None) -> None:
    """The refused package left no version row, no extracted files and no staged copy; the journal has its digest."""
    with pytest.raises(NotFound):
        cat.get_version(world.catalog, name="toy_model", version=version)
    attempt = world.orchestrator.state.attempts()[-1]
    folder = world.orchestrator.state.folder(attempt["deployment_id"])
    assert folder.is_dir() and (folder / "steps.json").is_file(), "the attempt's evidence stays"
    assert not (folder / "files").exists() and not (folder / "staged.zip").exists()
    left = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert left == ["steps.json"], left
    built = package or world.root / f"toy-{version}.zip"
    assert attempt["package_digest"] == "sha256:" + hashlib.sha256(built.read_bytes()).hexdigest()
    assert attempt["package_bytes"] == str(built.stat().st_size)
    store = world.root / "data" / "store"
    assert attempt["package_digest"].removeprefix("sha256:") not in " ".join(
        p.name for p in store.rglob("*")), "nor a store copy"


@pytest.fixture
def serving(world: World) -> str:
    """A good deployment already serving (slope 2: f(3) = 7)."""
    outcome = world.orchestrator.deploy(world.spec(world.package("1.0.0", slope=2.0)))
    return url_of(world, outcome.deployment.id)


def test_bad_signature_stops_at_verify(world: World, serving: str) -> None:
    package = world.package("2.0.0", slope=5.0)
    tampered = world.root / "tampered.zip"
    with zipfile.ZipFile(package) as source, zipfile.ZipFile(tampered, "w") as sink:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "weights.json":
                data = data.replace(b"5.0", b"6.0")
            sink.writestr(item, data)
    with pytest.raises(ManifestMismatch, match=r"verify failed: .*weights\.json") as caught:
        world.orchestrator.deploy(world.spec(tampered))
    assert str(caught.value).startswith(f"verify failed: {tampered}: 'weights.json' digest"), "the user's file"
    assert assert_failed(world, ManifestMismatch, "verify", "weights.json", serving) == "catalog (failed attempt)"
    assert cat.get_model(world.catalog, name="toy_model").versions[0].version == "1.0.0"
    assert_rejected(world, "2.0.0", tampered)


def test_unknown_signing_key_stops_at_verify(world: World, serving: str) -> None:
    stranger = artifacts.generate_key(world.root, key_id="stranger")
    package = world.package("2.0.0", slope=5.0, signer=artifacts.load_signer(stranger.private_path))
    with pytest.raises(UnknownKey, match="verify failed: key 'stranger' is not in the keyring"):
        world.orchestrator.deploy(world.spec(package))
    assert_failed(world, UnknownKey, "verify", "stranger", serving)


def test_unsigned_package_is_refused(world: World, serving: str) -> None:
    folder = world.root / "unsigned"
    folder.mkdir()
    (folder / "weights.json").write_text('{"slope": 1, "intercept": 0}')
    artifacts.build_package(folder, world.root / "unsigned.zip", qualified_name="toy_model", version="3.0.0")
    with pytest.raises(SignatureInvalid, match="not signed"):
        world.orchestrator.deploy(world.spec(world.root / "unsigned.zip"))
    assert_failed(world, SignatureInvalid, "verify", "not signed", serving)


def test_failed_known_case_says_which_and_by_how_much(world: World, serving: str) -> None:
    cases = [{"input": {"x": 1.0}, "output": {"y": 6.0}, "tolerance": {"absolute": 0.01}},
             {"input": {"x": 2.0}, "output": {"y": 11.5}, "tolerance": {"absolute": 0.01}}]
    package = world.package("2.0.0", slope=5.0, cases=cases)
    with pytest.raises(ValidationFailed) as caught:
        world.orchestrator.deploy(world.spec(package))
    assert str(caught.value) == ("validate failed: validation.jsonl case 2 does not match: y: expected 11.5, "
                                 "got 11.0 (off by 0.5; tolerance absolute 0.01)")
    assert assert_failed(world, ValidationFailed, "validate", "case 2", serving) == "catalog (failed attempt)"
    assert_rejected(world, "2.0.0")
    (failed,) = cat.list_deployments(world.catalog, status="failed").deployments
    assert "case 2 does not match" in failed.reason and failed.failed_step == "validate"
    assert not failed.version_registered
    with pytest.raises(NotFound, match=r"no version '2\.0\.0'"):
        world.orchestrator.promote("toy_model", "2.0.0", "production")


def test_a_model_reporting_another_version_than_its_manifest_is_refused(world: World, serving: str) -> None:
    spec = world.spec(world.package("2.0.0", slope=5.0))
    configuration = {**spec.model.configuration, "version": "1.9.9"}  # fixed, not ${MODEL_VERSION}
    spec = spec.model_copy(update={"model": spec.model.model_copy(update={"configuration": configuration})})
    with pytest.raises(VersionMismatch) as caught:
        world.orchestrator.deploy(spec)
    assert str(caught.value).startswith("validate failed: version mismatch: the package's manifest says version "
                                        "2.0.0, the loaded model reports version '1.9.9' (model.version)")
    assert assert_failed(world, VersionMismatch, "validate", "version mismatch", serving) == \
        "catalog (failed attempt)"
    assert_rejected(world, "2.0.0")
    (failed,) = cat.list_deployments(world.catalog, status="failed").deployments
    assert (failed.version, failed.failed_step, failed.version_registered) == ("2.0.0", "validate", False)
    assert "reports version '1.9.9'" in failed.reason
    assert [v.version for v in cat.get_model(world.catalog, name="toy_model").versions] == ["1.0.0"]


def test_failing_policy_test_stops_at_validate(world: World, serving: str, tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(TOY / "policies", policies)
    text = (policies / "toy_test.rego").read_text().replace('{"x": -1}', '{"x": 1}')
    (policies / "toy_test.rego").write_text(text)
    with pytest.raises(ValidationFailed, match=r"1 of 2 policy tests failed: data.toy_test.test_negative_denied"):
        world.orchestrator.deploy(world.spec(world.package("2.0.0", slope=5.0), policies=str(policies)))
    assert_failed(world, ValidationFailed, "validate", "test_negative_denied", serving)
    assert_rejected(world, "2.0.0")


def test_port_in_use_stops_at_serve(world: World, serving: str) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        spec = world.spec(world.package("2.0.0", slope=5.0))
        spec = spec.model_copy(update={"local": spec.local.model_copy(update={"port": port})})
        with pytest.raises(TargetError, match=f"serve failed: port 127.0.0.1:{port} is in use"):
            world.orchestrator.deploy(spec)
    assert assert_failed(world, TargetError, "serve", "in use", serving) == "catalog"


def test_store_down_stops_at_register(world: World, serving: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # credentials are configured (as they would be); the endpoint is what is down
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "registry-user")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "registry-secret")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings = world.orchestrator.settings.model_copy(update={
        "store_url": "s3://registry/models", "s3_endpoint_url": f"http://127.0.0.1:{port}"})
    down = Orchestrator(settings=settings, catalog=world.catalog, keyring=world.keyring, actor="tester",
                        progress=world.reports.append)
    with pytest.raises(StoreUnavailable, match="register failed"):
        down.deploy(world.spec(world.package("2.0.0", slope=5.0)))
    assert_failed(world, StoreUnavailable, "register", "", serving)
    assert_rejected(world, "2.0.0")


def test_other_bytes_under_a_registered_version_are_refused_at_register(world: World, serving: str) -> None:
    before = cat.get_version(world.catalog, name="toy_model", version="1.0.0")
    store = world.root / "data" / "store"
    objects = sorted(store.rglob("*.zip"))
    other = world.package("1.0.0", slope=2.0, intercept=1.5)  # the same version, other bytes
    with pytest.raises(Conflict, match=r"register failed: toy_model@1\.0\.0 is already registered"):
        world.orchestrator.deploy(world.spec(other))
    assert_failed(world, Conflict, "register", "already registered", serving)
    after = cat.get_version(world.catalog, name="toy_model", version="1.0.0")
    assert (after.artifact_digest, after.artifact_uri) == (before.artifact_digest, before.artifact_uri)
    assert sorted(store.rglob("*.zip")) == objects, "the refused bytes are not copied into the store"
    folder = world.orchestrator.state.folder(world.orchestrator.state.attempts()[-1]["deployment_id"])
    assert not (folder / "files").exists() and not (folder / "staged.zip").exists()


def test_promote_a_validated_version(world: World, serving: str) -> None:
    view = world.orchestrator.promote("toy_model", "1.0.0", "production")
    assert view.stage == "production"
    actions = [e.action for e in cat.audit_events(world.catalog, entity="toy_model@1.0.0")]
    assert actions.count("version.stage") == 2  # registered → validated → production


def test_stop_ends_the_process_and_records_it(world: World, serving: str) -> None:
    current = world.orchestrator.state.current("toy")
    assert current is not None
    view = world.orchestrator.stop("toy")
    assert view.status == "stopped"
    with pytest.raises(httpx.TransportError):
        httpx.get(serving + "/api/health", timeout=2)
    assert world.orchestrator.state.current("toy") is None


@pytest.mark.parametrize("host", ["no-such-host.invalid", "192.0.2.1"])
def test_a_host_the_server_cannot_listen_on_stops_at_serve(world: World, serving: str, host: str) -> None:
    spec = world.spec(world.package("2.0.0", slope=5.0))
    spec = spec.model_copy(update={"local": spec.local.model_copy(update={"host": host})})
    with pytest.raises(TargetError, match=f"serve failed: local.host: cannot listen on '{host}': "):
        world.orchestrator.deploy(spec)
    assert assert_failed(world, TargetError, "serve", "local.host", serving) == "catalog"


def test_a_second_deploy_of_the_same_name_is_refused_while_the_first_runs(world: World, serving: str) -> None:
    rival = Orchestrator(settings=world.orchestrator.settings, catalog=world.catalog, keyring=world.keyring,
                         actor="rival")
    rival_spec = world.spec(world.package("3.0.0", slope=7.0))
    refused: list[DeployError] = []

    def meanwhile(report: StepReport) -> None:  # the rival starts while the first deploy validates
        world.reports.append(report)
        if report.name == "validate":
            with pytest.raises(DeployError) as caught:
                rival.deploy(rival_spec)
            refused.append(caught.value)

    world.orchestrator.progress = meanwhile
    outcome = world.orchestrator.deploy(world.spec(world.package("2.0.0", slope=5.0)))
    assert len(refused) == 1
    assert str(refused[0]) == (f"another deploy of 'toy' is running (pid {os.getpid()}): wait for it to finish, "
                               "then deploy again")
    assert predict(url_of(world, outcome.deployment.id), 3.0) == 16.0
    pids = [int(p.read_text()) for p in (world.root / "data").rglob("serve.pid")]
    assert [pid for pid in pids if alive(pid)] == [world.orchestrator.running(outcome.deployment.id).pid]
    (attempt,) = [a for a in world.orchestrator.state.attempts() if a["actor"] == "rival"]
    assert (attempt["status"], attempt["step"], attempt["error"]) == ("failed", "lock", "DeployError")
    again = rival.deploy(rival_spec)  # once the first is done, the name is free again
    assert predict(url_of(world, again.deployment.id), 3.0) == 22.0


def test_an_interrupted_deploy_stops_its_new_server_and_is_recorded(world: World, serving: str) -> None:
    def interrupt(report: StepReport) -> None:  # Ctrl-C right after the new server passed its probe
        world.reports.append(report)
        if report.name == "serve":
            raise KeyboardInterrupt

    world.orchestrator.progress = interrupt
    with pytest.raises(KeyboardInterrupt):
        world.orchestrator.deploy(world.spec(world.package("2.0.0", slope=5.0)))
    pids = [int(p.read_text()) for p in (world.root / "data").rglob("serve.pid")]
    assert len([pid for pid in pids if alive(pid)]) == 1, "only the old server is left"
    assert predict(serving, 3.0) == 7.0
    attempt = world.orchestrator.state.attempts()[-1]
    assert (attempt["status"], attempt["step"], attempt["reason"]) == ("failed", "record", "interrupted")
    version = cat.get_version(world.catalog, name="toy_model", version="2.0.0")
    assert [d.status for d in version.deployments] == ["failed"]


def test_an_empty_validation_file_is_no_known_cases(world: World, serving: str) -> None:
    empty = world.root / "cases.jsonl"
    empty.write_text("\n")
    with pytest.raises(ValidationFailed, match=f"validate failed: validation: {empty} holds no known cases"):
        world.orchestrator.deploy(world.spec(world.package("2.0.0", slope=5.0), validation=str(empty)))
    assert assert_failed(world, ValidationFailed, "validate", "no known cases", serving) == "catalog (failed attempt)"
    assert_rejected(world, "2.0.0")


def _on_port(world: World, version: str, slope: float, port: int) -> DeploymentSpec:
    spec = world.spec(world.package(version, slope=slope))
    return spec.model_copy(update={"local": spec.local.model_copy(update={"port": port})})


def test_a_fixed_port_is_handed_over_to_the_new_version(world: World) -> None:
    port = free_port()
    first = world.orchestrator.deploy(_on_port(world, "1.0.0", 2.0, port))
    second = world.orchestrator.deploy(_on_port(world, "2.0.0", 5.0, port))
    assert url_of(world, second.deployment.id) == f"http://127.0.0.1:{port}"
    assert predict(f"http://127.0.0.1:{port}", 3.0) == 16.0
    assert world.orchestrator.running(first.deployment.id) is None
    assert cat.get_deployment(world.catalog, deployment_id=first.deployment.id).status == "replaced"


def test_the_old_version_serves_again_when_the_new_one_fails_after_taking_its_port(world: World) -> None:
    port = free_port()
    first = world.orchestrator.deploy(_on_port(world, "1.0.0", 2.0, port))
    database = world.orchestrator.settings.resolved_catalog_url().removeprefix("sqlite:///")

    def refuse_running_records(report: StepReport) -> None:  # the catalog refuses the new record, mid-deploy
        world.reports.append(report)
        if report.name == "serve":
            with sqlite3.connect(database) as connection:
                connection.execute("CREATE TRIGGER refuse BEFORE INSERT ON deployments WHEN NEW.status = 'running' "
                                   "BEGIN SELECT RAISE(ABORT, 'read-only catalog'); END")

    world.orchestrator.progress = refuse_running_records
    with pytest.raises(Conflict, match="record failed"):
        world.orchestrator.deploy(_on_port(world, "2.0.0", 5.0, port))
    assert predict(f"http://127.0.0.1:{port}", 3.0) == 7.0, "the old version serves on its port again"
    assert url_of(world, first.deployment.id) == f"http://127.0.0.1:{port}", "and is known to (status, stop)"
    assert world.orchestrator.state.current("toy") == first.deployment.id
    assert cat.get_deployment(world.catalog, deployment_id=first.deployment.id).status == "running"
    assert assert_failed(world, Conflict, "record", "conflicts") == "catalog"
    pids = [int(p.read_text()) for p in (world.root / "data").rglob("serve.pid")]
    assert [pid for pid in pids if alive(pid)] == [world.orchestrator.running(first.deployment.id).pid]
