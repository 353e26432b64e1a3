"""The steps of a deployment, each a function of an ``Attempt`` that aggregates metadata as it goes.

stage (fetch the package) → verify (signature, keyring, every file) → validate (the model loads and
reports the manifest's version, known cases, policy tests) → register (content-addressed copy in
the registry store, version in the catalog, stage ``validated``) → serve (local process, or
manifests and ``kubectl apply``) → record (the catalog's Deployment).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import yaml

from modelward import artifacts
from modelward import catalog as cat
from modelward.deploy import DeploymentSpec, RenderInputs, policy_digest, read_policies, render, service_config
from modelward.deploy import to_files as manifest_files
from modelward.errors import (
    ConfigurationError,
    ModelwardError,
    PackageFormatError,
    TargetError,
    ValidationFailed,
    VersionMismatch,
)
from modelward.services.config import ModelConfig
from modelward.services.deploy_validate import parse_cases, run_cases
from modelward.services.loader import build_model, extend_python_path
from modelward.services.registration import recordable, store_package, version_info
from modelward.settings import Settings


@dataclass
class Attempt:
    """One deployment attempt and the metadata gathered along the way (the article's ModelMetadata)."""

    spec: DeploymentSpec
    deployment_id: str
    folder: Path
    actor: str
    staged: Path | None = None
    digest: str = ""
    package: Any = None  # artifacts.VerifiedPackage once verified
    registered_uri: str = ""
    version: str = ""
    key_id: str = ""
    policies: dict[str, str] = field(default_factory=dict)
    endpoint: str = ""
    host_detail: str = ""
    config_digest: str = ""
    cases: int = 0
    policy_tests: int = 0
    running: Any = None  # local_target.Running for the local target
    handed_over: Any = None  # the old local_target.Running stopped to free its fixed port for this one
    applied: bool = False  # manifests applied with kubectl
    members: list[Any] = field(default_factory=list)  # a graph's: deploy_graph.Member per MODEL node

    @property
    def model(self) -> str:
        return self.spec.model.qualified_name

    @property
    def files(self) -> Path:
        return self.folder / "files"


def sha256_file(path: Path) -> str:
    """``sha256:<hex>`` of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


# --- stage -----------------------------------------------------------------------------------


def stage(attempt: Attempt, settings: Settings) -> str:
    """Copy (or download) the package into the attempt's folder; note its digest."""
    source = attempt.spec.package
    if not source:
        raise ConfigurationError("package: no package given (a folder, a .zip, file:// or s3:// URI)")
    target = attempt.folder / "staged.zip"
    attempt.folder.mkdir(parents=True, exist_ok=True)
    parsed = urlparse(source)
    if parsed.scheme == "s3":
        store_url, _, key = source.rstrip("/").rpartition("/")
        artifacts.open_store(store_url, endpoint_url=settings.s3_endpoint_url).get(key, target)
    elif parsed.scheme in ("", "file"):
        _copy_local(Path(unquote(parsed.path)) if parsed.scheme else Path(source), target)
    else:
        raise ConfigurationError(f"package: unsupported scheme '{parsed.scheme}' (use a path, file:// or s3://)")
    attempt.staged = target
    attempt.digest = sha256_file(target)
    return f"{source} ({target.stat().st_size} bytes, {attempt.digest[:19]}…)"


def _copy_local(path: Path, target: Path) -> None:
    if path.is_dir():
        zips = sorted(path.glob("*.zip"))
        if len(zips) != 1:
            raise PackageFormatError(f"package: folder {path} must hold exactly one .zip package, "
                                     f"found {len(zips)}")
        path = zips[0]
    if not path.is_file():
        raise PackageFormatError(f"package: {path} does not exist")
    shutil.copyfile(path, target)


# --- verify ----------------------------------------------------------------------------------


def verify(attempt: Attempt, settings: Settings, keyring: Any) -> str:
    """Signature, keyring and every file; the package must hold the model the file names."""
    assert attempt.staged is not None
    try:
        package = artifacts.load_verified(attempt.staged, keyring, max_expansion_bytes=settings.max_expansion_bytes,
                                          allow_unsigned=False, endpoint_url=settings.s3_endpoint_url)
    except ModelwardError as exc:  # name the package the user gave, not the attempt's staged copy of it
        exc.message = exc.message.replace(str(attempt.staged), attempt.spec.package or str(attempt.staged))
        exc.args = (exc.message,)
        raise
    attempt.package = package
    named = package.manifest.model
    if named.qualified_name != attempt.model:
        raise PackageFormatError(f"the package holds model '{named.qualified_name}', "
                                 f"the deployment file names '{attempt.model}'")
    wanted = attempt.spec.model.version
    if wanted and named.version != wanted:
        raise PackageFormatError(f"the package holds version {named.version}, the deployment file asks for {wanted}")
    attempt.version, attempt.key_id = named.version, package.key_id or ""
    return f"{attempt.model}@{attempt.version} signed by {attempt.key_id}, {len(package.manifest.files)} files"


# --- register --------------------------------------------------------------------------------


def register(attempt: Attempt, settings: Settings, catalog: Any) -> str:
    """Copy the package to the registry store (once per digest), register its version, mark it validated.

    Runs after ``validate``: a package refused at verify or validate never gets a version row.
    """
    assert attempt.staged is not None
    store = artifacts.open_store(settings.resolved_store_url(), endpoint_url=settings.s3_endpoint_url)
    manifest = attempt.package.manifest
    model = _model_info(attempt, manifest)
    attempt.registered_uri = store_package(catalog, store, attempt.staged, digest=attempt.digest,
                                           name=attempt.model, version=attempt.version)
    view, _ = cat.register_version(catalog, model=model, version=_version_info(attempt), actor=attempt.actor)
    if view.stage == cat.Stage.REGISTERED.value:  # its known cases and policy tests passed in this attempt
        cat.set_stage(catalog, model=attempt.model, version=attempt.version, stage=cat.Stage.VALIDATED,
                      actor=attempt.actor)
    return attempt.registered_uri


def _model_info(attempt: Attempt, manifest: Any) -> cat.ModelInfo:
    with recordable("model"):
        return cat.ModelInfo(qualified_name=attempt.model, owner=manifest.training.owner)


def _version_info(attempt: Attempt) -> cat.VersionInfo:
    return version_info(attempt.package.manifest, artifact_uri=attempt.registered_uri,
                        artifact_digest=attempt.digest, key_id=attempt.key_id,
                        manifest_digest=attempt.package.manifest_digest or "",
                        registry_url=attempt.registered_uri, version=attempt.version)


# --- validate --------------------------------------------------------------------------------


def extract(attempt: Attempt) -> None:
    """Write the verified files (re-checked against the manifest while read) to ``files/``."""
    for entry in attempt.package.manifest.files:
        target = attempt.files / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(attempt.package.read_bytes(entry.path))


def model_env(attempt: Attempt) -> dict[str, str]:
    """What the configuration may refer to: ``${MODEL_FILES}``, ``${MODEL_PACKAGE}``, ``${MODEL_POLICIES}``.

    ``MODEL_POLICIES`` is this deployment's own copy of its policy files (``<folder>/policies``), so a
    later edit of the source folder does not change what a running deployment enforces.
    ``MODEL_PACKAGE`` is the registered store copy; while validating (before registering) it is the
    staged copy, the same verified bytes.
    """
    package = attempt.registered_uri or (attempt.staged.resolve().as_uri() if attempt.staged else "")
    return {"MODEL_FILES": str(attempt.files), "MODEL_PACKAGE": package,
            "MODEL_VERSION": attempt.version, "MODEL_POLICIES": str(attempt.folder / "policies")}


def discard_payload(attempt: Attempt) -> None:
    """Remove what a failed attempt unpacked or fetched: the extracted ``files/`` and ``staged.zip``.

    What stays is the evidence: ``steps.json`` (each step's outcome; stage's detail names the
    package's digest), the journal entry (with the digest and size) and any server log.
    """
    shutil.rmtree(attempt.files, ignore_errors=True)
    if attempt.staged is not None:
        attempt.staged.unlink(missing_ok=True)


def snapshot_policies(attempt: Attempt) -> None:
    """Write the deployment's policy files into ``<folder>/policies`` (what ``MODEL_POLICIES`` names)."""
    target = attempt.folder / "policies"
    target.mkdir(parents=True, exist_ok=True)
    for name, text in attempt.policies.items():
        (target / name).write_text(text, encoding="utf-8")


def validate(attempt: Attempt) -> str:
    """Load the model (it must report the manifest's version), run it on the known cases, then the
    policy tests; the first failure stops everything."""
    extract(attempt)
    cases, where = _known_cases(attempt)
    model = _build_plain_model(attempt)
    check_version(model, attempt.version)
    attempt.cases = run_cases(model, cases, where).cases
    attempt.policies = read_policies(attempt.spec)
    attempt.policy_tests = policy_tests(attempt)
    return f"{attempt.cases} known cases match, {attempt.policy_tests} policy tests pass"


def check_version(model: Any, manifest_version: str) -> None:
    """``ValidationFailed`` unless the loaded model reports the version its signed manifest names.

    What is served must be what the catalog records: a model whose ``version`` is fixed in its
    class or configuration (rather than ``${MODEL_VERSION}``) would otherwise be recorded, and
    served, as a version it is not.
    """
    try:
        reported = model.version
    except Exception as exc:  # a model's own property: anything may go wrong in it
        raise ValidationFailed(f"the model's version cannot be read after loading: {type(exc).__name__}: "
                               f"{exc}") from None
    if str(reported) != manifest_version:
        raise VersionMismatch(
            f"version mismatch: the package's manifest says version {manifest_version}, the loaded model "
            f"reports version {str(reported)!r} (model.version); a package is not deployed as a version it "
            "does not serve. Let the model report the manifest's version (e.g. configuration "
            "`version: ${MODEL_VERSION}`) or build the package with the version the model reports.",
            expected=manifest_version, actual=str(reported))


def _known_cases(attempt: Attempt) -> tuple[list[Any], str]:
    if attempt.spec.validation:
        path = Path(attempt.spec.validation)
        if not path.is_file():
            raise ValidationFailed(f"validation: {path} does not exist")
        cases = parse_cases(path.read_text(encoding="utf-8").splitlines(), str(path))
        if not cases:  # an empty file would deploy the model unchecked
            raise ValidationFailed(f"validation: {path} holds no known cases; a model is not deployed unchecked")
        return cases, str(path)
    lines = attempt.package.known_cases()
    if not lines:
        raise ValidationFailed("the package has no known cases (validation.jsonl) and the deployment file "
                               "names no `validation:` file; a model is not deployed unchecked")
    return parse_cases(lines, "validation.jsonl"), "validation.jsonl"


def _build_plain_model(attempt: Attempt) -> Any:
    from modelward.services.config import expand_env

    extend_python_path(attempt.spec.model.python_path)
    configuration = expand_env(dict(attempt.spec.model.configuration), {**os.environ, **model_env(attempt)},
                               "model.configuration")
    config = ModelConfig(class_path=attempt.spec.model.class_path, configuration=configuration)
    return build_model(config, "model").model


def policy_tests(attempt: Attempt) -> int:
    if not any(name.endswith("_test.rego") for name in attempt.policies):
        return 0
    from modelward.policy.testing import run_tests

    assert attempt.spec.policies is not None
    report = run_tests([Path(attempt.spec.policies)])
    failed = [r for r in report.results if r.status != "PASS"]
    if failed:
        shown = "; ".join(f"{r.case.path} {r.status}{': ' + r.error if r.error else ''}" for r in failed)
        raise ValidationFailed(f"{len(failed)} of {len(report.results)} policy tests failed: {shown}")
    return len(report.results)


# --- serve: manifests ------------------------------------------------------------------------


def render_inputs(attempt: Attempt) -> RenderInputs:
    return RenderInputs(policies=attempt.policies, package_uri=attempt.registered_uri,
                        package_digest=attempt.digest, model_version=attempt.version)


def write_manifests(attempt: Attempt, output: Path | None, inputs: RenderInputs | None = None) -> Path:
    """Render the target's manifests into ``output`` (default: the attempt's ``manifests/``)."""
    folder = output or attempt.folder / "manifests"
    folder.mkdir(parents=True, exist_ok=True)
    given = inputs or render_inputs(attempt)
    for name, text in manifest_files(render(attempt.spec, attempt.spec.target, given)).items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def kubectl_command(folder: Path, kubectl: str = "kubectl") -> list[str]:
    """The command that applies rendered manifests to the current kubectl context."""
    return [kubectl, "apply", "-f", str(folder)]


def apply_manifests(folder: Path, kubectl: str = "kubectl") -> str:
    """Run ``kubectl apply -f FOLDER``; ``TargetError`` when kubectl is missing or fails."""
    command = kubectl_command(folder, kubectl)
    if shutil.which(kubectl) is None:
        raise TargetError(f"kubectl is not installed (or not on PATH): cannot apply. The manifests are in "
                          f"{folder}; apply them yourself with `{' '.join(command)}`")
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise TargetError(f"`{' '.join(command)}` failed ({done.returncode}): {_first_line(done.stderr)}")
    return done.stdout.strip()


def _first_line(output: str) -> str:
    """kubectl's first line of complaint (it repeats one per manifest), and how many more there were."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if not lines:
        return "no output"
    more = f" (and {len(lines) - 1} more lines)" if len(lines) > 1 else ""
    return lines[0] + more


# --- serve: local ----------------------------------------------------------------------------


def write_service_config(attempt: Attempt) -> Path:
    """The ``rest_config.yaml`` the local server runs (with its decorators)."""
    snapshot_policies(attempt)
    document = service_config(attempt.spec, list(attempt.spec.model.python_path))
    path = attempt.folder / "rest_config.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    attempt.config_digest = sha256_file(path)
    return path


def policy_bundle_digest(attempt: Attempt) -> str:
    return policy_digest({k: v for k, v in attempt.policies.items() if not k.endswith("_test.rego")}) or ""
