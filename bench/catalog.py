"""Catalog benchmark: 100,000 model versions and 1,000,000 deployments on SQLite and PostgreSQL.

Times ``search`` (text + filters) and ``record_deployment`` (one write, with its audit event) through
the public API, side by side. Run: ``.venv/bin/python bench/catalog.py`` (``--small`` for a quick run).
The PostgreSQL database is created with a random name and dropped at the end. While iterating,
``--reuse KEY`` keeps both databases (``<tmp>/modelward-bench-KEY.db`` and ``mw_bench_KEY``) and loads
them only when empty; an existing catalog is migrated first (``--drop KEY`` removes them).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from modelward import catalog as c

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
WORDS = ["fraud", "churn", "pricing", "insurance", "credit", "risk", "demand", "forecast", "image", "text",
         "ranking", "recommend", "anomaly", "sensor", "claims", "retention", "marketing", "supply", "energy"]
OWNERS = [f"owner{i}" for i in range(50)]
LOBS = ["pricing", "cards", "claims", "marketing", "operations"]
TARGETS = ["local", "kubernetes", "seldon", "kserve"]
ENVS = ["dev", "staging", "production"]
START = datetime(2024, 1, 1, tzinfo=UTC)


def _models(n_models: int) -> list[dict[str, object]]:
    rng = random.Random(1)
    now = datetime.now(UTC)
    rows = []
    for i in range(1, n_models + 1):
        words = rng.sample(WORDS, 3)
        tags = rng.sample(WORDS, 2)
        rows.append({"id": i, "qualified_name": f"{words[0]}_{words[1]}_{i}", "display_name": " ".join(words),
                     "description": f"Predicts {words[0]} {words[2]} for {rng.choice(LOBS)}", "model_type": "gbm",
                     "owner": rng.choice(OWNERS), "line_of_business": rng.choice(LOBS), "project": "p",
                     "tags": tags, "readme": f"# {words[0]}\nTrained on {words[2]} data.",
                     "created_at": now, "updated_at": now})
    return rows


def _versions(n_models: int, per_model: int) -> list[dict[str, object]]:
    rng = random.Random(2)
    stages = ["registered", "validated", "staging", "production", "archived"]
    return [{"id": (m - 1) * per_model + v + 1, "model_id": m, "version": f"1.{v}.0",
             "artifact_uri": f"s3://models/{m}/{v}.zip", "artifact_digest": f"sha256:{m:08x}{v:04x}",
             "manifest": {}, "manifest_digest": "", "signing_key_id": "k1", "code_repository": "", "code_commit": "",
             "metrics": {}, "registry_url": "", "stage": rng.choice(stages), "created_by": "bench",
             "created_at": START + timedelta(minutes=(m * per_model + v) % 900_000)}
            for m in range(1, n_models + 1) for v in range(per_model)]


def _deployment_rows(n_versions: int, n: int) -> list[tuple[object, ...]]:
    rng = random.Random(3)
    now = datetime.now(UTC)
    return [(f"d{i}", rng.randint(1, n_versions), rng.choice(TARGETS), "", "", rng.choice(ENVS), 1, "bench",
             START + timedelta(seconds=i * 60), "running", "", "", "", "", None, now) for i in range(n)]


DEP_COLUMNS = ("id", "version_id", "target", "host_detail", "endpoint_url", "environment", "replicas",
               "deployed_by", "deployed_at", "status", "reason", "config_digest", "policy_package",
               "policy_bundle_digest", "replaced_id", "updated_at")


def load(catalog: c.Catalog, n_models: int, per_model: int, n_deployments: int) -> float:
    """Bulk-insert the data set; return the seconds it took."""
    from modelward.catalog import schema as s

    began = time.perf_counter()
    models = _models(n_models)
    with catalog.engine.begin() as conn:
        conn.execute(sa.insert(s.Model), models)
        conn.execute(sa.insert(s.ModelTag), [{"model_id": m["id"], "tag": t} for m in models
                                              for t in m["tags"]])  # type: ignore[attr-defined]
        conn.execute(sa.insert(s.ModelVersion), _versions(n_models, per_model))
    rows = _deployment_rows(n_models * per_model, n_deployments)
    if catalog.dialect == "postgresql":
        _copy(catalog, rows)
    else:
        with catalog.engine.begin() as conn:
            conn.execute(sa.insert(s.Deployment), [dict(zip(DEP_COLUMNS, r, strict=True)) for r in rows])
    _settle(catalog)
    return time.perf_counter() - began


def _settle(catalog: c.Catalog) -> None:
    """Statistics, visibility map and a checkpoint, so the timings see a settled database (as
    autovacuum and the checkpointer leave it), not the aftermath of the bulk load."""
    if catalog.dialect == "postgresql":
        with catalog.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
            conn.exec_driver_sql("CHECKPOINT")
        return
    with catalog.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    with catalog.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _copy(catalog: c.Catalog, rows: list[tuple[object, ...]]) -> None:
    raw = catalog.engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY deployments ({', '.join(DEP_COLUMNS)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for row in rows:
                copy.write_row(row)
        raw.commit()
    finally:
        raw.close()


def _timed(fn: Callable[[int], object], n: int) -> tuple[float, float]:
    samples = []
    for i in range(n):
        began = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def measure(catalog: c.Catalog, n_models: int, per_model: int, runs: int, *,
            searches: bool = True, profile: bool = False) -> dict[str, float]:
    """Time the searches (unless ``searches`` is false) and then the writes (and profile them)."""
    rng = random.Random(4)
    queries = [c.SearchQuery(text=rng.choice(WORDS), line_of_business=rng.choice(LOBS),
                             environment=rng.choice(ENVS), target=rng.choice(TARGETS),
                             stage=rng.choice(["production", "staging", None]), per_page=20)
               for _ in range(runs)]
    plain = [c.SearchQuery(text=f"{rng.choice(WORDS)} {rng.choice(WORDS)[:4]}") for _ in range(runs)]
    result: dict[str, float] = {}
    if searches:
        result["search_p50"], result["search_p95"] = _timed(lambda i: c.search(catalog, query=queries[i]), runs)
        result["text_p50"], result["text_p95"] = _timed(lambda i: c.search(catalog, query=plain[i]), runs)
    infos = _deployments(catalog, rng, n_models, per_model, runs)
    cpu = time.process_time()
    result["write_p50"], result["write_p95"] = _timed(_writer(catalog, infos), runs)
    result["write_cpu_ms"] = (time.process_time() - cpu) / runs * 1000  # this process's CPU per write
    if profile:
        result["write_calls"] = _calls_per_write(catalog, _deployments(catalog, rng, n_models, per_model, runs))
    return result


def _calls_per_write(catalog: c.Catalog, infos: list[c.DeploymentInfo]) -> float:
    """Python function calls per ``record_deployment`` (cProfile, on writes apart from the timed ones)."""
    profiler = cProfile.Profile()
    write = _writer(catalog, infos)
    profiler.enable()
    for i in range(len(infos)):
        write(i)
    profiler.disable()
    return float(pstats.Stats(profiler).total_calls) / len(infos)


ASYNC_COMMIT = "options=-c%20synchronous_commit%3Doff"


def measure_async_writes(url: str, n_models: int, per_model: int, runs: int) -> dict[str, float]:
    """PostgreSQL only: the same write with ``synchronous_commit=off`` in the URL (no WAL flush wait)."""
    catalog = c.open_catalog(f"{url}?{ASYNC_COMMIT}")
    try:
        infos = _deployments(catalog, random.Random(5), n_models, per_model, runs)
        p50, p95 = _timed(_writer(catalog, infos), runs)
    finally:
        catalog.dispose()
    return {"async_write_p50": p50, "async_write_p95": p95}


def _deployments(catalog: c.Catalog, rng: random.Random, n_models: int, per_model: int,
                 runs: int) -> list[c.DeploymentInfo]:
    """The writes to time, model names looked up beforehand (outside the timed calls)."""
    return [c.DeploymentInfo(model=_models_name(catalog, rng.randint(1, n_models)),
                             version=f"1.{rng.randrange(per_model)}.0", target="kubernetes", environment="production")
            for _ in range(runs)]


def _writer(catalog: c.Catalog, infos: list[c.DeploymentInfo]) -> Callable[[int], object]:
    return lambda i: c.record_deployment(catalog, info=infos[i], actor="bench")


_NAMES: dict[int, str] = {}


def _models_name(catalog: c.Catalog, model_id: int) -> str:
    if model_id not in _NAMES:
        with catalog.engine.connect() as conn:
            _NAMES[model_id] = conn.execute(sa.text("SELECT qualified_name FROM models WHERE id = :i"),
                                            {"i": model_id}).scalar_one()
    return _NAMES[model_id]


def _is_loaded(catalog: c.Catalog) -> bool:
    with catalog.engine.connect() as conn:
        return bool(conn.execute(sa.text("SELECT count(*) FROM models")).scalar())


def run(url: str, args: argparse.Namespace) -> dict[str, float]:
    began = time.perf_counter()
    catalog = c.open_catalog(url, migrate=True)
    migrated = time.perf_counter() - began
    try:
        if args.reuse and _is_loaded(catalog):
            print(f"reusing {url} (migrated in {migrated:.1f} s)", flush=True)
            loaded = float("nan")
        else:
            loaded = load(catalog, args.models, args.versions // args.models, args.deployments)
        _NAMES.clear()
        per_model = args.versions // args.models
        result = measure(catalog, args.models, per_model, args.runs, searches=not args.writes_only,
                         profile=args.profile)
        if catalog.dialect == "postgresql":
            result |= measure_async_writes(url, args.models, per_model, args.runs)
        return {"load_s": loaded, **result}
    finally:
        catalog.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--versions", type=int, default=100_000)
    parser.add_argument("--deployments", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--small", action="store_true", help="10x smaller, for a quick check")
    parser.add_argument("--writes-only", action="store_true", help="time record_deployment only (no searches)")
    parser.add_argument("--profile", action="store_true",
                        help="also count Python calls per write (cProfile, on extra writes after the timed ones)")
    parser.add_argument("--reuse", metavar="KEY", help="keep the databases under KEY and reuse them")
    parser.add_argument("--drop", metavar="KEY", help="remove the databases kept under KEY and exit")
    parser.add_argument("--only", choices=["sqlite", "postgresql", "postgres"], help="run one backend only")
    args = parser.parse_args()
    args.only = "postgresql" if args.only == "postgres" else args.only
    if args.drop:
        _drop_kept(args.drop)
        return
    if args.small:
        args.models, args.versions, args.deployments = 1000, 10_000, 100_000
    results: dict[str, dict[str, float]] = {}
    if args.only != "postgresql":
        results["sqlite"] = _run_sqlite(args)
    if args.only != "sqlite":
        results["postgresql"] = _run_postgres(args)
    _report(results, args)


def _kept_file(key: str) -> Path:
    return Path(tempfile.gettempdir()) / f"modelward-bench-{key}.db"


def _run_sqlite(args: argparse.Namespace) -> dict[str, float]:
    if args.reuse:
        return run(f"sqlite:///{_kept_file(args.reuse)}", args)
    with tempfile.TemporaryDirectory() as tmp:
        return run(f"sqlite:///{Path(tmp) / 'bench.db'}", args)


def _run_postgres(args: argparse.Namespace) -> dict[str, float]:
    name = f"mw_bench_{args.reuse or secrets.token_hex(4)}"
    admin = sa.create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar()
        if not exists:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        return run(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", args)
    finally:
        if not args.reuse:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def _drop_kept(key: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{_kept_file(key)}{suffix}").unlink(missing_ok=True)
    admin = sa.create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS mw_bench_{key} WITH (FORCE)")
    admin.dispose()


def _report(results: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    print(f"{args.versions:,} versions of {args.models:,} models, {args.deployments:,} deployments, "
          f"{args.runs} timed calls each")
    if len(results) == 1:
        for key, value in next(iter(results.values())).items():
            print(f"{key:28}{value:>10.2f}")
        return
    print(f"{'':28}{'SQLite':>10}{'PostgreSQL':>12}{'PG/SQLite':>11}")
    rows = [("bulk load (s)", "load_s"), ("search text+filters p50 (ms)", "search_p50"),
            ("search text+filters p95 (ms)", "search_p95"), ("search text only p50 (ms)", "text_p50"),
            ("search text only p95 (ms)", "text_p95"), ("record deployment p50 (ms)", "write_p50"),
            ("record deployment p95 (ms)", "write_p95"), ("record, client CPU (ms)", "write_cpu_ms"),
            ("record, Python calls", "write_calls")]
    for label, key in (row for row in rows if row[1] in results["sqlite"]):
        lite, pg = results["sqlite"][key], results["postgresql"][key]
        print(f"{label:28}{lite:>10.2f}{pg:>12.2f}{pg / lite:>11.2f}")
    for label, key in (("record, PG async commit p50", "async_write_p50"),
                       ("record, PG async commit p95", "async_write_p95")):
        print(f"{label:28}{'-':>10}{results['postgresql'][key]:>12.2f}")


if __name__ == "__main__":
    main()
