"""Where shipped payload records go: JSON lines files (default), CloudEvents over HTTP, or Kafka.

A sink's ``write(records)`` returns only once the records are durable there, or raises; the shipper
commits the journal offset only after it returned. The Kafka sink needs the optional dependency
``confluent-kafka`` (``pip install 'modelward[kafka]'``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

import httpx
import orjson
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator

from modelward.errors import ConfigurationError

logger = logging.getLogger(__name__)


class Sink(Protocol):
    """Ships a batch of records (raw JSON lines, without newlines); raises when it cannot."""

    def write(self, records: list[bytes]) -> None: ...

    def close(self) -> None: ...


class JsonlSinkConfig(BaseModel):
    """``sink: {type: jsonl, path: payloads.jsonl}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["jsonl"] = "jsonl"
    path: Path = Field(description="The JSON lines file records are appended to (fsynced per batch).")


class CloudEventsSinkConfig(BaseModel):
    """``sink: {type: cloudevents, url: http://collector/events}``: a batch of CloudEvents per POST."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["cloudevents"]
    url: AnyHttpUrl = Field(description="Receives POST application/cloudevents-batch+json.")
    source: str = Field(default="modelward", description="The events' source attribute.")
    event_type: str = Field(default="io.modelward.payload", description="The events' type attribute.")
    timeout: float = Field(default=10.0, gt=0, description="Seconds per POST.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra headers (for example auth).")


#: producer properties the Kafka sink sets itself: the delivery guarantee is not configurable
KAFKA_FIXED = frozenset({"bootstrap.servers", "acks", "request.required.acks", "enable.idempotence",
                         "message.timeout.ms", "delivery.timeout.ms"})


class KafkaSinkConfig(BaseModel):
    """``sink: {type: kafka, bootstrap_servers: "broker:9092", topic: payloads}``: one message per record."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["kafka"]
    bootstrap_servers: str = Field(min_length=1, description="host:port[,host:port...] of the Kafka brokers.")
    topic: str = Field(pattern=r"^[A-Za-z0-9._-]{1,249}$", description="The topic records are produced to "
                       "(created beforehand; the sink does not create topics).")
    timeout: float = Field(default=10.0, gt=0, description="Seconds a batch may take to be acknowledged by "
                           "every in-sync replica (acks=all); then the shipment fails and is retried.")
    properties: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="More librdkafka producer properties (security.protocol, sasl.*, "
        "compression.type...); acks, idempotence and the timeouts are the sink's own.")

    @field_validator("properties")
    @classmethod
    def _not_fixed(cls, value: dict[str, str | int | float | bool]) -> dict[str, str | int | float | bool]:
        fixed = sorted(KAFKA_FIXED.intersection(value))
        if fixed:
            raise ValueError(f"{', '.join(fixed)} cannot be set here (the sink uses acks=all and idempotence; "
                             "bootstrap_servers and timeout are their own keys)")
        return value


SinkConfig = Annotated[JsonlSinkConfig | CloudEventsSinkConfig | KafkaSinkConfig, Field(discriminator="type")]


class JsonlSink:
    """Appends records to a JSON lines file and fsyncs it before reporting success."""

    def __init__(self, config: JsonlSinkConfig) -> None:
        self.path = config.path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("ab")
        if self._file.tell() > 0 and not self.path.read_bytes().endswith(b"\n"):
            self._file.write(b"\n")  # a torn batch of a process that died: end it, readers skip it

    def write(self, records: list[bytes]) -> None:
        self._file.write(b"".join(r + b"\n" for r in records))
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


class CloudEventsSink:
    """POSTs each batch as ``application/cloudevents-batch+json`` (CloudEvents 1.0, JSON format)."""

    def __init__(self, config: CloudEventsSinkConfig) -> None:
        self.config = config
        self._client = httpx.Client(timeout=config.timeout, headers=config.headers)

    def write(self, records: list[bytes]) -> None:
        events = [self.event(orjson.loads(r)) for r in records]
        answer = self._client.post(str(self.config.url), content=orjson.dumps(events),
                                   headers={"Content-Type": "application/cloudevents-batch+json"})
        if answer.status_code >= 300:
            raise OSError(f"{self.config.url} answered {answer.status_code}: {answer.text[:200]}")

    def event(self, record: dict[str, Any]) -> dict[str, Any]:
        return {"specversion": "1.0", "id": record["id"], "source": self.config.source,
                "type": self.config.event_type, "time": record["time"], "subject": record["model"],
                "datacontenttype": "application/json", "data": record}

    def close(self) -> None:
        self._client.close()


