"""Console benchmark: page response times over a catalog of 100,000 versions, SQLite and PostgreSQL.

Run: ``.venv/bin/python bench/web.py`` (``--small`` for 10,000 versions). The catalog is filled by
``bench/catalog.py``'s bulk loader (10,000 models x 10 versions, 200,000 deployments), plus a few
writes through the library so the audit trail and failed attempts are not empty; then
``modelward catalog serve`` runs on a free loopback port and each page is fetched ``--runs`` times
with httpx (one connection, the server warmed by one fetch of each page). Figures are the wall time
per request as the client sees it: p50 and p95 in milliseconds, target < 200 ms.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from tests.conftest import MODELWARD, child_env, free_port, stop, wait_for  # noqa: E402

import catalog as bench_catalog  # noqa: E402  (bench/catalog.py)
from modelward import catalog as c  # noqa: E402

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _extras(catalog: c.Catalog) -> tuple[str, str, str]:
    """A few library writes (audit events, a failed attempt); the model, version and deployment to show."""
    with catalog.engine.connect() as conn:
        name = conn.execute(sa.text("SELECT qualified_name FROM models WHERE id = 1")).scalar_one()
    for i in range(20):
        c.set_stage(catalog, model=name, version="1.0.0", stage=("staging", "production")[i % 2], actor="bench")
    c.record_failed_attempt(catalog, info=c.AttemptInfo(model=name, version="9.9.9", target=c.Target.LOCAL,
                                                        step="verify", reason="verify failed: unknown key"),
                            actor="bench")
    earlier = c.record_deployment(catalog, info=c.DeploymentInfo(
        model=name, version="1.1.0", target=c.Target.KUBERNETES, environment="production"), actor="bench")
    deployment = c.record_deployment(catalog, info=c.DeploymentInfo(  # its page names 1.1.0 for a rollback
        model=name, version="1.0.0", target=c.Target.KUBERNETES, environment="production", replaces=earlier.id),
        actor="bench")
    return name, "1.0.0", deployment.id


def _pages(name: str, version: str, deployment: str) -> dict[str, str]:
    return {
        "home (newest versions)": "/console/",
        "search text + filters": "/console/?q=fraud&line_of_business=cards&stage=production&environment=production",
        "search owner + dates": "/console/?owner=owner7&registered_since=2024-01-01&registered_until=2025-01-01",
        "search page 50": "/console/?q=risk&page=50",
        "model": f"/console/models/{name}",
        "version": f"/console/models/{name}/versions/{version}",
        "lineage": f"/console/lineage/{name}/{version}",
        "deployments": "/console/deployments",
        "deployments filtered": "/console/deployments?environment=staging&target=seldon&status=running",
        "deployment": f"/console/deployments/{deployment}",
        "failed attempts": "/console/attempts",
        "audit trail": "/console/audit",
    }


def _time(client: httpx.Client, path: str, runs: int) -> tuple[float, float]:
    client.get(path).raise_for_status()
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        answer = client.get(path)
        samples.append((time.perf_counter() - began) * 1000)
        answer.raise_for_status()
    samples.sort()
    return statistics.median(samples), samples[max(int(len(samples) * 0.95) - 1, 0)]


def run(url: str, args: argparse.Namespace, workdir: Path) -> dict[str, tuple[float, float]]:
    catalog = c.open_catalog(url, migrate=True)
    try:
        began = time.perf_counter()
        bench_catalog.load(catalog, args.models, args.versions // args.models, args.deployments)
        shown = _extras(catalog)
        print(f"{catalog.dialect}: loaded in {time.perf_counter() - began:.1f} s", flush=True)
    finally:
        catalog.dispose()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([MODELWARD, "catalog", "serve", "--url", url, "--port", str(port)],
                               env=child_env(MODELWARD_DATA_DIR=str(workdir), MODELWARD_LOG_LEVEL="warning"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(base, process)
        with httpx.Client(base_url=base, timeout=30) as client:
            return {label: _time(client, path, args.runs) for label, path in _pages(*shown).items()}
    finally:
        stop(process)


def _postgres(args: argparse.Namespace, workdir: Path) -> dict[str, tuple[float, float]]:
    name = f"mw_webbench_{secrets.token_hex(4)}"
    admin = sa.create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        return run(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", args, workdir)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--versions", type=int, default=100_000)
    parser.add_argument("--deployments", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--small", action="store_true", help="10x smaller, for a quick check")
    parser.add_argument("--only", choices=["sqlite", "postgresql"], help="run one backend only")
    args = parser.parse_args()
    if args.small:
        args.models, args.versions, args.deployments = 1000, 10_000, 20_000
    results: dict[str, dict[str, tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.only != "postgresql":
            results["SQLite"] = run(f"sqlite:///{Path(tmp) / 'web-bench.db'}", args, Path(tmp))
        if args.only != "sqlite":
            results["PostgreSQL"] = _postgres(args, Path(tmp))
    _report(results, args)


def _report(results: dict[str, dict[str, tuple[float, float]]], args: argparse.Namespace) -> None:
    print(f"\n{args.versions:,} versions of {args.models:,} models, {args.deployments:,} deployments, "
          f"{args.runs} requests per page (ms, p50 / p95)\n")
    backends = list(results)
    print("| page | " + " | ".join(f"{b} p50 | {b} p95" for b in backends) + " |")
    print("|---|" + "---:|---:|" * len(backends))
    for label in next(iter(results.values())):
        cells = " | ".join(f"{results[b][label][0]:.1f} | {results[b][label][1]:.1f}" for b in backends)
        print(f"| {label} | {cells} |")
    worst = max(p95 for pages in results.values() for _, p95 in pages.values())
    print(f"\nslowest p95: {worst:.1f} ms ({'within' if worst < 200 else 'OVER'} the 200 ms target)")


if __name__ == "__main__":
    main()
