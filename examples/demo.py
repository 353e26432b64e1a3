"""`make demo`: train the example models and serve them on 127.0.0.1:8000 with embedded defaults.

    python examples/demo.py            # set up, then serve until Ctrl-C
    python examples/demo.py --smoke    # set up, serve on a free port, check a prediction, stop

State (keys, catalog, registry) lives in .demo/ at the repository root.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
STATE = ROOT / ".demo"
BIN = Path(sys.executable).parent
ALLOWED = {"age": 42, "sex": "female", "bmi": 24.0, "children": 2, "smoker": False, "region": "northwest"}


def step(title: str) -> None:
    print(f"\n==> {title}", flush=True)


def sh(*command: str, env: dict[str, str] | None = None) -> None:
    print("   $", " ".join(command), flush=True)
    subprocess.run(command, cwd=EXAMPLES, env=env, check=True)


def demo_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(EXAMPLES), env.get("PYTHONPATH", "")]))
    env.setdefault("MODELWARD_DATA_DIR", str(STATE))
    return env


def train(env: dict[str, str]) -> None:
    for example in ("insurance_charges", "diabetes_progression"):
        step(f"train {example}")
        sh(sys.executable, "-m", f"{example}.train", env=env)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_started(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the service exited with status {process.returncode}")
        try:
            if httpx.get(url + "/api/health/startup", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the service did not start within {timeout}s")


def show(url: str) -> None:
    print(f"\nmodelward is serving on {url}")
    print(f"  API docs:     {url}/docs")
    print(f"  models:       {url}/api/models")
    print(f"  health:       {url}/api/health/ready")
    print("  try:")
    body = '{"age": 42, "sex": "female", "bmi": 24.0, "children": 2, "smoker": false, "region": "northwest"}'
    print(f"    curl -s -X POST {url}/api/models/insurance_charges_model/prediction \\")
    print(f"         -H 'Content-Type: application/json' -d '{body}'")


def serve(env: dict[str, str], port: int, smoke: bool) -> int:
    config = EXAMPLES / "demo_config.yaml"
    step(f"serve {config.relative_to(ROOT)}")
    process = subprocess.Popen([str(BIN / "modelward"), "serve", str(config), "--port", str(port)], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_started(url, process)
        show(url)
        if smoke:
            answer = httpx.post(url + "/api/models/insurance_charges_model/prediction", json=ALLOWED, timeout=10)
            print(f"\nsmoke check: {answer.status_code} {answer.text}")
            return 0 if answer.status_code == 200 and "charges" in answer.json() else 1
        return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=15)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="check one prediction and stop")
    parser.add_argument("--port", type=int, default=None, help="port (default 8000; a free one with --smoke)")
    args = parser.parse_args()
    STATE.mkdir(exist_ok=True)
    env = demo_env()
    train(env)
    port = args.port or (free_port() if args.smoke else 8000)
    return serve(env, port, args.smoke)


if __name__ == "__main__":
    sys.exit(main())
