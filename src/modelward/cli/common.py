"""Helpers shared by the command modules."""

from __future__ import annotations

from rich.console import Console


def console() -> Console:
    """Where command output goes."""
    return Console(highlight=False, soft_wrap=True)


def err_console() -> Console:
    """Where messages and errors go."""
    return Console(stderr=True, highlight=False, soft_wrap=True)
