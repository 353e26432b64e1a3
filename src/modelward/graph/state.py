"""Router state that survives restarts and is shared by replicas: per-arm reward sums, and routes taken.

A router's arms are counted as ``ArmStats(n, total, total_sq)`` (feedback count, sum of rewards, sum
of squared rewards): every bandit of ``modelward.graph.routers`` decides from these, and one piece of
feedback is one atomic increment, so two processes updating at once lose nothing. The route a
prediction took is kept by request id for ``route_ttl`` seconds, so feedback that names only the
request id still reaches the router that chose.

| store | where | atomic update |
|---|---|---|
| ``SqliteStateStore`` (default) | ``<data_dir>/graph-state.db`` (WAL) | one ``INSERT … ON CONFLICT DO UPDATE`` |
| ``RedisStateStore`` | ``state: {type: redis, url: …}`` | ``HINCRBY``/``HINCRBYFLOAT`` in a MULTI |
| ``MemoryStateStore`` | in process (tests, simulations) | a lock |
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from modelward.errors import GraphStateUnavailable
from modelward.graph.config import RedisStateConfig, SqliteStateConfig


@dataclass(frozen=True)
class ArmStats:
    """What one arm of a router has learned: feedback count, sum and sum of squares of rewards."""

    n: int = 0
    total: float = 0.0
    total_sq: float = 0.0

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0

    def add(self, reward: float) -> ArmStats:
        return ArmStats(self.n + 1, self.total + reward, self.total_sq + reward * reward)


class StateStore(Protocol):
    """Durable, shared router state (see the module docstring)."""

    def arms(self, graph: str, router: str, count: int) -> list[ArmStats]:
        """The stats of arms ``0..count-1`` (arms never rewarded are zero)."""

    def reward(self, graph: str, router: str, arm: int, reward: float) -> None:
        """Add one reward to one arm, atomically."""

    def record_route(self, graph: str, request_id: str, routing: Mapping[str, int]) -> None:
        """Remember which arm each router chose for a request."""

    def route(self, graph: str, request_id: str) -> dict[str, int]:
        """The routing recorded for a request (``{}`` when unknown or expired)."""

    def close(self) -> None:
        """Release connections."""


class MemoryStateStore:
    """State in this process only (tests and simulations)."""

    def __init__(self) -> None:
        self._arms: dict[tuple[str, str, int], ArmStats] = {}
        self._routes: dict[tuple[str, str], dict[str, int]] = {}
        self._lock = threading.Lock()

    def arms(self, graph: str, router: str, count: int) -> list[ArmStats]:
        return [self._arms.get((graph, router, arm), ArmStats()) for arm in range(count)]

    def reward(self, graph: str, router: str, arm: int, reward: float) -> None:
        with self._lock:
            key = (graph, router, arm)
            self._arms[key] = self._arms.get(key, ArmStats()).add(reward)

    def record_route(self, graph: str, request_id: str, routing: Mapping[str, int]) -> None:
        with self._lock:
            self._routes[(graph, request_id)] = dict(routing)

    def route(self, graph: str, request_id: str) -> dict[str, int]:
        return dict(self._routes.get((graph, request_id), {}))

    def close(self) -> None:
        """Nothing to release."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS arms (graph TEXT NOT NULL, router TEXT NOT NULL, arm INTEGER NOT NULL,
    n INTEGER NOT NULL, total REAL NOT NULL, total_sq REAL NOT NULL, PRIMARY KEY (graph, router, arm));
CREATE TABLE IF NOT EXISTS routes (graph TEXT NOT NULL, request_id TEXT NOT NULL, routing TEXT NOT NULL,
    expires REAL NOT NULL, PRIMARY KEY (graph, request_id));
