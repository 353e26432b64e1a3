"""``CacheDecorator``: repeated inputs answered from a cache, in process (LRU) or in Redis.

```yaml
decorators:
  - class_path: modelward.decorators.CacheDecorator
    configuration:
      backend: memory          # or redis, with url: redis://127.0.0.1:6379/0
      max_entries: 10000       # memory: least recently used entries go first
      ttl: 300                 # seconds an answer stays valid
```

The key is the model's qualified name, its version and the canonical JSON of the input (sorted
keys), hashed. Only real predictions are stored: a ``PredictionNotAvailable`` (a policy denial), a
``PolicyDenied`` or any error is never cached, so list the cache *inside* the policy decorator
(before it in ``decorators:``) or outside it alike. A Redis that cannot be reached is a miss (logged
once), never an error. Hits and misses are reported as ``modelward_cache_requests_total``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from modelward.decorators.common import Counters, canonical
from modelward.errors import ConfigurationError
from modelward.model import MLModelDecorator, PredictionNotAvailable
from modelward.model.decorator import parse_options

logger = logging.getLogger(__name__)


class CacheConfig(BaseModel):
    """The decorator's ``configuration``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Literal["memory", "redis"] = Field(default="memory")
    url: str = Field(default="redis://127.0.0.1:6379/0", description="Redis URL (backend: redis).")
    max_entries: int = Field(default=10_000, ge=1, description="Entries kept in memory (backend: memory).")
    ttl: float = Field(default=300.0, gt=0, description="Seconds an answer stays valid.")
    prefix: str = Field(default="modelward:cache:", description="Redis key prefix.")
    timeout: float = Field(default=0.5, gt=0, description="Seconds per Redis call.")


class Store(Protocol):
    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, value: bytes) -> None: ...

    def close(self) -> None: ...


class MemoryStore:
    """A thread-safe LRU with a TTL per entry."""

    def __init__(self, max_entries: int, ttl: float) -> None:
        self.max_entries, self.ttl = max_entries, ttl
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item[0] < time.monotonic():
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return item[1]

    def put(self, key: str, value: bytes) -> None:
        with self._lock:
            self._items[key] = (time.monotonic() + self.ttl, value)
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def close(self) -> None:
        with self._lock:
            self._items.clear()


class RedisStore:
    """Entries in Redis with ``SET ... PX ttl``; an unreachable Redis reads as a miss."""

    def __init__(self, config: CacheConfig) -> None:
        try:
            import redis
        except ImportError:
            raise ConfigurationError("CacheDecorator backend redis needs the redis extra "
                                     "(pip install 'modelward[redis]')") from None
        self._client = redis.Redis.from_url(config.url, socket_timeout=config.timeout,
                                            socket_connect_timeout=config.timeout)
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self.prefix, self.ttl_ms = config.prefix, int(config.ttl * 1000)
        self.error: str | None = None

    def get(self, key: str) -> bytes | None:
        try:
            value = self._client.get(self.prefix + key)
        except self._errors as exc:
            self._failed(exc)
            return None
        self.error = None
        return value if isinstance(value, bytes) else None

    def put(self, key: str, value: bytes) -> None:
        try:
            self._client.set(self.prefix + key, value, px=self.ttl_ms)
        except self._errors as exc:
            self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        if self.error is None:
            logger.warning("prediction cache: Redis cannot be reached, predicting without it: %s", exc)
        self.error = f"{type(exc).__name__}: {exc}"

    def close(self) -> None:
        self._client.close()


class CacheDecorator(MLModelDecorator):
    """Answers repeated inputs from the cache; see the module docstring."""

    def __init__(self, **options: Any) -> None:
        config = parse_options(CacheConfig, options, "CacheDecorator")
        super().__init__(**config.model_dump(mode="json"))
        self._store: Store = RedisStore(config) if config.backend == "redis" else MemoryStore(
            config.max_entries, config.ttl)
        self._counts = Counters("hit", "miss")
        self._adapter: TypeAdapter[Any] | None = None

    def key(self, data: Any) -> str:
        """The cache key of an input for this model and version."""
        digest = hashlib.sha256(canonical(data)).hexdigest()
        return f"{self.model.qualified_name}:{self.model.version}:{digest}"

    def predict(self, data: Any) -> Any:
        key = self.key(data)
        cached = self._store.get(key)
        if cached is not None:
            self._counts.add("hit")
            return self._output().validate_json(cached)
        self._counts.add("miss")
        prediction = self.model.predict(data)  # an error propagates and nothing is stored
        if not isinstance(prediction, PredictionNotAvailable):
            self._store.put(key, canonical(prediction))
        return prediction

    def _output(self) -> TypeAdapter[Any]:
        if self._adapter is None:
            self._adapter = TypeAdapter(self.model.output_schema)
        return self._adapter

    def health_problems(self) -> list[str]:
        """A Redis that cannot be reached (predictions go on, uncached)."""
        error = getattr(self._store, "error", None)
        return [f"prediction cache: Redis cannot be reached: {error}"] if error else []

    def metric_samples(self) -> list[tuple[str, str, dict[str, str], float]]:
        """Hits and misses as ``modelward_cache_requests_total{model_name, result}``."""
        name, help_text = "modelward_cache_requests", "Prediction cache lookups by result (hit, miss)."
        model = self.model.qualified_name
        return [(name, help_text, {"model_name": model, "result": result}, float(self._counts[result]))
                for result in ("hit", "miss")]

    def close(self) -> None:
        self._store.close()
