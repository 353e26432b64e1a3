"""Serving benchmark: modelward against rest-model-service 0.6.0 and bare FastAPI/Starlette endpoints.

One command: ``.venv/bin/python bench/serving.py`` (about 3.5 minutes on 2 cores). It

1. installs ``wrk`` with apt-get when it is missing, trains the insurance example when its
   ``model.joblib`` is missing, and builds ``bench/.envs/rms``: a virtualenv with
   ``rest-model-service==0.6.0`` and the SAME versions of fastapi, pydantic, uvicorn[standard],
   scikit-learn, numpy and joblib as ``.venv`` (so that only the service code differs);
2. serves the same model class (``bench/serving/bench_models.py``, written to ``ml_base``'s
   interface, so both services run it unchanged) with four servers, one uvicorn worker each, each
   pinned to CPU 1, access logs off: modelward (``modelward serve``), rest-model-service
   (``uvicorn rest_model_service.main:app``), a bare FastAPI route and a bare Starlette route
   (``bench/serving/baselines.py`` says exactly what each does);
3. loads them with ``wrk`` (one thread, pinned to CPU 0, the Lua POST script in
   ``bench/serving/post.lua``), interleaved (A B C D A B C D ...), and prints req/s, p50, p99 and
   the server's CPU time per request (medians over the rounds) with the ratios against
   rest-model-service and Starlette, the verdict on each target, and how busy wrk itself was.
   Results also go to ``bench/results/serving.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "bench" / "serving"
RMS_ENV = ROOT / "bench" / ".envs" / "rms"
RESULTS = ROOT / "bench" / "results"
INSURANCE_FILE = ROOT / "examples" / "insurance_charges" / "model_files" / "model.joblib"
VENV_BIN = Path(sys.executable).parent
SERVERS = ("modelward", "rms", "fastapi", "starlette")
# packages whose versions the rest-model-service environment copies from ours
SAME_VERSIONS = ("fastapi", "starlette", "pydantic", "pydantic-core", "uvicorn", "uvloop", "httptools",
                 "scikit-learn", "numpy", "scipy", "joblib", "ml-base", "pyyaml")
BODY = {"age": 42, "sex": "female", "bmi": 24.0, "children": 2, "smoker": False, "region": "northwest"}
MODELS = {"noop": ("bench_models.NoopModel", "noop_model"),
          "insurance": ("bench_models.InsuranceModel", "insurance_charges_model")}


@dataclass
class Run:
    """One wrk run against one server."""

    server: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_us: float  # server CPU time (user + system, all threads) per request
    client_cpu_us: float = 0.0  # wrk's own CPU time per request


Servers = dict[str, tuple["subprocess.Popen[bytes]", int]]


@dataclass
class Scenario:
    """Every run of one model at one concurrency."""

    model: str
    connections: int
    runs: list[Run] = field(default_factory=list)

    def summary(self, server: str) -> Run:
        """Medians over the rounds for one server."""
        mine = [r for r in self.runs if r.server == server]
        return Run(server, *(statistics.median(getattr(r, name) for r in mine)
                             for name in ("requests_per_s", "p50_ms", "p99_ms", "cpu_us", "client_cpu_us")))


def log(message: str) -> None:
    """Progress on stderr."""
    print(message, file=sys.stderr, flush=True)


# ---- set-up -------------------------------------------------------------------------------------

def ensure_wrk() -> str:
    """The wrk binary, installed from Debian's packages when missing (the bench runs as root)."""
    found = shutil.which("wrk")
    if found:
        return found
    log("installing wrk (apt-get install -y wrk)")
    subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
    return shutil.which("wrk") or sys.exit("wrk is not installed and apt-get could not install it")


def ensure_insurance_model() -> None:
    """Train the insurance example when its parameters are missing."""
    if INSURANCE_FILE.is_file():
        return
    log("training the insurance example model")
    subprocess.run([sys.executable, "-m", "insurance_charges.train", "--format", "joblib"], cwd=ROOT / "examples",
                   check=True)


def ensure_env(env: Path, pins: list[str]) -> Path:
    """The ``bin`` folder of a virtualenv at ``env`` holding exactly ``pins`` (built once, rebuilt when they change)."""
    stamp = env / "bench-requirements.txt"
    python = env / "bin" / "python"
    if stamp.is_file() and stamp.read_text() == "\n".join(pins) and python.exists():
        return env / "bin"
    log(f"building {env.relative_to(ROOT)} with {' '.join(pins)} (once)")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(env)], check=True)
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", *pins], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"pip could not build {env}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    stamp.write_text("\n".join(pins))
    return env / "bin"


def ensure_rms_env() -> Path:
    """A virtualenv with rest-model-service 0.6.0 and our versions of its dependencies."""
    pins = ["rest-model-service==0.6.0", *[f"{name}=={version(name)}" for name in SAME_VERSIONS]]
    pins[pins.index(f"uvicorn=={version('uvicorn')}")] = f"uvicorn[standard]=={version('uvicorn')}"
    return ensure_env(RMS_ENV, pins)


