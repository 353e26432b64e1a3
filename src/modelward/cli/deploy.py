"""``modelward deploy``, ``deployments list|status|stop``, ``promote``, ``rollback`` and ``render``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from modelward.catalog import DeploymentStatus
from modelward.cli.common import console, err_console
from modelward.deploy import (
    TARGETS,
    DeploymentSpec,
    RenderInputs,
    load_deployment,
    parse_deployment,
    read_policies,
    render,
    to_files,
    to_stream,
)
from modelward.errors import ConfigurationError, ModelwardError, TargetError
from modelward.services.deploy_state import StepReport

DeploymentArg = Annotated[Path, typer.Argument(help="Deployment file (YAML).")]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="Who deploys (default: the login name).")]
KeyringOpt = Annotated[Path | None, typer.Option("--keyring", help="Trusted keys (default: $MODELWARD_KEYRING, "
                                                                  "else <data dir>/keyring).")]


def render_command(
    deployment: DeploymentArg,
    target: Annotated[str | None, typer.Option(
        "--target", "-t", help="kubernetes | seldon | kserve (default: the file's target).")] = None,
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="Folder for one file per manifest (default: one YAML stream on stdout).")] = None,
) -> None:
    """Render the manifests of a deployment file (pure: nothing is applied)."""
    spec = load_deployment(deployment)
    manifests = render(spec, target or _manifest_target(spec.target), RenderInputs(policies=read_policies(spec)))
    if output is None:
        console().print(to_stream(manifests), markup=False, end="")
        return
    output.mkdir(parents=True, exist_ok=True)
    for name, text in to_files(manifests).items():
        (output / name).write_text(text, encoding="utf-8")
    console().print(f"wrote {len(manifests)} manifests to {output}")


def _manifest_target(target: str) -> str:
    return "kubernetes" if target == "local" else target


def _show(report: StepReport) -> None:
    mark = "ok  " if report.ok else "FAIL"
    err_console().print(f"  {report.name:<9} {mark} {report.seconds:7.2f}s  {report.detail}", markup=False)


def _orchestrator(keyring: Path | None, actor: str | None, *, verifies: bool = True,
                  spec: DeploymentSpec | None = None) -> Any:
    """The orchestrator; ``verifies=False`` (stop, promote) needs no keyring: its keyring trusts nothing.

    With ``spec`` (a deploy), a missing keyring or an unreachable catalog is journaled as a failed attempt.
    """
    import getpass

    from modelward import artifacts
    from modelward import catalog as cat
    from modelward.services.orchestrator import Orchestrator, journal_refused
    from modelward.settings import load_settings

    settings = load_settings(**({"keyring": keyring} if keyring else {}))
    step = "keyring"
    try:
        ring = settings.resolved_keyring().absolute()  # messages name where it is, not 'keyring'
        if verifies and not ring.exists():
            raise ConfigurationError(f"no keyring at {ring}: pass --keyring, set MODELWARD_KEYRING, or create "
                                     "one with `modelward keys generate`")
        trusted = artifacts.Keyring.load(ring) if ring.exists() else artifacts.Keyring()
        step = "catalog"
        catalog = cat.open_from_settings(settings)
    except ModelwardError as exc:
        if spec is not None:
            journal_refused(settings, spec, actor or getpass.getuser(), step, exc)
        raise
    options: dict[str, Any] = {"progress": _show}
    if actor:
        options["actor"] = actor
    return Orchestrator(settings=settings, catalog=catalog, keyring=trusted, **options)


def _catalog() -> Any:
    from modelward import catalog as cat
    from modelward.settings import load_settings

    return cat.open_from_settings(load_settings())


def _spec(deployment: Path | None, flags: dict[str, Any]) -> DeploymentSpec:
    given = {k: v for k, v in flags.items() if v is not None}
    local = {"port": given.pop("port")} if "port" in given else {}  # in range: typer checked --port
    if deployment is None:
        if given.get("node_package"):
            raise ConfigurationError("--node-package needs a deployment file with a graph")
        given.pop("node_package", None)
        model: dict[str, Any] = {k: given.pop(k) for k in ("qualified_name", "class_path") if k in given}
        if "version" in given:
            model["version"] = given.pop("version")
        return parse_deployment({**given, "model": model, **({"local": local} if local else {})}, "command line")
    spec = load_deployment(deployment)
    model_changes = {"version": given.pop("version")} if "version" in given else {}
    if "qualified_name" in given or "class_path" in given:
        raise ConfigurationError("--model/--class-path only apply without a deployment file")
    package = given.pop("package", None)
    nodes = _node_packages(given.pop("node_package", None) or [])
    if nodes:
        given["packages"] = {**spec.packages, **nodes}
    return parse_deployment({**spec.model_dump(mode="json"), **given,
                             "model": {**spec.model.model_dump(mode="json"), **model_changes},
                             "local": {**spec.local.model_dump(mode="json"), **local},
                             **({"package": str(Path(package).resolve()) if "://" not in package else package}
                                if package else {})}, str(deployment))


def _node_packages(items: list[str]) -> dict[str, str]:
    """``--node-package NODE=SOURCE`` options as ``{node: source}`` (local paths made absolute)."""
    found = {}
    for item in items:
        node, sep, source = item.partition("=")
        if not sep or not node or not source:
            raise ConfigurationError(f"--node-package '{item}': write NODE=SOURCE (a MODEL node of the graph and "
                                     "its package: .zip path, folder, file:// or s3:// URI)")
        found[node] = source if "://" in source else str(Path(source).resolve())
    return found


def _header(spec: DeploymentSpec) -> None:
    err_console().print(f"deploying {spec.model.qualified_name} as '{spec.name}' to {spec.target}", markup=False)


def deploy(
    deployment: Annotated[Path | None, typer.Argument(help="Deployment file (YAML); or give the flags.")] = None,
    package: Annotated[str | None, typer.Option(help="Package: .zip path, folder, file:// or s3:// URI.")] = None,
    node_package: Annotated[list[str] | None, typer.Option(
        "--node-package", help="A graph's package of one MODEL node: NODE=SOURCE (repeat per node).")] = None,
    target: Annotated[str | None, typer.Option(help=f"{' | '.join(TARGETS)}.")] = None,
    environment: Annotated[str | None, typer.Option(help="development | staging | production.")] = None,
    name: Annotated[str | None, typer.Option(help="Deployment name (without a file).")] = None,
    model: Annotated[str | None, typer.Option(help="Model qualified name (without a file).")] = None,
    class_path: Annotated[str | None, typer.Option(help="Model class import path (without a file).")] = None,
    version: Annotated[str | None, typer.Option(help="Version the package must hold.")] = None,
    port: Annotated[int | None, typer.Option(min=0, max=65535, help="Local port (0: a free one).")] = None,
    apply: Annotated[bool, typer.Option("--apply", help="kubectl apply the manifests (current context).")] = False,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Folder for the manifests.")] = None,
    keyring: KeyringOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Deploy a signed package: stage, verify, validate, register, serve, record."""
    spec = _spec(deployment, {"package": package, "node_package": node_package, "target": target,
                              "environment": environment, "name": name,
                              "qualified_name": model, "class_path": class_path, "version": version,
                              "port": port})
    _header(spec)
    outcome = _orchestrator(keyring, actor, spec=spec).deploy(spec, apply=apply, output=output)
    view = outcome.deployment
    console().print(f"deployment {view.id}: {view.model}@{view.version} {view.status} at {view.endpoint_url}",
                    markup=False)


