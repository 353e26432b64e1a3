"""Shared fixtures: free ports and real `modelward serve` processes on loopback."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
MODELWARD = str(Path(sys.executable).with_name("modelward"))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(**extra: str) -> dict[str, str]:
    """The environment for child processes: the repo root importable (for tests.fixtures)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env.update(extra)
    return env


@dataclass
class Server:
    """A `modelward serve` process started by a test."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def wait_for(url: str, process: subprocess.Popen[bytes], path: str = "/api/health", timeout: float = 60) -> None:
    """Wait until the server answers ``path`` (any status) or its process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return
        try:
            httpx.get(url + path, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise TimeoutError(f"server at {url} did not answer within {timeout}s")


def wait_started(url: str, timeout: float = 60) -> httpx.Response:
    """Poll the startup probe until it says 200 or the timeout passes; return the last answer."""
    deadline = time.monotonic() + timeout
    answer = httpx.get(url + "/api/health/startup", timeout=2)
    while answer.status_code != 200 and time.monotonic() < deadline and "failed" not in answer.text:
        time.sleep(0.1)
        answer = httpx.get(url + "/api/health/startup", timeout=2)
    return answer


def start_server(config: Path | None, workdir: Path, *args: str, env: dict[str, str] | None = None,
                 wait: bool = True) -> Server:
    """Start `modelward serve CONFIG` on a free port in ``workdir``."""
    port = free_port()
    log = workdir / f"server-{port}.log"
    command = [MODELWARD, "serve", *([str(config)] if config else []), "--port", str(port), *args]
    with log.open("wb") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env or child_env(),
                                   cwd=workdir, start_new_session=True)  # its workers share its process group
    url = f"http://127.0.0.1:{port}"
    if wait:
        wait_for(url, process)
    return Server(process, url, log)


@contextmanager
def running(config: str, workdir: Path) -> Iterator[Server]:
    """A started `modelward serve` of the service YAML ``config`` (for module-scoped fixtures), stopped after."""
    started = start_server(write_config(workdir / "svc.yaml", config), workdir)
    try:
        assert wait_started(started.url).status_code == 200, started.output()
        yield started
    finally:
        stop(started.process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a process this test run started, by its PID; one that hangs is killed with its process
    group, its own (``start_new_session``): the workers of ``--workers N``, which a killed
    supervisor would leave behind."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start `modelward serve CONFIG` on a free port; every process is stopped by PID afterwards."""
    started: list[Server] = []

    def start(config: Path | None, *args: str, env: dict[str, str] | None = None, wait: bool = True) -> Server:
        server = start_server(config, tmp_path, *args, env=env, wait=wait)
        started.append(server)
        return server

    yield start
    for server in started:
        stop(server.process)


def write_config(path: Path, text: str) -> Path:
    """Write a service config file and return its path."""
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def insurance_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The insurance example trained once (``model.skops``, its default format), for tests that serve it."""
    folder = tmp_path_factory.mktemp("insurance")
    subprocess.run([sys.executable, "-m", "insurance_charges.train", "--output", str(folder)],
                   cwd=ROOT / "examples", check=True, capture_output=True)
    return folder / "model.skops"


INSURANCE_POLICY_CONFIG = ROOT / "examples" / "insurance_charges" / "rest_config_policy.yaml"


def insurance_env(model: Path, data: Path) -> dict[str, str]:
    """The environment the insurance example's configs read: the trained model, unsigned, a data dir."""
    return child_env(INSURANCE_MODEL_PATH=str(model), MODELWARD_ALLOW_UNSIGNED="true", MODELWARD_DATA_DIR=str(data))


@pytest.fixture
def insurance_server(insurance_model: Path, tmp_path: Path, serve: Callable[..., Server]) -> Server:
    """The insurance example with its policies (``rest_config_policy.yaml``), started."""
    server = serve(INSURANCE_POLICY_CONFIG, env=insurance_env(insurance_model, tmp_path / "data"))
    assert wait_started(server.url).status_code == 200, server.output()
    return server


@pytest.fixture(scope="session")
def signed_insurance_package(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the insurance example trained, packaged and signed by its train script; a keyring trusting the key)."""
    from modelward.artifacts import Keyring, generate_key

    root = tmp_path_factory.mktemp("signed-insurance")
    (root / "keyring").mkdir()
    key = generate_key(root / "private", key_id="demo", keyring=Keyring.load(root / "keyring"))
    package = root / "insurance_charges-0.1.0.zip"
    result = subprocess.run([sys.executable, "-m", "insurance_charges.train", "--output", str(root / "files"),
                             "--package", str(package), "--key", str(key.private_path)],
                            cwd=ROOT / "examples", env=child_env(), capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stderr
    return package, root / "keyring"


REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the real Redis at 127.0.0.1:6379; its keys are deleted after."""
    import uuid

    import redis

    name = f"modelward-test:{uuid.uuid4().hex}:"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{name}*"):
        client.delete(key)
    client.close()
