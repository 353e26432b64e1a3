"""The Grafana dashboard: Grafana's dashboard model (JSON schema + Grafana's generated types), real metric names."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from modelward.cli.main import main
from modelward.metrics import ServingMetrics, create_registry
from modelward.metrics.batching import BatchCollector, BatchStats
from modelward.metrics.dashboard import render_dashboard
from modelward.metrics.serving import CACHE
from tests.conftest import ROOT

#: the parts of Grafana's dashboard JSON model a dashboard must get right to import and render
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["title", "uid", "schemaVersion", "panels", "time", "templating"],
    "properties": {
        "uid": {"type": "string", "minLength": 8, "maxLength": 40, "pattern": "^[A-Za-z0-9_-]+$"},
        "title": {"type": "string", "minLength": 1},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "time": {"type": "object", "required": ["from", "to"]},
        "templating": {"type": "object", "required": ["list"], "properties": {"list": {"type": "array", "items": {
            "type": "object", "required": ["name", "type"]}}}},
        "panels": {"type": "array", "items": {
            "type": "object", "required": ["id", "type", "title", "gridPos"],
            "properties": {
                "id": {"type": "integer"},
                "type": {"enum": ["row", "timeseries"]},
                "gridPos": {"type": "object", "required": ["h", "w", "x", "y"], "properties": {
                    "w": {"type": "integer", "minimum": 1, "maximum": 24},
                    "x": {"type": "integer", "minimum": 0, "maximum": 23},
                    "h": {"type": "integer", "minimum": 1}, "y": {"type": "integer", "minimum": 0}}},
                "targets": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "required": ["refId", "expr", "datasource"]}}},
            "if": {"properties": {"type": {"const": "timeseries"}}},
            "then": {"required": ["targets", "datasource"]}}},
    },
}


def unknown_keys(ours: Any, theirs: Any, path: str = "") -> list[str]:
    """Keys of ``ours`` that Grafana's generated types dropped (so Grafana does not know them)."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        found = [f"{path}.{k}" for k in ours if k not in theirs]
        return found + [p for k in ours if k in theirs for p in unknown_keys(ours[k], theirs[k], f"{path}.{k}")]
    if isinstance(ours, list) and isinstance(theirs, list):
        pairs = enumerate(zip(ours, theirs, strict=False))
        return [p for i, (a, b) in pairs for p in unknown_keys(a, b, f"{path}[{i}]")]
    return []


def test_the_dashboard_has_a_row_per_model_and_fits_grafanas_model() -> None:
    document = render_dashboard(["insurance_charges_model", "diabetes_model"], "Service")
    jsonschema.validate(document, SCHEMA)
    rows = [p["title"] for p in document["panels"] if p["type"] == "row"]
    assert rows == ["insurance_charges_model", "diabetes_model"]
    assert len({p["id"] for p in document["panels"]}) == len(document["panels"])
    cells = set()
    for panel in document["panels"]:  # no two panels overlap on the grid
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells
                cells.add((x, y))
    round_trip = json.loads(JSONEncoder().encode(Dashboard.from_json(document)))
    assert unknown_keys(document, round_trip) == []


def test_every_queried_metric_is_one_modelward_exports() -> None:
    registry = create_registry()
    ServingMetrics(registry)
    registry.register(BatchCollector(lambda: [BatchStats("m")]))
    families = list(registry.collect())
    exported = {family.name for family in families} | {CACHE}
    queried = set()
    for panel in render_dashboard(["m"])["panels"]:
        for target in panel.get("targets", []):
            queried |= set(re.findall(r"\b(modelward_[a-z_]+)", target["expr"]))
    bases = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in queried}
    assert bases and bases <= exported, bases - exported
    # the dashboard selects by model_name: every per-model family it queries carries that label
    for family in families:
        if family.name in bases and family.samples:
            assert all("model_name" in sample.labels for sample in family.samples), family.name


def test_the_cli_writes_the_dashboard_of_a_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "dashboard.json"
    config = ROOT / "examples" / "insurance_charges" / "rest_config_policy.yaml"
    assert main(["dashboard", str(config), "-o", str(output)]) == 0
    assert "wrote" in capsys.readouterr().out
    document = json.loads(output.read_text(encoding="utf-8"))
    assert [p["title"] for p in document["panels"] if p["type"] == "row"] == ["insurance_charges_model"]
    assert document["title"] == "Insurance Charges Model Service"


def test_a_model_without_a_name_it_can_tell_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("models:\n  - class_path: tests.fixtures.NotAModel\n", encoding="utf-8")
    assert main(["dashboard", str(config)]) == 1
    assert "models[0]: give qualified_name" in capsys.readouterr().err