CREATE INDEX IF NOT EXISTS routes_expires ON routes (expires);
"""
_PRUNE_EVERY = 1000


class SqliteStateStore:
    """State in one SQLite file (WAL); every process serving the graph on this machine shares it."""

    def __init__(self, path: Path, route_ttl: float = 7 * 86400) -> None:
        self.path = path
        self.route_ttl = route_ttl
        self._lock = threading.Lock()
        self._writes = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise GraphStateUnavailable(f"cannot open the graph state database {path}: {exc}") from None

    def _run(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        try:
            with self._lock:
                return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise GraphStateUnavailable(f"graph state database {self.path}: {exc}") from None

    def arms(self, graph: str, router: str, count: int) -> list[ArmStats]:
        rows = self._run("SELECT arm, n, total, total_sq FROM arms WHERE graph = ? AND router = ?", (graph, router))
        found = {arm: ArmStats(n, total, total_sq) for arm, n, total, total_sq in rows}
        return [found.get(arm, ArmStats()) for arm in range(count)]

    def reward(self, graph: str, router: str, arm: int, reward: float) -> None:
        self._run("INSERT INTO arms VALUES (?, ?, ?, 1, ?, ?) ON CONFLICT (graph, router, arm) DO UPDATE SET "
                  "n = n + 1, total = total + excluded.total, total_sq = total_sq + excluded.total_sq",
                  (graph, router, arm, reward, reward * reward))

    def record_route(self, graph: str, request_id: str, routing: Mapping[str, int]) -> None:
        now = time.time()
        self._run("INSERT OR REPLACE INTO routes VALUES (?, ?, ?, ?)",
                  (graph, request_id, orjson.dumps(dict(routing)).decode(), now + self.route_ttl))
        self._writes += 1
        if self._writes % _PRUNE_EVERY == 0:
            self._run("DELETE FROM routes WHERE expires < ?", (now,))

    def route(self, graph: str, request_id: str) -> dict[str, int]:
        rows = self._run("SELECT routing FROM routes WHERE graph = ? AND request_id = ? AND expires >= ?",
                         (graph, request_id, time.time()))
        return dict(orjson.loads(rows[0][0])) if rows else {}

    def close(self) -> None:
        with self._lock:
            self._db.close()


class RedisStateStore:
    """State in Redis: hashes ``{prefix}{graph}:{router}:{arm}`` and ``{prefix}{graph}:route:{request_id}``."""

    def __init__(self, url: str, prefix: str = "modelward:graph:", timeout: float = 1.0,
                 route_ttl: float = 7 * 86400) -> None:
        import redis

        self.url = url
        self.prefix = prefix
        self.route_ttl = route_ttl
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        self._client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)

    def _fail(self, exc: Exception) -> GraphStateUnavailable:
        return GraphStateUnavailable(f"graph state in Redis ({self.url}) cannot be reached: {exc}")

    def _arm_key(self, graph: str, router: str, arm: int) -> str:
        return f"{self.prefix}{graph}:{router}:{arm}"

    def arms(self, graph: str, router: str, count: int) -> list[ArmStats]:
        try:
            pipe = self._client.pipeline(transaction=False)
            for arm in range(count):
                pipe.hgetall(self._arm_key(graph, router, arm))
            rows = pipe.execute()
        except self._errors as exc:
            raise self._fail(exc) from None
        return [ArmStats(int(row.get(b"n", 0)), float(row.get(b"total", 0.0)), float(row.get(b"total_sq", 0.0)))
                for row in rows]

    def reward(self, graph: str, router: str, arm: int, reward: float) -> None:
        key = self._arm_key(graph, router, arm)
        try:
            pipe = self._client.pipeline(transaction=True)
            pipe.hincrby(key, "n", 1)
            pipe.hincrbyfloat(key, "total", reward)
            pipe.hincrbyfloat(key, "total_sq", reward * reward)
            pipe.execute()
        except self._errors as exc:
            raise self._fail(exc) from None

    def record_route(self, graph: str, request_id: str, routing: Mapping[str, int]) -> None:
        key = f"{self.prefix}{graph}:route:{request_id}"
        try:
            self._client.set(key, orjson.dumps(dict(routing)), ex=max(1, int(self.route_ttl)))
        except self._errors as exc:
            raise self._fail(exc) from None

    def route(self, graph: str, request_id: str) -> dict[str, int]:
        try:
            value = self._client.get(f"{self.prefix}{graph}:route:{request_id}")
        except self._errors as exc:
            raise self._fail(exc) from None
        return dict(orjson.loads(value)) if value else {}

    def close(self) -> None:
        self._client.close()


def open_store(config: SqliteStateConfig | RedisStateConfig, data_dir: Path) -> StateStore:
    """The store a graph's ``state:`` names (SQLite under ``data_dir`` by default)."""
    if isinstance(config, RedisStateConfig):
        return RedisStateStore(config.url, config.prefix, config.timeout, config.route_ttl)
    return SqliteStateStore(config.path or data_dir / "graph-state.db", config.route_ttl)
