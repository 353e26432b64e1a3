"""Write docs/cli.md and docs/configuration.md from the code: `python scripts/cli_reference.py [--check]`.

The command reference comes from the command tree, the settings and config-file reference from the
pydantic models. With --check, exit 1 when either file differs (a test runs this).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer.main
from pydantic import BaseModel

from modelward.cli.main import make_app
from modelward.graph.config import NodeConfig, RedisStateConfig, SqliteStateConfig
from modelward.services.config import BatchingConfig, DecoratorConfig, ModelConfig, ServiceConfig
from modelward.settings import Settings

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _param_line(param: Any) -> str:
    names = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
    if param.param_type_name == "argument":
        names = f"`{str(param.name).upper()}`"
    text = (getattr(param, "help", None) or "").strip()
    default = param.default
    shown = "" if default in (None, False, (), []) or callable(default) else f" (default: `{default}`)"
    required = " (required)" if param.required else ""
    return f"- {names}{required}: {text}{shown}".rstrip()


def _walk(command: Any, path: list[str], out: list[str]) -> None:
    children = getattr(command, "commands", None)
    if path:
        out.append(f"{'#' * min(len(path) + 1, 4)} `modelward {' '.join(path)}`\n")
        help_text = (command.help or "").strip()
        if help_text:
            out.append(help_text + "\n")
        params = [p for p in command.params if p.name != "help"]
        if params and not children:
            out.extend(_param_line(p) for p in params)
            out.append("")
    for name in sorted(children or {}):
        _walk(children[name], [*path, name], out)


def render() -> str:
    """The whole reference as Markdown."""
    out = ["# Command-line reference", "",
           "Generated from the commands themselves by `python scripts/cli_reference.py`; "
           "a test fails when it is stale.", ""]
    _walk(typer.main.get_command(make_app()), [], out)
    return "\n".join(out).rstrip() + "\n"


def _fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    lines = []
    for name, field in model.model_fields.items():
        default = field.get_default(call_default_factory=False) if field.default_factory is None else None
        shown = "" if default in (None, [], {}) or field.is_required() else f" (default: `{default}`)"
        if field.is_required():
            shown = " (required)"
        key = f"{prefix}{name.upper()}" if prefix else name
        lines.append(f"- `{key}`: {field.description or ''}{shown}".rstrip())
    return lines


def render_configuration() -> str:
    """Settings (environment) and the service config file's keys, as Markdown."""
    out = ["# Configuration", "",
           "Generated from the code by `python scripts/cli_reference.py`; a test fails when it is stale.", "",
           "## Settings", "",
           "Read from the environment with the `MODELWARD_` prefix (for example `MODELWARD_PORT=9000`).", ""]
    out.extend(_fields(Settings, prefix="MODELWARD_"))
    out += ["", "## The service config file", "",
            "A superset of `rest_model_service`'s YAML. Any string may use `${VAR}` or `${VAR:-default}`.", ""]
    out.extend(_fields(ServiceConfig))
    out += ["", "### `models[]`", ""]
    out.extend(_fields(ModelConfig))
    out += ["", "### `models[].decorators[]`", "",
            "The first decorator listed wraps the model directly (innermost); the last is outermost.", ""]
    out.extend(_fields(DecoratorConfig))
    out += ["", "### `models[].batching`", "",
            "Adaptive batching of one model (see serving.md, \"Adaptive batching\").", ""]
    out.extend(_fields(BatchingConfig))
    out += ["", "### `models[].graph` (and every node's `children[]`)", "",
            "An inference graph's nodes (see graphs.md).", ""]
    out.extend(_fields(NodeConfig))
    out += ["", "### `models[].state`", "", "Where a graph's router state lives: `type: sqlite` (default) ...", ""]
    out.extend(_fields(SqliteStateConfig))
    out += ["", "... or `type: redis`:", ""]
    out.extend(_fields(RedisStateConfig))
    return "\n".join(out).rstrip() + "\n"


def main() -> int:
    outputs = {DOCS / "cli.md": render(), DOCS / "configuration.md": render_configuration()}
    stale = [path.name for path, text in outputs.items()
             if not path.exists() or path.read_text(encoding="utf-8") != text]
    if "--check" in sys.argv:
        if stale:
            print(f"stale: {', '.join(stale)}: run `python scripts/cli_reference.py`", file=sys.stderr)
            return 1
        return 0
    for path, text in outputs.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
