"""The Kafka sink against a real Kafka-protocol broker on loopback (Tansu, from tests/.envs/kafka).

The broker is started by the test on a free port and stopped by PID; it keeps its log in memory, so
a broker that is killed and started again is empty (the tests create the topic each time).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from modelward.decorators import PayloadLogDecorator
from modelward.decorators.sinks import KafkaSink, KafkaSinkConfig
from modelward.errors import ConfigurationError
from tests.conftest import free_port
from tests.decorators.kafka_broker import TOPIC, Broker
from tests.fixtures import EchoInput, EchoModel

pytestmark = pytest.mark.integration


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Callable[[int], Broker]]:
    """Make brokers (``broker(port)``, not started); every one is killed by PID afterwards."""
    made: list[Broker] = []

    def make(port: int) -> Broker:
        made.append(Broker(port, tmp_path / f"broker-{port}.log"))
        return made[-1]

    yield make
    for each in made:
        each.kill()


def wait_until(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def kafka_log(tmp_path: Path, port: int, **options: Any) -> Any:
    sink = {"type": "kafka", "bootstrap_servers": f"127.0.0.1:{port}", "topic": TOPIC, "timeout": 1.5}
    return PayloadLogDecorator(journal=str(tmp_path / "journal"), max_backoff=0.3, batch_size=16,
                               sink=sink, **options).set_model(EchoModel())


def test_records_are_produced_to_the_topic_and_committed_only_once_acknowledged(
        broker: Callable[[int], Broker], tmp_path: Path) -> None:
    kafka = broker(free_port())
    kafka.start()
    model = kafka_log(tmp_path, kafka.port, mask=["request.label"])
    for value in range(40):
        model.predict(EchoInput(value=value, label="secret"))
    wait_until(lambda: model.pending_bytes == 0)  # the offset is committed once every record is acked
    found = kafka.messages(at_least=40)
    assert sorted(m["request"]["value"] for m in found) == list(range(40))
    assert {m["key"] for m in found} == {b"echo_model"} and {m["request"]["label"] for m in found} == {"****"}
    assert len({m["id"] for m in found}) == 40 and found[0]["version"] == "1.0.0"
    samples = {name: value for name, _, _, value in model.metric_samples()}
    assert samples["modelward_payload_shipped"] == 40 and samples["modelward_payload_ship_failures"] == 0
    assert model.health_problems() == []
    model.close()


def test_a_broker_that_is_down_then_up_loses_nothing(broker: Callable[[int], Broker], tmp_path: Path) -> None:
    kafka = broker(free_port())  # not started: nothing listens on the port yet
    model = kafka_log(tmp_path, kafka.port)
    for value in range(10):
        model.predict(EchoInput(value=value))
    wait_until(lambda: model.health_problems() != [])
    problem = model.health_problems()[0]
    assert f"payload sink kafka 127.0.0.1:{kafka.port} topic {TOPIC} failing" in problem, problem
    assert "bytes waiting" in problem and model.pending_bytes > 0
    assert not (tmp_path / "journal" / "offset.json").exists()  # nothing committed without acks

    kafka.start()
    for value in range(10, 20):
        model.predict(EchoInput(value=value))
    wait_until(lambda: model.pending_bytes == 0 and model.health_problems() == [])
    assert sorted({m["request"]["value"] for m in kafka.messages(at_least=20)}) == list(range(20))

    kafka.kill()  # a crash while the log runs: its memory (and the producer's session) is gone
    for value in range(20, 30):
        model.predict(EchoInput(value=value))
    wait_until(lambda: model.health_problems() != [])
    kafka.start()
    wait_until(lambda: model.pending_bytes == 0 and model.health_problems() == [])
    again = {m["request"]["value"] for m in kafka.messages(at_least=10)}
    assert set(range(20, 30)) <= again  # every record journaled while the broker was down arrived
    samples = {name: value for name, _, _, value in model.metric_samples()}
    assert samples["modelward_payload_ship_failures"] >= 2
    model.close()


@pytest.mark.parametrize(("sink", "message"), [
    ({"properties": {"acks": "1"}}, r"sink\.kafka\.properties: .*acks cannot be set here"),
    ({"topic": "no spaces"}, r"sink\.kafka\.topic"),
    ({"properties": {"no.such.property": 1}}, r"payload sink kafka: No such configuration property: \"no\.such"),
])
def test_bad_kafka_configuration_is_named(sink: dict[str, Any], message: str, tmp_path: Path) -> None:
    config = {"type": "kafka", "bootstrap_servers": "127.0.0.1:9", "topic": TOPIC, **sink}
    with pytest.raises(ConfigurationError, match=message):
        PayloadLogDecorator(journal=str(tmp_path / "journal"), sink=config)


def test_the_producer_always_waits_for_every_in_sync_replica() -> None:
    settings = KafkaSink.producer_config(KafkaSinkConfig(type="kafka", bootstrap_servers="b:9092", topic=TOPIC,
                                                         properties={"compression.type": "zstd"}))
    assert settings["acks"] == "all" and settings["enable.idempotence"] is True
    assert settings["compression.type"] == "zstd" and settings["message.timeout.ms"] == 10_000
