"""Entry point of the ``modelward`` command.

Each command module exposes ``register(app)``; every ``ModelwardError`` becomes one line on stderr
and exit status 1, a usage error exit status 2.
"""

from __future__ import annotations

import sys

import typer

from modelward.cli import artifacts, catalog, dashboard, deploy, drift, policy, serve
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
    for module in (serve, policy, artifacts, catalog, deploy, drift, dashboard):
        module.register(app)
    return app


def main(argv: list[str] | None = None) -> int:
    """Run the command line and return the exit status."""
    app = make_app()
    try:
        app(args=argv, prog_name="modelward", standalone_mode=True)
    except SystemExit as exc:  # usage errors (2), --help (0) and typer.Exit codes
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except ModelwardError as exc:
        err_console().print(f"error: {exc.message}", markup=False, highlight=False, soft_wrap=True)
        return 1
    except KeyboardInterrupt:
        err_console().print("interrupted", markup=False)
        return 130
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
