"""Observability benchmark: ``.venv/bin/python bench/observability.py [--predictions N]``.

Side by side in one run, on the insurance charges example model (trained here when its
``model_files`` are missing), called in process, one thread, variants interleaved call by call so
load drift hits them alike:

1. the cost of metrics (``ServingMetrics.observe_request`` per call, as the data plane will call it)
   plus payload logging (``PayloadLogDecorator``, JSONL sink, shipper thread running), with the
   journal's fsync policy ``interval`` (the default for throughput) and ``always``;
2. the prediction cache's speed-up on a repeated input (in-process LRU, and Redis on 127.0.0.1:6379
   when it answers).

Target: metrics + payload logging cost at most 5% of throughput.
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
# the benchmark times the model on its bare joblib file (trained here); the service verifies packages
os.environ.setdefault("MODELWARD_ALLOW_UNSIGNED", "true")

from insurance_charges.model import MODEL_FILE, InsuranceChargesModel  # noqa: E402
from insurance_charges.schemas import InsuranceChargesModelInput  # noqa: E402

from modelward.decorators import CacheDecorator, PayloadLogDecorator  # noqa: E402
from modelward.metrics import ServingMetrics, create_registry  # noqa: E402
from modelward.model import MLModelDecorator  # noqa: E402

CUSTOMER = {"age": 42, "sex": "female", "bmi": 24.0, "children": 2, "smoker": False, "region": "northwest"}


def model_file() -> Path:
    """The example model's parameters, trained into bench/results when missing."""
    if MODEL_FILE.is_file():
        return MODEL_FILE
    output = ROOT / "bench" / "results" / "insurance"
    if not (output / "model.joblib").is_file():
        subprocess.run([sys.executable, "-m", "insurance_charges.train", "--output", str(output)],
                       cwd=ROOT / "examples", check=True, capture_output=True)
    return output / "model.joblib"


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
    """Per-call seconds of each variant, called in turn (A, B, C, A, B, C...)."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for index in range(n):
        item = data(index)
        for name, model in runs.items():
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
    parser.add_argument("--predictions", type=int, default=3000, help="Timed predictions per variant.")
    args = parser.parse_args()
    path = model_file()
    with tempfile.TemporaryDirectory() as folder:
        cost(args, path, Path(folder))
    speedup(args, path)


if __name__ == "__main__":
    main()
