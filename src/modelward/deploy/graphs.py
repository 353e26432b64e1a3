"""A deployment's inference graph, as the renderers see it: a tree of plain node mappings.

The node tree is the service config's ``graph:`` (``modelward.graph.config`` checks it fully when
it is built; ``deploy`` may not import ``graph``, so this module reads only what rendering needs:
``name``, ``type``, ``implementation``, ``configuration``, ``children``). Every function is pure.

- ``node_env(node)``: the environment names a node's configuration refers to for its own package
  (``${MODEL_PACKAGE_CHAMPION}``, ``${MODEL_VERSION_CHAMPION}``, ``${MODEL_FILES_CHAMPION}``).
- ``seldon_summary(root)``: the tree without classes or configuration, for an annotation.
- ``kserve_plan(root)``: how the tree maps onto a KServe InferenceGraph, or why it cannot.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from modelward.errors import ConfigurationError

NODE_TYPES = ("MODEL", "TRANSFORMER", "OUTPUT_TRANSFORMER", "ROUTER", "COMBINER", "OUTLIER_DETECTOR", "SHADOW")
#: routers that learn from feedback: KServe's InferenceGraph has no feedback path to them
BANDITS = frozenset({"EPSILON_GREEDY", "THOMPSON_SAMPLING"})
FIXED_SPLITS = frozenset({"AB_TEST", "RANDOM_ABTEST"})
_NOT_ENV = re.compile(r"[^A-Z0-9]")
_NOT_DNS = re.compile(r"[^a-z0-9-]")


def nodes(root: dict[str, Any], path: str = "graph") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every node with its key path, parents first; ``ConfigurationError`` for a malformed node."""
    if not isinstance(root, dict):
        raise ConfigurationError(f"{path}: a node must be a mapping, not {type(root).__name__}")
    name, kind = root.get("name"), root.get("type")
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"{path}: a node needs a name")
    if kind not in NODE_TYPES:
        raise ConfigurationError(f"{path} (node '{name}'): unknown node type {kind!r} (known: {', '.join(NODE_TYPES)})")
    yield path, root
    children = root.get("children") or []
    if not isinstance(children, list):
        raise ConfigurationError(f"{path} (node '{name}'): children must be a list")
    for index, child in enumerate(children):
        yield from nodes(child, f"{path}.children[{index}]")


def model_nodes(root: dict[str, Any]) -> list[str]:
    """The names of the MODEL nodes, in tree order."""
    return [node["name"] for _, node in nodes(root) if node["type"] == "MODEL"]


def env_suffix(node: str) -> str:
    """``champion`` → ``CHAMPION``, ``model-b.2`` → ``MODEL_B_2``."""
    return _NOT_ENV.sub("_", node.upper())


def node_env(node: str) -> dict[str, str]:
    """The variable names of one node's package, version and extracted files."""
    suffix = env_suffix(node)
    return {"package": f"MODEL_PACKAGE_{suffix}", "version": f"MODEL_VERSION_{suffix}",
            "files": f"MODEL_FILES_{suffix}"}


def dns_label(text: str, limit: int = 63) -> str:
    """``text`` as a DNS-1123 label (lower case, ``_`` and ``.`` as ``-``)."""
    label = _NOT_DNS.sub("-", text.lower()).strip("-")[:limit].strip("-")
    return label or "node"


def seldon_summary(root: dict[str, Any]) -> dict[str, Any]:
    """The tree as ``{name, type, implementation?, children?}`` (no classes, no configuration)."""
    summary: dict[str, Any] = {"name": root["name"], "type": root["type"]}
    if root.get("implementation"):
        summary["implementation"] = root["implementation"]
    elif root.get("class_path"):
        summary["class_path"] = root["class_path"]
    if root.get("children"):
        summary["children"] = [seldon_summary(child) for child in root["children"]]
    return summary


@dataclass(frozen=True)
class KServeStep:
    """One step of an InferenceGraph node: an InferenceService (a MODEL node) or another graph node."""

    name: str
    service: str | None = None  # the MODEL node served by its own InferenceService
    node: str | None = None  # another InferenceGraph node
    weight: int | None = None
    data: str | None = None  # "$response": the previous step's answer (Sequence)


@dataclass(frozen=True)
class KServeNode:
    """One InferenceGraph node: ``Sequence``, ``Splitter`` or ``Ensemble`` over its steps."""

    name: str
    router_type: str
    steps: tuple[KServeStep, ...]


