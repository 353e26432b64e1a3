"""The nodes of a running graph: each one an ``MLModel`` over its children, called in process.

A parent calls its child's ``predict`` with an instance of the child's input schema (``convert``),
so decorators listed on a node (the policy decorator, a cache) wrap it like any model. A
``PredictionNotAvailable`` from any node ends the walk: it is the graph's answer.
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, RootModel, TypeAdapter, ValidationError

from modelward.errors import ModelwardError, PredictionError
from modelward.graph.combiners import Combiner
from modelward.graph.config import NodeType
from modelward.graph.routers import Router
from modelward.graph.schemas import convert, payload_schema
from modelward.graph.state import StateStore
from modelward.model import MLModel, PredictionNotAvailable
from modelward.model.context import current_request_id, request_id, response_metadata

logger = logging.getLogger(__name__)

#: true while a SHADOW node mirrors a request (its routers then record no route for the request id)
mirroring: contextvars.ContextVar[bool] = contextvars.ContextVar("modelward_graph_mirroring", default=False)


class NodeStats:
    """Calls, errors and seconds spent in one node (its children included)."""

    def __init__(self) -> None:
        self.calls = 0
        self.errors = 0
        self.seconds = 0.0
        self.lock = threading.Lock()

    def add(self, seconds: float, failed: bool) -> None:
        with self.lock:
            self.calls += 1
            self.seconds += seconds
            self.errors += failed


def unwrap_output(output: Any, adapter: Callable[[], TypeAdapter[Any]]) -> Any:
    """A component's answer as a value of its payload schema (dicts validated, root models unwrapped)."""
    if isinstance(output, BaseModel) and not isinstance(output, RootModel):
        return output
    if not isinstance(output, RootModel):
        output = adapter().validate_python(output)
    return output.root if isinstance(output, RootModel) else output


class Node(MLModel):
    """One node: a name, a type, children, and counters; ``run`` does the node's work."""

    kind: NodeType = NodeType.MODEL

    def __init__(self, name: str, children: Sequence[Any]) -> None:
        self.name = name
        self.children = list(children)
        self.stats = NodeStats()

    def __repr__(self) -> str:
        return f"{self.kind.value}({self.name})"

    @property
    def display_name(self) -> str:
        return self.name

    @property
    def qualified_name(self) -> str:
        return self.name

    @property
    def description(self) -> str:
        return f"{self.kind.value} node {self.name}"

    @property
    def version(self) -> str:
        return "1"

    def predict(self, data: Any) -> Any:
        started = time.perf_counter()
        failed = True
        try:
            output = self.run(data)
            failed = False
            return output
        finally:
            self.stats.add(time.perf_counter() - started, failed)

    def run(self, data: Any) -> Any:
        raise NotImplementedError

    def parts(self) -> list[Any]:
        """The objects this node runs besides its children (a model, a router...), for feedback and close."""
        return []

    def call(self, child: Any, value: Any) -> Any:
        """``child.predict`` on ``value`` converted to the child's input schema."""
        try:
            data = convert(value, child.input_schema)
        except ValidationError as exc:
            raise PredictionError(f"graph node '{self.name}' passed a value that the input schema of "
                                  f"'{child.qualified_name}' refuses: {exc.errors(include_url=False)[:3]}") from None
        return child.predict(data)


class ComponentNode(Node):
    """MODEL and TRANSFORMER: the component predicts; its answer goes to the child, if any."""

    def __init__(self, name: str, kind: NodeType, component: Any, children: Sequence[Any]) -> None:
        super().__init__(name, children)
        self.kind = kind
        self.component = component

    @property
    def qualified_name(self) -> str:
        """The component's name, so a decorator at the node (a policy) sees the model it is about."""
        return str(self.component.qualified_name)

    @property
    def version(self) -> str:
        return str(self.component.version)

    @property
    def input_schema(self) -> type[BaseModel]:
        return self.component.input_schema  # type: ignore[no-any-return]

    @property
    def output_schema(self) -> Any:
        return self.children[0].output_schema if self.children else self.component.output_schema

    @cached_property
    def _adapter(self) -> TypeAdapter[Any]:
        return TypeAdapter(self.component.output_schema)

    def run(self, data: Any) -> Any:
        output = unwrap_output(self.component.predict(data), lambda: self._adapter)
        if not self.children or isinstance(output, PredictionNotAvailable):
            return output
        return self.call(self.children[0], output)

    def parts(self) -> list[Any]:
        return [self.component]