def deployments_list(
    model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
    status: Annotated[DeploymentStatus | None, typer.Option(
        help="running | failed | replaced | stopped | pending | rolled_back.")] = None,
) -> None:
    """List deployments, newest first."""
    from modelward import catalog as cat

    page = cat.list_deployments(_catalog(), model=model, status=status.value if status else None)
    for view in page.deployments:
        console().print(f"{view.id}  {view.model}@{view.version}  {view.target:<10} {view.status:<8} "
                        f"{view.deployed_at:%Y-%m-%d %H:%M:%S}  {view.endpoint_url}", markup=False)


def deployments_status(name_or_id: Annotated[str, typer.Argument(help="Deployment name or id.")]) -> None:
    """A deployment's record and, for a local one, its process."""
    import json

    from modelward import catalog as cat
    from modelward.services.deploy_state import DeploymentState
    from modelward.services.local_target import LocalTarget, load_running
    from modelward.services.orchestrator import find_deployment, live_server
    from modelward.settings import load_settings

    settings = load_settings()
    state = DeploymentState(settings.data_dir / "deployments")
    view = find_deployment(state, cat.open_from_settings(settings), name_or_id)
    ident = view.id
    document: dict[str, Any] = view.model_dump(mode="json")
    running = live_server(state, ident)
    recorded = load_running(state.folder(ident) / "running.json")
    if running is not None:
        document["process"] = LocalTarget().describe(running)
    elif recorded is not None and document["status"] == "running":  # killed, crashed, or the machine restarted
        document["process"] = {"pid": recorded.pid, "alive": False, "ready": False, "url": recorded.url,
                               "log": str(recorded.log)}
        console().print(json.dumps(document, indent=2), markup=False)
        raise TargetError(f"deployment {ident} is recorded 'running' but its server (pid {recorded.pid}) is not "
                          f"running; its log: {recorded.log}")
    console().print(json.dumps(document, indent=2), markup=False)