@dataclass
class KServePlan:
    """The InferenceGraph's nodes (``root`` first), the MODEL nodes it calls, and what KServe leaves out."""

    nodes: list[KServeNode] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def kserve_plan(root: dict[str, Any]) -> KServePlan:
    """Map the tree onto an InferenceGraph; ``ConfigurationError`` naming the node KServe cannot express.

    MODEL → an InferenceService (a model with a child: a Sequence of both); TRANSFORMER → Sequence
    (transformer, then child); OUTPUT_TRANSFORMER → Sequence (child, then transformer); a fixed A/B
    ROUTER → Splitter (weights as percentages); COMBINER → Ensemble (KServe returns every child's
    answer keyed by step name: the combining function is not applied, a warning says so).
    Refused: bandit and custom routers (feedback cannot reach them), OUTLIER_DETECTOR and SHADOW
    (no InferenceGraph step wraps or mirrors another).
    """
    list(nodes(root))  # shape check first, with key paths
    plan = KServePlan()
    top = _step(root, plan, "graph")
    if top.node is None:  # a single model: the graph's root node is a Sequence of one step
        plan.nodes.insert(0, KServeNode("root", "Sequence", (top,)))
    else:
        index = next(i for i, n in enumerate(plan.nodes) if n.name == top.node)
        plan.nodes.insert(0, KServeNode("root", plan.nodes[index].router_type, plan.nodes.pop(index).steps))
    return plan


def _refuse(node: dict[str, Any], path: str, why: str) -> ConfigurationError:
    return ConfigurationError(
        f"{path} (node '{node['name']}'): a KServe InferenceGraph cannot express {why}; deploy this graph with "
        "target kubernetes or seldon (the whole graph in one pod)")


def _service(node: dict[str, Any], plan: KServePlan) -> KServeStep:
    plan.models.append(node)
    return KServeStep(name=dns_label(node["name"]), service=node["name"])


def _add(plan: KServePlan, node: dict[str, Any], router_type: str, steps: list[KServeStep]) -> KServeStep:
    name = dns_label(node["name"])
    plan.nodes.append(KServeNode(name, router_type, tuple(steps)))
    return KServeStep(name=name, node=name)


def _step(node: dict[str, Any], plan: KServePlan, path: str) -> KServeStep:
    kind, children = node["type"], node.get("children") or []
    _expressible(node, path)  # a node is judged before its children: the outermost problem is named
    below = [_step(child, plan, f"{path}.children[{i}]") for i, child in enumerate(children)]
    if kind == "MODEL":
        own = _service(node, plan)
        return own if not below else _add(plan, node, "Sequence", [own, _then(below[0])])
    if kind == "TRANSFORMER":
        return _add(plan, node, "Sequence", [_service(node, plan), _then(below[0])])
    if kind == "OUTPUT_TRANSFORMER":
        return _add(plan, node, "Sequence", [below[0], _then(_service(node, plan))])
    if kind == "ROUTER":
        return _add(plan, node, "Splitter", _split(node, below, path))
    plan.warnings.append(f"{path} (node '{node['name']}'): KServe's Ensemble answers every child's "
                         f"answer keyed by step name; the {node.get('implementation') or 'custom'} "
                         "combination is not applied")
    return _add(plan, node, "Ensemble", below)


def _expressible(node: dict[str, Any], path: str) -> None:
    kind = node["type"]
    if kind == "OUTLIER_DETECTOR":
        raise _refuse(node, path, "an OUTLIER_DETECTOR (a step that scores, tags or refuses around its child)")
    if kind == "SHADOW":
        raise _refuse(node, path, "a SHADOW (traffic mirrored to a candidate)")
    if kind != "ROUTER":
        return
    implementation = node.get("implementation")
    if implementation in BANDITS:
        raise _refuse(node, path, f"a {implementation} bandit (its learning needs the feedback KServe does not "
                                  "route to a router)")
    if implementation not in FIXED_SPLITS:
        raise _refuse(node, path, "a custom router class (only a fixed-weight split maps to a Splitter)")
    sticky = (node.get("configuration") or {}).get("sticky_by")
    if sticky:
        raise _refuse(node, path, f"a sticky split (sticky_by: {sticky}): a Splitter draws per request")


def _then(step: KServeStep) -> KServeStep:
    return KServeStep(step.name, step.service, step.node, step.weight, "$response")


def _split(node: dict[str, Any], below: list[KServeStep], path: str) -> list[KServeStep]:
    configuration = node.get("configuration") or {}
    return [KServeStep(s.name, s.service, s.node, w) for s, w in zip(below, percentages(
        configuration.get("weights"), len(below), node, path), strict=True)]


def percentages(weights: Any, count: int, node: dict[str, Any], path: str) -> list[int]:
    """Weights as whole percentages summing to 100 (KServe's Splitter); equal without weights."""
    values = [1.0] * count if weights is None else weights
    if not isinstance(values, list) or len(values) != count or not all(
            isinstance(w, (int, float)) and w >= 0 for w in values) or sum(values) <= 0:
        raise ConfigurationError(f"{path} (node '{node['name']}'): weights must be {count} non-negative numbers")
    total = float(sum(values))
    shares = [int(100 * w / total) for w in values]
    shares[max(range(count), key=lambda i: values[i])] += 100 - sum(shares)
    return shares
