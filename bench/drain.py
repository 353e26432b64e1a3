"""Graceful-shutdown load test: SIGTERM in the middle of a load on loopback, then count cut requests.

One command: ``.venv/bin/python bench/drain.py`` (about 15 seconds). It starts ``modelward serve``
on a free loopback port with a model that sleeps ``--millis`` per prediction, keeps ``--clients``
client threads sending predictions (each request on a new connection; bounded: at most
``--requests`` in total), sends SIGTERM after ``--after`` seconds, and has every client stop once the
readiness probe says 503 (what a load balancer does; ``MODELWARD_SHUTDOWN_DELAY`` gives it time).
It prints how many requests were accepted (got an HTTP answer), how many of those were 200, how
many were refused (connection refused: never accepted) and how many were *cut* (accepted, no
answer), whether readiness turned 503, and the server's exit code.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
MODEL = '''\
import time
from pydantic import BaseModel
from modelward.model import MLModel


class In(BaseModel):
    millis: int


class Out(BaseModel):
    slept: int


class SleepyModel(MLModel):
    qualified_name = "sleepy"
    display_name = "Sleepy"
    description = "Sleeps, then answers."
    version = "1"
    input_schema = In
    output_schema = Out

    def predict(self, data: In) -> Out:
        time.sleep(data.millis / 1000)
        return Out(slept=data.millis)
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(workdir: Path, port: int, args: argparse.Namespace) -> subprocess.Popen[bytes]:
    (workdir / "drain_models.py").write_text(MODEL, encoding="utf-8")
    config = workdir / "svc.yaml"
    config.write_text("models:\n  - class_path: drain_models.SleepyModel\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(workdir), str(ROOT / "src")]),
           "MODELWARD_SHUTDOWN_DELAY": str(args.delay), "MODELWARD_SHUTDOWN_GRACE": str(args.grace)}
    modelward = Path(sys.executable).with_name("modelward")
    log = (workdir / "server.log").open("wb")
    return subprocess.Popen([str(modelward), "serve", str(config), "--port", str(port),
                             "--workers", str(args.workers)], stdout=log, stderr=subprocess.STDOUT,
                            env=env, cwd=workdir)


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(url + "/api/health/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the server did not become ready (exit code {process.poll()})")


def one(url: str, millis: int) -> str:
    try:
        with httpx.Client(timeout=60) as client:
            return str(client.post(url + "/api/models/sleepy/prediction", json={"millis": millis}).status_code)
    except httpx.ConnectError:
        return "refused"
    except httpx.HTTPError as exc:
        return f"cut ({type(exc).__name__})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16, help="concurrent client threads")
    parser.add_argument("--requests", type=int, default=2000, help="at most this many requests in all")
    parser.add_argument("--millis", type=int, default=500, help="each prediction sleeps this long")
    parser.add_argument("--after", type=float, default=2.0, help="seconds of load before SIGTERM")
    parser.add_argument("--delay", type=float, default=1.0, help="MODELWARD_SHUTDOWN_DELAY")
    parser.add_argument("--grace", type=float, default=20.0, help="MODELWARD_SHUTDOWN_GRACE")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="modelward-drain-") as folder:
        workdir = Path(folder)
        process = start(workdir, port, args)
        try:
            wait_ready(url, process)
            outcomes, budget, lock = Counter[str](), [args.requests], threading.Lock()
            refusing, said_503 = threading.Event(), [False]

            def client() -> None:
                while not refusing.is_set():
                    with lock:
                        if budget[0] <= 0:
                            return
                        budget[0] -= 1
                    outcome = one(url, args.millis)
                    with lock:
                        outcomes[outcome] += 1

            def probe() -> None:
                while process.poll() is None:
                    try:
                        status = httpx.get(url + "/api/health/ready", timeout=5).status_code
                    except httpx.TransportError:
                        status = 0
                    if status != 200:
                        said_503[0] = status == 503
                        refusing.set()
                        return
                    time.sleep(0.05)

            threads = [threading.Thread(target=client) for _ in range(args.clients)]
            for thread in threads:
                thread.start()
            time.sleep(args.after)
            process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            watcher = threading.Thread(target=probe)
            watcher.start()
            code = process.wait(timeout=args.delay + args.grace + 30)
            took = time.monotonic() - signalled
            watcher.join()
            for thread in threads:
                thread.join()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        log = (workdir / "server.log").read_text(encoding="utf-8", errors="replace")

    cut = sum(n for k, n in outcomes.items() if k.startswith("cut"))
    accepted = sum(n for k, n in outcomes.items() if k not in ("refused",) and not k.startswith("cut")) + cut
    print(f"workers {args.workers}, {args.clients} clients, predictions of {args.millis} ms, SIGTERM after "
          f"{args.after:g} s, delay {args.delay:g} s, grace {args.grace:g} s")
    print(f"accepted {accepted}  200 {outcomes['200']}  other {accepted - outcomes['200'] - cut}  "
          f"refused {outcomes['refused']}  cut {cut}")
    print(f"readiness answered 503 before the port closed: {said_503[0]}; exit code {code} after {took:.2f} s; "
          f"'Cancel' in log: {'Cancel' in log}")
    if cut:
        print("cut:", {k: n for k, n in outcomes.items() if k.startswith("cut")})
    return 0 if cut == 0 and code == 0 and said_503[0] else 1


if __name__ == "__main__":
    sys.exit(main())
