"""The one error tree of modelward.

Every error that modelward raises on purpose is a ``ModelwardError``. The domain knows no HTTP
status codes: ``modelward.serving.errors`` alone maps these classes to responses, and the CLI turns
them into a one-line message and a non-zero exit.

    ModelwardError
    ├── ConfigurationError            a config file or setting is wrong (names file, key path, problem)
    ├── ModelError
    │   ├── ModelNotFound             no model with that qualified name is served
    │   ├── ModelLoadError            a model's or decorator's __init__ raised
    │   ├── SchemaValidationError     a request does not match the model's input schema
    │   ├── PredictionError           the model raised while predicting
    │   ├── FeedbackUnavailable       feedback could not be recorded durably (nothing was learned)
    │   ├── ServiceOverloaded         a model's batch queue is full; retry after ``retry_after`` seconds
    │   ├── GraphStateUnavailable     an inference graph's router state (SQLite, Redis) cannot be reached
    │   └── EnrichmentError
    │       ├── EnrichmentKeyMissing  the lookup holds no entry for the input's key (a client error)
    │       └── EnrichmentUnavailable the lookup (Redis, a database) cannot be reached
    ├── RequestError                  a malformed request (bad JSON, duplicate keys, NaN, size)
    │   ├── PayloadTooLarge
    │   ├── RequestTimeout            the body did not arrive within the body timeout
    │   └── UnsupportedMediaType
    ├── PolicyError
    │   ├── PolicyDenied              the policy said no (carries the Decision)
    │   ├── PolicyUnavailable         the policy could not be evaluated: fail closed
    │   └── PolicyCompileError        a policy bundle does not compile
    ├── ArtifactError
    │   ├── SignatureInvalid
    │   ├── UnknownKey
    │   ├── KeyRevoked
    │   ├── KeyExpired
    │   ├── ManifestMismatch
    │   ├── UnsafeArchive
    │   ├── UnsafePickle
    │   ├── PackageFormatError
    │   └── StoreError
    │       └── StoreUnavailable
    ├── PayloadLogError
    │   ├── JournalFull               the payload journal is at its limit (the sink is down or slow)
    │   └── PayloadLogUnavailable     the payload journal could not be made durable (fsync failed)
    ├── CatalogError
    │   ├── NotFound
    │   ├── Conflict
    │   ├── AuditChainBroken
    │   ├── Unauthorized
    │   └── Forbidden
    └── DeployError
        ├── ValidationFailed          a known case did not match, or a policy test failed
        │   └── VersionMismatch       the loaded model reports another version than its manifest
        └── TargetError               the serving target could not be started or applied
"""

from __future__ import annotations

from typing import Any


class ModelwardError(Exception):
    """Root of every error modelward raises on purpose."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class ConfigurationError(ModelwardError):
    """A configuration file or setting is wrong."""


# --- models and requests -------------------------------------------------------------------


class ModelError(ModelwardError):
    """Something about a model."""


class ModelNotFound(ModelError):
    """No model with that qualified name is being served."""


class ModelLoadError(ModelError):
    """A model's or a decorator's constructor failed."""


class SchemaValidationError(ModelError):
    """Input data did not match a model's input schema."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.errors = errors or []


class PredictionError(ModelError):
    """The model raised while it predicted."""


class FeedbackUnavailable(ModelError):
    """Feedback could not be recorded durably, so no layer received it."""


class ServiceOverloaded(ModelError):
    """A model's batch queue is full; ``retry_after`` (seconds) says when to try again."""

    def __init__(self, message: str, retry_after: int = 1, **details: Any) -> None:
        super().__init__(message, retry_after=retry_after, **details)
        self.retry_after = retry_after


class GraphStateUnavailable(ModelError):
    """An inference graph's router state (its SQLite file or Redis) cannot be read or updated."""


class EnrichmentError(ModelError):
    """The enrichment decorator could not add its fields to the input."""


class EnrichmentKeyMissing(EnrichmentError):
    """The lookup has no entry for the key the input names."""


class EnrichmentUnavailable(EnrichmentError):
    """The lookup (Redis, a database) cannot be reached."""


class RequestError(ModelwardError):
    """The request itself is malformed (not JSON, duplicate keys, NaN literals...)."""


