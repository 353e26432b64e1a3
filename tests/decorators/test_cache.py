"""The prediction cache: LRU and TTL in memory, a real Redis, and nothing cached but real predictions."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from modelward.decorators import CacheDecorator
from modelward.errors import ConfigurationError
from modelward.model import MLModelDecorator, PredictionNotAvailable
from tests.fixtures import EchoInput, EchoModel, EchoOutput


class Counted(EchoModel):
    """Counts the calls that reach the model; refuses (policy-like) over 100 and raises over 500."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def predict(self, data: Any) -> Any:
        self.calls += 1
        if data.value > 500:
            raise ValueError("boom")
        if data.value > 100:
            return PredictionNotAvailable(messages=["no"])
        return EchoOutput(doubled=data.value * 2 + self.calls / 1000, label=data.label)


def counts(decorator: MLModelDecorator) -> dict[str, float]:
    return {labels["result"]: value for _, _, labels, value in decorator.metric_samples()}  # type: ignore[attr-defined]


def test_repeated_inputs_are_answered_from_memory_until_the_ttl() -> None:
    model = Counted()
    cache = CacheDecorator(ttl=0.3).set_model(model)
    first = cache.predict(EchoInput(value=1, label="a"))
    assert cache.predict(EchoInput(label="a", value=1)) == first  # same input, other key order
    assert model.calls == 1
    cache.predict(EchoInput(value=1, label="b"))
    assert model.calls == 2
    assert counts(cache) == {"hit": 1, "miss": 2}
    time.sleep(0.35)
    cache.predict(EchoInput(value=1, label="a"))
    assert model.calls == 3


def test_least_recently_used_entries_go_first() -> None:
    model = Counted()
    cache = CacheDecorator(max_entries=2).set_model(model)
    for value in (1, 2, 1, 3):  # 2 is the least recently used when 3 arrives
        cache.predict(EchoInput(value=value))
    cache.predict(EchoInput(value=1))
    assert model.calls == 3
    cache.predict(EchoInput(value=2))
    assert model.calls == 4


def test_denials_and_errors_are_never_cached() -> None:
    model = Counted()
    cache = CacheDecorator().set_model(model)
    for _ in range(2):
        assert isinstance(cache.predict(EchoInput(value=200)), PredictionNotAvailable)
        with pytest.raises(ValueError, match="boom"):
            cache.predict(EchoInput(value=600))
    assert model.calls == 4


def test_the_version_is_part_of_the_key() -> None:
    old, new = CacheDecorator().set_model(EchoModel(version="1")), CacheDecorator().set_model(EchoModel(version="2"))
    assert old.key(EchoInput(value=1)) != new.key(EchoInput(value=1))  # type: ignore[attr-defined]


@pytest.fixture
def prefix(redis_prefix: str) -> str:
    return redis_prefix


@pytest.mark.integration
def test_redis_shares_answers_between_decorators_and_expires_them(prefix: str) -> None:
    first_model, second_model = Counted(), Counted()
    first = CacheDecorator(backend="redis", prefix=prefix, ttl=1).set_model(first_model)
    second = CacheDecorator(backend="redis", prefix=prefix, ttl=1).set_model(second_model)
    answer = first.predict(EchoInput(value=3))
    assert second.predict(EchoInput(value=3)) == answer and second_model.calls == 0
    assert isinstance(first.predict(EchoInput(value=300)), PredictionNotAvailable)
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    keys = list(client.scan_iter(f"{prefix}*"))
    assert len(keys) == 1 and 0 < client.pttl(keys[0]) <= 1000
    client.close()
    first.close()
    second.close()


@pytest.mark.integration
def test_an_unreachable_redis_is_a_miss_and_a_health_problem() -> None:
    from tests.conftest import free_port

    model = Counted()
    cache = CacheDecorator(backend="redis", url=f"redis://127.0.0.1:{free_port()}/0").set_model(model)
    cache.predict(EchoInput(value=1))
    cache.predict(EchoInput(value=1))
    assert model.calls == 2
    assert "Redis cannot be reached" in cache.health_problems()[0]  # type: ignore[attr-defined]
    cache.close()


def test_unknown_options_are_named() -> None:
    with pytest.raises(ConfigurationError, match="CacheDecorator: ttl_seconds: Extra inputs"):
        CacheDecorator(ttl_seconds=3)
