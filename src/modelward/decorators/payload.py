"""``PayloadLogDecorator``: every prediction recorded, at least once, in a sink.

```yaml
decorators:                                   # list it last: it is outermost and sees policy denials
  - class_path: modelward.decorators.PayloadLogDecorator
    configuration:
      journal: /var/lib/modelward/payloads    # local append-only journal (one directory per process)
      fsync: always                           # always | interval | never
      sink: {type: jsonl, path: /var/log/modelward/payloads.jsonl}   # or cloudevents, kafka (sinks.py)
      max_bytes: 268435456                    # unshipped bytes the journal may hold
      when_full: block                        # block (up to block_timeout s), then refuse | refuse
      mask: [request.ssn, response.internal_score]
```

The record (``request``, ``response``, ``request_id``, ``model``, ``version``, ``decision``, ``id``,
``time``, and ``routing`` when an inference graph chose a route) is appended to the journal
*before* the prediction is returned, so a 200 means the record is on disk. With ``fsync: always``
inside a served request the write and fsync are left to the service, which makes them before it
answers (``defer_until_answer``): requests that finished meanwhile share them (group commit). A
background thread ships the journal to the sink from the committed offset, retrying with
exponential backoff; a restart resumes where the last commit left off. A journal at its limit
refuses predictions with ``JournalFull`` (503) rather than dropping records; ``health_problems()``
names a failing sink and a full journal.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import threading
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from modelward.decorators.common import Counters, as_document, masked
from modelward.decorators.journal import FsyncPolicy, Journal
from modelward.decorators.sinks import Sink, SinkConfig, check_sink, describe_sink, make_sink
from modelward.errors import JournalFull, ModelwardError, PayloadLogUnavailable
from modelward.model import MLModelDecorator, PredictionNotAvailable
from modelward.model.context import current_request_id, defer_until_answer, response_metadata
from modelward.model.decorator import parse_options

logger = logging.getLogger(__name__)


class PayloadLogConfig(BaseModel):
    """The decorator's ``configuration``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    journal: Path = Field(description="Directory of the local journal (created; one per process).")
    sink: SinkConfig = Field(description="Where records are shipped: {type: jsonl, path}, "
                             "{type: cloudevents, url} or {type: kafka, bootstrap_servers, topic}.")
    fsync: FsyncPolicy = Field(default="always", description="always: fsync every record before answering; "
                               "interval: every fsync_interval seconds, by the shipper thread; never: leave it "
                               "to the OS.")
    fsync_interval: float = Field(default=1.0, gt=0)
    segment_bytes: int = Field(default=16 << 20, ge=1024, description="Journal segment size.")
    max_bytes: int = Field(default=256 << 20, ge=1024, description="Unshipped bytes the journal may hold.")
    when_full: Literal["block", "refuse"] = Field(default="block")
    block_timeout: float = Field(default=5.0, ge=0, description="Seconds a prediction waits for room (block).")
    batch_size: int = Field(default=500, ge=1, description="Records per shipment.")
    max_backoff: float = Field(default=30.0, gt=0, description="Longest wait between shipping retries.")
    ship_interval: float = Field(default=0.2, gt=0, description="Seconds the shipper waits once it has caught up.")
    mask: list[str] = Field(default_factory=list, description="Dotted paths replaced by **** "
                            "(request.x, response.y; * matches any key or item).")


class Shipper:
    """The background thread: journal → sink from the committed offset, retrying with backoff."""

    def __init__(self, journal: Journal, config: PayloadLogConfig, counters: Counters) -> None:
        self.journal, self.config, self.counters = journal, config, counters
        self.sink: Sink | None = None  # opened by the thread, so a sink that is down at start is retried
        self.description = describe_sink(config.sink)
        self.error: str | None = None
        self.failing_since: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="modelward-payload-shipper", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        backoff = 0.05
        while not self._stop.is_set():
            try:
                moved = self.ship_once()
            except Exception as exc:  # the sink is down or slow: keep everything, retry later
                self._failed(exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.config.max_backoff)
                continue
            backoff = 0.05
            self.journal.sync_due()  # fsync: interval is kept here, off the predictions' path
            if moved < self.config.batch_size:  # caught up: let records gather (no wake-up per record)
                self._stop.wait(min(self.config.ship_interval, self.config.fsync_interval))

    def ship_once(self) -> int:
        """Ship one batch from the committed offset; the number of records shipped."""
        lines, position = self.journal.read(self.journal.committed, self.config.batch_size)
        if lines:
            if self.sink is None:
                self.sink = make_sink(self.config.sink)
            self.sink.write(lines)
        if position != self.journal.committed:
            self.journal.commit(position)
        self.counters.add("shipped", len(lines))
        if self.error is not None:
            logger.info("payload sink %s works again", self.description)
        self.error, self.failing_since = None, None
        return len(lines)

    def _failed(self, exc: Exception) -> None:
        self.counters.add("ship_failures")
        if self.error is None:
            logger.error("payload sink %s failed (records stay in the journal and are retried): %s",
                         self.description, exc)
            self.failing_since = time.monotonic()
        self.error = f"{type(exc).__name__}: {exc}"

    def close(self, drain_seconds: float = 5.0) -> None:
        """Ship what is left (for up to ``drain_seconds``), then stop."""
        deadline = time.monotonic() + drain_seconds
        while self.journal.pending_bytes > 0 and self.error is None and time.monotonic() < deadline:
            time.sleep(0.02)
        self._stop.set()
        self._thread.join(timeout=drain_seconds)
        if self.sink is not None:
            self.sink.close()


