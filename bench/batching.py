"""Batching benchmark: the insurance example with adaptive batching against its peers, side by side.

One command: ``.venv/bin/python bench/batching.py`` (about 4 minutes on 2 cores, plus building the
peers' environments once). It

1. installs ``wrk`` with apt-get when it is missing, trains the insurance example when its
   ``model.joblib`` is missing, and builds two virtualenvs under ``bench/.envs/``:
   ``rms`` (rest-model-service 0.6.0 with our versions of its dependencies, shared with
   ``bench/serving.py``) and ``mlserver`` (MLServer and its scikit-learn runtime, with our
   scikit-learn so it unpickles the same ``model.joblib``);
2. serves the SAME trained pipeline four ways, one process each, all pinned to CPU 1:
   - ``mw-batch``: ``modelward serve`` with the insurance example model and
     ``batching: {max_batch_size: 32, max_batch_latency: 5, max_queue: 4096}``: the example's
     ``predict_batch`` calls the pipeline once on all the rows of a batch;
   - ``mw-direct``: the same ``modelward serve`` without batching (one pipeline call per request);
   - ``rms``: ``uvicorn rest_model_service.main:app`` (0.6.0) with the same pipeline behind an
     ``ml_base`` model (``bench/serving/bench_models.py``), one pipeline call per request;
   - ``mlserver``: ``mlserver start`` with its ``mlserver_sklearn.SKLearnModel`` runtime on the same
     ``model.joblib``, adaptive batching on (``max_batch_size: 32``, ``max_batch_time: 0.005``),
     ``parallel_workers: 0`` (inference in the server process, as the others);
   each answers the same customer, and the bench checks that all four predict the same charges;
3. loads them with ``wrk`` (one thread, pinned to CPU 0) at 1, 8, 32 and 128 connections, each
   server in turn for ``--seconds`` per point, and prints predictions/s (one prediction per
   request), p50 and p99 with ratios, the mean batch size modelward formed (from its ``/metrics``),
   and the verdict on each target. Results also go to ``bench/results/batching.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MLSERVER_ENV = ROOT / "bench" / ".envs" / "mlserver"
RESULTS = ROOT / "bench" / "results"
PEERS = ("mw-batch", "mw-direct", "rms", "mlserver")
CONNECTIONS = (1, 8, 32, 128)
NAME = "insurance_charges_model"
MLSERVER_PINS = ("mlserver==1.7.1", "mlserver-sklearn==1.7.1")
SAME_VERSIONS = ("scikit-learn", "numpy", "scipy", "joblib")


def _serving_bench() -> Any:
    """bench/serving.py as a module (its wrk, training, rest-model-service env and CPU helpers)."""
    spec = importlib.util.spec_from_file_location("serving_bench", ROOT / "bench" / "serving.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["serving_bench"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


sb = _serving_bench()
BODY: dict[str, Any] = dict(sb.BODY)
V2_BODY = {"parameters": {"content_type": "pd"}, "inputs": [
    {"name": "age", "shape": [1], "datatype": "INT64", "data": [BODY["age"]]},
    {"name": "sex", "shape": [1], "datatype": "BYTES", "data": [BODY["sex"]]},
    {"name": "bmi", "shape": [1], "datatype": "FP64", "data": [BODY["bmi"]]},
    {"name": "children", "shape": [1], "datatype": "INT64", "data": [BODY["children"]]},
    {"name": "smoker", "shape": [1], "datatype": "BOOL", "data": [BODY["smoker"]]},
    {"name": "region", "shape": [1], "datatype": "BYTES", "data": [BODY["region"]]},
]}


@dataclass
class Point:
    """One wrk run against one server at one concurrency."""

    peer: str
    connections: int
    predictions_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_us: float
    mean_batch: float | None = None


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---- set-up -------------------------------------------------------------------------------------

def ensure_mlserver_env() -> Path:
    """A virtualenv with MLServer, its scikit-learn runtime and our scikit-learn/numpy versions."""
    return sb.ensure_env(MLSERVER_ENV, [*MLSERVER_PINS, *[f"{name}=={version(name)}" for name in SAME_VERSIONS]])


def modelward_config(folder: Path, batching: bool) -> Path:
    text = (f"service_title: Batching benchmark\npython_path: [{ROOT / 'examples'}]\nmodels:\n"
            f"  - class_path: insurance_charges.model.InsuranceChargesModel\n"
            f"    configuration: {{model_path: {sb.INSURANCE_FILE}}}\n")
    if batching:
        text += "    batching: {max_batch_size: 32, max_batch_latency: 5, max_queue: 4096}\n"
    path = folder / f"modelward-{'batch' if batching else 'direct'}.yaml"
    path.write_text(text)
    return path


def mlserver_folder(folder: Path, port: int, batching: bool = True) -> Path:
    """MLServer's settings.json and model-settings.json, next to a copy of the model file.

    ``batching``: adaptive batching on (``max_batch_size: 32``, ``max_batch_time: 0.005``); off, MLServer
    predicts each request on its own (its default).
    """
    root = folder / "mlserver"
    model = root / NAME
    model.mkdir(parents=True)
    shutil.copy(sb.INSURANCE_FILE, model / "model.joblib")
    (root / "settings.json").write_text(json.dumps({
        "debug": False, "host": "127.0.0.1", "http_port": port, "grpc_port": port + 50,
        "metrics_port": port + 60, "parallel_workers": 0, "logging_level": "WARNING"}))
    adaptive = {"max_batch_size": 32, "max_batch_time": 0.005} if batching else {}
    (model / "model-settings.json").write_text(json.dumps({
        "name": NAME, "implementation": "mlserver_sklearn.SKLearnModel", **adaptive,
        "parameters": {"uri": "./model.joblib", "version": "0.1.0"}}))
    return root


def commands(folder: Path, rms_bin: Path, mlserver_bin: Path) -> dict[str, tuple[list[str], int, dict[str, str]]]:
    """Each peer's command line, port and extra environment."""
    pinned = ["taskset", "-c", "1"]
    venv_bin = Path(sys.executable).parent
    quiet = ["--log-level", "warning"]
    # this checkout's modelward, whatever the venv's editable install points at
    mw_env = {"MODELWARD_ALLOW_UNSIGNED": "true", "PYTHONPATH": str(ROOT / "src")}
    rms_config = sb.write_config(folder, "insurance")
    rms_flags = ["--host", "127.0.0.1", "--port", "18202", "--workers", "1", "--no-access-log", *quiet]
    return {
        "mw-batch": ([*pinned, str(venv_bin / "modelward"), "serve", str(modelward_config(folder, True)),
                      "--port", "18200", *quiet], 18200, mw_env),
        "mw-direct": ([*pinned, str(venv_bin / "modelward"), "serve", str(modelward_config(folder, False)),
                       "--port", "18201", *quiet], 18201, mw_env),
        "rms": ([*pinned, str(rms_bin / "uvicorn"), "rest_model_service.main:app", *rms_flags], 18202,
                {"PYTHONPATH": str(sb.HERE), "REST_CONFIG": str(rms_config),
                 "BENCH_INSURANCE_MODEL": str(sb.INSURANCE_FILE)}),
        "mlserver": ([*pinned, str(mlserver_bin / "mlserver"), "start", str(mlserver_folder(folder, 18203))],
                     18203, {}),
    }