class KafkaSink:
    """Produces each record to a topic with ``acks=all`` and idempotence; ``write`` waits for every ack.

    The message key is the record's ``model`` (a model's records keep their order in one partition),
    the value the record's JSON. librdkafka retries within ``timeout``; a batch not fully acknowledged
    by then raises (naming the broker's last error), the producer is dropped, and the shipper sends
    the whole batch again later: records may arrive twice (dedupe on ``id``), never not at all.
    """

    def __init__(self, config: KafkaSinkConfig) -> None:
        self.config = config
        self._producer: Any = None
        self._broker_error: str | None = None  # the last client-level error (all brokers down...)

    @staticmethod
    def producer_config(config: KafkaSinkConfig) -> dict[str, Any]:
        return {"client.id": "modelward-payload-log", "linger.ms": 5, **config.properties,
                "bootstrap.servers": config.bootstrap_servers, "acks": "all", "enable.idempotence": True,
                "message.timeout.ms": max(1, int(config.timeout * 1000))}

    @classmethod
    def check(cls, config: KafkaSinkConfig) -> None:
        """Raise ``ConfigurationError`` when the client is missing or rejects a property."""
        kafka = _client()
        try:
            kafka.Producer({**cls.producer_config(config), "logger": logger}).flush(0)
        except kafka.KafkaException as exc:
            raise ConfigurationError(f"payload sink kafka: {exc.args[0].str()}") from None

    def _open(self) -> Any:
        kafka = _client()
        self._broker_error = None
        return kafka.Producer({**self.producer_config(self.config), "error_cb": self._on_error, "logger": logger})

    def _on_error(self, error: Any) -> None:
        self._broker_error = error.str()

    def write(self, records: list[bytes]) -> None:
        if self._producer is None:
            self._producer = self._open()
        producer, failed = self._producer, []

        def delivered(error: Any, _message: Any) -> None:
            if error is not None:
                failed.append(error.str())

        for record in records:
            key = orjson.loads(record).get("model")
            while True:
                try:
                    producer.produce(self.config.topic, value=record, key=None if key is None else str(key),
                                     on_delivery=delivered)
                    break
                except BufferError:  # the client's local queue is full: let it drain
                    producer.poll(0.05)
        left = producer.flush(self.config.timeout + 5)
        if left or failed:
            self._drop()
            reason = failed[0] if failed else f"{left} records not acknowledged within {self.config.timeout:g}s"
            if self._broker_error and self._broker_error not in reason:
                reason += f" ({self._broker_error})"
            raise OSError(f"kafka {self.config.bootstrap_servers} topic {self.config.topic}: {reason}")

    def _drop(self) -> None:
        """Forget the producer (and what it still holds): the next write starts a fresh one."""
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.purge()
            producer.flush(0)

    def close(self) -> None:
        self._drop()


def _client() -> Any:
    try:
        import confluent_kafka
    except ImportError:
        raise ConfigurationError("payload sink kafka: needs the confluent-kafka package "
                                 "(pip install 'modelward[kafka]')") from None
    return confluent_kafka


def make_sink(config: JsonlSinkConfig | CloudEventsSinkConfig | KafkaSinkConfig) -> Sink:
    if isinstance(config, JsonlSinkConfig):
        return JsonlSink(config)
    if isinstance(config, KafkaSinkConfig):
        return KafkaSink(config)
    return CloudEventsSink(config)


def check_sink(config: JsonlSinkConfig | CloudEventsSinkConfig | KafkaSinkConfig) -> None:
    """What can be checked before the first shipment (no connection is made)."""
    if isinstance(config, KafkaSinkConfig):
        KafkaSink.check(config)


def describe_sink(config: JsonlSinkConfig | CloudEventsSinkConfig | KafkaSinkConfig) -> str:
    """The sink as messages name it."""
    if isinstance(config, JsonlSinkConfig):
        return f"jsonl {config.path}"
    if isinstance(config, KafkaSinkConfig):
        return f"kafka {config.bootstrap_servers} topic {config.topic}"
    return f"cloudevents {config.url}"
