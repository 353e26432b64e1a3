"""Typed settings, read from ``MODELWARD_*`` environment variables by ``load_settings()``.

Nothing here runs at import time: call ``load_settings()`` (or build ``Settings(...)``) where
settings are needed and pass them down.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    """The user's data directory for modelward (catalog, keys, local store, deployments)."""
    return Path(platformdirs.user_data_dir("modelward", appauthor=False))


class Settings(BaseSettings):
    """Every setting modelward reads from the environment (prefix ``MODELWARD_``)."""

    model_config = SettingsConfigDict(env_prefix="MODELWARD_", extra="ignore", frozen=True)

    data_dir: Path = Field(default_factory=default_data_dir, description="Where embedded state lives.")
    config: Path | None = Field(default=None, description="Service config file (also REST_CONFIG).")
    host: str = Field(default="127.0.0.1", description="Address the service binds to.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port the service binds to.")
    workers: int = Field(default=1, ge=1, description="Number of server worker processes.")
    log_level: str = Field(default="info", description="Log level of the service.")
    grpc_port: int | None = Field(default=None, ge=0, le=65535,
                                  description="Port of the Open Inference (V2) gRPC server; off when unset.")
    max_body_bytes: int = Field(default=1024 * 1024, ge=1, description="Largest request body accepted.")
    access_log: bool = Field(default=False, description="Log one line per HTTP request.")
    body_timeout: float = Field(default=30.0, gt=0, description="Seconds a request body may take to arrive "
                                                               "in full (408 after).")
    keep_alive: int = Field(default=5, ge=1, description="Seconds an idle keep-alive connection stays open.")
    shutdown_grace: float = Field(default=25.0, ge=0, description="Seconds in-flight requests get to finish "
                                                                 "after SIGTERM.")
    shutdown_delay: float = Field(default=0.0, ge=0, description="Seconds to keep serving, readiness 503, "
                                                                "after SIGTERM (load balancers).")

    catalog_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the catalog; default: SQLite file in data_dir."
    )
    catalog_auto_migrate: bool = Field(default=True, description="Run catalog migrations at service start.")
    catalog_enabled: bool = Field(default=False, description="Serve /api/catalog from `modelward serve`.")
    catalog_read_open: bool = Field(default=True, description="Catalog reads need no token.")
    web_console: bool = Field(default=True, description="Serve the governance console at /console with the "
                                                        "catalog API.")
    web_session_secret: SecretStr | None = Field(
        default=None, description="Key that signs console session cookies; default: a random key per process "
                                  "(logins end on restart; set it when several workers serve the console)."
    )
    web_session_hours: float = Field(default=8.0, gt=0, le=720, description="How long a console login lasts.")

    keyring: Path | None = Field(default=None, description="Trusted public keys (file or folder); default: "
                                                         "<data_dir>/keyring.")
    store_url: str | None = Field(default=None, description="Artifact store; default: file://<data_dir>/store.")
    s3_endpoint_url: str | None = Field(default=None, description="S3 endpoint (MinIO, Ceph RGW, AWS).")
    legacy_hmac_secret: SecretStr | None = Field(
        default=None, description="Secret for reading legacy itsdangerous-signed artifacts."
    )
    allow_unsigned: bool = Field(default=False, description="Load unsigned packages (logged loudly).")
    max_expansion_bytes: int = Field(
        default=8 * 1024**3, ge=1, description="Largest total size an archive may expand to."
    )
    pickle_allow: str = Field(
        default="", description="Operator's extra pickle globals beyond the vetted catalogue, comma-separated "
                                "module:qualname (printed by `modelward verify`; see docs/artifacts.md)."
    )

    decision_log: Path | None = Field(default=None, description="Policy decision log (JSON lines).")
    feedback_log: Path | None = Field(
        default=None, description="Feedback log (JSON lines, synced per write); default: <data_dir>/feedback.jsonl."
    )

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        # absolute once: deployments record paths under it, and the server runs in another directory
        return value.expanduser().resolve()

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        levels = {"critical", "error", "warning", "info", "debug", "trace"}
        if value.lower() not in levels:
            raise ValueError(f"log_level must be one of {sorted(levels)}")
        return value.lower()

    def resolved_catalog_url(self) -> str:
        """The catalog URL, or the embedded SQLite file under ``data_dir``."""
        return self.catalog_url or f"sqlite:///{self.data_dir / 'catalog.db'}"

    def resolved_keyring(self) -> Path:
        """The trusted keys: ``keyring``, or the folder ``keyring`` under ``data_dir``."""
        return self.keyring or self.data_dir / "keyring"

    def resolved_feedback_log(self) -> Path:
        """Where feedback is recorded: ``feedback_log``, or ``feedback.jsonl`` under ``data_dir``."""
        return self.feedback_log or self.data_dir / "feedback.jsonl"

    def pickle_allowances(self) -> tuple[str, ...]:
        """``pickle_allow`` as a tuple of ``module:qualname`` texts."""
        return tuple(part.strip() for part in self.pickle_allow.split(",") if part.strip())

    def resolved_store_url(self) -> str:
        """The artifact store URL, or the local folder under ``data_dir``."""
        return self.store_url or (self.data_dir / "store").resolve().as_uri()


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, with explicit overrides taking precedence."""
    return Settings(**overrides)  # type: ignore[arg-type]
