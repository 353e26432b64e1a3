"""Graph benchmark: the cost of one in-process graph hop against a network hop, and bandit regret.

One command: ``PYTHONPATH=src .venv/bin/python bench/graph.py`` (about a minute on 2 cores). It

1. **in process**: builds graphs from service YAML with modelward's loader and times
   ``graph.predict`` against calling the same components directly, interleaved call by call: a
   chain of ``--hops`` pass-through TRANSFORMER nodes in front of a scorer (the graph's own cost per
   hop), the same chain where each hop's output must be re-validated into the next node's input
   class, and one ROUTER hop of each kind (``AB_TEST`` records the route by request id in SQLite,
   ``THOMPSON_SAMPLING`` reads the arms' state from SQLite);
2. **over the network**: starts ``modelward serve`` processes on loopback, a multi-container chain
   (``client → hop → hop → scorer``, each hop an HTTP call from one server to the next, as
   Seldon's graph crosses containers) and one server running the same three nodes as an in-process
   graph, and times requests from a keep-alive client; the network hop is the difference between
   the chain and the scorer alone, divided by the hops;
3. **regret**: simulates ``--rounds`` feedback rounds on two Bernoulli arms (conversion rates
   ``--arms``) for Thompson sampling (Beta-Bernoulli), Seldon's epsilon-greedy (epsilon 0.1, its
   default, starting on arm 0) and a fixed 50/50 split, with modelward's router classes, over
   ``--seeds`` seeds, and prints the mean cumulative (pseudo-)regret.

Results also go to ``bench/results/graph.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))

from graph_models import Features, PassThrough, Reshape, Scorer  # noqa: E402

from modelward.graph.routers import EpsilonGreedyRouter, FixedWeightRouter, Router, ThompsonSamplingRouter  # noqa: E402
from modelward.graph.state import ArmStats  # noqa: E402
from modelward.model.context import request_id, response_metadata  # noqa: E402
from modelward.services.config import parse_config  # noqa: E402
from modelward.services.loader import build_models  # noqa: E402

RESULTS = BENCH / "results"
MODELWARD = str(Path(sys.executable).with_name("modelward"))
DATA = Features(a=1.0, b=2.0, c=3.0, d=4.0)


def chain_yaml(hops: int, transformer: str) -> str:
    """A graph of ``hops`` TRANSFORMER nodes in front of the scorer."""
    node = "{name: score, type: MODEL, class_path: graph_models.Scorer}"
    for index in reversed(range(hops)):
        node = f"{{name: t{index}, type: TRANSFORMER, class_path: graph_models.{transformer}, children: [{node}]}}"
    return f"models:\n  - name: chain\n    graph: {node}\n"


def router_yaml(implementation: str, options: str) -> str:
    child = "{{name: {0}, type: MODEL, class_path: graph_models.Scorer}}"
    return (f"models:\n  - name: routed\n    graph: {{name: r, type: ROUTER, implementation: {implementation}, "
            f"configuration: {options}, children: [{child.format('x')}, {child.format('y')}]}}\n")


def load(text: str, data_dir: Path) -> Any:
    return build_models(parse_config(text), data_dir=data_dir)[0].model


def as_request(fn: Callable[[], Any], rid: str) -> Any:
    """``fn()`` with a request id and response metadata set, as the data plane sets them."""
    meta_token, rid_token = response_metadata.set({}), request_id.set(rid)
    try:
        return fn()
    finally:
        response_metadata.reset(meta_token)
        request_id.reset(rid_token)


def timed(variants: dict[str, Callable[[int], Any]], n: int) -> dict[str, float]:
    """Median microseconds of each variant, called in turn so load drift cancels."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for index in range(n + 500):
        for name, call in variants.items():
            started = time.perf_counter()
            call(index)
            if index >= 500:
                times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) * 1e6 for name, values in times.items()}


def in_process(hops: int, n: int, data_dir: Path) -> dict[str, float]:
    """Per-hop overhead of the graph in one process, in microseconds."""
    same = load(chain_yaml(hops, "PassThrough"), data_dir)
    reshaped = load(chain_yaml(hops, "Reshape"), data_dir)
    ab = load(router_yaml("AB_TEST", "{seed: 1}"), data_dir)
    thompson = load(router_yaml("THOMPSON_SAMPLING", "{seed: 1}"), data_dir)
    passing, reshape, scorer = PassThrough(), Reshape(), Scorer()

    def direct_same(_: int) -> Any:
        data = DATA
        for _ in range(hops):
            data = passing.predict(data)
        return scorer.predict(data)

    def direct_reshape(_: int) -> Any:
        data: Any = DATA
        for _ in range(hops):
            data = Features.model_validate(reshape.predict(data).model_dump())
        return scorer.predict(data)

    t = timed({
        "scorer alone": lambda i: scorer.predict(DATA),
        "direct chain": direct_same,
        "graph chain": lambda i: same.predict(DATA),
        "direct chain, re-validated": direct_reshape,
        "graph chain, re-validated": lambda i: reshaped.predict(DATA),
        "AB_TEST router": lambda i: as_request(lambda: ab.predict(DATA), f"ab-{i}"),
        "THOMPSON_SAMPLING router": lambda i: as_request(lambda: thompson.predict(DATA), f"ts-{i}"),
    }, n)
    for graph in (same, reshaped, ab, thompson):
        graph.close()
    return {
        **{f"{k} (us)": round(v, 2) for k, v in t.items()},
        "graph overhead per hop (us)": round((t["graph chain"] - t["direct chain"]) / (hops + 1), 2),
        "graph overhead per hop, re-validated (us)": round(
            (t["graph chain, re-validated"] - t["direct chain, re-validated"]) / (hops + 1), 2),
        "AB_TEST router hop incl. SQLite route record (us)": round(t["AB_TEST router"] - t["scorer alone"], 2),
        "THOMPSON_SAMPLING router hop incl. SQLite read and route record (us)": round(
            t["THOMPSON_SAMPLING router"] - t["scorer alone"], 2),
    }


