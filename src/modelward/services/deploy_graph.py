"""The deployment steps of an inference graph: each MODEL node's package goes through every step.

A graph's deployment file names one package per MODEL node (``packages: {champion: ..., challenger:
...}``). Each is staged, verified, validated (its node's class loads it and reports the manifest's
version; its own known cases match) and registered as a model version, exactly as a single model's
package is. Then the whole graph is built once from the verified files (schemas between nodes,
router and combiner settings, an outlier step's signed detector), and registered as a version of its
own: its manifest holds the node tree, its members (node → model version) go to the catalog, so the
lineage runs from every member version to the graph's deployments.

A node's configuration names its own package as ``${MODEL_PACKAGE_<NODE>}`` (``<NODE>``: the node
name in capitals, other characters as ``_``), its version ``${MODEL_VERSION_<NODE>}`` and its
extracted files ``${MODEL_FILES_<NODE>}``; the server gets these variables locally and in pods.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from modelward import catalog as cat
from modelward.deploy import DeploymentSpec, ModelRef, RenderInputs, digest_of, read_policies, service_config
from modelward.deploy.graphs import model_nodes, node_env, nodes
from modelward.errors import ConfigurationError, ModelwardError
from modelward.services import deploy_steps as steps
from modelward.services.config import ModelConfig, expand_env, format_validation_error
from modelward.services.loader import build_model, extend_python_path, import_object
from modelward.services.registration import recordable
from modelward.settings import Settings


@dataclass
class Member:
    """One MODEL node with a package, deployed as a single model would be (its own ``Attempt``)."""

    node: str
    attempt: steps.Attempt


def members(attempt: steps.Attempt) -> list[Member]:
    """The attempt's members, created on first use from the spec (one folder per node)."""
    found: list[Member] = attempt.members
    if not found:
        spec = attempt.spec
        assert spec.graph is not None
        by_name = {node["name"]: node for _, node in nodes(spec.graph)}
        for name in spec.graph_nodes():
            sub = member_spec(spec, by_name[name])
            found.append(Member(name, steps.Attempt(spec=sub, deployment_id=attempt.deployment_id,
                                                    folder=attempt.folder / "nodes" / name, actor=attempt.actor)))
    return found


def _own_names(value: Any, node: str) -> Any:
    """A node's configuration with its own variables as a single model's (``MODEL_PACKAGE_X`` → ``MODEL_PACKAGE``)."""
    if isinstance(value, dict):
        return {key: _own_names(item, node) for key, item in value.items()}
    if isinstance(value, list):
        return [_own_names(item, node) for item in value]
    if isinstance(value, str):
        for kind, name in node_env(node).items():
            value = value.replace(name, f"MODEL_{kind.upper()}")
    return value


def member_spec(spec: DeploymentSpec, node: dict[str, Any]) -> DeploymentSpec:
    """The single-model spec of one MODEL node: its class, configuration and package; the graph's code."""
    where = f"graph node '{node['name']}'"
    extend_python_path(spec.model.python_path)
    cls = import_object(str(node.get("class_path")), f"{where}.class_path")
    name = getattr(cls, "qualified_name", None)
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"{where}: {node.get('class_path')} declares no qualified_name, so its package "
                                 "cannot be checked against it")
    model = ModelRef(qualified_name=name, class_path=str(node["class_path"]),
                     configuration=_own_names(dict(node.get("configuration") or {}), node["name"]),
                     python_path=list(spec.model.python_path))
    return DeploymentSpec(name=spec.name, model=model, package=spec.packages[node["name"]], target=spec.target,
                          environment=spec.environment)


# --- the steps ---------------------------------------------------------------------------------


def _each(attempt: steps.Attempt, action: Callable[[steps.Attempt], str]) -> list[str]:
    """``action`` on every member; an error names the node (``graph node 'challenger': ...``)."""
    done = []
    for member in members(attempt):
        try:
            done.append(f"{member.node}: {action(member.attempt)}")
        except ModelwardError as exc:
            exc.message = f"graph node '{member.node}': {exc.message}"
            exc.args = (exc.message,)
            raise
    return done


def stage(attempt: steps.Attempt, settings: Settings) -> str:
    return "; ".join(_each(attempt, lambda member: steps.stage(member, settings)))


def verify(attempt: steps.Attempt, settings: Settings, keyring: Any) -> str:
    return "; ".join(_each(attempt, lambda member: steps.verify(member, settings, keyring)))


def validate(attempt: steps.Attempt) -> str:
    """Each member as a single model, then the whole graph built from the verified files."""
    done = _each(attempt, steps.validate)
    attempt.policies = read_policies(attempt.spec)
    built = _build(attempt)
    try:
        attempt.version = attempt.spec.model.version or str(built.model.version)
    finally:
        close = getattr(built.model, "close", None)
        if callable(close):
            close()
    attempt.policy_tests = steps.policy_tests(attempt)
    done.append(f"graph {attempt.model}@{attempt.version} builds, {attempt.policy_tests} policy tests pass")
    return "; ".join(done)


