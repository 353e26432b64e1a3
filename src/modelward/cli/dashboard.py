"""``modelward dashboard``: a Grafana dashboard (JSON) for the models of a service config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from modelward.cli.common import console, emit
from modelward.services.dashboard import dashboard_for


def dashboard(
    config: Annotated[Path, typer.Argument(help="Service config file.")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write here (default: stdout).")] = None,
    title: Annotated[str | None, typer.Option(help="Dashboard title (default: the service_title).")] = None,
) -> None:
    """Write a Grafana dashboard with one row per model of CONFIG, on modelward's metric names."""
    document = dashboard_for(config, title)
    text = json.dumps(document, indent=2) + "\n"
    if emit(text, output):
        rows = sum(1 for panel in document["panels"] if panel["type"] == "row")
        console().print(f"wrote {output} ({rows} models)")


def register(app: typer.Typer) -> None:
    """Add the dashboard command."""
    app.command()(dashboard)
