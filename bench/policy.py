"""Policy benchmark: ``.venv/bin/python bench/policy.py [--seconds S] [--rounds R]``.

Side by side in one run, on the insurance charges example model (trained here when its
``model_files`` are missing) and the article's policy (verbatim, v0 syntax):

1. decision latency (p50/p99) of the embedded engine (``EmbeddedEngine.evaluate``: JSON input,
   ``allow`` + ``messages``, a Decision value);
2. prediction throughput of the bare model, the model with ``PolicyDecorator`` (embedded engine,
   input and output checked, decision log on), and with the ``opa`` engine against the Data API
   stand-in server in its own process, like a sidecar (the OPA binary cannot be installed here),
   called in turn so that load drift cancels;
3. the latency each policy adds per prediction, and the ratio REST / embedded.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
# the benchmark times the model on its bare skops file (trained here); the service verifies packages
os.environ.setdefault("MODELWARD_ALLOW_UNSIGNED", "true")

from insurance_charges.model import MODEL_FILE, InsuranceChargesModel  # noqa: E402
from insurance_charges.schemas import InsuranceChargesModelInput, InsuranceChargesModelOutput  # noqa: E402

from modelward.policy import EmbeddedEngine, OpaEngine, PolicyDecorator, read_bundle  # noqa: E402

POLICIES = ROOT / "examples" / "insurance_charges" / "policies"
CUSTOMER = {"age": 42, "sex": "female", "bmi": 24.0, "children": 2, "smoker": False, "region": "northwest"}


def model_file() -> Path:
    """The example model's parameters, trained into bench/results when missing."""
    if MODEL_FILE.is_file():
        return MODEL_FILE
    output = ROOT / "bench" / "results" / "insurance"
    if not (output / MODEL_FILE.name).is_file():
        subprocess.run([sys.executable, "-m", "insurance_charges.train", "--output", str(output)],
                       cwd=ROOT / "examples", check=True, capture_output=True)
    return output / MODEL_FILE.name


