"""A Grafana dashboard on modelward's metric names: ``render_dashboard(models) -> dict`` (pure).

One row per model, each with the same panels: request rate by status, latency percentiles, error
ratio, policy decisions, batch size and queue depth, cache hit ratio, feedback reward, drift (PSI).
Queries go to a ``datasource`` template variable of type prometheus, so the JSON imports into any
Grafana (dashboard JSON model, schemaVersion 39).
"""

from __future__ import annotations

import hashlib
from typing import Any

from modelward.metrics import serving as m

SCHEMA_VERSION = 39
_DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
_WIDTH, _HEIGHT, _PER_ROW = 6, 8, 4


def _panels(model: str) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """``(title, unit, [(expr, legend)])`` for one model."""
    sel = f'model_name="{model}"'
    rate = "[$__rate_interval]"
    return [
        ("Requests by status", "reqps",
         [(f"sum by (status, protocol) (rate({m.REQUESTS}_total{{{sel}}}{rate}))", "{{protocol}} {{status}}")]),
        ("Latency", "s",
         [(f"histogram_quantile({q}, sum by (le) (rate({m.DURATION}_bucket{{{sel}}}{rate})))", f"p{int(q * 100)}")
          for q in (0.5, 0.95, 0.99)]),
        ("Error ratio", "percentunit",
         [(f"sum(rate({m.ERRORS}_total{{{sel}}}{rate})) / sum(rate({m.REQUESTS}_total{{{sel}}}{rate}))",
           "errors")]),
        ("Policy decisions", "ops",
         [(f"sum by (decision) (rate({m.DECISIONS}_total{{{sel}}}{rate}))", "{{decision}}")]),
        ("Batch size and queue depth", "short",
         [(f"sum(rate({m.BATCH_SIZE}_sum{{{sel}}}{rate})) / sum(rate({m.BATCH_SIZE}_count{{{sel}}}{rate}))",
           "mean batch size"),
          (f"sum({m.QUEUE_DEPTH}{{{sel}}})", "queue depth")]),
        ("Cache hit ratio", "percentunit",
         [(f'sum(rate({m.CACHE}_total{{{sel},result="hit"}}{rate})) / sum(rate({m.CACHE}_total{{{sel}}}{rate}))',
           "hits")]),
        ("Feedback reward (mean)", "short",
         [(f"sum by (route) (rate({m.REWARD}_sum{{{sel}}}{rate})) / "
           f"sum by (route) (rate({m.REWARD}_count{{{sel}}}{rate}))", "{{route}}")]),
        ("Drift (PSI)", "short",
         [(f'max by (feature) ({m.DRIFT}{{{sel},statistic="psi"}})', "{{feature}}")]),
    ]


def _timeseries(panel_id: int, title: str, unit: str, queries: list[tuple[str, str]], x: int,
                y: int) -> dict[str, Any]:
    targets = [{"refId": chr(ord("A") + i), "datasource": _DATASOURCE, "expr": expr, "legendFormat": legend}
               for i, (expr, legend) in enumerate(queries)]
    return {"id": panel_id, "type": "timeseries", "title": title, "datasource": _DATASOURCE,
            "gridPos": {"h": _HEIGHT, "w": _WIDTH, "x": x, "y": y},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
            "targets": targets}


def render_dashboard(models: list[str], title: str = "modelward") -> dict[str, Any]:
    """The dashboard JSON model: a row per model in ``models``."""
    panels: list[dict[str, Any]] = []
    y, panel_id = 0, 1
    for model in models:
        panels.append({"id": panel_id, "type": "row", "title": model, "collapsed": False, "panels": [],
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}})
        panel_id, y = panel_id + 1, y + 1
        for index, (name, unit, queries) in enumerate(_panels(model)):
            x = (index % _PER_ROW) * _WIDTH
            panels.append(_timeseries(panel_id, name, unit, queries, x, y + (index // _PER_ROW) * _HEIGHT))
            panel_id += 1
        y += -(-len(_panels(model)) // _PER_ROW) * _HEIGHT
    uid = "mw-" + hashlib.sha256("\n".join([title, *models]).encode()).hexdigest()[:16]
    return {
        "uid": uid, "title": title, "tags": ["modelward"], "timezone": "browser", "editable": True,
        "schemaVersion": SCHEMA_VERSION, "version": 1, "refresh": "30s", "graphTooltip": 1,
        "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": [{"name": "datasource", "label": "Prometheus", "type": "datasource",
                                 "query": "prometheus", "current": {}, "hide": 0}]},
        "annotations": {"list": []},
        "panels": panels,
    }
