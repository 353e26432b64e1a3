"""Policy bundles: the Rego files a decorator evaluates, read from disk as one immutable value.

A bundle is read from files and folders. Inside a folder, every ``*.rego`` file is loaded except
tests (``*_test.rego``) and hidden entries, which also skips the ``..data`` and ``..<timestamp>``
folders of a mounted Kubernetes ConfigMap (its visible files are symlinks into ``..data``; they are
followed). The digest covers every file's name and bytes, so it changes exactly when the policy does.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from modelward.errors import PolicyCompileError


@dataclass(frozen=True)
class PolicyFile:
    """One Rego module: its name (relative to where it was found) and its text."""

    name: str
    text: str


@dataclass(frozen=True)
class PolicyBundle:
    """The Rego modules of one policy, and the sha256 digest that names them."""

    files: tuple[PolicyFile, ...]
    digest: str

    @classmethod
    def of(cls, files: Iterable[PolicyFile]) -> PolicyBundle:
        """A bundle of ``files`` (sorted by name) with its digest."""
        ordered = tuple(sorted(files, key=lambda f: f.name))
        hasher = hashlib.sha256()
        for item in ordered:
            for part in (item.name.encode(), item.text.encode()):
                hasher.update(len(part).to_bytes(8, "big"))
                hasher.update(part)
        return cls(ordered, f"sha256:{hasher.hexdigest()}")


def resolve_path(path: str | Path, search: Sequence[str] | None = None) -> Path:
    """An existing path: as given (absolute or from the working directory), else under ``search``.

    ``search`` defaults to ``sys.path``, where a service config's ``python_path`` folders are, so a
    config can name its policies relative to its own python_path.
    """
    candidate = Path(path).expanduser()
    if candidate.exists() or candidate.is_absolute():
        return candidate
    for folder in search if search is not None else sys.path:
        if folder and (Path(folder) / candidate).exists():
            return Path(folder) / candidate
    return candidate


def policy_paths(roots: Sequence[Path], *, tests: bool = False) -> list[tuple[str, Path]]:
    """``(name, path)`` of every Rego file under ``roots`` (tests only when ``tests``)."""
    found: list[tuple[str, Path]] = []
    for root in roots:
        if root.is_file():
            found.append((root.name, root))
        elif root.is_dir():
            found.extend(_walk(root, tests))
        else:
            raise PolicyCompileError(f"{root}: no such policy file or folder")
    return sorted(found)


def _walk(root: Path, tests: bool) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
            if name.startswith(".") or not name.endswith(".rego"):
                continue
            if name.endswith("_test.rego") and not tests:
                continue
            path = Path(folder) / name
            found.append((path.relative_to(root).as_posix(), path))
    return found


def fingerprint(roots: Sequence[Path]) -> tuple[tuple[str, str, int, int], ...]:
    """A cheap signature of the files (real path, mtime, size): it changes when a file or symlink does."""
    try:
        entries = policy_paths(roots)
    except PolicyCompileError:
        return ()
    signature = []
    for name, path in entries:
        try:
            stat = path.stat()
        except OSError:
            continue
        signature.append((name, os.path.realpath(path), stat.st_mtime_ns, stat.st_size))
    return tuple(signature)


def read_bundle(roots: Sequence[Path], *, tests: bool = False) -> PolicyBundle:
    """Read every Rego file under ``roots`` into a bundle; refuse an empty one."""
    files = []
    for name, path in policy_paths(roots, tests=tests):
        try:
            files.append(PolicyFile(name, path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyCompileError(f"{path}: cannot read the policy file: {exc}") from None
    if not files:
        shown = ", ".join(str(r) for r in roots)
        raise PolicyCompileError(f"{shown}: no .rego policy files found")
    return PolicyBundle.of(files)
