"""`make demo`: train, sign and deploy the example models, on embedded defaults.

    python examples/demo.py            # set up and deploy; the services keep running
    python examples/demo.py --smoke    # the same on free ports, check the answers, then stop them

Steps: a signing key → train both examples and package + sign them (with their known cases and
data profile) → run the policy tests → `modelward deploy` each package (stage → verify → register →
validate → serve → record) → show the catalog entry and lineage → the inference graph: train the
insurance challenger, deploy champion and challenger under a Thompson-sampling bandit with the
outlier step in front, send predictions and feedback, show the routes and what the bandit learned,
and the graph's lineage → print URLs and `curl` lines.
State (keys, keyring, catalog, registry store, deployments) lives in `.demo/` (or `--state`).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
MODELWARD = str(Path(sys.executable).with_name("modelward"))
KEY_ID = "demo-key"
ALLOWED = {"age": 42, "sex": "female", "bmi": 24.0, "children": 2, "smoker": False, "region": "northwest"}
DENIED = {**ALLOWED, "age": 62, "smoker": True}


@dataclass(frozen=True)
class Example:
    """One example model of the demo."""

    folder: str
    model: str
    deployment: str


EXAMPLE_MODELS = (
    Example("insurance_charges", "insurance_charges_model", "insurance-charges"),
    Example("diabetes_progression", "diabetes_progression_model", "diabetes-progression"),
)


def step(title: str) -> None:
    print(f"\n==> {title}", flush=True)


def run(*command: str, env: dict[str, str], cwd: Path = ROOT) -> None:
    shown = " ".join(c.replace(str(ROOT) + "/", "") for c in command).replace(MODELWARD, "modelward")
    print(f"   $ {shown}", flush=True)
    subprocess.run(command, cwd=cwd, env=env, check=True)


def demo_env(state: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(EXAMPLES), env.get("PYTHONPATH", "")]))
    env["MODELWARD_DATA_DIR"] = str(state / "data")
    env["MODELWARD_KEYRING"] = str(state / "data" / "keyring")
    return env


def make_key(state: Path, env: dict[str, str]) -> Path:
    private = state / "private" / f"{KEY_ID}.pem"
    if private.exists():
        print(f"   key {KEY_ID} exists: {private.relative_to(ROOT) if private.is_relative_to(ROOT) else private}")
        return private
    run(MODELWARD, "keys", "generate", "--key-id", KEY_ID, "--private-dir", str(state / "private"), env=env)
    return private


def package_path(state: Path, example: Example) -> Path:
    return state / "packages" / f"{example.folder}-0.1.0.zip"


def train_and_sign(state: Path, example: Example, key: Path, env: dict[str, str]) -> None:
    package = package_path(state, example)
    if package.exists():  # a version is registered once; a second build would differ in bytes
        print(f"   {package.name} exists (delete {state.name}/ to train again)")
        return
    package.parent.mkdir(parents=True, exist_ok=True)
    run(sys.executable, "-m", f"{example.folder}.train", "--output", str(state / example.folder),
        "--package", str(package), "--key", str(key), env=env, cwd=EXAMPLES)
    run(MODELWARD, "verify", str(package), env=env)


def deploy(state: Path, example: Example, port: int, env: dict[str, str]) -> None:
    run(MODELWARD, "deploy", str(EXAMPLES / example.folder / "deployment.yaml"), "--package",
        str(package_path(state, example)), "--port", str(port), "--actor", "demo", env=env)


GRAPH = "insurance-graph"
GRAPH_MODEL = "insurance_graph"
CHALLENGER = "insurance_charges-0.2.0.zip"


def train_challenger(state: Path, key: Path, env: dict[str, str]) -> Path:
    """The insurance model trained with other hyperparameters, packaged and signed as version 0.2.0."""
    package = state / "packages" / CHALLENGER
    if package.exists():
        print(f"   {package.name} exists (delete {state.name}/ to train again)")
        return package
    run(sys.executable, "-m", "insurance_charges.train", "--challenger", "--output", str(state / "challenger"),
        "--package", str(package), "--key", str(key), env=env, cwd=EXAMPLES)
    return package


def deploy_graph(state: Path, port: int, env: dict[str, str]) -> None:
    champion = package_path(state, EXAMPLE_MODELS[0])
    run(MODELWARD, "deploy", str(EXAMPLES / "insurance_charges" / "graph_deployment.yaml"),
        "--node-package", f"champion={champion}", "--node-package", f"challenger={state / 'packages' / CHALLENGER}",
        "--port", str(port), "--actor", "demo", env=env)


def exercise_graph(url: str, state: Path, rounds: int = 40) -> dict[int, int]:
    """Predictions from the training distribution, each rewarded 1 when within 15% of the true charges."""
    from insurance_charges.dataset import COLUMNS, generate

    features, charges = generate(rows=rounds, seed=2026)
    endpoint = f"{url}/api/models/{GRAPH_MODEL}/prediction"
    taken = {0: 0, 1: 0}
    with httpx.Client(timeout=10) as client:
        for index, (row, truth) in enumerate(zip(features.tolist(), charges.tolist(), strict=True)):
            answer = client.post(endpoint, json=dict(zip(COLUMNS, row, strict=True)),
                                 headers={"X-Request-ID": f"demo-{index}"})
            answer.raise_for_status()
            meta = json.loads(answer.headers["x-modelward-meta"])
            route = int(meta["routing"]["bandit"])
            taken[route] += 1
            reward = 1.0 if abs(answer.json()["charges"] - truth) <= 0.15 * truth else 0.0
            client.post(f"{url}/api/models/{GRAPH_MODEL}/feedback",
                        json={"reward": reward, "request_id": f"demo-{index}"}).raise_for_status()
            if index == 0:
                print(f"   first answer: {answer.json()}  route: bandit -> "
                      f"{('champion', 'challenger')[route]}  outlier score: {meta['outlier']['score']:.3f} "
                      f"(is_outlier: {meta['outlier']['is_outlier']})")
    print(f"   {rounds} predictions: champion answered {taken[0]}, challenger {taken[1]}")
    show_bandit(state)
    return taken


def show_bandit(state: Path) -> None:
    """What the bandit learned, read from its durable state (the SQLite file every replica shares)."""
    from modelward.graph.state import SqliteStateStore

    store = SqliteStateStore(state / "data" / "graph-state.db")
    try:
        for name, arm in zip(("champion", "challenger"), store.arms(GRAPH_MODEL, "bandit", 2), strict=True):
            print(f"   bandit state: {name:<10} feedback {arm.n:3d}  mean reward {arm.mean:.2f}  "
                  f"Beta({1 + arm.total:g}, {1 + arm.n - arm.total:g})")
    finally:
        store.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def show(urls: dict[str, str]) -> None:
    insurance = urls["insurance_charges_model"]
    print("\nmodelward is serving the example models:")
    for model, url in urls.items():
        print(f"  {model:28s} {url}/docs")
    endpoint = f"{insurance}/api/models/insurance_charges_model/prediction"
    print("\nallowed by the policy:")
    print(f"  curl -s -X POST {endpoint} -H 'Content-Type: application/json' \\\n"
          f"       -d '{_json(ALLOWED)}'")
    print("denied by the policy (a smoker over 60):")
    print(f"  curl -s -X POST {endpoint} -H 'Content-Type: application/json' \\\n"
          f"       -d '{_json(DENIED)}'")
    graph = f"{urls[GRAPH_MODEL]}/api/models/{GRAPH_MODEL}/prediction"
    print("\nthe inference graph (the answer's x-modelward-meta header names the route and the outlier score):")
    print(f"  curl -si -X POST {graph} -H 'Content-Type: application/json' -H 'X-Request-ID: r1' \\\n"
          f"       -d '{_json(ALLOWED)}'")
    print(f"  curl -s -X POST {urls[GRAPH_MODEL]}/api/models/{GRAPH_MODEL}/feedback -H 'Content-Type: "
          "application/json' -d '{\"reward\": 1, \"request_id\": \"r1\"}'")
    print("\nthe catalog:  modelward catalog deployments --model insurance_charges_model; "
          f"modelward catalog lineage {GRAPH_MODEL}@1.0.0")
    print("stop them:    modelward deployments stop insurance-charges; "
          f"modelward deployments stop diabetes-progression; modelward deployments stop {GRAPH}")
    print("(with MODELWARD_DATA_DIR=.demo/data in the environment)")


def _json(document: dict[str, object]) -> str:
    return json.dumps(document)


def smoke_check(urls: dict[str, str]) -> bool:
    insurance = urls["insurance_charges_model"] + "/api/models/insurance_charges_model/prediction"
    allowed = httpx.post(insurance, json=ALLOWED, timeout=10)
    denied = httpx.post(insurance, json=DENIED, timeout=10)
    print(f"\nsmoke check: allowed -> {allowed.status_code} {allowed.text}")
    print(f"smoke check: denied  -> {denied.status_code} {denied.text}")
    return (allowed.status_code == 200 and "charges" in allowed.json()
            and denied.status_code == 200 and bool(denied.json().get("messages")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="use free ports, check the answers, stop the services")
    parser.add_argument("--state", type=Path, default=ROOT / ".demo", help="where the demo keeps its state")
    parser.add_argument("--port", type=int, default=8000, help="first port (default 8000; the next one too)")
    args = parser.parse_args()
    state = args.state.resolve()
    state.mkdir(parents=True, exist_ok=True)
    env = demo_env(state)
    step("a signing key (the private part stays here; servers get the keyring)")
    key = make_key(state, env)
    for example in EXAMPLE_MODELS:
        step(f"train, package and sign {example.folder}")
        train_and_sign(state, example, key, env)
    step("train, package and sign the insurance challenger (other hyperparameters, version 0.2.0)")
    train_challenger(state, key, env)
    step("policy tests (as `opa test` runs them)")
    run(MODELWARD, "policy", "test", str(EXAMPLES / "insurance_charges" / "policies"), env=env)
    urls: dict[str, str] = {}
    for offset, example in enumerate(EXAMPLE_MODELS):
        port = free_port() if args.smoke else args.port + offset
        step(f"deploy {example.model}")
        deploy(state, example, port, env)
        urls[example.model] = f"http://127.0.0.1:{port}"
    step("the catalog: what runs where, from which signed artifact, trained on what")
    run(MODELWARD, "catalog", "show", "insurance_charges_model@0.1.0", env=env)
    run(MODELWARD, "catalog", "lineage", "insurance_charges_model@0.1.0", env=env)
    port = free_port() if args.smoke else args.port + len(EXAMPLE_MODELS)
    step("deploy the inference graph: outlier step → Thompson-sampling bandit → champion | challenger")
    deploy_graph(state, port, env)
    urls[GRAPH_MODEL] = f"http://127.0.0.1:{port}"
    step("predictions and feedback through the graph: the route each took, what the bandit learned")
    taken = exercise_graph(urls[GRAPH_MODEL], state)
    run(MODELWARD, "catalog", "lineage", f"{GRAPH_MODEL}@1.0.0", env=env)
    show(urls)
    if not args.smoke:
        return 0
    try:
        return 0 if smoke_check(urls) and sum(taken.values()) > 0 else 1
    finally:
        for name in [example.deployment for example in EXAMPLE_MODELS] + [GRAPH]:
            run(MODELWARD, "deployments", "stop", name, env=env)


if __name__ == "__main__":
    sys.exit(main())