class PayloadLogDecorator(MLModelDecorator):
    """Journals every prediction (request, response, ids, version, decision); see the module docstring."""

    def __init__(self, **options: Any) -> None:
        config = parse_options(PayloadLogConfig, options, "PayloadLogDecorator")
        check_sink(config.sink)
        super().__init__(**config.model_dump(mode="json"))
        self._options = config
        self._journal = Journal(config.journal, fsync=config.fsync, fsync_interval=config.fsync_interval,
                                segment_bytes=config.segment_bytes, max_bytes=config.max_bytes)
        self._counts = Counters("journaled", "refused", "shipped", "ship_failures")
        # record ids: 80 random bits per decorator instance, then a counter (32 hex digits like a UUID's;
        # uuid4 per record read the OS's random source on every prediction)
        self._id_prefix, self._ids = secrets.token_hex(10), itertools.count()
        self._shipper = Shipper(self._journal, config, self._counts)
        self._full = False

    def predict(self, data: Any) -> Any:
        """Predict, journal the record, then answer (an error is journaled too, and raised)."""
        try:
            prediction = self.model.predict(data)
        except ModelwardError as exc:
            self._journal_record(data, None, error=f"{type(exc).__name__}: {exc.message}")
            raise
        self._journal_record(data, prediction)
        return prediction

    def record(self, data: Any, prediction: Any, error: str | None = None) -> dict[str, Any]:
        """The record of one prediction, masked."""
        denied = isinstance(prediction, PredictionNotAvailable)
        decision = {"allowed": False, "messages": prediction.messages} if denied else (
            {"allowed": True} if prediction is not None else None)
        document = {"id": f"{self._id_prefix}{next(self._ids):012x}",
                    "time": datetime.now(UTC).isoformat(timespec="microseconds"),
                    "request_id": current_request_id(), "model": self.model.qualified_name,
                    "version": self.model.version, "request": as_document(data),
                    "response": None if denied else as_document(prediction), "decision": decision}
        routing = (response_metadata.get() or {}).get("routing")
        if routing:  # the route an inference graph took, so the record says which model answered
            document["routing"] = dict(routing) if isinstance(routing, dict) else routing
        if error is not None:
            document["error"] = error
        return masked(document, self._options.mask)

    def _journal_record(self, data: Any, prediction: Any, error: str | None = None) -> None:
        line = orjson.dumps(self.record(data, prediction, error), option=orjson.OPT_SERIALIZE_NUMPY)
        options = self._options
        try:
            number = self._journal.append(line, block=options.when_full == "block", timeout=options.block_timeout,
                                          sync=False)
        except JournalFull:
            self._counts.add("refused")
            self._full = True
            raise
        self._full = False
        self._counts.add("journaled")
        if options.fsync == "always" and not defer_until_answer(partial(self._sync, number)):
            self._sync(number)  # no service answers after us (a batch thread, a direct call): wait here

    def _sync(self, number: int) -> None:
        """Record ``number`` on disk, or a clear error (the prediction is then not acknowledged)."""
        try:
            self._journal.sync(number)
        except OSError as exc:
            raise PayloadLogUnavailable(f"payload journal {self._journal.directory}: fsync failed: {exc}") from None

    # --- reporting -----------------------------------------------------------------------

    def health_problems(self) -> list[str]:
        """A failing sink and a full journal."""
        found = []
        shipper = self._shipper
        if shipper.error is not None and shipper.failing_since is not None:
            waited = time.monotonic() - shipper.failing_since
            found.append(f"payload sink {shipper.description} failing for {waited:.0f}s "
                         f"({self._journal.pending_bytes} bytes waiting in {self._journal.directory}): {shipper.error}")
        if self._full:
            found.append(f"payload journal {self._journal.directory} is full (limit {self._options.max_bytes} "
                         "bytes): predictions are refused")
        return found

    def metric_samples(self) -> list[tuple[str, str, dict[str, str], float]]:
        """Counters as ``(name, help, labels, value)``, read by ``modelward.metrics``."""
        labels = {"model_name": self.model.qualified_name}
        return [
            ("modelward_payload_journaled", "Payload records written to the journal.", labels,
             float(self._counts["journaled"])),
            ("modelward_payload_refused", "Predictions refused because the payload journal was full.", labels,
             float(self._counts["refused"])),
            ("modelward_payload_shipped", "Payload records shipped to the sink.", labels,
             float(self._counts["shipped"])),
            ("modelward_payload_ship_failures", "Failed attempts to ship payload records.", labels,
             float(self._counts["ship_failures"])),
            ("modelward_payload_fsyncs", "Journal fsyncs before answering (fsync: always; one covers every "
             "record written before it began).", labels, float(self._journal.group_fsyncs)),
        ]

    @property
    def pending_bytes(self) -> int:
        """Journaled bytes not yet shipped."""
        return self._journal.pending_bytes

    def close(self) -> None:
        """Ship what is left, then release the journal."""
        self._shipper.close()
        self._journal.close()