def deployments_stop(
    name_or_id: Annotated[str, typer.Argument(help="Deployment name or id.")],
    keyring: KeyringOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Stop a local deployment's server and record it stopped (one already stopped: said so, exit 0)."""
    orchestrator = _orchestrator(keyring, actor, verifies=False)
    before = orchestrator.find(name_or_id)
    view = orchestrator.stop(before.id)
    if before.status in (DeploymentStatus.RUNNING.value, DeploymentStatus.PENDING.value):
        console().print(f"deployment {view.id}: {view.status}", markup=False)
    elif before.status == DeploymentStatus.STOPPED.value:
        console().print(f"deployment {view.id}: already stopped", markup=False)
    else:
        console().print(f"deployment {view.id}: {view.status}, nothing to stop", markup=False)


def promote(
    model: Annotated[str, typer.Argument(help="Model qualified name.")],
    version: Annotated[str, typer.Argument(help="Version (must have passed validation).")],
    to: Annotated[str, typer.Option("--to", help="staging | production.")] = "production",
    keyring: KeyringOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Promote a validated version to staging or production (recorded)."""
    if to not in ("staging", "production"):
        raise ConfigurationError(f"--to: '{to}' is not staging or production")
    view = _orchestrator(keyring, actor, verifies=False).promote(model, version, to)
    console().print(f"{view.model}@{view.version} is now {view.stage}", markup=False)


def rollback(
    deployment: Annotated[str, typer.Argument(help="The deployment (id or name) to roll back.")],
    keyring: KeyringOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Redeploy the version the deployment replaced, through every step (recorded)."""
    orchestrator = _orchestrator(keyring, actor)
    ident, spec = orchestrator.rollback_plan(deployment)
    _header(spec)
    view = orchestrator.roll_back(ident, spec).deployment
    console().print(f"deployment {view.id}: {view.model}@{view.version} {view.status} at {view.endpoint_url} "
                    f"(rolled back from {ident})", markup=False)


def register(app: typer.Typer) -> None:
    """Add the deployment commands."""
    app.command()(deploy)
    group = typer.Typer(help="Deployments: list, status, stop.", no_args_is_help=True)
    group.command("list")(deployments_list)
    group.command("status")(deployments_status)
    group.command("stop")(deployments_stop)
    app.add_typer(group, name="deployments")
    app.command()(promote)
    app.command()(rollback)
    app.command("render")(render_command)
