"""Helpers shared by the command modules."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from modelward.errors import ConfigurationError


def console() -> Console:
    """Where command output goes."""
    return Console(highlight=False, soft_wrap=True)


def err_console() -> Console:
    """Where messages and errors go."""
    return Console(stderr=True, highlight=False, soft_wrap=True)


def emit(text: str, output: Path | None) -> bool:
    """Print ``text`` to stdout, or write it to ``output``; True when a file was written.

    A file that cannot be written is a ``ConfigurationError`` naming it (exit 1, one line).
    """
    if output is None:
        console().print(text, markup=False, end="")
        return False
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot write {output}: {exc.strerror or exc}") from None
    return True
