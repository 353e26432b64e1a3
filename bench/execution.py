"""Where predictions run: ``.venv/bin/python bench/execution.py`` (about 5 minutes on 2 cores).

Three ``modelward serve`` processes of the insurance example, alike but for the model's
``execution`` (``auto`` as shipped, ``thread``, ``inline``), each pinned to CPU 1 and loaded with
``wrk`` pinned to CPU 0 at 1 and 32 connections, in interleaved rounds whose order rotates
(``bench/v2.py``'s helpers, the serving benchmark's Lua script). Every round starts the servers
afresh, so that no setting's figures rest on one process. It
prints req/s, p50, p99 and server CPU per request (medians over the rounds), each setting's
throughput and p99 against ``inline`` (the median of the rounds' paired ratios, and their range),
and the worst round's p99: the event loop's tail under concurrency shows in some rounds and not in
others.

``--identical`` serves three ``auto`` servers of the same code instead and keeps them for the whole
run: how far apart two processes of the same code are (what fresh servers spread over the rounds).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from observability import on_fresh_servers, prediction_url, servers, start_variant  # noqa: E402
from v2 import targets  # noqa: E402

from serving import BODY, Scenario, ensure_insurance_model, machine_notes  # noqa: E402

SETTINGS = ("auto", "thread", "inline")
IDENTICAL = ("auto", "auto b", "auto c")


def paired(scenario: Scenario, names: tuple[str, ...], name: str, base: str, figure: str) -> list[float]:
    """``name``'s figure over ``base``'s in each round (run seconds apart)."""
    rounds = len(scenario.runs) // len(names)
    ratios = []
    for number in range(rounds):
        runs = {run.server: run for run in scenario.runs[number * len(names):(number + 1) * len(names)]}
        ratios.append(getattr(runs[name], figure) / getattr(runs[base], figure))
    return ratios


def report(scenarios: list[Scenario], names: tuple[str, ...], base: str) -> str:
    lines = []
    for scenario in scenarios:
        lines += [f"**insurance model served, {scenario.connections} connection(s)**", "",
                  "| execution | req/s | p50 ms | p99 ms | worst round's p99 ms | CPU us/req | "
                  f"req/s vs {base} (rounds' range) | p99 vs {base} (rounds' range) |",
                  "|---|---:|---:|---:|---:|---:|---|---|"]
        for name in names:
            figures = scenario.summary(name)
            worst = max(run.p99_ms for run in scenario.runs if run.server == name)
            speed, tail = (paired(scenario, names, name, base, "requests_per_s"),
                           paired(scenario, names, name, base, "p99_ms"))
            lines.append(f"| {name} | {figures.requests_per_s:.0f} | {figures.p50_ms:.2f} | {figures.p99_ms:.2f} | "
                         f"{worst:.2f} | {figures.cpu_us:.0f} | {statistics.median(speed):.3f} "
                         f"({min(speed):.2f} to {max(speed):.2f}) | {statistics.median(tail):.2f}x "
                         f"({min(tail):.2f} to {max(tail):.2f}) |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=4, help="length of one wrk run (default 4)")
    parser.add_argument("--rounds", type=int, default=6, help="interleaved rounds (default 6)")
    parser.add_argument("--identical", action="store_true",
                        help="three auto servers of the same code, kept for the whole run")
    args = parser.parse_args()
    ensure_insurance_model()
    names = IDENTICAL if args.identical else SETTINGS
    with tempfile.TemporaryDirectory(prefix="modelward-execution-") as name:
        folder = Path(name)
        body = folder / "body.json"
        body.write_text(json.dumps(BODY))

        def start(server: str, port: int) -> subprocess.Popen[bytes]:
            return start_variant(folder, server, port, server.split()[0])

        if args.identical:
            with servers(names, start) as running:
                scenarios = targets([(server, prediction_url(port), process.pid, body)
                                     for server, (port, process) in running.items()],
                                    [1, 32], args.rounds, args.seconds)
        else:
            scenarios = on_fresh_servers(names, args.rounds, args.seconds, body, start)
    kept = "servers kept for the whole run" if args.identical else "fresh servers every round"
    base = IDENTICAL[0] if args.identical else "inline"
    print(f"{machine_notes()}\n{args.rounds} interleaved rounds of {args.seconds} s per server and concurrency, "
          f"{kept}; figures are medians over the rounds\n\n{report(scenarios, names, base)}")


if __name__ == "__main__":
    main()
