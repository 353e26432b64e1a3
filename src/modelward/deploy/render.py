"""One entry point for every target, and manifests as YAML files (pure: text in, text out)."""

from __future__ import annotations

from collections.abc import Callable

import yaml

from modelward.deploy.common import Manifest, RenderInputs
from modelward.deploy.custom import render_kserve, render_seldon
from modelward.deploy.kubernetes import render_kubernetes
from modelward.deploy.spec import DeploymentSpec
from modelward.errors import ConfigurationError

RENDERERS: dict[str, Callable[[DeploymentSpec, RenderInputs | None], list[Manifest]]] = {
    "kubernetes": render_kubernetes,
    "seldon": render_seldon,
    "kserve": render_kserve,
}


def render(
    spec: DeploymentSpec, target: str | None = None, inputs: RenderInputs | None = None
) -> list[Manifest]:
    """The manifests of ``target`` (default: the spec's own target)."""
    chosen = target or spec.target
    renderer = RENDERERS.get(chosen)
    if renderer is None:
        raise ConfigurationError(
            f"target: '{chosen}' has no manifests; choose one of {', '.join(sorted(RENDERERS))}"
        )
    return renderer(spec, inputs)


class _Dumper(yaml.SafeDumper):
    """Safe YAML, with multi-line strings (config files, policies) as literal blocks."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and not any(c in value for c in "\t\r") and " \n" not in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)


def to_yaml(manifest: Manifest) -> str:
    """One manifest as a YAML document (keys in the order the renderer wrote them)."""
    return yaml.dump(manifest, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def file_name(index: int, manifest: Manifest) -> str:
    """``NN-kind-name.yaml``: ``kubectl apply -f DIR`` reads files in this (apply) order."""
    return f"{index:02d}-{manifest['kind'].lower()}-{manifest['metadata']['name']}.yaml"


def to_files(manifests: list[Manifest]) -> dict[str, str]:
    """File name → YAML text, one file per manifest, numbered in apply order."""
    return {file_name(i, m): to_yaml(m) for i, m in enumerate(manifests)}


def to_stream(manifests: list[Manifest]) -> str:
    """All manifests as one multi-document YAML stream."""
    return "---\n".join(to_yaml(m) for m in manifests)