class OutputTransformerNode(Node):
    """OUTPUT_TRANSFORMER: the child answers first; the component transforms that answer."""

    kind = NodeType.OUTPUT_TRANSFORMER

    def __init__(self, name: str, component: Any, child: Any) -> None:
        super().__init__(name, [child])
        self.component = component

    @property
    def version(self) -> str:
        return str(self.component.version)

    @property
    def input_schema(self) -> type[BaseModel]:
        return self.children[0].input_schema  # type: ignore[no-any-return]

    @property
    def output_schema(self) -> Any:
        return self.component.output_schema

    @cached_property
    def _adapter(self) -> TypeAdapter[Any]:
        return TypeAdapter(self.component.output_schema)

    def run(self, data: Any) -> Any:
        answer = self.children[0].predict(data)
        if isinstance(answer, PredictionNotAvailable):
            return answer
        answer = unwrap_output(answer, lambda: TypeAdapter(self.children[0].output_schema))
        try:
            transformed = convert(answer, self.component.input_schema)
        except ValidationError as exc:
            raise PredictionError(f"graph node '{self.name}': the answer of its child does not fit its "
                                  f"input schema: {exc.errors(include_url=False)[:3]}") from None
        return unwrap_output(self.component.predict(transformed), lambda: self._adapter)

    def parts(self) -> list[Any]:
        return [self.component]


class FanOutNode(Node):
    """A node whose children all take the node's own input (router, combiner, shadow, detector)."""

    @property
    def qualified_name(self) -> str:
        """The children's model name when they all serve one (a champion and its challenger), else the node's.

        A detector or policy in front of a router over versions of one model then sees that model.
        """
        names = {str(child.qualified_name) for child in self.children}
        return names.pop() if len(names) == 1 else self.name

    @property
    def input_schema(self) -> type[BaseModel]:
        return self.children[0].input_schema  # type: ignore[no-any-return]

    @property
    def output_schema(self) -> Any:
        return self.children[0].output_schema

    def pass_on(self, child: Any, data: Any) -> Any:
        return child.predict(data) if isinstance(data, child.input_schema) else self.call(child, data)


class RouterNode(FanOutNode):
    """ROUTER: one child answers, chosen by the router from the arms' shared stats."""

    kind = NodeType.ROUTER

    def __init__(self, name: str, graph: str, router: Router, children: Sequence[Any], store: StateStore,
                 child_names: Sequence[str]) -> None:
        super().__init__(name, children)
        self.graph = graph
        self.router = router
        self.store = store
        self.child_names = list(child_names)
        self.routes = [0] * len(self.children)

    def choose(self, data: Any) -> int:
        """The arm for this request: the one already chosen for it (a batch), else the router's choice."""
        meta = response_metadata.get()
        routing = meta.setdefault("routing", {}) if meta is not None else None
        if isinstance(routing, dict) and isinstance(routing.get(self.name), int):
            return int(routing[self.name])
        count = len(self.children)
        arms = self.store.arms(self.graph, self.name, count) if self.router.reads_state else []
        rid = current_request_id()
        arm = self.router.choose(arms, data, rid)
        if not isinstance(arm, int) or not 0 <= arm < count:
            raise PredictionError(f"graph node '{self.name}': the router chose {arm!r}, not a child index "
                                  f"(0 to {count - 1})")
        with self.stats.lock:
            self.routes[arm] += 1
        if isinstance(routing, dict):
            routing[self.name] = arm
            if rid is not None and not mirroring.get():
                self.store.record_route(self.graph, rid, routing)
        return arm

    def run(self, data: Any) -> Any:
        return self.pass_on(self.children[self.choose(data)], data)

    def parts(self) -> list[Any]:
        return [self.router]


