"""V2 benchmark: modelward's Open Inference (V2) REST endpoint beside MLServer's and the native route.

One command: ``.venv/bin/python bench/v2.py`` (about two minutes on 2 cores, plus building MLServer's
environment once). It

1. trains the insurance example when its ``model.joblib`` is missing, installs ``wrk`` when it is
   missing, and builds ``bench/.envs/mlserver`` (MLServer and mlserver-sklearn, with our scikit-learn,
   numpy, scipy and joblib; ``bench/batching.py``'s ``ensure_mlserver_env``);
2. serves the SAME trained pipeline (``model.joblib``) twice, each server one process pinned to CPU 1:
   - ``modelward serve`` with ``bench/serving/bench_models.py``'s ``InsuranceModel`` (the serving
     benchmark's model: one pipeline call per request);
   - ``mlserver start`` with ``mlserver_sklearn.SKLearnModel`` on the same file, inference in the
     server process (``parallel_workers: 0``), adaptive batching off (its default), as modelward;
   and checks that every route predicts the same charges;
3. loads, with ``wrk`` pinned to CPU 0 (the serving benchmark's Lua script), interleaved and
   rotating, at 1 and 32 connections, the same prediction through:
   - ``native``: ``POST /api/models/insurance_charges_model/prediction`` with the input document;
   - ``v2``: modelward's ``POST /v2/models/insurance_charges_model/infer`` with one named tensor per
     field (and ``parameters.content_type: pd``, which MLServer needs to build its DataFrame);
   - ``mlserver``: MLServer's ``POST /v2/models/insurance_charges_model/infer`` with the SAME body.

It prints req/s, p50, p99 and server CPU per request (medians over the rounds), the ratios against
the native route and against MLServer, and the verdict on the targets (V2 at least 1.5x MLServer's
req/s with a lower p99, at 1 and 32 connections). ``--no-mlserver`` leaves MLServer out.

Importable for other comparisons: ``targets([(name, url, pid, body file), ...])`` runs any infer URLs;
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
import batching  # noqa: E402  (bench/batching.py: MLServer's environment, settings and start)

from serving import (  # noqa: E402  (bench/serving.py: wrk, the trained example, CPU accounting)
    BODY,
    INSURANCE_FILE,
    VENV_BIN,
    Run,
    Scenario,
    ensure_insurance_model,
    ensure_wrk,
    machine_notes,
    run_wrk,
)
from serving import HERE as SERVING_DIR  # noqa: E402  (bench/serving/: bench_models.py)

MODEL = "insurance_charges_model"
_TYPES = {"age": "INT64", "sex": "BYTES", "bmi": "FP64", "children": "INT64", "smoker": "BOOL", "region": "BYTES"}
#: the serving benchmark's input as V2 named tensors (one row); MLServer's SKLearn runtime needs the
#: content type ``pd`` to hand the pipeline a DataFrame with named columns (modelward reads fields by name)
V2_BODY = {"parameters": {"content_type": "pd"},
           "inputs": [{"name": name, "datatype": _TYPES[name], "shape": [1], "data": [value]}
                      for name, value in BODY.items()]}
MLSERVER_PORT = 18_160
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


def report(scenarios: list[Scenario], names: list[str], peer: str | None = None) -> str:
    """One table per concurrency: figures, and ratios against ``names[0]`` (and ``peer``)."""
    lines = []
    for scenario in scenarios:
        base = scenario.summary(names[0])
        other = scenario.summary(peer) if peer else None
        header = f"| route | req/s | p50 ms | p99 ms | CPU us/req | req/s vs {names[0]} | p99 vs {names[0]} |"
        rule = "|---|---:|---:|---:|---:|---:|---:|"
        if peer:
            header += f" req/s vs {peer} | p99 vs {peer} |"
            rule += "---:|---:|"
        lines += [f"**insurance model, {scenario.connections} connection(s)**", "", header, rule]
        for name in names:
            s = scenario.summary(name)
            row = (f"| {name} | {s.requests_per_s:.0f} | {s.p50_ms:.2f} | {s.p99_ms:.2f} | {s.cpu_us:.0f} | "
                   f"{s.requests_per_s / base.requests_per_s:.2f}x | {s.p99_ms / base.p99_ms:.2f}x |")
            if other is not None:
                row += f" {s.requests_per_s / other.requests_per_s:.2f}x | {s.p99_ms / other.p99_ms:.2f}x |"
            lines.append(row)
        lines.append("")
    return "\n".join(lines)


def verdicts(scenarios: list[Scenario], mine: str = "v2", peer: str = "mlserver") -> list[str]:
    """The issue's targets: ``mine`` at least 1.5x ``peer``'s req/s, with a lower p99, at each concurrency."""
    out = []
    for scenario in scenarios:
        a, b = scenario.summary(mine), scenario.summary(peer)
        ratio = a.requests_per_s / b.requests_per_s
        met = ratio >= 1.5 and a.p99_ms < b.p99_ms
        out.append(f"{scenario.connections} connection(s): {mine} {ratio:.2f}x {peer}'s req/s, p99 {a.p99_ms:.2f} ms "
                   f"vs {b.p99_ms:.2f} ms (target >= 1.5x and a lower p99: {'met' if met else 'NOT met'})")
    return out


def start_mlserver(folder: Path, port: int) -> subprocess.Popen[bytes]:
    """``mlserver start`` on the same ``model.joblib``, pinned to CPU 1, no adaptive batching."""
    mlserver_bin = batching.ensure_mlserver_env()
    settings = batching.mlserver_folder(folder, port, batching=False)
    logs = folder / "logs"
    logs.mkdir(exist_ok=True)
    return batching.start("mlserver", ["taskset", "-c", "1", str(mlserver_bin / "mlserver"), "start", str(settings)],
                          port, {}, logs, folder)


def charges(answer: dict[str, object]) -> float:
    """The predicted charges in a V2 answer (MLServer does not round them; modelward's model does)."""
    outputs = answer["outputs"]
    assert isinstance(outputs, list), answer
    return round(float(outputs[0]["data"][0]), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of one wrk run (default 5)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default 2)")
    parser.add_argument("--no-mlserver", action="store_true", help="leave MLServer out")
    parser.add_argument("--target", action="append", default=[], metavar="NAME=URL[@PID]",
                        help="also load another V2 infer URL with the same body")
    args = parser.parse_args()
    ensure_insurance_model()
    with tempfile.TemporaryDirectory(prefix="modelward-v2-bench-") as tmp:
        folder = Path(tmp)
        native_body, v2_body = folder / "native.json", folder / "v2.json"
        native_body.write_text(json.dumps(BODY))
        v2_body.write_text(json.dumps(V2_BODY))
        port = 18_150
        servers = [start_modelward(folder, port)]
        try:
            if not args.no_mlserver:
                servers.append(start_mlserver(folder, MLSERVER_PORT))
            base = f"http://127.0.0.1:{port}"
            native_url, v2_url = f"{base}/api/models/{MODEL}/prediction", f"{base}/v2/models/{MODEL}/infer"
            native = wait_answer(native_url, BODY)
            assert charges(wait_answer(v2_url, V2_BODY)) == native["charges"], native
            runs: list[tuple[str, str, int | None, Path]] = [("native", native_url, servers[0].pid, native_body),
                                                             ("v2", v2_url, servers[0].pid, v2_body)]
            if not args.no_mlserver:
                mls_url = f"http://127.0.0.1:{MLSERVER_PORT}/v2/models/{MODEL}/infer"
                predicted = charges(wait_answer(mls_url, V2_BODY, timeout=120))
                assert predicted == native["charges"], (predicted, native)
                runs.append(("mlserver", mls_url, servers[1].pid, v2_body))
            for item in args.target:
                name, _, rest = item.partition("=")
                url, _, pid = rest.partition("@")
                runs.append((name, url, int(pid) if pid else None, v2_body))
            scenarios = targets(runs, [1, 32], args.rounds, args.seconds)
        finally:
            for server in servers:
                batching.stop(server)
    print(f"{machine_notes()}\n{args.rounds} rounds of {args.seconds} s per route and concurrency, medians shown; "
          f"every route predicted {native['charges']} for the benchmark customer\n")
    print(report(scenarios, [name for name, *_ in runs], None if args.no_mlserver else "mlserver"))
    if not args.no_mlserver:
        print("\n".join(verdicts(scenarios)))


if __name__ == "__main__":
    main()
