"""Entry point of the ``modelward`` command.

Each command module exposes ``register(app)``; every ``ModelwardError`` becomes one line on stderr
and exit status 1, a usage error exit status 2.
"""

from __future__ import annotations

import sys

import click
import typer

from modelward.cli import artifacts, catalog, deploy, policy, serve
from modelward.cli.common import err_console
from modelward.errors import ModelwardError


def make_app() -> typer.Typer:
    """The whole command tree."""
    app = typer.Typer(
        name="modelward",
        help="Deploy machine-learning models that owners, operators and auditors can trust.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    for module in (serve, policy, artifacts, catalog, deploy):
        module.register(app)
    return app


def main(argv: list[str] | None = None) -> int:
    """Run the command line and return the exit status."""
    app = make_app()
    try:
        result = app(args=argv, prog_name="modelward", standalone_mode=False)
    except ModelwardError as exc:
        err_console().print(f"error: {exc.message}", markup=False, highlight=False, soft_wrap=True)
        return 1
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.Abort:
        err_console().print("aborted", markup=False)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    return int(result) if isinstance(result, int) else 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
