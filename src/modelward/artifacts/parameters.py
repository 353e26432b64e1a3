"""``load_parameters``: what a model's ``__init__`` calls to get its parameters from a signed package."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from modelward.artifacts.catalogue import GlobalPolicy, vet_extensions
from modelward.artifacts.keys import Keyring
from modelward.artifacts.loader import load_verified
from modelward.artifacts.pickles import record_skops_types, safe_joblib_loads, safe_pickle_loads, safe_skops_loads
from modelward.artifacts.scan import looks_like_joblib, scan_joblib, scan_pickle
from modelward.errors import ManifestMismatch, PackageFormatError, UnsafePickle
from modelward.settings import Settings, load_settings

logger = logging.getLogger(__name__)


def load_parameters(*, qualified_name: str, package: str | None = None, keyring: str | None = None,
                    member: str | None = None, unsigned_path: str | Path | None = None,
                    settings: Settings | None = None) -> Any:
    """Verify ``package`` completely, then deserialize ``member`` with its recorded, vetted globals.

    ``member`` defaults to ``model.skops`` when the package holds one (the safer format), else
    ``model.joblib``. Operator allowances beyond the catalogue come from ``MODELWARD_PICKLE_ALLOW``.

    Without a package, ``unsigned_path`` is loaded only when ``MODELWARD_ALLOW_UNSIGNED`` is set (local
    development, logged loudly); otherwise the call refuses. The keyring defaults to
    ``MODELWARD_KEYRING``; legacy HMAC secret, S3 endpoint and expansion limit come from the settings.
    """
    settings = settings or load_settings()
    if package:
        return _from_package(package, keyring, member, qualified_name, settings)
    if unsigned_path is None:
        raise UnsafePickle(f"{qualified_name}: no signed package is configured (set `package`)")
    if not settings.allow_unsigned:
        raise UnsafePickle(f"refusing to load unsigned model parameters from {unsigned_path}: configure a signed "
                           "`package` (docs/artifacts.md), or set MODELWARD_ALLOW_UNSIGNED=true for local development")
    logger.warning("loading UNVERIFIED model parameters from %s (MODELWARD_ALLOW_UNSIGNED is set)", unsigned_path)
    return _load_unsigned(Path(unsigned_path), settings.pickle_allowances())


def _load_unsigned(path: Path, allow: tuple[str, ...]) -> Any:
    """A bare skops, pickle or joblib file, still resolving only vetted globals (never os.system, eval...)."""
    if not path.is_file():
        raise PackageFormatError(f"no model parameters at {path}: train the model first, or configure a `package`")
    data, where = path.read_bytes(), str(path)
    extensions = vet_extensions(allow, "MODELWARD_PICKLE_ALLOW")
    if path.suffix == ".skops":
        policy = GlobalPolicy(extensions=extensions)
        return safe_skops_loads(data, record_skops_types(data, policy, where), policy, where)
    joblib = path.suffix == ".joblib" or looks_like_joblib(data)
    found = scan_joblib(data, where) if joblib else scan_pickle(data, where)
    policy = GlobalPolicy(recorded=frozenset(found), extensions=extensions)
    return (safe_joblib_loads if joblib else safe_pickle_loads)(data, policy, where)


def _from_package(package: str, keyring: str | None, member: str | None, qualified_name: str,
                  settings: Settings) -> Any:
    ring_path = keyring or settings.resolved_keyring()
    secret = settings.legacy_hmac_secret.get_secret_value() if settings.legacy_hmac_secret else None
    with load_verified(package, Keyring.load(ring_path), max_expansion_bytes=settings.max_expansion_bytes,
                       endpoint_url=settings.s3_endpoint_url, legacy_secret=secret,
                       allow_globals=settings.pickle_allowances()) as verified:
        found = verified.manifest.model.qualified_name
        if found != qualified_name:
            raise ManifestMismatch(f"{package} holds model '{found}', not '{qualified_name}'")
        logger.info("verified %s: signed by %s at %s", package, verified.key_id, verified.signed_at)
        if member is None:
            names = {entry.path for entry in verified.manifest.files}
            member = "model.skops" if "model.skops" in names else "model.joblib"
        return verified.load(member)