def serve(config: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(BENCH), str(ROOT / "src"), env.get("PYTHONPATH", "")])
    env["MODELWARD_DATA_DIR"] = str(config.parent / f"data-{port}")
    with log.open("wb") as handle:
        return subprocess.Popen([MODELWARD, "serve", str(config), "--port", str(port), "--log-level", "warning"],
                                stdout=handle, stderr=subprocess.STDOUT, env=env)


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"a server at {url} exited")
        try:
            if httpx.get(f"{url}/api/health/startup", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server at {url} did not start")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def network(n: int, folder: Path) -> dict[str, float]:
    """Median request latency through a chain of servers and through one server running the graph."""
    ports = [free_port() for _ in range(4)]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    configs = [
        "models:\n  - class_path: graph_models.Scorer\n",
        f"models:\n  - class_path: graph_models.HttpHop\n    configuration: {{url: '{urls[0]}'}}\n",
        f"models:\n  - class_path: graph_models.HttpHop\n    configuration: {{url: '{urls[1]}', model: http_hop}}\n",
        chain_yaml(2, "PassThrough"),
    ]
    processes = []
    try:
        for index, (text, port) in enumerate(zip(configs, ports, strict=True)):
            path = folder / f"server{index}.yaml"
            path.write_text(text, encoding="utf-8")
            processes.append(serve(path, port, folder / f"server{index}.log"))
        for url, process in zip(urls, processes, strict=True):
            wait_ready(url, process)
        client = httpx.Client(timeout=10)
        body = DATA.model_dump_json()
        targets = {"scorer alone (1 server)": f"{urls[0]}/api/models/scorer/prediction",
                   "3-node chain across 3 servers": f"{urls[2]}/api/models/http_hop/prediction",
                   "3-node graph in 1 server": f"{urls[3]}/api/models/chain/prediction"}
        for url in targets.values():
            assert client.post(url, content=body, headers={"content-type": "application/json"}).json()["score"] == 3.0
        t = timed({name: lambda i, url=url: client.post(url, content=body,
                                                        headers={"content-type": "application/json"})
                   for name, url in targets.items()}, n)
        client.close()
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
    scorer = t["scorer alone (1 server)"]
    return {**{f"{k} (us)": round(v, 1) for k, v in t.items()},
            "network hop (us)": round((t["3-node chain across 3 servers"] - scorer) / 2, 1),
            "in-process hop over HTTP (us)": round((t["3-node graph in 1 server"] - scorer) / 2, 1)}


def regret(router: Router, means: list[float], rounds: int, seed: int) -> float:
    """Cumulative pseudo-regret of ``router`` over ``rounds`` Bernoulli feedback rounds."""
    rng = random.Random(seed)
    arms = [ArmStats() for _ in means]
    top = max(means)
    total = 0.0
    for _ in range(rounds):
        arm = router.choose(arms, None, None)
        total += top - means[arm]
        arms[arm] = arms[arm].add(1.0 if rng.random() < means[arm] else 0.0)
    return total


def simulation(means: list[float], rounds: int, seeds: int) -> dict[str, Any]:
    def split() -> Router:
        router = FixedWeightRouter(weights=[1, 1], seed=seed)
        router.setup(["a", "b"], Features)
        return router

    makers: dict[str, Callable[[], Router]] = {
        "thompson (beta-bernoulli)": lambda: ThompsonSamplingRouter(reward="bernoulli", seed=seed),
        "epsilon-greedy (seldon: epsilon 0.1)": lambda: EpsilonGreedyRouter(epsilon=0.1, seed=seed),
        "fixed 50/50 split": split,
    }
    results: dict[str, list[float]] = {name: [] for name in makers}
    for seed in range(seeds):
        for name, make in makers.items():
            results[name].append(regret(make(), means, rounds, seed))
    return {name: {"mean": round(statistics.mean(v), 1), "stdev": round(statistics.stdev(v), 1),
                   "worst": round(max(v), 1)} for name, v in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hops", type=int, default=10, help="TRANSFORMER hops of the in-process chain.")
    parser.add_argument("--calls", type=int, default=5000, help="Timed calls per in-process variant.")
    parser.add_argument("--requests", type=int, default=1000, help="Timed HTTP requests per network variant.")
    parser.add_argument("--rounds", type=int, default=10_000, help="Feedback rounds of the simulation.")
    parser.add_argument("--seeds", type=int, default=20, help="Simulations per policy.")
    parser.add_argument("--arms", type=float, nargs="+", default=[0.10, 0.15], help="The arms' reward rates.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        report: dict[str, Any] = {"in process": in_process(args.hops, args.calls, folder)}
        report["network"] = network(args.requests, folder)
    report["regret"] = simulation(args.arms, args.rounds, args.seeds)
    report["settings"] = vars(args)
    hop = report["in process"]["graph overhead per hop (us)"]
    report["verdict"] = {
        "hop <= 100 us": hop <= 100,
        "bandit beats the split": report["regret"]["thompson (beta-bernoulli)"]["mean"]
        < report["regret"]["fixed 50/50 split"]["mean"],
    }
    print(json.dumps(report, indent=2))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "graph.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
