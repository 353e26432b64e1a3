"""Router state: atomic updates from two processes, kept across restarts, routes by request id (SQLite, Redis)."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from modelward.errors import GraphStateUnavailable
from modelward.graph.state import ArmStats, RedisStateStore, SqliteStateStore, StateStore
from tests.conftest import free_port

REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
def prefix(redis_prefix: str) -> str:
    return redis_prefix


def open_sqlite(path: str) -> StateStore:
    return SqliteStateStore(Path(path))


def open_redis(prefix: str) -> StateStore:
    return RedisStateStore(REDIS, prefix=prefix)


def hammer(kind: str, where: str, rounds: int) -> None:
    """One process's share of concurrent feedback: ``rounds`` rewards of 1 on arm 0 and of 0.5 on arm 1."""
    store = open_sqlite(where) if kind == "sqlite" else open_redis(where)
    for _ in range(rounds):
        store.reward("g", "r", 0, 1.0)
        store.reward("g", "r", 1, 0.5)
    store.close()


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.integration)])
def backend(request: pytest.FixtureRequest, tmp_path: Path, prefix: str) -> tuple[str, str, Callable[[], StateStore]]:
    if request.param == "sqlite":
        where = str(tmp_path / "state.db")
        return "sqlite", where, lambda: open_sqlite(where)
    return "redis", prefix, lambda: open_redis(prefix)


def test_two_processes_updating_at_once_lose_no_feedback(backend: tuple[str, str, Callable[[], StateStore]]) -> None:
    kind, where, open_store = backend
    open_store().close()  # the schema exists before the processes race
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=hammer, args=(kind, where, 300)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    store = open_store()
    assert store.arms("g", "r", 3) == [ArmStats(600, 600.0, 600.0), ArmStats(600, 300.0, 150.0), ArmStats()]
    store.close()


def test_state_and_routes_survive_reopening(backend: tuple[str, str, Callable[[], StateStore]]) -> None:
    _, _, open_store = backend
    store = open_store()
    store.reward("g", "r", 1, 0.25)
    store.record_route("g", "req-1", {"r": 1})
    store.close()
    again = open_store()
    assert again.arms("g", "r", 2) == [ArmStats(), ArmStats(1, 0.25, 0.0625)]
    assert again.route("g", "req-1") == {"r": 1}
    assert again.route("g", "req-2") == {} and again.route("other", "req-1") == {}
    again.close()


def test_routes_expire_after_their_ttl(tmp_path: Path, prefix: str) -> None:
    sqlite = SqliteStateStore(tmp_path / "s.db", route_ttl=0.2)
    sqlite.record_route("g", "req", {"r": 0})
    assert sqlite.route("g", "req") == {"r": 0}
    time.sleep(0.3)
    assert sqlite.route("g", "req") == {}
    sqlite.close()


@pytest.mark.integration
def test_redis_routes_expire_after_their_ttl(prefix: str) -> None:
    store = RedisStateStore(REDIS, prefix=prefix, route_ttl=1)
    store.record_route("g", "req", {"r": 0})
    assert store.route("g", "req") == {"r": 0}
    time.sleep(1.2)
    assert store.route("g", "req") == {}
    store.close()


def test_unreachable_redis_and_unwritable_sqlite_are_graph_state_errors(tmp_path: Path) -> None:
    down = RedisStateStore(f"redis://127.0.0.1:{free_port()}/0", timeout=0.2)
    with pytest.raises(GraphStateUnavailable, match="cannot be reached"):
        down.arms("g", "r", 2)
    with pytest.raises(GraphStateUnavailable, match="cannot be reached"):
        down.reward("g", "r", 0, 1.0)
    (tmp_path / "file").write_text("x")
    with pytest.raises(GraphStateUnavailable, match="cannot open the graph state database"):
        SqliteStateStore(tmp_path / "file" / "state.db")