def decision_latency(n: int, customer: dict[str, Any]) -> tuple[float, float]:
    """p50 and p99 of one embedded decision on ``customer``, in microseconds."""
    engine = EmbeddedEngine(read_bundle([POLICIES]))
    document = {"model_qualified_name": "insurance_charges_model", "model_version": "0.1.0",
                "model_input": customer, "model_output": {"charges": 12345.0}}
    for _ in range(1000):
        engine.evaluate("insurance_charges_model", document)
    samples = []
    for _ in range(n):
        started = time.perf_counter_ns()
        engine.evaluate("insurance_charges_model", document)
        samples.append(time.perf_counter_ns() - started)
    samples.sort()
    return samples[n // 2] / 1000, samples[int(n * 0.99)] / 1000


SIDECAR = (
    "import sys; from pathlib import Path; from modelward.policy import DataApiServer, read_bundle; "
    "server = DataApiServer(read_bundle([Path(sys.argv[1])])); print(server.url, flush=True); "
    "server.serve_forever()"
)


def start_sidecar() -> subprocess.Popen[str]:
    """The Data API stand-in in its own process, as an OPA sidecar would be (stopped by PID)."""
    return subprocess.Popen([sys.executable, "-c", SIDECAR, str(POLICIES)], stdout=subprocess.PIPE, text=True)


def decision_pair(url: str, n: int) -> tuple[float, float]:
    """Median seconds of one decision, embedded vs OPA REST, interleaved call by call."""
    bundle = read_bundle([POLICIES])
    engines = [EmbeddedEngine(bundle), OpaEngine(url, timeout=5)]
    document = {"model_qualified_name": "insurance_charges_model", "model_version": "0.1.0",
                "model_input": CUSTOMER, "model_output": {"charges": 12345.0}}
    times: list[list[float]] = [[], []]
    for index in range(n + 200):
        for slot, engine in enumerate(engines):
            started = time.perf_counter()
            engine.evaluate("insurance_charges_model", document)
            if index >= 200:
                times[slot].append(time.perf_counter() - started)
    engines[1].close()
    return statistics.median(times[0]), statistics.median(times[1])


def interleaved(runs: dict[str, Any], data: Any, n: int) -> dict[str, list[float]]:
    """Per-call seconds of each variant, called in turn (A, B, C, A, B, C...) so load drift cancels."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(n):
        for name, model in runs.items():
            started = time.perf_counter()
            model.predict(data)
            times[name].append(time.perf_counter() - started)
    return times


class NoWorkModel(InsuranceChargesModel):
    """The insurance model's interface with a constant answer: what a policy adds, without model noise."""

    def __init__(self) -> None:
        pass

    def predict(self, data: InsuranceChargesModelInput) -> InsuranceChargesModelOutput:
        return InsuranceChargesModelOutput(charges=1000.0)


def variants(make_model: Callable[[], Any], logs: Path, opa_url: str) -> dict[str, Any]:
    """The model bare, with the embedded policy and with the opa policy."""
    def decorated(**options: Any) -> Any:
        decorator = PolicyDecorator(package="insurance_charges_model", reload_interval=0,
                                    decision_log={"path": str(logs / f"{len(options)}.jsonl"), "queue_size": 100_000},
                                    **options)
        return decorator.set_model(make_model())

    return {
        "model alone": make_model(),
        "embedded policy": decorated(policies=[str(POLICIES)]),
        "opa policy (REST)": decorated(engine="opa", opa_url=opa_url, timeout=5, policies=[str(POLICIES)]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", type=int, default=2000, help="Timed predictions per variant.")
    parser.add_argument("--decisions", type=int, default=50_000, help="Decisions timed for latency.")
    args = parser.parse_args()
    p50, p99 = decision_latency(args.decisions, CUSTOMER)
    print(f"embedded decision latency, allowed (article policy): p50 {p50:.1f} us, p99 {p99:.1f} us")
    denied50, denied99 = decision_latency(args.decisions, {**CUSTOMER, "age": 62, "smoker": True})
    print(f"embedded decision latency, denied (messages evaluated too): p50 {denied50:.1f} us, "
          f"p99 {denied99:.1f} us")
    server = start_sidecar()
    try:
        url = server.stdout.readline().strip() if server.stdout else ""
        embedded, rest = decision_pair(url, 5000)
        print(f"one decision, interleaved: embedded {embedded * 1e6:.1f} us, OPA REST (stand-in server) "
              f"{rest * 1e6:.1f} us: {rest / embedded:.0f}x")
        path = model_file()
        times = prediction_times(url, args.predictions, lambda: InsuranceChargesModel(str(path)))
        bare = prediction_times(url, args.predictions * 5, NoWorkModel)
    finally:
        server.terminate()
        server.wait(10)
    print("insurance model (a scikit-learn pipeline):")
    report(p50, times)
    print("a model that does no work (what the policy itself adds):")
    report(p50, bare)


def prediction_times(url: str, predictions: int, make_model: Callable[[], Any]) -> dict[str, list[float]]:
    """Per-prediction seconds of each variant, interleaved call by call."""
    data = InsuranceChargesModelInput(**CUSTOMER)
    with tempfile.TemporaryDirectory() as logs:
        runs = variants(make_model, Path(logs), url)
        interleaved(runs, data, 200)  # warm up: interpreters, connections
        times = interleaved(runs, data, predictions)
        for model in runs.values():
            if isinstance(model, PolicyDecorator):
                model.close()
    return times


def report(p50: float, times: dict[str, list[float]]) -> None:
    """Print throughput (one thread, from the mean), the added median latency, and the ratios."""
    rates = {name: 1 / statistics.fmean(values) for name, values in times.items()}
    medians = {name: statistics.median(values) * 1e6 for name, values in times.items()}
    base = rates["model alone"]
    print(f"{'variant':<20} {'predictions/s':>14} {'vs alone':>9} {'median us':>10} {'added us':>9}")
    added: dict[str, float] = {}
    for name, rate in rates.items():
        added[name] = medians[name] - medians["model alone"]
        print(f"{name:<20} {rate:>14.0f} {rate / base:>9.3f} {medians[name]:>10.1f} {added[name]:>9.1f}")
    cost = 1 - rates["embedded policy"] / base
    ratio = added["opa policy (REST)"] / max(added["embedded policy"], 1e-9)
    print(f"embedded policy costs {cost:.1%} of throughput (target <= 10%); "
          f"REST adds {ratio:.0f}x the latency the embedded engine adds (target >= 20x); "
          f"p50 decision {p50:.1f} us (target <= 20 us)")


if __name__ == "__main__":
    main()