class PayloadTooLarge(RequestError):
    """The request body is larger than the configured limit."""


class RequestTimeout(RequestError):
    """The request body did not arrive completely within the configured time."""


class UnsupportedMediaType(RequestError):
    """The request's content type is not JSON."""


# --- policy --------------------------------------------------------------------------------


class PolicyError(ModelwardError):
    """Something about a policy."""


class PolicyDenied(PolicyError):
    """A policy denied the prediction; ``decision`` holds the Decision."""

    def __init__(self, message: str, decision: Any = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.decision = decision


class PolicyUnavailable(PolicyError):
    """The policy could not be evaluated; the prediction is withheld (fail closed)."""


class PolicyCompileError(PolicyError):
    """A policy bundle failed to parse or compile."""


# --- artifacts -----------------------------------------------------------------------------


class ArtifactError(ModelwardError):
    """Something about a model package, its signature or its store."""


class SignatureInvalid(ArtifactError):
    """The signature does not verify over the manifest."""


class UnknownKey(ArtifactError):
    """The signature names a key that the keyring does not trust."""


class KeyRevoked(ArtifactError):
    """The signing key has been revoked."""


class KeyExpired(ArtifactError):
    """The signing key was not valid at the time of signing."""


class ManifestMismatch(ArtifactError):
    """The files do not match the manifest (digest, size, missing or extra file)."""


class UnsafeArchive(ArtifactError):
    """The archive has an unsafe entry (traversal, link, duplicate, bomb, appended bytes)."""


class UnsafePickle(ArtifactError):
    """A pickle references a global that is not allowed."""


class PackageFormatError(ArtifactError):
    """The package is not in the expected format."""


class StoreError(ArtifactError):
    """An artifact store operation failed."""


class StoreUnavailable(StoreError):
    """The artifact store cannot be reached."""


# --- payload logging ---------------------------------------------------------------------


class PayloadLogError(ModelwardError):
    """Something about the payload log."""


class JournalFull(PayloadLogError):
    """The payload journal holds as many unshipped bytes as it may; the prediction is refused."""


class PayloadLogUnavailable(PayloadLogError):
    """The payload journal could not be synced to disk; the prediction is not acknowledged."""


# --- catalog -------------------------------------------------------------------------------


class CatalogError(ModelwardError):
    """Something about the governance catalog."""


class NotFound(CatalogError):
    """The catalog has no such entity."""


class Conflict(CatalogError):
    """The write conflicts with what the catalog holds."""


class AuditChainBroken(CatalogError):
    """The audit trail's hash chain does not verify."""


class Unauthorized(CatalogError):
    """No valid credentials were given."""


class Forbidden(CatalogError):
    """The credentials do not allow this action."""


# --- deployment ----------------------------------------------------------------------------


class DeployError(ModelwardError):
    """A deployment step failed."""


class ValidationFailed(DeployError):
    """A known case or a policy test failed during validation."""


class VersionMismatch(ValidationFailed):
    """The loaded model reports a version other than the one its package's manifest names."""


class TargetError(DeployError):
    """The serving target could not be started, replaced or applied."""


__all__ = [
    "ArtifactError",
    "AuditChainBroken",
    "CatalogError",
    "ConfigurationError",
    "Conflict",
    "DeployError",
    "EnrichmentError",
    "EnrichmentKeyMissing",
    "EnrichmentUnavailable",
    "Forbidden",
    "JournalFull",
    "KeyExpired",
    "KeyRevoked",
    "ManifestMismatch",
    "ModelError",
    "ModelLoadError",
    "ModelNotFound",
    "ModelwardError",
    "NotFound",
    "PackageFormatError",
    "PayloadLogError",
    "PayloadTooLarge",
    "PolicyCompileError",
    "PolicyDenied",
    "PolicyError",
    "PolicyUnavailable",
    "PredictionError",
    "RequestError",
    "RequestTimeout",
    "SchemaValidationError",
    "ServiceOverloaded",
    "SignatureInvalid",
    "StoreError",
    "StoreUnavailable",
    "TargetError",
    "Unauthorized",
    "UnknownKey",
    "UnsafeArchive",
    "UnsafePickle",
    "UnsupportedMediaType",
    "ValidationFailed",
    "VersionMismatch",
]
