"""The deployment orchestrator: stage → verify → register → validate → serve → record.

Like the orchestrator of the governance article, it runs each step, aggregates metadata on the
way and ends by recording one searchable Deployment in the catalog. Unlike it, a failure at any
step stops the run with a typed error, leaves what was serving untouched, and is recorded: as a
``failed`` Deployment when the catalog knows the version, else as a failed attempt (model, claimed
version, package, step, reason) in the catalog, and always in ``attempts.jsonl``.

Validating comes before registering: a package refused at verify or validate (a bad signature, a
model that reports another version than its manifest, a known case that does not match) never gets
a version row, and its extracted files and staged copy are removed; it is recorded as a failed
attempt naming the package (and its digest in ``attempts.jsonl``). A registered version starts at
the ``validated`` stage — the one ``promote`` requires — because it only gets there once its
known cases and policy tests passed.
"""

from __future__ import annotations

import getpass
import socket
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelward import artifacts
from modelward import catalog as cat
from modelward.deploy import DeploymentSpec
from modelward.errors import DeployError, ModelwardError, NotFound, TargetError
from modelward.services import deploy_graph as graph_steps
from modelward.services import deploy_steps as steps
from modelward.services.catalog_facade import promote
from modelward.services.deploy_state import DeploymentState, StepReport
from modelward.services.local_target import LocalTarget, Running, is_our_server, load_running, save_running
from modelward.settings import Settings

Progress = Callable[[StepReport], None]
STEPS = ("stage", "verify", "validate", "register", "serve", "record")


@dataclass(frozen=True)
class DeployOutcome:
    """A finished deployment: its catalog record, the steps, and where the manifests went."""

    deployment: cat.DeploymentView
    steps: tuple[StepReport, ...]
    manifests: Path | None = None


