"""``InferenceGraph``: a whole graph as one ``MLModel``, so every protocol serves it unchanged.

Predictions walk the nodes in process. Feedback finds the route the prediction took (the answer's
``routing`` metadata, copied into the feedback as Seldon does, or the routes kept by request id),
adds the reward to the arm each router chose, and reaches the layers on that route that want
feedback. Counters per node, route and shadow are reported through ``metric_samples``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from modelward.errors import RequestError
from modelward.graph.nodes import DetectorNode, Node, RouterNode, ShadowNode
from modelward.graph.schemas import may_deny, or_denied
from modelward.graph.state import StateStore
from modelward.model import Feedback, MLModel, receives_feedback

logger = logging.getLogger(__name__)

Sample = tuple[str, str, dict[str, str], float]


def layers(top: Any, stop: Any = None) -> Iterator[Any]:
    """``top`` and every object under it through ``_model`` links, up to (not including) ``stop``."""
    layer = top
    while layer is not None and layer is not stop:
        yield layer
        layer = getattr(layer, "__dict__", {}).get("_model")


def part_layers(node: Node) -> Iterator[Any]:
    """The layers of what a node runs (a model and its decorators, a router, a detector), not its children."""
    stop = node.children[0] if node.children else None
    for part in node.parts():
        yield from layers(part, stop)


class InferenceGraph(MLModel):
    """A graph of nodes served as one model (see the module docstring)."""

    def __init__(self, name: str, version: str, description: str, root: Any, nodes: dict[str, Node],
                 entries: dict[str, Any], store: StateStore) -> None:
        self._name = name
        self._version = version
        self._description = description
        self.root = root
        self.nodes = nodes
        self.entries = entries  # what a parent calls: the node, or the outermost decorator around it
        self.store = store
        self.routers = {n: node for n, node in nodes.items() if isinstance(node, RouterNode)}
        self._output = or_denied(root.output_schema) if self._any_may_deny() else root.output_schema

    def __repr__(self) -> str:
        return f"InferenceGraph({self._name}: {self.root!r})"

    def _any_may_deny(self) -> bool:
        """Whether some layer may answer ``PredictionNotAvailable``: it says so, or it is a decorator or detector."""
        if may_deny(self.root.output_schema):
            return False  # the root's schema already says it
        return any(entry is not self.nodes[name] or isinstance(self.nodes[name], DetectorNode)
                   or any(may_deny(getattr(layer, "output_schema", None))
                          for layer in [*layers(entry), *part_layers(self.nodes[name])])
                   for name, entry in self.entries.items())

    @property
    def display_name(self) -> str:
        return self._name

    @property
    def qualified_name(self) -> str:
        return self._name

    @property
    def description(self) -> str:
        return self._description

    @property
    def version(self) -> str:
        return self._version

    @property
    def input_schema(self) -> type[BaseModel]:
        return self.root.input_schema  # type: ignore[no-any-return]

    @property
    def output_schema(self) -> Any:
        return self._output

    def predict(self, data: Any) -> Any:
        return self.root.predict(data)

    # --- feedback ------------------------------------------------------------------------------

    def resolve_routing(self, feedback: Feedback) -> dict[str, Any]:
        """The routes a piece of feedback is about: its ``routing``, else the routes kept for its request id."""
        routing = {k: v for k, v in feedback.routing.items() if k in self.routers}
        if not routing and self.routers and feedback.request_id:
            routing = self.store.route(self._name, feedback.request_id)
        for router, arm in routing.items():
            count = len(self.routers[router].children)
            if isinstance(arm, bool) or not isinstance(arm, int) or not 0 <= arm < count:
                raise RequestError(f"feedback.routing.{router}: expected a child index of router '{router}' "
                                   f"(0 to {count - 1}), got {arm!r}")
        return {**feedback.routing, **routing}

    def route_label(self, routing: dict[str, Any]) -> str:
        """The route as a metric label: ``router=child`` for every router that chose, in node order."""
        parts = [f"{name}={node.child_names[routing[name]]}" for name, node in self.routers.items()
                 if isinstance(routing.get(name), int)]
        return ",".join(parts)

    def receive_feedback(self, feedback: Feedback) -> None:
        """Add the reward to every arm on the feedback's route, then hand it to the layers on that route."""
        routing = self.resolve_routing(feedback)
        chosen = {k: v for k, v in routing.items() if k in self.routers}
        if self.routers and not chosen and feedback.reward is not None:
            raise RequestError(
                f"feedback for graph '{self._name}' does not say which route the prediction took: give "
                f"'routing' (the answer's metadata, e.g. {{\"{next(iter(self.routers))}\": 0}}) or the "
                "prediction's request id")
        if feedback.reward is not None:
            for router in chosen:
                problem = self.routers[router].router.check_reward(feedback.reward)
                if problem is not None:
                    raise RequestError(f"feedback.reward: router '{router}': {problem}")
            for router, arm in chosen.items():
                self.store.reward(self._name, router, arm, feedback.reward)
        for layer in self._on_route(chosen):
            if receives_feedback(layer):
                layer.receive_feedback(feedback)

    def _on_route(self, routing: dict[str, int]) -> Iterator[Any]:
        pending = [self.root]
        while pending:
            entry = pending.pop(0)
            node = self._node_of(entry)
            yield from layers(entry, node)
            if node is None:
                continue
            yield from part_layers(node)
            if isinstance(node, RouterNode):
                if node.name in routing:
                    pending.append(node.children[routing[node.name]])
            else:
                pending.extend(node.children)

    def _node_of(self, entry: Any) -> Node | None:
        for layer in layers(entry):
            if isinstance(layer, Node):
                return layer
        return None

    # --- metrics and shutdown ------------------------------------------------------------------

    def metric_samples(self) -> list[Sample]:
        """Per-node calls, errors and seconds; routes taken; shadow outcomes; the nodes' own layers' samples."""
        samples: list[Sample] = []
        for name, node in self.nodes.items():
            labels = {"model_name": self._name, "node": name, "node_type": node.kind.value}
            samples.append(("modelward_graph_node_calls_total", "Calls of a graph node.", labels, node.stats.calls))
            samples.append(("modelward_graph_node_errors_total", "Calls of a graph node that raised.", labels,
                            node.stats.errors))
            samples.append(("modelward_graph_node_seconds_total", "Seconds spent in a graph node (its children "
                            "included).", labels, node.stats.seconds))
            if isinstance(node, RouterNode):
                for arm, count in enumerate(node.routes):
                    samples.append(("modelward_graph_routes_total", "Requests a router sent to each child.",
                                    {"model_name": self._name, "router": name, "route": node.child_names[arm]},
                                    count))
            if isinstance(node, ShadowNode):
                for (shadow, outcome), count in node.outcomes.items():
                    samples.append(("modelward_graph_shadow_total", "Mirrored requests by shadow and outcome.",
                                    {"model_name": self._name, "node": name, "shadow": shadow,
                                     "outcome": outcome}, count))
        for layer in self._owned_layers():
            report = getattr(type(layer), "metric_samples", None)
            if callable(report):
                samples.extend(report(layer))
        return samples

    def _owned_layers(self) -> Iterator[Any]:
        """Every decorator and component inside the graph (not the nodes themselves)."""
        for name, node in self.nodes.items():
            yield from layers(self.entries[name], node)
            yield from part_layers(node)

    def health_problems(self) -> list[str]:
        """What the layers inside the graph report as wrong (a policy engine down, a log that cannot be written)."""
        found: list[str] = []
        for layer in self._owned_layers():
            report = getattr(type(layer), "health_problems", None)
            if callable(report):
                found.extend(f"graph {self._name}: {problem}" for problem in report(layer))
        return found

    def close(self) -> None:
        """Close every layer inside the graph that has ``close()``, the shadows, and the state store."""
        for layer in [*self._owned_layers(), *self.nodes.values()]:
            closer = getattr(type(layer), "close", None)
            if callable(closer):
                try:
                    closer(layer)
                except Exception:
                    logger.exception("closing %r failed", layer)
        self.store.close()
