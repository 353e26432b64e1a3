"""V2 benchmark: the Open Inference (V2) REST infer endpoint beside the native prediction route.

One command: ``.venv/bin/python bench/v2.py`` (about a minute on 2 cores). It serves the insurance
example (``bench/serving/bench_models.py``'s ``InsuranceModel``, the serving benchmark's model) with
one ``modelward serve`` pinned to CPU 1, and loads, with ``wrk`` pinned to CPU 0 (the serving
benchmark's Lua script), the same prediction through two routes of that one server, interleaved
and rotating, at 1 and 32 connections:

- ``native``: ``POST /api/models/insurance_charges_model/prediction`` with the input document;
- ``v2``: ``POST /v2/models/insurance_charges_model/infer`` with one named tensor per field.

It prints req/s, p50, p99 and server CPU per request (medians) and the ratio V2 / native.

Importable for other comparisons (e.g. against MLServer serving the same model):
``targets([("mine", url, pid), ...])`` runs any V2 infer URLs with ``V2_BODY``;
``--target NAME=URL[@PID]`` adds a running server to the same run (``PID`` for its CPU time).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from serving import (  # noqa: E402  (bench/serving.py: wrk, the trained example, CPU accounting)
    BODY,
    INSURANCE_FILE,
    VENV_BIN,
    Run,
    Scenario,
    ensure_insurance_model,
    ensure_wrk,
    run_wrk,
)
from serving import HERE as SERVING_DIR  # noqa: E402  (bench/serving/: bench_models.py)

MODEL = "insurance_charges_model"
_TYPES = {"age": "INT64", "sex": "BYTES", "bmi": "FP64", "children": "INT64", "smoker": "BOOL", "region": "BYTES"}
#: the serving benchmark's input as V2 named tensors (one row)
V2_BODY = {"inputs": [{"name": name, "datatype": _TYPES[name], "shape": [1], "data": [value]}
                      for name, value in BODY.items()]}
Target = tuple[str, str, "int | None"]  # (name, infer URL, server pid for CPU time or None)


def start_modelward(folder: Path, port: int) -> subprocess.Popen[bytes]:
    config = folder / "v2.yaml"
    config.write_text(f"service_title: V2 benchmark\nmodels:\n  - qualified_name: {MODEL}\n"
                      "    class_path: bench_models.InsuranceModel\n    create_endpoint: true\n")
    path = os.pathsep.join(filter(None, [str(SERVING_DIR), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "BENCH_INSURANCE_MODEL": str(INSURANCE_FILE),
           "OMP_NUM_THREADS": "1", "MODELWARD_DATA_DIR": str(folder / "data")}
    log = (folder / "server.log").open("wb")
    return subprocess.Popen(["taskset", "-c", "1", str(VENV_BIN / "modelward"), "serve", str(config), "--port",
                             str(port), "--log-level", "warning"], env=env, cwd=folder, stdout=log,
                            stderr=subprocess.STDOUT)


def wait_answer(url: str, body: dict[str, object], timeout: float = 60) -> dict[str, object]:
    """POST ``body`` until ``url`` answers 200; return the answer (the check that both routes agree)."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(request, timeout=2) as answer:
                result: dict[str, object] = json.loads(answer.read())
                return result
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def targets(runs: list[tuple[str, str, int | None, Path]], connections: list[int], rounds: int,
            seconds: float) -> list[Scenario]:
    """Interleaved wrk runs of every ``(name, url, pid, body file)``, rotating the order each round."""
    wrk = ensure_wrk()
    scenarios = [Scenario(MODEL, c) for c in connections]
    for _, url, pid, body in runs:  # warm-up
        run_wrk(wrk, url, max(connections), 1, body, pid or os.getpid())
    for number in range(rounds):
        shift = number % len(runs)
        for scenario in scenarios:
            for name, url, pid, body in runs[shift:] + runs[:shift]:
                figures = run_wrk(wrk, url, scenario.connections, seconds, body, pid or os.getpid())
                scenario.runs.append(Run(name, *figures) if pid else Run(name, *figures[:3], 0.0, figures[4]))
            print(f"round {number + 1}/{rounds} c={scenario.connections}: " + ", ".join(
                f"{r.server} {r.requests_per_s:.0f}/s" for r in scenario.runs[-len(runs):]), file=sys.stderr)
    return scenarios


def report(scenarios: list[Scenario], names: list[str]) -> str:
    lines = []
    for scenario in scenarios:
        base = scenario.summary(names[0])
        lines += [f"**insurance model, {scenario.connections} connection(s)**", "",
                  f"| route | req/s | p50 ms | p99 ms | CPU us/req | req/s vs {names[0]} | p99 vs {names[0]} |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for name in names:
            s = scenario.summary(name)
            lines.append(f"| {name} | {s.requests_per_s:.0f} | {s.p50_ms:.2f} | {s.p99_ms:.2f} | {s.cpu_us:.0f} | "
                         f"{s.requests_per_s / base.requests_per_s:.2f}x | {s.p99_ms / base.p99_ms:.2f}x |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of one wrk run (default 5)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default 2)")
    parser.add_argument("--target", action="append", default=[], metavar="NAME=URL[@PID]",
                        help="also load another V2 infer URL with the same body (e.g. MLServer's)")
    args = parser.parse_args()
    ensure_insurance_model()
    with tempfile.TemporaryDirectory(prefix="modelward-v2-bench-") as tmp:
        folder = Path(tmp)
        native_body, v2_body = folder / "native.json", folder / "v2.json"
        native_body.write_text(json.dumps(BODY))
        v2_body.write_text(json.dumps(V2_BODY))
        port = 18_150
        server = start_modelward(folder, port)
        try:
            base = f"http://127.0.0.1:{port}"
            native_url, v2_url = f"{base}/api/models/{MODEL}/prediction", f"{base}/v2/models/{MODEL}/infer"
            native = wait_answer(native_url, BODY)
            v2 = wait_answer(v2_url, V2_BODY)
            outputs = v2["outputs"]
            assert isinstance(outputs, list) and outputs[0]["data"] == [native["charges"]], (native, v2)
            runs: list[tuple[str, str, int | None, Path]] = [("native", native_url, server.pid, native_body),
                                                             ("v2", v2_url, server.pid, v2_body)]
            for item in args.target:
                name, _, rest = item.partition("=")
                url, _, pid = rest.partition("@")
                runs.append((name, url, int(pid) if pid else None, v2_body))
            scenarios = targets(runs, [1, 32], args.rounds, args.seconds)
        finally:
            server.terminate()
            server.wait(timeout=15)
    print(f"{args.rounds} rounds of {args.seconds} s per route and concurrency, medians shown\n")
    print(report(scenarios, [name for name, *_ in runs]))


if __name__ == "__main__":
    main()