def url(peer: str, port: int) -> str:
    if peer == "mlserver":
        return f"http://127.0.0.1:{port}/v2/models/{NAME}/infer"
    return f"http://127.0.0.1:{port}/api/models/{NAME}/prediction"


def charges(peer: str, answer: dict[str, Any]) -> float:
    """The predicted charges in a peer's answer."""
    if peer == "mlserver":
        return round(float(answer["outputs"][0]["data"][0]), 2)
    return float(answer["charges"])


def ask(peer: str, port: int) -> float:
    body = V2_BODY if peer == "mlserver" else BODY
    request = urllib.request.Request(url(peer, port), data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        return charges(peer, json.loads(answer.read()))


def wait_ready(peer: str, process: subprocess.Popen[bytes], port: int, timeout: float = 90) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{peer} exited with status {process.returncode}; see bench/results/logs/batching-{peer}.log")
        try:
            return ask(peer, port)
        except (urllib.error.URLError, ConnectionError, TimeoutError, KeyError):
            time.sleep(0.3)
    sys.exit(f"{peer} did not answer within {timeout:.0f} s")


def start(peer: str, command: list[str], port: int, extra: dict[str, str], logs: Path,
          folder: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **extra}
    if peer == "mlserver":
        env.pop("PYTHONPATH", None)
    out = (logs / f"batching-{peer}.log").open("wb")
    return subprocess.Popen(command, env=env, cwd=folder, stdout=out, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# ---- measuring ----------------------------------------------------------------------------------

def batch_figures(port: int) -> tuple[float, float]:
    """modelward's ``modelward_batch_size`` count and sum so far."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    found = {name: float(value) for name, value in
             re.findall(r'^modelward_batch_size_(count|sum)\{model_name="[^"]+"\} (\S+)$', text, re.MULTILINE)}
    return found.get("count", 0.0), found.get("sum", 0.0)


def measure_peer(wrk: str, peer: str, process: subprocess.Popen[bytes], port: int, seconds: float,
                 folder: Path) -> list[Point]:
    body = folder / f"body-{peer}.json"
    body.write_text(json.dumps(V2_BODY if peer == "mlserver" else BODY))
    target = url(peer, port)
    sb.run_wrk(wrk, target, 32, 2, body, process.pid)  # warm-up
    points = []
    for connections in CONNECTIONS:
        before = batch_figures(port) if peer == "mw-batch" else None
        rps, p50, p99, cpu, _ = sb.run_wrk(wrk, target, connections, seconds, body, process.pid)
        point = Point(peer, connections, rps, p50, p99, cpu)
        if before is not None:
            count, total = batch_figures(port)
            point.mean_batch = (total - before[1]) / max(1.0, count - before[0])
        log(f"{peer} c={connections}: {rps:.0f} predictions/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms"
            + (f", mean batch {point.mean_batch:.1f}" if point.mean_batch is not None else ""))
        points.append(point)
    return points


# ---- report -------------------------------------------------------------------------------------

def find(points: list[Point], peer: str, connections: int) -> Point:
    return next(p for p in points if p.peer == peer and p.connections == connections)


def table(points: list[Point], connections: int) -> str:
    rms, mls, direct = (find(points, name, connections) for name in ("rms", "mlserver", "mw-direct"))
    lines = [f"**{connections} connection(s)**", "",
             "| server | predictions/s | p50 ms | p99 ms | CPU us/pred | vs rms | vs MLServer | vs mw-direct |"
             " mean batch |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for peer in PEERS:
        p = find(points, peer, connections)
        batch = f"{p.mean_batch:.1f}" if p.mean_batch is not None else ""
        lines.append(f"| {peer} | {p.predictions_per_s:.0f} | {p.p50_ms:.2f} | {p.p99_ms:.2f} | {p.cpu_us:.0f} | "
                     f"{p.predictions_per_s / rms.predictions_per_s:.2f}x | "
                     f"{p.predictions_per_s / mls.predictions_per_s:.2f}x | "
                     f"{p.predictions_per_s / direct.predictions_per_s:.2f}x | {batch} |")
    return "\n".join(lines)


def verdicts(points: list[Point]) -> list[str]:
    at32 = {peer: find(points, peer, 32) for peer in PEERS}
    mw, rms, mls = at32["mw-batch"], at32["rms"], at32["mlserver"]
    vs_rms, vs_mls = mw.predictions_per_s / rms.predictions_per_s, mw.predictions_per_s / mls.predictions_per_s
    out = [f"32 connections: {vs_rms:.2f}x rest-model-service (target >= 5x: {'met' if vs_rms >= 5 else 'NOT met'}), "
           f"{vs_mls:.2f}x MLServer (target >= 1.5x: {'met' if vs_mls >= 1.5 else 'NOT met'}), p99 {mw.p99_ms:.2f} ms "
           f"vs {rms.p99_ms:.2f} ms rms and {mls.p99_ms:.2f} ms MLServer (target below both: "
           f"{'met' if mw.p99_ms < min(rms.p99_ms, mls.p99_ms) else 'NOT met'})"]
    one, direct = find(points, "mw-batch", 1), find(points, "mw-direct", 1)
    ratio = one.predictions_per_s / direct.predictions_per_s
    out.append(f"1 connection: batching {ratio:.2f}x the predictions/s of no batching, p99 {one.p99_ms:.2f} ms vs "
               f"{direct.p99_ms:.2f} ms (target no worse, within 5% noise: {'met' if ratio >= 0.95 else 'NOT met'})")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of one wrk run (default 10)")
    args = parser.parse_args()
    wrk = sb.ensure_wrk()
    sb.ensure_insurance_model()
    rms_bin, mlserver_bin = sb.ensure_rms_env(), ensure_mlserver_env()
    logs = RESULTS / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    points: list[Point] = []
    with tempfile.TemporaryDirectory(prefix="modelward-batching-") as tmp:
        folder = Path(tmp)
        expected: dict[str, float] = {}
        for peer, (command, port, extra) in commands(folder, rms_bin, mlserver_bin).items():
            process = start(peer, command, port, extra, logs, folder)  # one server at a time
            try:
                expected[peer] = wait_ready(peer, process, port)
                points += measure_peer(wrk, peer, process, port, args.seconds, folder)
            finally:
                stop(process)
    if len(set(expected.values())) != 1:
        sys.exit(f"the servers do not predict the same charges: {expected}")
    report = "\n\n".join(table(points, c) for c in CONNECTIONS)
    print(f"{sb.machine_notes()}\none wrk run of {args.seconds} s per server and concurrency; every server "
          f"predicted {next(iter(expected.values()))} for the benchmark customer\n\n{report}\n")
    print("\n".join(verdicts(points)))
    (RESULTS / "batching.json").write_text(json.dumps(
        {"machine": sb.machine_notes(), "seconds": args.seconds, "points": [asdict(p) for p in points]}, indent=2))


if __name__ == "__main__":
    main()
