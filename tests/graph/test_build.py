"""Building a graph from the service config: every mistake is one ConfigurationError naming the node."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from modelward.errors import ConfigurationError
from modelward.graph import InferenceGraph
from modelward.services.config import parse_config
from modelward.services.loader import build_models

ECHO = "tests.fixtures.EchoModel"


def graph_config(graph: str, extra: str = "") -> str:
    body = "\n".join("      " + line for line in graph.strip().splitlines())
    return f"models:\n  - name: g\n{extra}    graph:\n{body}\n"


def build(text: str, data_dir: Path) -> InferenceGraph:
    loaded = build_models(parse_config(text, source="svc.yaml"), source="svc.yaml", data_dir=data_dir)
    graph = loaded[0].model
    assert isinstance(graph, InferenceGraph)
    return graph


ROUTER_OF = """
name: r
type: ROUTER
implementation: AB_TEST
children:
  - {{name: a, type: MODEL, class_path: tests.fixtures.EchoModel}}
  - {{name: b, type: MODEL, class_path: {second}}}
"""


@pytest.mark.parametrize(("graph", "message"), [
    ("name: r\ntype: ROUTE\nclass_path: x.Y", "graph (node 'r'): unknown node type 'ROUTE' (known: MODEL,"),
    ("name: r\ntype: ROUTER\nimplementation: AB_TEST\nchildren:\n  - {name: a, type: MODEL, class_path: x.Y}",
     "graph (node 'r'): a ROUTER node takes at least 2 child(ren), it has 1"),
    ("name: t\ntype: TRANSFORMER\nclass_path: x.Y", "graph (node 't'): a TRANSFORMER node takes exactly 1 child"),
    ("name: r\ntype: COMBINER\nimplementation: AVERAGE\nchildren:\n  - {name: a, type: MODEL, class_path: x.Y}\n"
     "  - {name: a, type: MODEL, class_path: x.Y}",
     "graph.children[1] (node 'a'): the name 'a' is already used by graph.children[0]"),
    ("name: r\ntype: ROUTER\nchildren:\n  - {name: a, type: MODEL, class_path: x.Y}\n"
     "  - {name: b, type: MODEL, class_path: x.Y}", "a ROUTER node needs an implementation (a built-in) or a "
     "class_path"),
    ("name: m\ntype: MODEL", "graph (node 'm'): a MODEL node needs a class_path"),
    ("name: m\ntype: MODEL\nclass_path: x.Y\nimplementation: AVERAGE", "give class_path or implementation"),
])
def test_structure_errors_name_the_node(graph: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_config(graph_config(graph), source="svc.yaml")
    assert str(caught.value).startswith("svc.yaml: models[0]: ")
    assert message in str(caught.value)


@pytest.mark.parametrize(("text", "message"), [
    ("models:\n  - name: g\n    class_path: x.Y\n    graph: {name: m, type: MODEL, class_path: x.Y}\n",
     "give class_path or graph, not both"),
    ("models:\n  - graph: {name: m, type: MODEL, class_path: x.Y}\n", "a graph endpoint needs a name"),
    ("models:\n  - class_path: x.Y\n    state: {type: sqlite}\n", "state: only for a graph endpoint"),
    ("models:\n  - {}\n", "models[0]: class_path is missing: give class_path (a model class), or name and graph"),
])
def test_endpoint_is_a_class_or_a_graph(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        parse_config(text, source="svc.yaml")


@pytest.mark.parametrize(("graph", "message"), [
    ("name: t\ntype: TRANSFORMER\nclass_path: tests.fixtures.OffsetTransformer\nchildren:\n"
     "  - {name: pair, type: MODEL, class_path: tests.fixtures.PairModel}",
     "models[0].graph (node 't'): child 'pair' cannot take this node's answer: PairInput requires a, b, which "
     "EchoInput does not have"),
    (ROUTER_OF.format(second="tests.fixtures.PairModel"),
     "models[0].graph (node 'r'): child 'b' cannot take the input this node passes (that of 'a')"),
    ("name: o\ntype: OUTPUT_TRANSFORMER\nclass_path: tests.fixtures.LabelOutputTransformer\nchildren:\n"
     "  - {name: pair, type: MODEL, class_path: tests.fixtures.PairModel}",
     "(node 'o'): the answer of child 'pair' does not fit this node's input: EchoOutput requires doubled, label"),
    ("name: r\ntype: ROUTER\nimplementation: BANDIT\nchildren:\n  - {name: a, type: MODEL, class_path: " + ECHO +
     "}\n  - {name: b, type: MODEL, class_path: " + ECHO + "}",
     "(node 'r').implementation: unknown 'BANDIT' (known: AB_TEST, RANDOM_ABTEST, EPSILON_GREEDY"),
    ("name: r\ntype: ROUTER\nclass_path: tests.fixtures.MaxCombiner\nchildren:\n  - {name: a, type: MODEL, "
     "class_path: " + ECHO + "}\n  - {name: b, type: MODEL, class_path: " + ECHO + "}",
     "(node 'r').class_path: 'tests.fixtures.MaxCombiner' is not a Router"),
    ("name: r\ntype: ROUTER\nimplementation: AB_TEST\nconfiguration: {weights: [1, 2, 3]}\nchildren:\n"
     "  - {name: a, type: MODEL, class_path: " + ECHO + "}\n  - {name: b, type: MODEL, class_path: " + ECHO + "}",
     "(node 'r').configuration: weights: 3 weight(s) for 2 children"),
    ("name: r\ntype: ROUTER\nimplementation: EPSILON_GREEDY\nconfiguration: {epsilon: 3}\nchildren:\n"
     "  - {name: a, type: MODEL, class_path: " + ECHO + "}\n  - {name: b, type: MODEL, class_path: " + ECHO + "}",
     "(node 'r').configuration: epsilon: expected a number in [0, 1], got 3"),
    ("name: m\ntype: MODEL\nclass_path: tests.fixtures.NoSuchModel", "models[0].graph (node 'm').class_path: "
     "module 'tests.fixtures' has no attribute 'NoSuchModel'"),
    ("name: m\ntype: MODEL\nclass_path: tests.fixtures.NotAModel", "is not an MLModel"),
    ("name: s\ntype: SHADOW\nconfiguration: {mirror: all}\nchildren:\n  - {name: a, type: MODEL, class_path: "
     + ECHO + "}\n  - {name: b, type: MODEL, class_path: " + ECHO + "}",
     "(node 's').configuration: unknown key(s) mirror (known: log, wait)"),
])
def test_build_errors_name_the_node(graph: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build(graph_config(graph), tmp_path)
    assert str(caught.value).startswith("svc.yaml: models[0]")
    assert message in str(caught.value)


def test_a_graph_is_one_model_with_the_roots_schemas_and_a_version_digest(tmp_path: Path) -> None:
    graph = build(graph_config(ROUTER_OF.format(second=ECHO)), tmp_path)
    assert graph.qualified_name == "g" and graph.input_schema.__name__ == "EchoInput"
    assert graph.output_schema.__name__ == "EchoOutput"
    assert len(graph.version) == 12
    assert build(graph_config(ROUTER_OF.format(second=ECHO), extra='    version: "2.1"\n'), tmp_path).version == "2.1"
    graph.close()