class CombinerNode(FanOutNode):
    """COMBINER: every child answers; the combiner makes one answer (a denial by any child wins)."""

    kind = NodeType.COMBINER

    def __init__(self, name: str, combiner: Combiner, children: Sequence[Any]) -> None:
        super().__init__(name, children)
        self.combiner = combiner

    @property
    def output_schema(self) -> Any:
        return self.combiner.output_schema or payload_schema(self.children[0].output_schema)

    def run(self, data: Any) -> Any:
        outputs = []
        for child in self.children:
            answer = self.pass_on(child, data)
            if isinstance(answer, PredictionNotAvailable):
                return answer
            outputs.append(answer.root if isinstance(answer, RootModel) else answer)
        try:
            return self.combiner.aggregate(outputs)
        except ModelwardError:
            raise
        except Exception as exc:
            logger.exception("combiner of graph node %s failed", self.name)
            raise PredictionError(f"graph node '{self.name}': {type(self.combiner).__name__}.aggregate raised "
                                  f"{type(exc).__name__}; the service log has the details") from exc

    def parts(self) -> list[Any]:
        return [self.combiner]


class DetectorNode(FanOutNode):
    """OUTLIER_DETECTOR: a decorator-like detector wrapped around the child (it scores, tags or refuses)."""

    kind = NodeType.OUTLIER_DETECTOR

    def __init__(self, name: str, detector: Any, child: Any) -> None:
        super().__init__(name, [child])
        self.detector = detector

    @property
    def output_schema(self) -> Any:
        return self.detector.output_schema

    def run(self, data: Any) -> Any:
        return self.detector.predict(data)

    def parts(self) -> list[Any]:
        return [self.detector]


class ShadowLog:
    """Shadow answers appended as JSON lines (one ``write`` per record, so processes may share the file)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, record: dict[str, Any]) -> None:
        line = orjson.dumps(record, default=str) + b"\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        except OSError as exc:
            logger.error("cannot record a shadow answer in %s: %s", self.path, exc.strerror)


class ShadowNode(FanOutNode):
    """SHADOW: the first child answers; the others get the same input, their answers logged, not returned."""

    kind = NodeType.SHADOW

    def __init__(self, name: str, graph: str, children: Sequence[Any], child_names: Sequence[str],
                 log: ShadowLog, wait: bool = False) -> None:
        super().__init__(name, children)
        self.graph = graph
        self.child_names = list(child_names)
        self.log = log
        self.wait = wait
        self.outcomes: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._pool = None if wait else ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"shadow-{name}")

    def run(self, data: Any) -> Any:
        answer = self.pass_on(self.children[0], data)
        context = contextvars.copy_context()
        if self._pool is None:
            context.run(self._mirror, data, current_request_id())
        else:
            self._pool.submit(context.run, self._mirror, data, current_request_id())
        return answer

    def _mirror(self, data: Any, rid: str | None) -> None:
        mirroring.set(True)
        request_id.set(rid)
        for index in range(1, len(self.children)):
            self._one(index, data, rid)

    def _one(self, index: int, data: Any, rid: str | None) -> None:
        name = self.child_names[index]
        meta: dict[str, Any] = {}
        response_metadata.set(meta)
        started = time.perf_counter()
        record: dict[str, Any] = {"time": time.time(), "graph": self.graph, "node": self.name, "shadow": name,
                                  "request_id": rid, "input": data.model_dump(mode="json")}
        try:
            answer = self.pass_on(self.children[index], data)
            record["output"] = answer.model_dump(mode="json") if isinstance(answer, BaseModel) else answer
            record["meta"] = meta
            outcome = "denied" if isinstance(answer, PredictionNotAvailable) else "ok"
        except Exception as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
            outcome = "error"
        record["seconds"] = time.perf_counter() - started
        with self._lock:
            self.outcomes[(name, outcome)] = self.outcomes.get((name, outcome), 0) + 1
        self.log.write(record)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
