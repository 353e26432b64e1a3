"""Where shipped payload records go: JSON lines files (default) or CloudEvents over HTTP.

A sink's ``write(records)`` returns only once the records are durable there, or raises. Kafka is
not provided (see docs/observability.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

import httpx
import orjson
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field


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


SinkConfig = Annotated[JsonlSinkConfig | CloudEventsSinkConfig, Field(discriminator="type")]


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


def make_sink(config: JsonlSinkConfig | CloudEventsSinkConfig) -> Sink:
    if isinstance(config, JsonlSinkConfig):
        return JsonlSink(config)
    return CloudEventsSink(config)
