"""``modelward drift``: logged inputs (the payload log's JSONL sink) against the signed package's profile.

The profile is ``profile.json`` in the package, else ``data_profile.json`` when it is a
``modelward-profile/1`` document (what the example training scripts write). The package is verified
before its profile is read. Records of other models, and (unless ``all_versions``) of other versions,
are left out; lines that are not JSON (a batch torn by a crash) are counted and skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelward.artifacts import Keyring, load_verified
from modelward.errors import ConfigurationError
from modelward.metrics import ServingMetrics, create_registry
from modelward.metrics.drift import DriftReport, Thresholds, compare, export
from modelward.metrics.profile import FORMAT

PROFILE_NAMES = ("profile.json", "data_profile.json")


@dataclass(frozen=True)
class LoggedInputs:
    """The request documents read from payload logs, and what was left out."""

    inputs: list[dict[str, Any]]
    other: int
    unreadable: int


def read_inputs(paths: Iterable[Path], model: str, version: str | None) -> LoggedInputs:
    """The ``request`` of every record of ``model`` (and ``version`` if given) in the JSONL files."""
    inputs: list[dict[str, Any]] = []
    other = unreadable = 0
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(f"{path}: cannot read the payload log: {exc.strerror or exc}") from None
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                unreadable += 1
                continue
            if not isinstance(record, dict) or not isinstance(record.get("request"), dict):
                unreadable += 1
            elif record.get("model") != model or (version is not None and record.get("version") != version):
                other += 1
            else:
                inputs.append(record["request"])
    return LoggedInputs(inputs, other, unreadable)


def package_profile(package: str, keyring: Keyring, **options: Any) -> tuple[str, str, dict[str, Any]]:
    """The package's model name, version and training profile (verified first)."""
    with load_verified(package, keyring, **options) as verified:
        manifest = verified.manifest
        names = {entry.path for entry in manifest.files}
        for name in PROFILE_NAMES:
            if name in names:
                try:
                    document = json.loads(verified.read_bytes(name))
                except ValueError as exc:
                    raise ConfigurationError(f"{package}: {name} is not JSON: {exc}") from None
                if isinstance(document, dict) and document.get("format") == FORMAT:
                    return manifest.model.qualified_name, manifest.model.version, document
    raise ConfigurationError(f"{package}: holds no training profile (profile.json in the {FORMAT} format; "
                             "build it with modelward.metrics.profile.build_profile at training time)")


def drift_report(package: str, payloads: list[Path], keyring: Keyring, *, thresholds: Thresholds,
                 all_versions: bool = False, **options: Any) -> tuple[DriftReport, LoggedInputs]:
    """Compare the logged inputs of the package's model with its training profile."""
    model, version, profile = package_profile(package, keyring, **options)
    logged = read_inputs(payloads, model, None if all_versions else version)
    return compare(profile, logged.inputs, thresholds, model=model), logged


def write_gauges(report: DriftReport, path: Path) -> None:
    """The report's drift gauges in Prometheus text format (for node_exporter's textfile collector)."""
    from prometheus_client import write_to_textfile

    registry = create_registry()
    export(report, ServingMetrics(registry))
    try:
        write_to_textfile(str(path), registry)
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot write the metrics file: {exc.strerror or exc}") from None
