"""Observability benchmark: ``.venv/bin/python bench/observability.py`` (about 10 minutes on 2 cores).

One command, one run, on the insurance charges example (``insurance_charges.model``, its pipeline
trained as ``model.joblib`` when missing, as the serving benchmark does):

1. **served** — five ``modelward serve`` processes on loopback, each pinned to CPU 1, loaded with
   ``wrk`` pinned to CPU 0 (the serving benchmark's Lua script and helpers, ``bench/v2.py``'s
   wrk runs), at 1 and 32 connections, always the same customer, in interleaved rounds whose order
   rotates; every round starts the five servers afresh, so that no variant's figures rest on one
   process:

   - ``plain``: the model alone and no metrics (the bench starts ``modelward serve`` with the
     metrics mount switched off: ``modelward.serving.metrics_routes.mount`` replaced by a no-op, so
     the data plane has no observer and there is no ``/metrics``; no setting does that);
   - ``metrics``: ``modelward serve`` as shipped (metrics are always on);
   - ``metrics + payload log``: plus ``PayloadLogDecorator`` with its defaults (``fsync: always``,
     group commit) and the JSON lines sink, shipper thread running;
   - ``metrics + payload log (fsync interval)``: the same with ``fsync: interval`` (at most one fsync
     a second: a record survives the process's crash, not the machine's);
   - ``metrics + cache``: plus ``CacheDecorator`` (in-process LRU); the input repeats, so after the
     first request every answer is a hit.

   Every variant predicts with the same ``execution`` (``--execution``; default ``auto``, what
   ``modelward serve`` ships: the model runs on the event loop while its recent calls take under
   10 ms, otherwise in a worker thread); ``--execution thread`` measures the thread path alone.

   It prints req/s, p50, p99 and server CPU per request (medians over the rounds), the throughput
   ratios (each round's variant over that round's ``plain``, run seconds apart, then the median and
   range of those: the machine's speed drifts between rounds by more than the costs measured), the
   verdict on the target (metrics + payload log cost at most 5% of the plain throughput)
   and the payload log's own counters (every answered request journaled and shipped).
2. **in process** — the same layers without HTTP, one thread, called in turn (A B C A B C...):
   ``ServingMetrics.observe_request``, the payload log with ``fsync: interval`` and ``always``,
   and the cache on a repeated input (in-process LRU, and Redis on 127.0.0.1:6379 when it answers),
   which isolates each layer's cost per call.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "bench"))
# the benchmark runs the model on its bare joblib file (trained here); the service verifies packages
os.environ.setdefault("MODELWARD_ALLOW_UNSIGNED", "true")

from insurance_charges.model import InsuranceChargesModel  # noqa: E402
from insurance_charges.schemas import InsuranceChargesModelInput  # noqa: E402
from v2 import targets, wait_answer  # noqa: E402  (interleaved, rotating wrk rounds)

from modelward.decorators import CacheDecorator, PayloadLogDecorator  # noqa: E402
from modelward.metrics import ServingMetrics, create_registry  # noqa: E402
from modelward.model import MLModelDecorator  # noqa: E402
from serving import BODY, INSURANCE_FILE, Scenario, ensure_insurance_model, machine_notes  # noqa: E402

CUSTOMER = dict(BODY)
MODEL = "insurance_charges_model"
LOGGED, LOGGED_INTERVAL = "metrics + payload log", "metrics + payload log (fsync interval)"
VARIANTS = ("plain", "metrics", LOGGED, LOGGED_INTERVAL, "metrics + cache")
#: ``modelward serve`` without the metrics mount (the ``plain`` variant only)
NO_METRICS = ("import sys; import modelward.serving.metrics_routes as routes; "
              "routes.mount = lambda *args: None; from modelward.cli.main import run; "
              "sys.argv[0] = 'modelward'; run()")
TARGET = 0.05
LOGS = ROOT / "bench" / "results" / "logs"


# ---- served -------------------------------------------------------------------------------------

def slug(variant: str) -> str:
    return re.sub(r"[^a-z]+", "-", variant).strip("-")


def variant_config(folder: Path, variant: str, execution: str) -> Path:
    """The service config of one variant."""
    text = (f"service_title: Observability benchmark\npython_path: [{ROOT / 'examples'}]\nmodels:\n"
            f"  - class_path: insurance_charges.model.InsuranceChargesModel\n"
            f"    execution: {execution}\n"  # the same in every variant (see the module docstring)
            f"    configuration: {{model_path: {INSURANCE_FILE}}}\n")
    if variant in (LOGGED, LOGGED_INTERVAL):
        name = "interval" if variant == LOGGED_INTERVAL else "default"
        fsync = ", fsync: interval" if variant == LOGGED_INTERVAL else ""
        text += ("    decorators:\n      - class_path: modelward.decorators.PayloadLogDecorator\n"
                 f"        configuration: {{journal: {folder / ('journal-' + name)}{fsync}, "
                 f"sink: {{type: jsonl, path: {folder / ('payloads-' + name + '.jsonl')}}}}}\n")
    elif variant == "metrics + cache":
        text += ("    decorators:\n      - class_path: modelward.decorators.CacheDecorator\n"
                 "        configuration: {backend: memory, max_entries: 10000, ttl: 300}\n")
    path = folder / f"{slug(variant)}.yaml"
    path.write_text(text)
    return path


def start_variant(folder: Path, variant: str, port: int, execution: str) -> subprocess.Popen[bytes]:
    """One ``modelward serve`` pinned to CPU 1 (this checkout's source)."""
    program = [sys.executable, "-c", NO_METRICS] if variant == "plain" else [str(Path(sys.executable).parent
                                                                                 / "modelward")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MODELWARD_ALLOW_UNSIGNED": "true",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
    LOGS.mkdir(parents=True, exist_ok=True)
    log = (LOGS / f"observability-{slug(variant)}.log").open("wb")
    return subprocess.Popen(["taskset", "-c", "1", *program, "serve", str(variant_config(folder, variant, execution)),
                             "--port", str(port), "--log-level", "warning"],
                            env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ready(process: subprocess.Popen[bytes], url: str) -> dict[str, object]:
    """The first answer of a variant's server (which must not exit meanwhile)."""
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            sys.exit(f"a server exited with status {process.returncode}; see {LOGS}/observability-*.log")
        try:
            return wait_answer(url, BODY, timeout=1)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                sys.exit(f"{url} did not answer within 120 s; see {LOGS}/observability-*.log")


def payload_counters(port: int) -> dict[str, float]:
    """The payload log's counters from the server's ``/metrics``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return {name: float(value) for name, value in
            re.findall(r"^modelward_payload_(\w+)_total\{[^}]*\} (\S+)$", text, re.MULTILINE)}


def prediction_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/api/models/{MODEL}/prediction"


Starter = Callable[[str, int], "subprocess.Popen[bytes]"]


@contextmanager
def servers(names: tuple[str, ...], start: Starter) -> Iterator[dict[str, tuple[int, subprocess.Popen[bytes]]]]:
    """A server per name (``start(name, port)``), each answering alike: ``{name: (port, process)}``;
    all stopped on the way out."""
    running: dict[str, tuple[int, subprocess.Popen[bytes]]] = {}
    try:
        for name in names:
            port = free_port()
            running[name] = (port, start(name, port))
        answers = {name: ready(process, prediction_url(port)) for name, (port, process) in running.items()}
        if len({json.dumps(a, sort_keys=True) for a in answers.values()}) != 1:
            sys.exit(f"the servers do not answer alike: {answers}")
        yield running
    finally:
        for _, process in running.values():
            process.terminate()
        for _, process in running.values():
            process.wait(timeout=30)


def on_fresh_servers(names: tuple[str, ...], rounds: int, seconds: float, body: Path, start: Starter,
                     after_round: Callable[[dict[str, tuple[int, subprocess.Popen[bytes]]]], None] | None = None,
                     ) -> list[Scenario]:
    """Interleaved wrk rounds at 1 and 32 connections, the order rotating, each round on freshly
    started servers (so that no server's figures rest on one process)."""
    scenarios: list[Scenario] = []
    for number in range(rounds):
        shift = number % len(names)
        with servers(names[shift:] + names[:shift], start) as running:
            this_round = targets([(name, prediction_url(port), process.pid, body)
                                  for name, (port, process) in running.items()], [1, 32], 1, seconds)
            if after_round is not None:
                after_round(running)
        print(f"(round {number + 1}/{rounds} of fresh servers)", file=sys.stderr)
        if not scenarios:
            scenarios = this_round
        else:
            for scenario, more in zip(scenarios, this_round, strict=True):
                scenario.runs.extend(more.runs)
    return scenarios


def served(args: argparse.Namespace, folder: Path) -> tuple[list[Scenario], dict[str, float]]:
    """The variants on fresh servers every round; the payload counters of every round once its
    shipper caught up."""
    body = folder / "body.json"
    body.write_text(json.dumps(BODY))
    counts: dict[str, float] = {}

    def tally(running: dict[str, tuple[int, subprocess.Popen[bytes]]]) -> None:
        port = running[LOGGED][0]
        deadline = time.monotonic() + 60
        while (now := payload_counters(port)).get("shipped", 0) < now.get("journaled", 0) \
                and time.monotonic() < deadline:
            time.sleep(0.5)
        for name, value in now.items():
            counts[name] = counts.get(name, 0.0) + value

    scenarios = on_fresh_servers(VARIANTS, args.rounds, args.seconds, body,
                                 lambda variant, port: start_variant(folder, variant, port, args.execution), tally)
    return scenarios, counts


def paired(scenario: Scenario, variant: str, base: str) -> list[float]:
    """``variant``'s throughput over ``base``'s in each round (both ran within seconds of each other,
    so a drift of the machine's speed between rounds cancels out)."""
    rounds = len(scenario.runs) // len(VARIANTS)
    ratios = []
    for number in range(rounds):
        speed = {run.server: run.requests_per_s for run in scenario.runs[number * len(VARIANTS):
                                                                        (number + 1) * len(VARIANTS)]}
        ratios.append(speed[variant] / speed[base])
    return ratios


def served_report(scenarios: list[Scenario], counts: dict[str, float]) -> str:
    lines = []
    verdicts = []
    for scenario in scenarios:
        plain = scenario.summary("plain")
        lines += [f"**insurance model served, {scenario.connections} connection(s)**", "",
                  "| variant | req/s | p50 ms | p99 ms | CPU us/req | req/s vs plain (median of rounds) | "
                  "rounds' range | p99 vs plain |", "|---|---:|---:|---:|---:|---:|---|---:|"]
        ratio = {}
        for variant in VARIANTS:
            s = scenario.summary(variant)
            ratios = paired(scenario, variant, "plain")
            ratio[variant] = statistics.median(ratios)
            lines.append(f"| {variant} | {s.requests_per_s:.0f} | {s.p50_ms:.2f} | {s.p99_ms:.2f} | {s.cpu_us:.0f} | "
                         f"{ratio[variant]:.3f} | {min(ratios):.3f} to {max(ratios):.3f} | "
                         f"{s.p99_ms / plain.p99_ms:.2f}x |")
        lines.append("")
        logged = scenario.summary(LOGGED)
        cost = 1 - ratio[LOGGED]
        cached = statistics.median(paired(scenario, "metrics + cache", "metrics"))
        verdicts.append(f"c={scenario.connections}: metrics + payload log (default fsync: always) cost {cost:.1%} of "
                        f"the plain throughput (target <= {TARGET:.0%}: {'met' if cost <= TARGET else 'NOT met'}), "
                        f"CPU per request +{logged.cpu_us / plain.cpu_us - 1:.1%}; with fsync: interval "
                        f"{1 - ratio[LOGGED_INTERVAL]:.1%}; metrics alone {1 - ratio['metrics']:.1%}; the cache "
                        f"answers a repeated input {cached:.2f}x as fast as no cache")
    journaled, shipped, refused, failed = (counts.get(name, 0.0) for name in
                                           ("journaled", "shipped", "refused", "ship_failures"))
    verdicts.append(f"payload log (fsync always): {journaled:.0f} records journaled, {shipped:.0f} shipped to the "
                    f"JSONL sink, {refused:.0f} refused, {failed:.0f} failed shipments")
    return "\n".join(lines + verdicts)


# ---- in process ---------------------------------------------------------------------------------

class Measured(MLModelDecorator):
    """What the data plane adds per request for metrics: one ``observe_request`` with the call's duration."""

    def __init__(self, metrics: ServingMetrics) -> None:
        super().__init__()
        self._metrics = metrics

    def predict(self, data: Any) -> Any:
        started = time.perf_counter()
        result = self.model.predict(data)
        self._metrics.observe_request("insurance_charges_model", "0.1.0", "rest", 200, time.perf_counter() - started)
        return result


def interleaved(runs: dict[str, Any], data: Callable[[int], Any], n: int) -> dict[str, list[float]]:
    """Per-call seconds of each variant, called in turn, the order rotating (A B C, B C A, C A B...)."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    order = list(runs.items())
    for index in range(n):
        item = data(index)
        shift = index % len(order)
        for name, model in order[shift:] + order[:shift]:
            started = time.perf_counter()
            model.predict(item)
            times[name].append(time.perf_counter() - started)
    return times


def report(times: dict[str, list[float]], base_name: str) -> None:
    rates = {name: 1 / statistics.fmean(values) for name, values in times.items()}
    medians = {name: statistics.median(values) * 1e6 for name, values in times.items()}
    base = rates[base_name]
    print(f"{'variant':<44} {'predictions/s':>14} {'vs base':>8} {'median us':>10} {'added us':>9}")
    for name, rate in rates.items():
        print(f"{name:<44} {rate:>14.0f} {rate / base:>8.3f} {medians[name]:>10.1f} "
              f"{medians[name] - medians[base_name]:>9.1f}")


def cost(args: argparse.Namespace, path: Path, folder: Path) -> None:
    """Metrics + payload logging on distinct inputs (nothing cached)."""
    def logged(fsync: str) -> Any:
        decorator = PayloadLogDecorator(journal=str(folder / f"journal-{fsync}"), fsync=fsync,
                                        sink={"type": "jsonl", "path": str(folder / f"sink-{fsync}.jsonl")})
        return Measured(ServingMetrics(create_registry())).set_model(
            decorator.set_model(InsuranceChargesModel(str(path))))

    runs = {
        "model alone": InsuranceChargesModel(str(path)),
        "metrics": Measured(ServingMetrics(create_registry())).set_model(InsuranceChargesModel(str(path))),
        "metrics + payload log (fsync interval)": logged("interval"),
        "metrics + payload log (fsync always)": logged("always"),
    }
    inputs = [InsuranceChargesModelInput(**{**CUSTOMER, "age": 18 + i % 47, "bmi": 20 + i % 23}) for i in range(997)]
    interleaved(runs, lambda i: inputs[i % len(inputs)], 200)
    times = interleaved(runs, lambda i: inputs[i % len(inputs)], args.predictions)
    for model in runs.values():
        for layer in (model, getattr(model, "model", None)):
            if isinstance(layer, PayloadLogDecorator):
                layer.close()
    print("cost of metrics and payload logging, insurance model, distinct inputs:")
    report(times, "model alone")
    rates = {name: 1 / statistics.fmean(values) for name, values in times.items()}
    for name in ("metrics + payload log (fsync interval)", "metrics + payload log (fsync always)"):
        print(f"{name} costs {1 - rates[name] / rates['model alone']:.1%} of throughput (target <= 5%)")


def redis_up() -> bool:
    try:
        import redis

        client = redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_connect_timeout=0.5)
        client.ping()
        client.close()
        return True
    except Exception:
        return False


def speedup(args: argparse.Namespace, path: Path) -> None:
    """The cache on a repeated input."""
    runs: dict[str, Any] = {"model alone": InsuranceChargesModel(str(path)),
                            "cache (memory LRU), repeated input": CacheDecorator().set_model(
                                InsuranceChargesModel(str(path)))}
    if redis_up():
        cache = CacheDecorator(backend="redis", prefix=f"modelward-bench:{os.getpid()}:", ttl=60)
        runs["cache (Redis), repeated input"] = cache.set_model(InsuranceChargesModel(str(path)))
    data = InsuranceChargesModelInput(**CUSTOMER)
    interleaved(runs, lambda _: data, 200)
    times = interleaved(runs, lambda _: data, args.predictions)
    for model in runs.values():
        if isinstance(model, CacheDecorator):
            model.close()
    print("prediction cache, the same input again and again:")
    report(times, "model alone")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3, help="length of one wrk run (default 3)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    parser.add_argument("--predictions", type=int, default=3000, help="timed in-process predictions per variant")
    parser.add_argument("--execution", choices=["auto", "thread", "inline"], default="auto",
                        help="the models' execution setting in every variant (default auto, as shipped)")
    args = parser.parse_args()
    ensure_insurance_model()
    with tempfile.TemporaryDirectory(prefix="modelward-observability-") as folder:
        scenarios, counts = served(args, Path(folder))
    print(f"{machine_notes()}\n{args.rounds} interleaved rounds of {args.seconds} s per variant and concurrency, "
          f"execution: {args.execution}; figures are medians over the rounds, ratios medians of each round's "
          f"ratio\n\n{served_report(scenarios, counts)}\n")
    with tempfile.TemporaryDirectory() as folder:
        cost(args, INSURANCE_FILE, Path(folder))
    speedup(args, INSURANCE_FILE)


if __name__ == "__main__":
    main()
