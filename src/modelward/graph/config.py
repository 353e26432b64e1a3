"""The ``graph:`` of a model endpoint in the service config: nodes, their types and children.

```yaml
models:
  - name: insurance_graph
    graph:
      name: bandit
      type: ROUTER
      implementation: THOMPSON_SAMPLING        # or class_path: my.routers.MyRouter
      configuration: {reward: bernoulli}
      children:
        - {name: champion, type: MODEL, class_path: insurance_charges.model.InsuranceChargesModel}
        - {name: challenger, type: MODEL, class_path: insurance_charges.model.InsuranceChargesModel,
           configuration: {...}, decorators: [{class_path: modelward.policy.PolicyDecorator, ...}]}
    state: {type: sqlite}                      # or {type: redis, url: "redis://127.0.0.1:6379/0"}
```

Structure is checked here (names, types, child counts); what needs the node classes (schemas
between connected nodes) is checked when the graph is built (``modelward.graph.build``).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class NodeType(str, Enum):
    """What a node does with its input and its children (Seldon Core's graph vocabulary, plus SHADOW)."""

    MODEL = "MODEL"
    TRANSFORMER = "TRANSFORMER"
    OUTPUT_TRANSFORMER = "OUTPUT_TRANSFORMER"
    ROUTER = "ROUTER"
    COMBINER = "COMBINER"
    OUTLIER_DETECTOR = "OUTLIER_DETECTOR"
    SHADOW = "SHADOW"


#: (fewest, most) children of each node type; ``None``: no upper bound
CHILDREN: dict[NodeType, tuple[int, int | None]] = {
    NodeType.MODEL: (0, 1),
    NodeType.TRANSFORMER: (1, 1),
    NodeType.OUTPUT_TRANSFORMER: (1, 1),
    NodeType.ROUTER: (2, None),
    NodeType.COMBINER: (2, None),
    NodeType.OUTLIER_DETECTOR: (1, 1),
    NodeType.SHADOW: (2, None),
}

#: node types that run a class of their own (``class_path``); routers and combiners may name a built-in
NEEDS_CLASS = frozenset({NodeType.MODEL, NodeType.TRANSFORMER, NodeType.OUTPUT_TRANSFORMER,
                         NodeType.OUTLIER_DETECTOR})
BUILTIN = frozenset({NodeType.ROUTER, NodeType.COMBINER})


class NodeDecoratorConfig(BaseModel):
    """One decorator around a node (the first listed is innermost)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    class_path: str = Field(description="Import path of the decorator class.")
    configuration: dict[str, Any] | None = Field(default=None, description="Keyword arguments of its __init__.")


class NodeConfig(BaseModel):
    """One node of an inference graph."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$",
                      description="Unique within the graph; names the node in metadata, metrics and errors.")
    type: str = Field(description="MODEL, TRANSFORMER, OUTPUT_TRANSFORMER, ROUTER, COMBINER, OUTLIER_DETECTOR "
                      "or SHADOW.")
    class_path: str | None = Field(
        default=None, description="Import path of the node's class: an MLModel (MODEL, TRANSFORMER, "
        "OUTPUT_TRANSFORMER), a decorator-like class with set_model() (OUTLIER_DETECTOR), a Router or "
        "Combiner subclass (ROUTER, COMBINER).")
    implementation: str | None = Field(
        default=None, description="A built-in router (AB_TEST, EPSILON_GREEDY, THOMPSON_SAMPLING) or combiner "
        "(AVERAGE, WEIGHTED_AVERAGE, MAJORITY_VOTE) instead of class_path.")
    configuration: dict[str, Any] | None = Field(default=None, description="Keyword arguments of the class.")
    decorators: list[NodeDecoratorConfig] | None = Field(
        default=None, description="Decorators around the node (the policy decorator, a cache...).")
    children: list[NodeConfig] = Field(default_factory=list, description="The nodes under this one.")

    @property
    def node_type(self) -> NodeType:
        return NodeType(self.type)


class SqliteStateConfig(BaseModel):
    """Router state in a SQLite file (WAL): shared by every server process on one machine."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["sqlite"] = Field(default="sqlite", description="A SQLite file (WAL).")
    path: Path | None = Field(default=None, description="The database file; default: <data_dir>/graph-state.db.")
    route_ttl: float = Field(default=7 * 86400, gt=0,
                             description="Seconds a prediction's route is kept for feedback by request id.")


class RedisStateConfig(BaseModel):
    """Router state in Redis: shared by every replica that reaches it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["redis"] = Field(description="Redis.")
    url: str = Field(default="redis://127.0.0.1:6379/0", description="Redis URL.")
    prefix: str = Field(default="modelward:graph:", description="Prefix of every key the graph writes.")
    timeout: float = Field(default=1.0, gt=0, description="Seconds to wait for Redis.")
    route_ttl: float = Field(default=7 * 86400, gt=0,
                             description="Seconds a prediction's route is kept for feedback by request id.")


StateConfig = Annotated[SqliteStateConfig | RedisStateConfig, Field(discriminator="type")]


class GraphConfig(BaseModel):
    """A whole graph: its endpoint name and version, the root node and where router state lives."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str | None = None
    description: str = ""
    root: NodeConfig
    state: SqliteStateConfig | RedisStateConfig = Field(default_factory=SqliteStateConfig)


def walk(node: NodeConfig, path: str = "graph") -> list[tuple[str, NodeConfig]]:
    """Every node with its key path (``graph.children[1]``), parents before children."""
    found = [(path, node)]
    for index, child in enumerate(node.children):
        found.extend(walk(child, f"{path}.children[{index}]"))
    return found


def check_structure(root: NodeConfig) -> None:
    """Names unique, types known, child counts and class/implementation keys right (``ValueError``)."""
    seen: dict[str, str] = {}
    for path, node in walk(root):
        where = f"{path} (node '{node.name}')"
        if node.name in seen:
            raise ValueError(f"{where}: the name '{node.name}' is already used by {seen[node.name]}; "
                             "node names must be unique in a graph")
        seen[node.name] = path
        try:
            kind = node.node_type
        except ValueError:
            known = ", ".join(t.value for t in NodeType)
            raise ValueError(f"{where}: unknown node type '{node.type}' (known: {known})") from None
        fewest, most = CHILDREN[kind]
        count = len(node.children)
        if count < fewest or (most is not None and count > most):
            wanted = f"exactly {fewest}" if fewest == most else (
                f"at least {fewest}" if most is None else f"{fewest} to {most}")
            raise ValueError(f"{where}: a {kind.value} node takes {wanted} child(ren), it has {count}")
        _check_class_keys(node, kind, where)


def _check_class_keys(node: NodeConfig, kind: NodeType, where: str) -> None:
    if node.class_path is not None and node.implementation is not None:
        raise ValueError(f"{where}: give class_path or implementation, not both")
    if kind in NEEDS_CLASS and node.class_path is None:
        raise ValueError(f"{where}: a {kind.value} node needs a class_path")
    if kind in BUILTIN and node.class_path is None and node.implementation is None:
        raise ValueError(f"{where}: a {kind.value} node needs an implementation (a built-in) or a class_path")
    if kind not in BUILTIN and node.implementation is not None:
        raise ValueError(f"{where}: implementation is only for ROUTER and COMBINER nodes")
    if kind is NodeType.SHADOW and node.class_path is not None:
        raise ValueError(f"{where}: a SHADOW node has no class_path: its first child answers, the others "
                         "are mirrored")
