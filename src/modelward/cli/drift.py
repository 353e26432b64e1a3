"""``modelward drift``: logged inputs against the training profile in the signed package."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from modelward import artifacts as a
from modelward.cli.common import console, err_console
from modelward.metrics.drift import DriftReport, Thresholds
from modelward.services.drift import LoggedInputs, drift_report, write_gauges
from modelward.settings import load_settings

#: the exit status when a feature drifted (1 is an error, 2 a usage error)
DRIFTED = 3


def drift(
    package: Annotated[str, typer.Argument(help="The signed package (path, file://..., s3://...).")],
    payloads: Annotated[list[Path], typer.Argument(help="Payload log JSONL files (the payload log's sink).")],
    keyring: Annotated[Path | None, typer.Option("--keyring", help="Trusted keys (default: $MODELWARD_KEYRING, "
                                                 "else <data dir>/keyring).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    psi: Annotated[float, typer.Option(help="A feature drifts when its PSI is above this.")] = 0.2,
    ks: Annotated[float, typer.Option(help="...or its KS distance (numbers) is above this.")] = 0.1,
    chi2_p: Annotated[float, typer.Option("--chi2-p", help="...or its chi-square p-value (categories) is "
                                          "below this.")] = 0.01,
    min_count: Annotated[int, typer.Option(help="Features with fewer logged values are never flagged.")] = 30,
    all_versions: Annotated[bool, typer.Option(help="Also compare inputs logged for other versions.")] = False,
    metrics_file: Annotated[Path | None, typer.Option(help="Also write the drift gauges here (Prometheus "
                                                      "text, for node_exporter's textfile collector).")] = None,
) -> None:
    """Compare logged inputs with the package's training profile (PSI, KS, chi-square); exit 3 on drift."""
    settings = load_settings()
    ring = a.Keyring.load(keyring or settings.resolved_keyring())
    report, logged = drift_report(package, payloads, ring, all_versions=all_versions,
                                  thresholds=Thresholds(psi=psi, ks=ks, chi2_p=chi2_p, min_count=min_count),
                                  max_expansion_bytes=settings.max_expansion_bytes,
                                  endpoint_url=settings.s3_endpoint_url)
    if metrics_file is not None:
        write_gauges(report, metrics_file)
    if as_json:
        document = {**report.as_dict(), "skipped": {"other_models_or_versions": logged.other,
                                                    "unreadable_lines": logged.unreadable}}
        console().print(json.dumps(document, indent=2), markup=False)
    else:
        _print(report, logged)
    if report.drifted:
        raise typer.Exit(DRIFTED)


def _number(value: float | None, digits: str = ".3f") -> str:
    return "-" if value is None else format(value, digits)


def _print(report: DriftReport, logged: LoggedInputs) -> None:
    table = Table(title=f"{report.model}: {report.inputs} logged inputs", title_justify="left")
    for column in ("feature", "kind", "n", "psi", "ks", "ks p", "chi2 p", "drift"):
        table.add_column(column, justify="left" if column in ("feature", "kind", "drift") else "right")
    for f in report.features:
        verdict = "DRIFT: " + "; ".join(f.reasons) if f.drifted else "ok"
        table.add_row(f.feature, f.kind, str(f.count), _number(f.psi), _number(f.ks), _number(f.ks_p, ".2g"),
                      _number(f.chi2_p, ".2g"), verdict)
    console().print(table)
    if logged.other or logged.unreadable:
        err_console().print(f"skipped {logged.other} records of other models or versions and "
                            f"{logged.unreadable} unreadable lines", markup=False)


def register(app: typer.Typer) -> None:
    """Add the drift command."""
    app.command()(drift)