def _build(attempt: steps.Attempt) -> Any:
    """The graph as the server builds it, its state in a throwaway folder of the attempt."""
    document = service_config(attempt.spec, list(attempt.spec.model.python_path))["models"][0]
    expanded = expand_env(document, {**os.environ, **graph_env(attempt)}, "graph")
    state = attempt.folder / "validate-state"
    try:
        return build_model(ModelConfig.model_validate(expanded), "graph", data_dir=state)
    except ValidationError as exc:  # the graph's structure
        raise ConfigurationError(f"graph: {format_validation_error(exc)}") from None
    finally:
        shutil.rmtree(state, ignore_errors=True)


def register(attempt: steps.Attempt, settings: Settings, catalog: Any) -> str:
    """Register every member's version, then the graph's version with its members."""
    done = _each(attempt, lambda member: steps.register(member, settings, catalog))
    tree = graph_record(attempt)
    attempt.digest = digest_of(tree)
    refs = tuple(cat.GraphMemberRef(node=m.node, model=m.attempt.model, version=m.attempt.version)
                 for m in members(attempt))
    first = members(attempt)[0].attempt.package.manifest.training.owner if members(attempt) else ""
    with recordable("graph"):
        model = cat.ModelInfo(qualified_name=attempt.model, owner=first,
                              description=f"inference graph {attempt.model}")
        version = cat.VersionInfo(version=attempt.version, artifact_digest=attempt.digest, manifest=tree)
    view, _ = cat.register_graph(catalog, model=model, version=version, members=refs, actor=attempt.actor)
    if view.stage == cat.Stage.REGISTERED.value:
        cat.set_stage(catalog, model=attempt.model, version=attempt.version, stage=cat.Stage.VALIDATED,
                      actor=attempt.actor)
    done.append(f"graph {attempt.model}@{attempt.version} with {len(refs)} member versions")
    return "; ".join(done)


def graph_record(attempt: steps.Attempt) -> dict[str, Any]:
    """What the catalog keeps of the graph: the node tree, and each member's model, version and package."""
    assert attempt.spec.graph is not None
    return {"graph": attempt.spec.graph, "state": attempt.spec.state or {"type": "sqlite"},
            "members": {m.node: {"model": m.attempt.model, "version": m.attempt.version,
                                 "package_digest": m.attempt.digest, "package": m.attempt.registered_uri}
                        for m in members(attempt)}}


# --- serving -----------------------------------------------------------------------------------


def graph_env(attempt: steps.Attempt) -> dict[str, str]:
    """``MODEL_PACKAGE_<NODE>``, ``MODEL_VERSION_<NODE>``, ``MODEL_FILES_<NODE>`` of every member, and
    ``MODEL_POLICIES`` (the deployment's own copy of its policies)."""
    env = {"MODEL_POLICIES": str(attempt.folder / "policies")}
    for member in members(attempt):
        own = steps.model_env(member.attempt)
        names = node_env(member.node)
        env |= {names["package"]: own["MODEL_PACKAGE"], names["version"]: own["MODEL_VERSION"],
                names["files"]: own["MODEL_FILES"]}
    return env


def render_inputs(attempt: steps.Attempt) -> RenderInputs:
    """What the renderers need of a deployed graph: each member's registered package, digest and version."""
    found = members(attempt)
    return RenderInputs(policies=attempt.policies, model_version=attempt.version,
                        node_packages={m.node: m.attempt.registered_uri for m in found if m.attempt.registered_uri},
                        node_digests={m.node: m.attempt.digest for m in found},
                        node_versions={m.node: m.attempt.version for m in found})


def recorded_spec(attempt: steps.Attempt) -> DeploymentSpec:
    """The spec to redeploy (rollback): every member's registered package, the graph's version."""
    found = {m.node: m.attempt.registered_uri for m in members(attempt) if m.attempt.registered_uri}
    return attempt.spec.model_copy(update={
        "packages": {**attempt.spec.packages, **found},
        "model": attempt.spec.model.model_copy(update={"version": attempt.version})})


def env_of_recorded(folder: Path, spec: dict[str, Any]) -> dict[str, str]:
    """The member variables of a recorded graph deployment, read back from its folder (to restart it)."""
    env: dict[str, str] = {"MODEL_POLICIES": str(folder / "policies")}
    graph = spec.get("graph")
    packages = spec.get("packages") or {}
    if not isinstance(graph, dict):
        return env
    for node in model_nodes(graph):
        names = node_env(node)
        env[names["files"]] = str(folder / "nodes" / node / "files")
        if isinstance(packages.get(node), str):
            env[names["package"]] = packages[node]
    return env


def discard(attempt: steps.Attempt) -> None:
    """Remove what every member fetched or unpacked (a failed attempt)."""
    for member in attempt.members:
        steps.discard_payload(member.attempt)


def close(attempt: steps.Attempt) -> None:
    for member in attempt.members:
        if member.attempt.package is not None:
            member.attempt.package.close()

