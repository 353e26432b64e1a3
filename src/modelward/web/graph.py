"""The lineage of a version laid out for an inline SVG: dataset → code → artifact → version → deployments.

A pure function of the catalog's ``Lineage``: five columns of boxes and the edges between them.
Labels are plain text (the template escapes them); long ones are cut, the full text is the title.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from modelward import catalog as c

COLUMNS = ("dataset", "code", "artifact", "version", "deployment")
BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN = 190, 54, 46, 18, 16
MAX_DEPLOYMENTS = 40
LABEL = 26


@dataclass(frozen=True)
class Node:
    """One box: what it is, its two lines of text, where it links, and its place."""

    id: str
    kind: str
    label: str
    sublabel: str
    title: str
    href: str
    x: int
    y: int
    status: str = ""


@dataclass(frozen=True)
class Edge:
    """An arrow from one box's right side to another's left side (an SVG path)."""

    source: str
    target: str
    path: str
    kind: str


@dataclass(frozen=True)
class Graph:
    """The laid-out lineage."""

    width: int
    height: int
    nodes: list[Node]
    edges: list[Edge]
    hidden: int  # deployments not drawn (past MAX_DEPLOYMENTS)
    box_w: int = BOX_W
    box_h: int = BOX_H


def cut(text: str, length: int = LABEL) -> str:
    """``text`` cut to ``length`` characters with an ellipsis."""
    return text if len(text) <= length else text[: length - 1] + "…"


def _tail(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1] or uri


@dataclass(frozen=True)
class _Box:
    id: str
    label: str
    sublabel: str
    title: str
    href: str = ""
    status: str = ""


def _columns(graph: c.Lineage, version_href: str,
             deployment_href: Callable[[str], str]) -> dict[str, list[_Box]]:
    up = graph.upstream
    boxes: dict[str, list[_Box]] = {kind: [] for kind in COLUMNS}
    boxes["dataset"] = [_Box(f"dataset:{i}", cut(d.name), cut(d.digest or d.uri or "no digest"),
                             f"dataset {d.name} {d.uri} {d.digest}".strip()) for i, d in enumerate(up.datasets)]
    if up.code_repository:
        boxes["code"] = [_Box("code", cut(_tail(up.code_repository)), cut(f"commit {up.code_commit or '?'}"),
                              f"code {up.code_repository} @ {up.code_commit}")]
    boxes["artifact"] = [_Box("artifact", cut(_tail(up.artifact_uri) or "artifact"),
                              cut(f"key {up.signing_key_id or '(unsigned)'}"),
                              f"artifact {up.artifact_uri} {up.artifact_digest} signed by "
                              f"{up.signing_key_id or '(unsigned)'}")]
    boxes["version"] = [_Box("version", cut(f"{graph.model}"), cut(f"{graph.version} [{graph.stage}]"),
                             f"{graph.model}@{graph.version} [{graph.stage}]", version_href)]
    shown = graph.downstream[-MAX_DEPLOYMENTS:]  # the newest (they come oldest first)
    boxes["deployment"] = [_Box(f"deployment:{d.id}", cut(f"{d.status} · {d.target}/{d.environment or '-'}"),
                                cut(f"{d.deployed_at:%Y-%m-%d %H:%M} {d.id[:8]}"),
                                f"deployment {d.id} {d.status} {d.target}/{d.environment} "
                                f"{d.endpoint_url or d.host_detail}", deployment_href(d.id), d.status)
                           for d in reversed(shown)]
    return boxes


def layout(graph: c.Lineage, *, version_href: str, deployment_href: Callable[[str], str]) -> Graph:
    """Place the boxes in their columns, centred vertically, and draw the edges."""
    columns = _columns(graph, version_href, deployment_href)
    tallest = max(len(boxes) for boxes in columns.values())
    height = MARGIN * 2 + tallest * BOX_H + (tallest - 1) * GAP_Y
    nodes: list[Node] = []
    for index, kind in enumerate(COLUMNS):
        boxes = columns[kind]
        top = (height - (len(boxes) * BOX_H + max(len(boxes) - 1, 0) * GAP_Y)) // 2
        x = MARGIN + index * (BOX_W + GAP_X)
        nodes += [Node(b.id, kind, b.label, b.sublabel, b.title, b.href, x, top + i * (BOX_H + GAP_Y), b.status)
                  for i, b in enumerate(boxes)]
    width = MARGIN * 2 + len(COLUMNS) * BOX_W + (len(COLUMNS) - 1) * GAP_X
    return Graph(width, height, nodes, _edges(nodes), max(len(graph.downstream) - MAX_DEPLOYMENTS, 0))


def _edges(nodes: list[Node]) -> list[Edge]:
    by_kind: dict[str, list[Node]] = {kind: [] for kind in COLUMNS}
    for node in nodes:
        by_kind[node.kind].append(node)
    code, artifact, version = by_kind["code"], by_kind["artifact"], by_kind["version"]
    pairs: list[tuple[Node, Node, str]] = []
    for dataset in by_kind["dataset"]:
        pairs += [(dataset, (code or artifact)[0], "trained")]
    pairs += [(code[0], artifact[0], "built")] if code else []
    pairs.append((artifact[0], version[0], "packaged"))
    pairs += [(version[0], d, "deployed") for d in by_kind["deployment"]]
    return [Edge(a.id, b.id, _path(a, b), kind) for a, b, kind in pairs]


def _path(a: Node, b: Node) -> str:
    x1, y1 = a.x + BOX_W, a.y + BOX_H // 2
    x2, y2 = b.x - 4, b.y + BOX_H // 2
    middle = (x1 + x2) // 2
    return f"M{x1},{y1} C{middle},{y1} {middle},{y2} {x2},{y2}"
