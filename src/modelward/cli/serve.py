"""``modelward serve``, ``modelward openapi`` and ``modelward check``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml

from modelward.cli.common import console
from modelward.services.config import configure_logging, load_config
from modelward.services.dataplane import DataPlane, load_into
from modelward.services.loader import build_models
from modelward.serving.app import config_path
from modelward.serving.openapi import build_openapi
from modelward.settings import load_settings

ConfigArg = Annotated[
    Path | None,
    typer.Argument(help="Service config file (default: $MODELWARD_CONFIG, $REST_CONFIG, rest_config.yaml)."),
]


def serve(
    config: ConfigArg = None,
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (default 8000).")] = None,
    grpc_port: Annotated[int | None, typer.Option(help="Also serve Open Inference (V2) gRPC on this port "
                                                       "(default: off).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Worker processes (default 1).")] = None,
    log_level: Annotated[str | None, typer.Option(help="critical|error|warning|info|debug.")] = None,
    catalog: Annotated[bool | None, typer.Option("--catalog/--no-catalog",
                                                 help="Also serve the catalog API.")] = None,
) -> None:
    """Serve the models of a config file over REST (and Open Inference gRPC with --grpc-port)."""
    overrides = {k: v for k, v in {"config": config, "host": host, "port": port, "grpc_port": grpc_port,
                                   "workers": workers, "log_level": log_level, "catalog_enabled": catalog}.items()
                 if v is not None}
    from modelward.cli.apps import service_app
    from modelward.serving.server import serve as run_server

    run_server(load_settings(**overrides), build=service_app, factory="modelward.cli.apps:service_factory")


def openapi(
    config: ConfigArg = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write here (default: stdout).")] = None,
) -> None:
    """Write the service's OpenAPI contract (YAML, or JSON for a .json file) without serving."""
    settings = load_settings(**({"config": config} if config else {}))
    path = config_path(settings)
    service = load_config(path)
    configure_logging(service, str(path))
    plane = DataPlane()
    load_into(plane, lambda: build_models(service, source=str(path), data_dir=settings.data_dir))
    document = build_openapi(None, plane.endpoints(), service)
    if output is not None and output.suffix == ".json":
        import json

        text = json.dumps(document, indent=2) + "\n"
    else:
        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    if output is None:
        console().print(text, markup=False, end="")
        return
    output.write_text(text, encoding="utf-8")
    console().print(f"wrote {output} ({len(plane.endpoints())} models)")


def check(config: ConfigArg = None) -> None:
    """Load every model and decorator of a config once; exit 1 with the reason if one fails."""
    settings = load_settings(**({"config": config} if config else {}))
    path = config_path(settings)
    service = load_config(path)
    configure_logging(service, str(path))
    loaded = build_models(service, source=str(path), data_dir=settings.data_dir)
    for item in loaded:
        console().print(f"ok  {item.qualified_name} {item.model.version}  {item.model!r}")
    console().print(f"{path}: {len(loaded)} models load")


def register(app: typer.Typer) -> None:
    """Add the serving commands."""
    app.command()(serve)
    app.command()(openapi)
    app.command()(check)