# ---- servers ------------------------------------------------------------------------------------

def write_config(folder: Path, model: str) -> Path:
    """One rest_model_service config file; modelward reads the very same file."""
    class_path, name = MODELS[model]
    text = (f"service_title: Serving benchmark\nmodels:\n  - qualified_name: {name}\n"
            f"    class_path: {class_path}\n    create_endpoint: true\n")
    path = folder / f"{model}.yaml"
    path.write_text(text)
    return path


def server_command(server: str, port: int, config: Path, rms_bin: Path) -> list[str]:
    """The command line that serves ``config`` (or the baseline) on ``port``, pinned to CPU 1."""
    uvicorn_flags = ["--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                     "--no-access-log", "--log-level", "warning"]
    pinned = ["taskset", "-c", "1"]
    if server == "modelward":
        return [*pinned, str(VENV_BIN / "modelward"), "serve", str(config), "--port", str(port),
                "--log-level", "warning"]
    if server == "rms":
        return [*pinned, str(rms_bin / "uvicorn"), "rest_model_service.main:app", *uvicorn_flags]
    return [*pinned, str(VENV_BIN / "uvicorn"), f"baselines:{server}_app", "--factory", *uvicorn_flags]


def start_servers(model: str, folder: Path, rms_bin: Path, logs: Path) -> Servers:
    """Start the four servers of one model, each on its own port, and wait until each answers."""
    config = write_config(folder, model)
    env = {**os.environ, "PYTHONPATH": str(HERE), "REST_CONFIG": str(config), "BENCH_MODEL": model,
           "BENCH_INSURANCE_MODEL": str(INSURANCE_FILE), "OMP_NUM_THREADS": "1"}
    started = {}
    for offset, server in enumerate(SERVERS):
        port = 18_100 + offset
        out = (logs / f"{model}-{server}.log").open("wb")
        process = subprocess.Popen(server_command(server, port, config, rms_bin), env=env, cwd=folder,
                                   stdout=out, stderr=subprocess.STDOUT)
        started[server] = (process, port)
    try:
        for server, (process, port) in started.items():
            wait_ready(server, process, url(port, model))
    except BaseException:
        stop(started)
        raise
    return started


def url(port: int, model: str) -> str:
    """The prediction URL of ``model`` on ``port``."""
    return f"http://127.0.0.1:{port}/api/models/{MODELS[model][1]}/prediction"


def wait_ready(server: str, process: subprocess.Popen[bytes], target: str, timeout: float = 60) -> None:
    """POST the benchmark body until the server answers 200 with the expected output."""
    request = urllib.request.Request(target, data=json.dumps(BODY).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{server} exited with status {process.returncode}; see bench/results/logs")
        try:
            with urllib.request.urlopen(request, timeout=2) as answer:
                if "charges" in json.loads(answer.read()):
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    sys.exit(f"{server} did not answer at {target} within {timeout:.0f} s")


def stop(processes: Servers) -> None:
    """Stop the servers this script started (by their process ids)."""
    for process, _ in processes.values():
        process.terminate()
    for process, _ in processes.values():
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---- load ---------------------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """CPU time of the finished child processes (the wrk runs) so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_wrk(wrk: str, target: str, connections: int, seconds: float, body_file: Path,
            pid: int) -> tuple[float, float, float, float, float]:
    """One wrk run pinned to CPU 0: req/s, p50 ms, p99 ms, server and wrk CPU us per request.

    A run with any error (connection, timeout, non-2xx answer) stops the benchmark.
    """
    command = ["taskset", "-c", "0", wrk, "-t1", f"-c{connections}", f"-d{round(seconds)}s", "--timeout", "10s",
               "-s", str(HERE / "post.lua"), target]
    before, client_before = cpu_seconds(pid), children_cpu_seconds()
    result = subprocess.run(command, capture_output=True, text=True, check=True,
                            env={**os.environ, "BENCH_BODY": str(body_file)})
    used, client_used = cpu_seconds(pid) - before, children_cpu_seconds() - client_before
    line = next(x for x in result.stdout.splitlines() if x.startswith("BENCH "))
    values = {k: int(v) for k, v in (item.split("=") for item in line.split()[1:])}
    if values["errors"]:
        sys.exit(f"{target}: {values['errors']} errors in a run at {connections} connections:\n{result.stdout}")
    return (values["requests"] / (values["duration_us"] / 1e6), values["p50_us"] / 1000,
            values["p99_us"] / 1000, used * 1e6 / values["requests"], client_used * 1e6 / values["requests"])


def measure(wrk: str, model: str, connections: list[int], rounds: int, seconds: float,
            servers: Servers, body_file: Path) -> list[Scenario]:
    """Interleaved runs: for each round, each concurrency, each server in turn.

    The order of the servers rotates by one each round, so that a drift of the machine's speed
    during a round (seen here: later runs of a round faster) does not favour one server.
    """
    scenarios = [Scenario(model, c) for c in connections]
    for process, port in servers.values():  # warm-up: imports, caches, first-request paths
        run_wrk(wrk, url(port, model), max(connections), 1, body_file, process.pid)
    order = list(servers.items())
    for round_number in range(1, rounds + 1):
        shift = (round_number - 1) % len(order)
        for scenario in scenarios:
            for server, (process, port) in order[shift:] + order[:shift]:
                figures = run_wrk(wrk, url(port, model), scenario.connections, seconds, body_file, process.pid)
                scenario.runs.append(Run(server, *figures))
            log(f"round {round_number}/{rounds} {model} c={scenario.connections}: "
                + ", ".join(f"{r.server} {r.requests_per_s:.0f}/s" for r in scenario.runs[-len(servers):]))
    return scenarios


# ---- report -------------------------------------------------------------------------------------

def table(scenario: Scenario) -> str:
    """A markdown table of one scenario with ratios against rest-model-service and Starlette."""
    rms, bare = scenario.summary("rms"), scenario.summary("starlette")
    lines = [f"**{scenario.model} model, {scenario.connections} connection(s)**", "",
             "| server | req/s | p50 ms | p99 ms | CPU us/req | req/s vs rms | req/s vs Starlette | p99 vs rms |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for server in SERVERS:
        s = scenario.summary(server)
        lines.append(f"| {server} | {s.requests_per_s:.0f} | {s.p50_ms:.2f} | {s.p99_ms:.2f} | {s.cpu_us:.0f} | "
                     f"{s.requests_per_s / rms.requests_per_s:.2f}x | "
                     f"{s.requests_per_s / bare.requests_per_s:.2f}x | {s.p99_ms / rms.p99_ms:.2f}x |")
    return "\n".join(lines)


def verdicts(scenarios: list[Scenario]) -> list[str]:
    """Each target of issue 2, met or not, with the numbers."""
    out = []
    for s in scenarios:
        mw, rms, bare = s.summary("modelward"), s.summary("rms"), s.summary("starlette")
        speed, vs_bare = mw.requests_per_s / rms.requests_per_s, mw.requests_per_s / bare.requests_per_s
        if s.model == "noop":
            out.append(f"noop c={s.connections}: {speed:.2f}x rms (target >= 1.5x: "
                       f"{'met' if speed >= 1.5 else 'NOT met'}), {vs_bare:.2f}x Starlette (target >= 0.8x: "
                       f"{'met' if vs_bare >= 0.8 else 'NOT met'})")
        else:
            ok = speed >= 1.0 and mw.p99_ms < rms.p99_ms
            out.append(f"insurance c={s.connections}: {speed:.2f}x rms req/s, p99 {mw.p99_ms:.2f} ms vs "
                       f"{rms.p99_ms:.2f} ms (target not slower, lower p99: {'met' if ok else 'NOT met'})")
    busiest = max((r for s in scenarios for r in s.runs), key=lambda r: r.client_cpu_us * r.requests_per_s)
    out.append(f"load generator: wrk kept its core busy {busiest.client_cpu_us * busiest.requests_per_s / 1e4:.0f}% "
               f"of the time at most (a {busiest.server} run at {busiest.requests_per_s:.0f} req/s): "
               "it was not the bottleneck")
    return out


def machine_notes() -> str:
    """CPU model, cores and the versions that matter."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU")
    versions = ", ".join(f"{n} {version(n)}" for n in ("uvicorn", "uvloop", "httptools", "fastapi",
                                                       "starlette", "pydantic"))
    return f"{cpu}, {os.cpu_count()} cores, Python {sys.version.split()[0]}; {versions}"


def main() -> None:
    """Set up, measure both models, print the tables and the verdicts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of one wrk run (default 5)")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds (default 4: each server "
                        "once in each position)")
    args = parser.parse_args()
    wrk = ensure_wrk()
    ensure_insurance_model()
    rms_bin = ensure_rms_env()
    logs = RESULTS / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    scenarios: list[Scenario] = []
    with tempfile.TemporaryDirectory(prefix="modelward-bench-") as tmp:
        folder = Path(tmp)
        body_file = folder / "body.json"
        body_file.write_text(json.dumps(BODY))
        for model, connections in (("noop", [32]), ("insurance", [1, 32])):
            servers = start_servers(model, folder, rms_bin, logs)
            try:
                scenarios += measure(wrk, model, connections, args.rounds, args.seconds, servers, body_file)
            finally:
                stop(servers)
    report = "\n\n".join(table(s) for s in scenarios)
    print(f"{machine_notes()}\n{args.rounds} rounds of {args.seconds:g} s per server and scenario, "
          f"medians shown\n\n{report}\n")
    print("\n".join(verdicts(scenarios)))
    (RESULTS / "serving.json").write_text(json.dumps(
        {"machine": machine_notes(), "scenarios": [asdict(s) for s in scenarios]}, indent=2))


if __name__ == "__main__":
    main()
