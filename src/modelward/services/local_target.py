"""The local target: ``modelward serve`` as a managed background process (pid file, log file, port).

The server is started detached (its own session, re-parented away from the command that started
it) so that it keeps serving after ``modelward deploy`` returns. ``start`` returns only once the
startup probe (``/api/health/startup``) answers 200; otherwise the new process is stopped and a
``TargetError`` says why, with the end of its log.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from modelward.errors import TargetError

# Starts the server in a new session, prints its pid and exits: the server is nobody's child.
_LAUNCHER = (
    "import subprocess, sys\n"
    "log = open(sys.argv[1], 'ab')\n"
    "p = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,"
    " start_new_session=True)\n"
    "print(p.pid)\n"
)
SERVE = [sys.executable, "-c", "from modelward.cli.main import run; run()", "serve"]


@dataclass(frozen=True)
class Running:
    """A server process this target started."""

    pid: int
    host: str
    port: int
    log: Path
    pid_file: Path

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def _family(host: str) -> socket.AddressFamily:
    """The address family of ``host`` (IPv4 or IPv6); ``TargetError`` for a name that does not resolve."""
    try:
        return socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM)[0][0]
    except (OSError, UnicodeError) as exc:
        raise TargetError(f"local.host: cannot listen on '{host}': {getattr(exc, 'strerror', None) or exc}") from None


def check_host(host: str) -> None:
    """``TargetError`` unless a server can listen on ``host`` (an unknown name, another machine's address)."""
    with socket.socket(_family(host)) as sock:
        try:
            sock.bind((host, 0))
        except OSError as exc:
            raise TargetError(f"local.host: cannot listen on '{host}': {exc.strerror or exc}") from None


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now."""
    with socket.socket(_family(host)) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    """Whether something already holds ``host:port``."""
    with socket.socket(_family(host)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def is_our_server(pid: int, config: Path) -> bool:
    """Whether ``pid`` still runs ``modelward serve`` on ``config`` (guards against recycled pids)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return alive(pid)
    return b"serve" in command and str(config.resolve()).encode() in command


def tail(log: Path, lines: int = 15) -> str:
    """The last lines of a log file."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def load_error(log: Path) -> str | None:
    """The server log's last 'models failed to load: ...' message."""
    marker = "models failed to load: "
    found = [line[line.index(marker):] for line in tail(log, 200).splitlines() if marker in line]
    return found[-1] if found else None


def launch(config: Path, host: str, port: int, log: Path, env: dict[str, str]) -> int:
    """Start ``modelward serve`` detached; return its pid."""
    command = [*SERVE, str(config.resolve()), "--host", host, "--port", str(port)]
    done = subprocess.run([sys.executable, "-c", _LAUNCHER, str(log), *command], env=env,
                          capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0 or not done.stdout.strip().isdigit():
        raise TargetError(f"could not start the server: {done.stderr.strip() or done.stdout.strip()}")
    return int(done.stdout.strip())


def stop_pid(pid: int, grace: float = 10.0) -> bool:
    """SIGTERM, then SIGKILL after ``grace`` seconds; True if the process is gone."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not alive(pid):
                return True
            time.sleep(0.05)
    return not alive(pid)


def wait_started(running: Running, timeout: float) -> None:
    """Poll the startup probe until 200; ``TargetError`` if the process dies, fails or times out."""
    deadline = time.monotonic() + timeout
    reason = "no answer"
    while time.monotonic() < deadline:
        if not alive(running.pid):
            raise TargetError(f"the server exited before it started; its log ends with:\n{tail(running.log)}")
        try:
            answer = httpx.get(running.url + "/api/health/startup", timeout=2)
        except httpx.TransportError as exc:
            reason = f"no answer ({type(exc).__name__})"
        else:
            if answer.status_code == 200:
                return
            reason = str(answer.json().get("reason", answer.text)) if answer.content else "503"
            if "failed to load" in reason:  # the probe gives no detail to anonymous clients; the log has it
                raise TargetError(f"the server did not start: {load_error(running.log) or reason}")
        time.sleep(0.1)
    raise TargetError(f"the server did not pass its startup probe within {timeout:g}s: {reason}")


class LocalTarget:
    """Start, probe and stop ``modelward serve`` processes under a folder."""

    def start(self, folder: Path, config: Path, host: str, port: int, env: dict[str, str],
              timeout: float) -> Running:
        """Start a server for ``config`` in ``folder``; return once its startup probe passes."""
        check_host(host)
        if port and port_in_use(host, port):
            raise TargetError(f"port {host}:{port} is in use; choose another local.port (or 0 for a free one)")
        chosen = port or free_port(host)
        folder.mkdir(parents=True, exist_ok=True)
        log, pid_file = folder / "serve.log", folder / "serve.pid"
        pid = launch(config, host, chosen, log, env)
        pid_file.write_text(f"{pid}\n", encoding="utf-8")
        running = Running(pid=pid, host=host, port=chosen, log=log, pid_file=pid_file)
        try:
            wait_started(running, timeout)
        except BaseException:
            self.stop(running)
            raise
        return running

    def stop(self, running: Running) -> bool:
        """Stop a server by its pid and remove its pid file; True if it is gone."""
        gone = stop_pid(running.pid)
        if gone:
            running.pid_file.unlink(missing_ok=True)
        return gone

    def describe(self, running: Running) -> dict[str, object]:
        """Process facts for ``deployments status``."""
        facts: dict[str, object] = {"pid": running.pid, "alive": alive(running.pid), "url": running.url,
                                    "log": str(running.log), "pid_file": str(running.pid_file)}
        if facts["alive"]:
            try:
                answer = httpx.get(running.url + "/api/health/ready", timeout=2)
                facts["ready"] = answer.status_code == 200
            except httpx.TransportError:
                facts["ready"] = False
        return facts


def save_running(running: Running, path: Path) -> None:
    """Write a running server's facts as JSON."""
    document = {"pid": running.pid, "host": running.host, "port": running.port,
                "log": str(running.log), "pid_file": str(running.pid_file)}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def load_running(path: Path) -> Running | None:
    """Read what ``save_running`` wrote (``None`` when there is no such file)."""
    if not path.is_file():
        return None
    document = json.loads(path.read_text(encoding="utf-8"))
    return Running(pid=int(document["pid"]), host=document["host"], port=int(document["port"]),
                   log=Path(document["log"]), pid_file=Path(document["pid_file"]))
