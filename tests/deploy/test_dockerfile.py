"""The Dockerfile cannot be built here (no Docker engine); check what can be checked without one."""

from __future__ import annotations

import fnmatch
import re
import shlex
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
REQUIREMENTS = ROOT / "src" / "modelward" / "deploy" / "image" / "requirements.txt"
KNOWN = {"FROM", "ARG", "LABEL", "ENV", "RUN", "COPY", "WORKDIR", "USER", "EXPOSE", "HEALTHCHECK",
         "ENTRYPOINT", "CMD"}


def instructions() -> list[tuple[str, str]]:
    """(KEYWORD, arguments) for each instruction, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def arg_defaults() -> dict[str, str]:
    return dict(rest.split("=", 1) for keyword, rest in instructions() if keyword == "ARG" and "=" in rest)


def expand(text: str) -> str:
    defaults = arg_defaults()
    return re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], text)


def test_every_instruction_is_known() -> None:
    unknown = [k for k, _ in instructions() if k not in KNOWN]
    assert unknown == []


def test_bases_are_slim_python_with_a_tag() -> None:
    bases = [rest.split()[0] for keyword, rest in instructions() if keyword == "FROM"]
    assert bases and all(re.fullmatch(r"python:3\.\d+-slim", b) for b in bases)


def test_the_final_user_is_not_root() -> None:
    users = [expand(rest) for keyword, rest in instructions() if keyword == "USER"]
    uid = users[-1].split(":")[0]
    assert uid not in {"0", "root"} and int(uid) >= 1000


def ignored(path: str) -> bool:
    """Whether .dockerignore keeps ``path`` out of the build context (last matching rule wins)."""
    result = False
    for raw in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        rule = raw.strip()
        if not rule or rule.startswith("#"):
            continue
        negate = rule.startswith("!")
        pattern = rule.lstrip("!").rstrip("/")
        if pattern == "**" or fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
            result = not negate
    return result


def copy_sources() -> list[str]:
    sources = []
    for keyword, rest in instructions():
        if keyword == "COPY" and not rest.startswith("--from"):
            sources.extend(expand(part) for part in shlex.split(rest)[:-1])
    return sources


def test_copied_files_exist_and_are_in_the_build_context() -> None:
    sources = copy_sources()
    assert "src/modelward/deploy/image/requirements.txt" in sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not ignored(source.rstrip("/")), f"{source} is excluded by .dockerignore"


def test_entrypoint_is_the_modelward_command() -> None:
    entry = next(rest for keyword, rest in instructions() if keyword == "ENTRYPOINT")
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert entry == '["modelward"]' and "modelward" in scripts


def pinned() -> dict[str, Requirement]:
    lines = [line.strip() for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines()]
    found = [Requirement(line) for line in lines if line and not line.startswith("#")]
    return {canonicalize_name(r.name): r for r in found}


def test_requirements_are_exact_pins() -> None:
    for requirement in pinned().values():
        (spec,) = requirement.specifier
        assert spec.operator == "==", requirement


@pytest.mark.parametrize("group", ["dependencies", "s3", "sklearn"])
def test_pins_satisfy_the_ranges_of_pyproject(group: str) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = project["dependencies"] if group == "dependencies" else project["optional-dependencies"][group]
    pins = pinned()
    for line in declared:
        wanted = Requirement(line)
        pin = pins[canonicalize_name(wanted.name)]
        version = next(iter(pin.specifier)).version
        assert wanted.specifier.contains(version), f"{pin} is outside {wanted}"
