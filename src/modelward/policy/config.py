"""The policy decorator's configuration, as written in a service config file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from modelward.errors import ConfigurationError
from modelward.settings import load_settings


class DecisionLogConfig(BaseModel):
    """Where and how decisions are logged."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Log every decision.")
    path: Path | None = Field(
        default=None,
        description="JSON lines file; default <stem>.<package>.jsonl next to $MODELWARD_DECISION_LOG, "
        "else <data_dir>/decisions.<package>.jsonl (one file per decorator).",
    )
    max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, description="Rotate past this size.")
    backups: int = Field(default=5, ge=0, description="Rotated files kept.")
    queue_size: int = Field(default=10_000, ge=1, description="Records waiting for the writer, at most.")
    include_input: bool = Field(default=False, description="Also log the policy input document.")
    mask: list[str] = Field(default_factory=list,
                            description="Dotted fields of the input replaced by *** (model_input.age).")

    def resolved_path(self, package: str) -> Path:
        """The log file to write: ``path``, else one file per package (two writers never share one)."""
        if self.path is not None:
            return self.path
        settings = load_settings()
        base = settings.decision_log or settings.data_dir / "decisions.jsonl"
        return base.with_name(f"{base.stem}.{package}{base.suffix or '.jsonl'}")


_NO_BODY = frozenset({204, 205, 304})  # HTTP statuses whose answers have no body


class PolicyConfig(BaseModel):
    """Configuration of ``PolicyDecorator``.

    The article's keys are accepted too: ``policy_package`` for ``package``, and ``host`` with
    ``port`` for ``engine: opa`` at ``http://host:port``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    package: str = Field(min_length=1, description="Rego package whose allow/messages decide.")
    policies: list[str] = Field(default_factory=list,
                                description="Policy files or folders (required for the embedded engine).")
    engine: Literal["embedded", "opa"] = Field(default="embedded", description="Where Rego is evaluated.")
    opa_url: str | None = Field(default=None, description="Base URL of the OPA server (engine: opa).")
    timeout: float = Field(default=0.5, gt=0, description="Seconds to wait for OPA.")
    max_connections: int = Field(default=32, ge=1, description="Pooled connections to OPA.")
    check: Literal["input", "output", "both"] = Field(default="both", description="When to ask the policy.")
    denial_status: int = Field(default=200, ge=200, le=599, description="HTTP status of a denial.")
    reload_interval: float = Field(default=2.0, ge=0, description="Seconds between looks at the files; 0: off.")
    rego_version: Literal["auto", "v0", "v1"] = Field(default="auto", description="Rego syntax of the files.")
    decision_log: DecisionLogConfig = Field(default_factory=DecisionLogConfig)

    @model_validator(mode="before")
    @classmethod
    def _article_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "policy_package" in data:
            data.setdefault("package", data.pop("policy_package"))
        if "host" in data or "port" in data:
            host, port = data.pop("host", "localhost"), data.pop("port", 8181)
            data.setdefault("engine", "opa")
            data.setdefault("opa_url", f"http://{host}:{port}")
        if isinstance(data.get("policies"), str):
            data["policies"] = [data["policies"]]
        return data

    @field_validator("opa_url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not url.lower().startswith(("http://", "https://")):
            raise ValueError(f"'{url}' is not an http:// or https:// URL")
        return url

    @field_validator("denial_status")
    @classmethod
    def _status_with_a_body(cls, status: int) -> int:
        if status in _NO_BODY:
            raise ValueError(f"{status} cannot carry the denial's messages; use 200 or a 4xx such as 403")
        return status

    @model_validator(mode="after")
    def _engine_needs(self) -> PolicyConfig:
        if self.engine == "embedded" and not self.policies:
            raise ValueError("the embedded engine needs 'policies' (policy files or folders)")
        if self.engine == "opa" and not self.opa_url:
            raise ValueError("engine 'opa' needs 'opa_url' (for example http://localhost:8181)")
        return self

    @property
    def checks_input(self) -> bool:
        """Ask the policy before the model runs."""
        return self.check in ("input", "both")

    @property
    def checks_output(self) -> bool:
        """Ask the policy after the model ran."""
        return self.check in ("output", "both")


def parse_policy_config(options: dict[str, Any]) -> PolicyConfig:
    """Validate the decorator's keyword arguments; errors name each key and the problem."""
    try:
        return PolicyConfig.model_validate(options)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'configuration'}: {err['msg']}"
            for err in exc.errors(include_url=False)
        )
        raise ConfigurationError(f"PolicyDecorator configuration: {problems}") from None
