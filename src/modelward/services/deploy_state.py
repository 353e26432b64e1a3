"""Where the orchestrator keeps its local state, under ``<data_dir>/deployments``.

```
deployments/
  <deployment id>/          deployment.json (the spec, package = registered URI), steps.json,
                            rest_config.yaml, files/ (verified package files), serve.log,
                            serve.pid, running.json, manifests/
  current/<name>.json       {"deployment_id": ...}: what serves under that name now
  locks/<name>.lock         held (flock) by the one deploy of that name that runs now
  attempts.jsonl            every attempt, including those the catalog could not hold
```
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelward.deploy import DeploymentSpec
from modelward.errors import DeployError, ModelwardError, NotFound


@dataclass(frozen=True)
class StepReport:
    """One step of a deployment: its name, whether it passed, how long it took, what it found."""

    name: str
    ok: bool
    seconds: float
    detail: str = ""


def _write_json(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.part")
    temporary.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    temporary.replace(path)


class DeploymentState:
    """The orchestrator's files for every deployment."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, deployment_id: str) -> Path:
        """The folder of one deployment attempt."""
        return self.root / deployment_id

    def save_spec(self, deployment_id: str, spec: DeploymentSpec) -> None:
        _write_json(self.folder(deployment_id) / "deployment.json", spec.model_dump(mode="json"))

    def load_spec(self, deployment_id: str) -> DeploymentSpec:
        """The spec a deployment was made from (with its registered package URI)."""
        path = self.folder(deployment_id) / "deployment.json"
        if not path.is_file():
            raise NotFound(f"deployment '{deployment_id}' has no saved deployment file under {self.root}")
        return DeploymentSpec.model_validate_json(path.read_text(encoding="utf-8"))

    def save_steps(self, deployment_id: str, steps: list[StepReport]) -> None:
        _write_json(self.folder(deployment_id) / "steps.json", [asdict(s) for s in steps])

    def current(self, name: str) -> str | None:
        """The id of what serves under ``name`` now (``None`` when nothing does)."""
        path = self.root / "current" / f"{name}.json"
        if not path.is_file():
            return None
        return str(json.loads(path.read_text(encoding="utf-8"))["deployment_id"])

    def newest(self, name: str) -> str | None:
        """The id of the newest deployment recorded under ``name``, serving or not (``None``: none was)."""
        recorded = []
        for path in self.root.glob("*/deployment.json"):
            try:
                if json.loads(path.read_text(encoding="utf-8")).get("name") == name:
                    recorded.append((path.stat().st_mtime_ns, path.parent.name))
            except (OSError, ValueError):
                continue  # being written, or not ours: not a deployment of this name
        return max(recorded)[1] if recorded else None

    def resolve(self, name: str) -> str | None:
        """What ``name`` means: the deployment serving under it now, else the newest recorded under it."""
        return self.current(name) or self.newest(name)

    def set_current(self, name: str, deployment_id: str | None) -> None:
        path = self.root / "current" / f"{name}.json"
        if deployment_id is None:
            path.unlink(missing_ok=True)
        else:
            _write_json(path, {"deployment_id": deployment_id})

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Hold ``locks/<name>.lock`` while a deploy of ``name`` runs; ``DeployError`` if another one does."""
        path = self.root / "locks" / f"{name}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a+", encoding="utf-8") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip()
                raise DeployError(f"another deploy of '{name}' is running{f' (pid {holder})' if holder else ''}: "
                                  "wait for it to finish, then deploy again") from None
            handle.truncate(0)
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            try:
                yield
            finally:
                handle.truncate(0)
                fcntl.flock(handle, fcntl.LOCK_UN)

    def journal_failure(self, *, deployment_id: str, model: str, version: str, step: str, error: ModelwardError,
                        recorded: str, actor: str, target: str, **extra: str) -> None:
        """Journal one failed attempt: where it failed, why, and where else it was recorded."""
        self.journal({"deployment_id": deployment_id, "model": model, "version": version, "status": "failed",
                      "step": step, "reason": error.message, "error": type(error).__name__, "recorded": recorded,
                      "actor": actor, "target": target, **extra})

    def journal(self, entry: dict[str, Any]) -> None:
        """Append one attempt to ``attempts.jsonl`` (durable even when the catalog is down)."""
        self.root.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"at": datetime.now(UTC).isoformat(), **entry}, default=str)
        with (self.root / "attempts.jsonl").open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def attempts(self) -> list[dict[str, Any]]:
        """Every journaled attempt, oldest first."""
        path = self.root / "attempts.jsonl"
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
