"""The event loop's fairness under CPU-bound requests: ``.venv/bin/python bench/loop_fairness.py``
(about 2 minutes).

A bare ASGI app that spins 1.5 ms per request (``bench/serving/spin_app.py``: a model predicted
through modelward's scheduler and nothing else of the service), served by uvicorn with each event
loop (uvloop, asyncio) and HTTP parser (httptools, h11), with ``execution`` ``inline`` (on the loop
as the request is read), ``auto`` (requests that arrive together queue, one per turn) or ``thread``
(the worker-thread hand-off); ``wrk`` at 32 connections, interleaved rounds whose order rotates. It prints the
median req/s, p50 and p99 over the rounds and the worst round's p99. With uvloop and httptools,
uvicorn's defaults, requests spun inline are not answered in arrival order: the p99 grows to
several times the median.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from serving import ensure_wrk, machine_notes, run_wrk  # noqa: E402

COMBINATIONS = [("uvloop", "httptools", "inline"), ("uvloop", "httptools", "auto"),
                ("uvloop", "httptools", "thread"), ("asyncio", "httptools", "inline"),
                ("uvloop", "h11", "inline"), ("asyncio", "h11", "inline")]


def serve(loop: str, http: str, execution: str, port: int) -> subprocess.Popen[bytes]:
    command = ["taskset", "-c", "1", str(Path(sys.executable).parent / "uvicorn"), "spin_app:app",
               "--port", str(port), "--loop", loop, "--http", http, "--log-level", "warning", "--no-access-log"]
    process = subprocess.Popen(command, cwd=HERE / "serving", env={**os.environ, "SPIN_EXECUTION": execution},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/", data=b"{}"), timeout=1):
                return process
        except (urllib.error.URLError, ConnectionError):
            if process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"uvicorn --loop {loop} --http {http} did not start")
            time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of one wrk run (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    args = parser.parse_args()
    wrk = ensure_wrk()
    body = HERE / "results" / "spin-body.json"
    body.parent.mkdir(parents=True, exist_ok=True)
    body.write_text("{}")
    figures: dict[tuple[str, str, str], list[tuple[float, float, float]]] = {c: [] for c in COMBINATIONS}
    for number in range(args.rounds):
        shift = number % len(COMBINATIONS)
        for combination in COMBINATIONS[shift:] + COMBINATIONS[:shift]:
            process = serve(*combination, port=18795)
            try:
                speed, p50, p99, _, _ = run_wrk(wrk, "http://127.0.0.1:18795/", 32, args.seconds, body, process.pid)
            finally:
                process.terminate()
                process.wait(timeout=30)
            figures[combination].append((speed, p50, p99))
            print(f"round {number + 1}/{args.rounds}: {' '.join(combination)} {speed:.0f}/s p99 {p99:.1f} ms",
                  file=sys.stderr)
    print(f"{machine_notes()}\n{args.rounds} interleaved rounds of {args.seconds} s, 32 connections, "
          "1.5 ms of CPU per request\n")
    print("| loop | parser | execution | req/s | p50 ms | p99 ms | worst round's p99 ms |")
    print("|---|---|---|---:|---:|---:|---:|")
    for combination, runs in figures.items():
        speed, p50, p99 = (statistics.median(run[i] for run in runs) for i in range(3))
        print(f"| {' | '.join(combination)} | {speed:.0f} | {p50:.1f} | {p99:.1f} | {max(r[2] for r in runs):.1f} |")


if __name__ == "__main__":
    main()
