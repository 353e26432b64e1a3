"""``modelward render``: manifests for Kubernetes, Seldon or KServe from a deployment file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelward.cli.common import console
from modelward.deploy import RenderInputs, load_deployment, read_policies, render, to_files, to_stream

DeploymentArg = Annotated[Path, typer.Argument(help="Deployment file (YAML).")]


def render_command(
    deployment: DeploymentArg,
    target: Annotated[str | None, typer.Option(
        "--target", "-t", help="kubernetes | seldon | kserve (default: the file's target).")] = None,
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="Folder for one file per manifest (default: one YAML stream on stdout).")] = None,
) -> None:
    """Render the manifests of a deployment file (pure: nothing is applied)."""
    spec = load_deployment(deployment)
    manifests = render(spec, target or _manifest_target(spec.target), RenderInputs(policies=read_policies(spec)))
    if output is None:
        console().print(to_stream(manifests), markup=False, end="")
        return
    output.mkdir(parents=True, exist_ok=True)
    for name, text in to_files(manifests).items():
        (output / name).write_text(text, encoding="utf-8")
    console().print(f"wrote {len(manifests)} manifests to {output}")


def _manifest_target(target: str) -> str:
    return "kubernetes" if target == "local" else target


def register(app: typer.Typer) -> None:
    """Add the deployment commands."""
    app.command("render")(render_command)