@dataclass
class Orchestrator:
    """Deploys specs; everything it touches is passed in (settings, catalog, keyring)."""

    settings: Settings
    catalog: cat.Catalog
    keyring: artifacts.Keyring
    actor: str = field(default_factory=getpass.getuser)
    progress: Progress = field(default=lambda report: None)
    target: LocalTarget = field(default_factory=LocalTarget)
    kubectl: str = "kubectl"

    @property
    def state(self) -> DeploymentState:
        return DeploymentState(self.settings.data_dir / "deployments")

    # --- deploy -----------------------------------------------------------------------------

    def deploy(self, spec: DeploymentSpec, *, apply: bool = False, output: Path | None = None,
               replaces: str | None = None) -> DeployOutcome:
        """Run every step; on failure record the attempt and raise the step's error.

        One deploy of a name runs at a time: a second one fails (recorded, at step ``lock``) while
        the first holds the name, so two servers never both take over from the same one.
        """
        ident = uuid.uuid4().hex
        attempt = steps.Attempt(spec=spec, deployment_id=ident, folder=self.state.folder(ident), actor=self.actor)
        with ExitStack() as held:
            try:
                held.enter_context(self.state.lock(spec.name))
            except ModelwardError as exc:
                self._fail(attempt, [], exc, step="lock")
                raise
            return self._deploy(attempt, apply=apply, output=output, replaces=replaces)

    def _deploy(self, attempt: steps.Attempt, *, apply: bool, output: Path | None,
                replaces: str | None) -> DeployOutcome:
        done: list[StepReport] = []
        previous = replaces or self.state.current(attempt.spec.name)
        try:
            manifests = self._run(attempt, done, apply=apply, output=output)
            view = self._step(done, "record", lambda: self._record(attempt, previous))
            self._retire(attempt, previous)
        except ModelwardError as exc:
            self._fail(attempt, done, exc)
            raise
        except BaseException as exc:  # Ctrl-C (or a bug): stop the new server, record, then let it through
            reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"unexpected {type(exc).__name__}: {exc}"
            self._fail(attempt, done, DeployError(reason), step=STEPS[min(len(done), len(STEPS) - 1)])
            raise
        finally:
            if attempt.package is not None:
                attempt.package.close()
            graph_steps.close(attempt)
            self.state.save_steps(attempt.deployment_id, done)
        assert isinstance(view, cat.DeploymentView)
        return DeployOutcome(deployment=view, steps=tuple(done), manifests=manifests)

    def _run(self, attempt: steps.Attempt, done: list[StepReport], *, apply: bool,
             output: Path | None) -> Path | None:
        kind: Any = graph_steps if attempt.spec.graph is not None else steps
        self._step(done, "stage", lambda: kind.stage(attempt, self.settings))
        self._step(done, "verify", lambda: kind.verify(attempt, self.settings, self.keyring))
        self._step(done, "validate", lambda: kind.validate(attempt))
        self._step(done, "register", lambda: kind.register(attempt, self.settings, self.catalog))
        if attempt.spec.target == "local":
            self._step(done, "serve", lambda: self._serve_local(attempt))
            return None
        holder: list[Path] = []
        self._step(done, "serve", lambda: self._serve_manifests(attempt, apply, output, holder))
        return holder[0]

    def _step(self, done: list[StepReport], name: str, action: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            result = action()
        except ModelwardError as exc:
            done.append(StepReport(name, False, time.perf_counter() - started, exc.message))
            self.progress(done[-1])
            exc.message = f"{name} failed: {exc.message}"
            exc.args = (exc.message,)
            raise
        detail = result if isinstance(result, str) else getattr(result, "id", "")
        done.append(StepReport(name, True, time.perf_counter() - started, str(detail)))
        self.progress(done[-1])
        return result

    def _serve_local(self, attempt: steps.Attempt) -> str:
        config = steps.write_service_config(attempt)
        local = attempt.spec.local
        env = {**_environment(), **_model_env(attempt)}
        if attempt.spec.graph is not None:  # router state where the orchestrator keeps its data (survives redeploys)
            env.setdefault("MODELWARD_DATA_DIR", str(self.settings.data_dir))
        current = self._running_of(self.state.current(attempt.spec.name))
        if local.port and current is not None and current.port == local.port:
            running = self._swap(attempt, config, env, current)
        else:
            running = self.target.start(attempt.folder, config, local.host, local.port, env, local.startup_timeout)
        save_running(running, attempt.folder / "running.json")
        attempt.running = running
        attempt.endpoint = f"{running.url}/api/models/{attempt.model}/prediction"
        attempt.host_detail = f"{socket.gethostname()} pid {running.pid} port {running.port}"
        return f"{running.url} (pid {running.pid}, log {running.log})"

    def _swap(self, attempt: steps.Attempt, config: Path, env: dict[str, str], current: Running) -> Running:
        """Same fixed port: prove the new server starts on a spare port, then hand the port over."""
        local = attempt.spec.local
        trial = self.target.start(attempt.folder / "trial", config, local.host, 0, env, local.startup_timeout)
        self.target.stop(trial)
        self.target.stop(current)
        attempt.handed_over = current  # from here on, a failure restarts it (``_fail``)
        return self.target.start(attempt.folder, config, local.host, local.port, env, local.startup_timeout)

    def _restart(self, old: Running) -> None:
        """Serve the deployment whose port was handed over again, on its port, as it was."""
        folder = old.pid_file.parent
        again = self.target.start(folder, folder / "rest_config.yaml", old.host, old.port,
                                  _environment() | _env_of(folder), 60.0)
        save_running(again, folder / "running.json")

    def _serve_manifests(self, attempt: steps.Attempt, apply: bool, output: Path | None,
                         holder: list[Path]) -> str:
        inputs = graph_steps.render_inputs(attempt) if attempt.spec.graph is not None else steps.render_inputs(attempt)
        folder = steps.write_manifests(attempt, output, inputs)
        holder.append(folder)
        from modelward.deploy import config_digest

        attempt.config_digest = config_digest(attempt.spec, inputs, [".."])
        k8s = attempt.spec.kubernetes
        attempt.host_detail = f"namespace {k8s.namespace}, image {k8s.image}"
        attempt.endpoint = f"http://{attempt.spec.name}.{k8s.namespace}.svc/api/models/{attempt.model}/prediction"
        if not apply:
            return f"manifests in {folder} (not applied: pass --apply)"
        answer = steps.apply_manifests(folder, self.kubectl)
        attempt.applied = True
        return f"applied {folder}: {answer}"

    # --- record -------------------------------------------------------------------------------

    def _info(self, attempt: steps.Attempt, status: cat.DeploymentStatus, reason: str = "",
              replaces: str | None = None) -> cat.DeploymentInfo:
        return cat.DeploymentInfo(
            model=attempt.model, version=attempt.version or (attempt.spec.model.version or ""),
            target=cat.Target(attempt.spec.target), host_detail=attempt.host_detail,
            endpoint_url=attempt.endpoint, environment=attempt.spec.environment,
            replicas=attempt.spec.replicas, status=status, reason=reason,
            config_digest=attempt.config_digest, policy_bundle_digest=steps.policy_bundle_digest(attempt),
            replaces=replaces, deployment_id=attempt.deployment_id)

    def _record(self, attempt: steps.Attempt, previous: str | None) -> cat.DeploymentView:
        replaces = previous if previous and self._known(previous) else None
        live = attempt.spec.target == "local" or attempt.applied
        status = cat.DeploymentStatus.RUNNING if live else cat.DeploymentStatus.PENDING
        view = cat.record_deployment(self.catalog, info=self._info(attempt, status, replaces=replaces),
                                     actor=self.actor)
        self.state.save_spec(attempt.deployment_id, graph_steps.recorded_spec(attempt) if attempt.spec.graph
                             is not None else attempt.spec.model_copy(
            update={"package": attempt.registered_uri,
                    "model": attempt.spec.model.model_copy(update={"version": attempt.version})}))
        self.state.journal({"deployment_id": view.id, "model": f"{attempt.model}@{attempt.version}",
                            "status": view.status, "actor": self.actor, "target": attempt.spec.target})
        return view

    def _known(self, deployment_id: str) -> bool:
        try:
            cat.get_deployment(self.catalog, deployment_id=deployment_id)
        except NotFound:
            return False
        return True

    def _retire(self, attempt: steps.Attempt, previous: str | None) -> None:
        """The new deployment is recorded: stop the old local server, point the name at the new one."""
        if attempt.spec.target == "local":
            old = self._running_of(previous)
            if old is not None and (attempt.running is None or old.pid != attempt.running.pid):
                self.target.stop(old)
            self.state.set_current(attempt.spec.name, attempt.deployment_id)

    def _fail(self, attempt: steps.Attempt, done: list[StepReport], exc: ModelwardError,
              step: str | None = None) -> None:
        """Undo what the attempt started, then record the failure where it can be recorded.

        The attempt's extracted files and staged package are removed (nothing serves from them);
        the journal keeps the package's digest and size as evidence.
        """
        if attempt.running is not None:
            self.target.stop(attempt.running)
        size = attempt.staged.stat().st_size if attempt.staged is not None and attempt.staged.is_file() else 0
        steps.discard_payload(attempt)
        graph_steps.discard(attempt)
        if attempt.handed_over is not None:  # the old server gave up its port to this attempt: it serves again
            try:
                self._restart(attempt.handed_over)
            except ModelwardError as restart_error:
                exc.message = f"{exc.message}; the previous deployment could not be restarted: {restart_error.message}"
                exc.args = (exc.message,)
        step = step or (done[-1].name if done and not done[-1].ok else "record")
        try:
            recorded = self._record_failure(attempt, step, exc.message)
        except ModelwardError as record_error:
            recorded = f"journal only (catalog: {record_error.message})"
        self.state.journal_failure(deployment_id=attempt.deployment_id, model=attempt.model,
                                   version=attempt.version, step=step, error=exc, recorded=recorded,
                                   actor=self.actor, target=attempt.spec.target, package=attempt.spec.package or "",
                                   package_digest=attempt.digest, package_bytes=str(size))

    def _record_failure(self, attempt: steps.Attempt, step: str, reason: str) -> str:
        """A ``failed`` deployment of a registered version, else a failed attempt naming the package."""
        if attempt.version:
            try:
                cat.record_deployment(self.catalog, info=self._info(attempt, cat.DeploymentStatus.FAILED,
                                                                    reason=reason), actor=self.actor)
                return "catalog"
            except NotFound:
                pass  # verified but never registered: recorded as an attempt below
        cat.record_failed_attempt(self.catalog, info=cat.AttemptInfo(
            model=attempt.model, version=attempt.version or (attempt.spec.model.version or ""),
            source_uri=attempt.spec.package or "", target=cat.Target(attempt.spec.target),
            environment=attempt.spec.environment, step=step, reason=reason,
            attempt_id=attempt.deployment_id), actor=self.actor)
        return "catalog (failed attempt)"

    # --- local processes ----------------------------------------------------------------------

    def _running_of(self, deployment_id: str | None) -> Running | None:
        return live_server(self.state, deployment_id) if deployment_id else None

    def running(self, deployment_id: str) -> Running | None:
        """The live local server of a deployment, if any."""
        return self._running_of(deployment_id)

    # --- promote, rollback, stop -----------------------------------------------------------------

    def promote(self, model: str, version: str, stage: str) -> cat.VersionView:
        """Move a validated version to ``stage`` (recorded by the catalog's audit trail)."""
        return promote(self.catalog, name=model, version=version, stage=stage, actor=self.actor)

    def find(self, name_or_id: str) -> cat.DeploymentView:
        """A deployment by name (see ``DeploymentState.resolve``) or id; ``NotFound`` naming both."""
        return find_deployment(self.state, self.catalog, name_or_id)

    def rollback_plan(self, name_or_id: str) -> tuple[str, DeploymentSpec]:
        """The id of the deployment to roll back and the spec of the one it replaced (to redeploy)."""
        view = self.find(name_or_id)
        if not view.replaced_id:
            raise NotFound(f"deployment '{view.id}' replaced nothing: there is no version to roll back to")
        return view.id, self.state.load_spec(view.replaced_id)

    def rollback(self, name_or_id: str) -> DeployOutcome:
        """Redeploy the version that deployment replaced, through every step."""
        ident, spec = self.rollback_plan(name_or_id)
        return self.roll_back(ident, spec)

    def roll_back(self, ident: str, spec: DeploymentSpec) -> DeployOutcome:
        """Deploy ``spec`` in place of deployment ``ident``; once it runs, ``ident`` is recorded ``rolled_back``.

        The catalog's rollback status, so that a later rollback (here, in the console or over REST)
        never restores the version rolled back.
        """
        outcome = self.deploy(spec, replaces=ident)
        if outcome.deployment.status == cat.DeploymentStatus.RUNNING.value:
            cat.record_rolled_back(self.catalog, deployment_id=ident, by=outcome.deployment.id, actor=self.actor)
        return outcome

    def stop(self, name_or_id: str) -> cat.DeploymentView:
        """Stop a local deployment's server and record it ``stopped`` (one already stopped stays as it is)."""
        view = self.find(name_or_id)
        ident = view.id
        running = self._running_of(ident)
        if running is not None and not self.target.stop(running):
            raise TargetError(f"deployment {ident}: process {running.pid} did not stop")
        spec_name = self.state.load_spec(ident).name if (self.state.folder(ident) / "deployment.json").is_file() \
            else None
        if spec_name and self.state.current(spec_name) == ident:
            self.state.set_current(spec_name, None)
        if view.status in (cat.DeploymentStatus.RUNNING.value, cat.DeploymentStatus.PENDING.value):
            view = cat.update_deployment(self.catalog, deployment_id=ident, status=cat.DeploymentStatus.STOPPED,
                                         reason=f"stopped by {self.actor}", actor=self.actor)
        return view


def journal_refused(settings: Settings, spec: DeploymentSpec, actor: str, step: str, exc: ModelwardError) -> None:
    """Journal a deploy refused before it could start (no keyring, no catalog): the catalog cannot hold it."""
    DeploymentState(settings.data_dir / "deployments").journal_failure(
        deployment_id=uuid.uuid4().hex, model=spec.model.qualified_name, version=spec.model.version or "",
        step=step, error=exc, recorded="journal only", actor=actor, target=spec.target, package=spec.package or "")


def find_deployment(state: DeploymentState, catalog: cat.Catalog, name_or_id: str) -> cat.DeploymentView:
    """The deployment a name means (serving under it now, else the newest recorded under it), or an id."""
    ident = state.resolve(name_or_id) or name_or_id
    try:
        return cat.get_deployment(catalog, deployment_id=ident)
    except NotFound:
        if ident != name_or_id:  # the name is known here, its record is not (another catalog?)
            raise NotFound(f"deployment '{name_or_id}' ({ident}) is not in the catalog") from None
        raise NotFound(f"no deployment named or with id '{name_or_id}'") from None


def live_server(state: DeploymentState, deployment_id: str) -> Running | None:
    """The live local server of a deployment (``None`` when it is not running any more)."""
    running = load_running(state.folder(deployment_id) / "running.json")
    config = state.folder(deployment_id) / "rest_config.yaml"
    if running is None or not is_our_server(running.pid, config):
        return None
    return running


def _model_env(attempt: steps.Attempt) -> dict[str, str]:
    """What the served configuration refers to: a model's package, files, version; a graph's per node."""
    return graph_steps.graph_env(attempt) if attempt.spec.graph is not None else steps.model_env(attempt)


def _environment() -> dict[str, str]:
    import os

    return dict(os.environ)


def _env_of(folder: Path) -> dict[str, str]:
    """What a deployment's model configuration refers to (``steps.model_env``), read back from its folder."""
    import json

    env = {"MODEL_FILES": str(folder / "files"), "MODEL_POLICIES": str(folder / "policies")}
    recorded = folder / "deployment.json"
    if recorded.is_file():
        spec = json.loads(recorded.read_text(encoding="utf-8"))
        if spec.get("graph") is not None:
            return graph_steps.env_of_recorded(folder, spec)
        if isinstance(spec.get("package"), str):
            env["MODEL_PACKAGE"] = spec["package"]
        if isinstance(spec.get("model", {}).get("version"), str):
            env["MODEL_VERSION"] = spec["model"]["version"]
    return env
