"""Build a running ``InferenceGraph`` from its config, checking every edge's schemas.

Classes are imported and constructed by a ``NodeFactory`` that the caller passes (the services
layer's loader: the same import, construction and decorator rules as a served model). Every problem
is one ``ConfigurationError`` naming the node by its key path and name.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Protocol

import orjson
from pydantic import BaseModel

from modelward.errors import ConfigurationError
from modelward.graph.combiners import BUILTIN_COMBINERS, Combiner
from modelward.graph.config import GraphConfig, NodeConfig, NodeDecoratorConfig, NodeType, check_structure
from modelward.graph.graph import InferenceGraph
from modelward.graph.nodes import (
    CombinerNode,
    ComponentNode,
    DetectorNode,
    Node,
    OutputTransformerNode,
    RouterNode,
    ShadowLog,
    ShadowNode,
)
from modelward.graph.routers import BUILTIN_ROUTERS, Router
from modelward.graph.schemas import mismatch, payload_schema
from modelward.graph.state import StateStore, open_store


class NodeFactory(Protocol):
    """What the graph needs from the loader: construct classes, models and decorator chains."""

    def instance(self, class_path: str, configuration: dict[str, Any] | None, where: str) -> Any:
        """Import ``class_path`` and construct it with ``configuration``."""

    def model(self, class_path: str, configuration: dict[str, Any] | None, where: str) -> Any:
        """Import and construct an ``MLModel`` (or a component served as one)."""

    def decorate(self, model: Any, decorators: list[NodeDecoratorConfig], where: str) -> Any:
        """Wrap ``model`` in ``decorators`` (the first listed innermost)."""


class _Builder:
    def __init__(self, config: GraphConfig, factory: NodeFactory, data_dir: Path, store: StateStore,
                 where: str) -> None:
        self.config = config
        self.factory = factory
        self.data_dir = data_dir
        self.store = store
        self.where = where
        self.nodes: dict[str, Node] = {}
        self.entries: dict[str, Any] = {}

    def build(self, node: NodeConfig, path: str) -> Any:
        where = f"{self.where}.{path} (node '{node.name}')"
        children = [self.build(child, f"{path}.children[{i}]") for i, child in enumerate(node.children)]
        built = self._node(node, children, where)
        entry = self.factory.decorate(built, list(node.decorators or []), where)
        self.nodes[node.name] = built
        self.entries[node.name] = entry
        return entry

    def _node(self, node: NodeConfig, children: list[Any], where: str) -> Node:
        kind = node.node_type
        names = [child.name for child in node.children]
        if kind in (NodeType.MODEL, NodeType.TRANSFORMER):
            component = self._component(node, where)
            if children:
                _edge(component.output_schema, children[0], where, names[0])
            return ComponentNode(node.name, kind, component, children)
        if kind is NodeType.OUTPUT_TRANSFORMER:
            component = self._component(node, where)
            problem = mismatch(children[0].output_schema, component.input_schema)
            if problem is not None:
                raise ConfigurationError(f"{where}: the answer of child '{names[0]}' does not fit this node's "
                                         f"input: {problem}")
            return OutputTransformerNode(node.name, component, children[0])
        _same_input(children, names, where)
        if kind is NodeType.ROUTER:
            router = self._router(node, children, names, where)
            _same_output(children, names, where)
            return RouterNode(node.name, self.config.name, router, children, self.store, names)
        if kind is NodeType.COMBINER:
            _same_output(children, names, where)
            return CombinerNode(node.name, self._combiner(node, children, names, where), children)
        if kind is NodeType.SHADOW:
            return self._shadow(node, children, names, where)
        return DetectorNode(node.name, self._detector(node, children[0], where), children[0])

    def _component(self, node: NodeConfig, where: str) -> Any:
        return self.factory.model(node.class_path or "", node.configuration, where)

    def _router(self, node: NodeConfig, children: list[Any], names: list[str], where: str) -> Router:
        router: Router = self._builtin_or_class(node, BUILTIN_ROUTERS, Router, "route", where)
        try:
            router.setup(names, children[0].input_schema)
        except ValueError as exc:
            raise ConfigurationError(f"{where}.configuration: {exc}") from None
        return router

    def _combiner(self, node: NodeConfig, children: list[Any], names: list[str], where: str) -> Combiner:
        combiner: Combiner = self._builtin_or_class(node, BUILTIN_COMBINERS, Combiner, "combine", where)
        try:
            combiner.setup(names, payload_schema(children[0].output_schema))
        except ValueError as exc:
            raise ConfigurationError(f"{where}.configuration: {exc}") from None
        return combiner

    def _builtin_or_class(self, node: NodeConfig, builtins: dict[str, Any], base: type, verb: str,
                          where: str) -> Any:
        if node.implementation is not None:
            cls = builtins.get(node.implementation)
            if cls is None:
                raise ConfigurationError(f"{where}.implementation: unknown '{node.implementation}' (known: "
                                         f"{', '.join(builtins)})")
            try:
                return cls(**(node.configuration or {}))
            except (TypeError, ValueError) as exc:
                raise ConfigurationError(f"{where}.configuration: {exc}") from None
        instance = self.factory.instance(node.class_path or "", node.configuration, where)
        if not isinstance(instance, base):
            raise ConfigurationError(f"{where}.class_path: '{node.class_path}' is not a {base.__name__} (subclass "
                                     f"modelward.graph.{base.__name__} to {verb})")
        return instance

    def _detector(self, node: NodeConfig, child: Any, where: str) -> Any:
        detector = self.factory.decorate(child, [NodeDecoratorConfig(class_path=node.class_path or "",
                                                                     configuration=node.configuration)], where)
        if detector is child:
            raise ConfigurationError(f"{where}.class_path: '{node.class_path}' did not wrap the child")
        return detector

    def _shadow(self, node: NodeConfig, children: list[Any], names: list[str], where: str) -> ShadowNode:
        options = dict(node.configuration or {})
        unknown = sorted(set(options) - {"log", "wait"})
        if unknown:
            raise ConfigurationError(f"{where}.configuration: unknown key(s) {', '.join(unknown)} (known: log, wait)")
        log = Path(options.get("log") or self.data_dir / f"shadow-{self.config.name}.jsonl")
        return ShadowNode(node.name, self.config.name, children, names, ShadowLog(log), bool(options.get("wait")))


def _edge(produced: Any, child: Any, where: str, child_name: str) -> None:
    problem = mismatch(produced, child.input_schema)
    if problem is not None:
        raise ConfigurationError(f"{where}: child '{child_name}' cannot take this node's answer: {problem}")


def _same_input(children: list[Any], names: list[str], where: str) -> None:
    for child, name in zip(children[1:], names[1:], strict=True):
        problem = mismatch(children[0].input_schema, child.input_schema)
        if problem is not None:
            raise ConfigurationError(f"{where}: child '{name}' cannot take the input this node passes "
                                     f"(that of '{names[0]}'): {problem}")


def _same_output(children: list[Any], names: list[str], where: str) -> None:
    first = payload_schema(children[0].output_schema)
    if not (isinstance(first, type) and issubclass(first, BaseModel)):
        return
    for child, name in zip(children[1:], names[1:], strict=True):
        problem = mismatch(child.output_schema, first)
        if problem is not None:
            raise ConfigurationError(f"{where}: child '{name}' answers differently from '{names[0]}': {problem}")


def graph_version(config: GraphConfig, nodes: dict[str, Node]) -> str:
    """The configured version, else a digest of the graph's config and of every node's version."""
    if config.version:
        return config.version
    document = {"graph": config.root.model_dump(mode="json"),
                "versions": {name: str(node.version) for name, node in nodes.items()}}
    return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()[:12]


def build_graph(config: GraphConfig, factory: NodeFactory, data_dir: Path, where: str = "graph") -> InferenceGraph:
    """The running graph of ``config``; its router state in ``config.state`` (SQLite under ``data_dir``)."""
    try:
        check_structure(config.root)
    except ValueError as exc:
        raise ConfigurationError(f"{where}.{exc}") from None
    store = open_store(config.state, data_dir)
    builder = _Builder(config, factory, data_dir, store, where)
    try:
        root = builder.build(config.root, "graph")
    except BaseException:
        store.close()
        raise
    description = config.description or f"Inference graph {config.name} ({len(builder.nodes)} nodes)"
    return InferenceGraph(config.name, graph_version(config, builder.nodes), description, root, builder.nodes,
                          builder.entries, store)
