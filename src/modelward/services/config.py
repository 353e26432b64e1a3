"""The service config file: a superset of ``rest_model_service``'s YAML.

```yaml
service_title: Insurance Charges Model Service
description: ...
version: 0.1.0
models:
  - qualified_name: insurance_charges_model     # optional; must match the model's own name
    class_path: insurance_charges.model.InsuranceChargesModel
    create_endpoint: true
    configuration: {package: "${MODEL_PACKAGE:-file:///models/insurance.zip}"}
    decorators:                                  # the first one listed is the innermost
      - class_path: modelward.policy.PolicyDecorator
        configuration: {...}
```

Any string may use ``${VAR}`` or ``${VAR:-default}``; ``$${`` stands for a literal ``${``.
Every problem is reported as one ``ConfigurationError`` naming the file, the key path and what is
wrong.
"""

from __future__ import annotations

import logging.config
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from modelward.errors import ConfigurationError
from modelward.graph.config import NodeConfig, RedisStateConfig, SqliteStateConfig, check_structure

_VAR = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


class DecoratorConfig(BaseModel):
    """One decorator around a model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    class_path: str = Field(description="Import path of the decorator class.")
    configuration: dict[str, Any] | None = Field(
        default=None, description="Keyword arguments of the decorator's __init__."
    )


class BatchingConfig(BaseModel):
    """Adaptive batching of one model's predictions (see docs/serving.md, "Adaptive batching")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_batch_size: int = Field(default=32, ge=1, le=100_000,
                                description="Most inputs handed to the model's predict_batch in one call.")
    max_batch_latency: float = Field(
        default=5.0, ge=0, le=10_000,
        description="Milliseconds a batch may wait for more inputs after its first one arrived (only while "
        "the model is busy: an idle model predicts at once).")
    max_queue: int = Field(default=1024, ge=1, le=10_000_000,
                           description="Most inputs waiting; past it requests are refused with 503 and "
                           "Retry-After.")


class ModelConfig(BaseModel):
    """One model served by the service: a class (``class_path``) or an inference graph (``name`` + ``graph``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    class_path: str | None = Field(default=None, description="Import path of the MLModel class (not with graph).")
    name: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$",
                             description="The qualified name of a graph endpoint (with graph).")
    version: str | None = Field(default=None, description="A graph's version; default: a digest of the graph "
                                "and of its nodes' versions.")
    graph: NodeConfig | None = Field(default=None, description="The root node of an inference graph (see "
                                     "docs/graphs.md); instead of class_path.")
    state: SqliteStateConfig | RedisStateConfig | None = Field(
        default=None, discriminator="type", description="Where a graph's router state lives: {type: sqlite} "
        "(default, <data_dir>/graph-state.db) or {type: redis, url: ...}.")
    qualified_name: str | None = Field(
        default=None, description="Older key; if given it must equal the model's own qualified_name."
    )
    create_endpoint: bool = Field(default=True, description="Serve a prediction endpoint for it.")
    configuration: dict[str, Any] | None = Field(
        default=None, description="Keyword arguments of the model's __init__."
    )
    decorators: list[DecoratorConfig] | None = Field(
        default=None, description="Decorators, the first listed innermost."
    )
    kind: Literal["auto", "mlmodel", "seldon"] = Field(
        default="auto",
        description="auto (default): an MLModel is served as it is, and a class that is not one but has "
        "predict(X, feature_names) is served as a Seldon Python component; mlmodel or seldon says which.",
    )
    execution: Literal["auto", "thread", "inline"] = Field(
        default="auto",
        description="auto (default): predict on the event loop while the model's recent predictions take "
        "under 10 ms (at once for a request alone; first come first served, one per turn of the loop, "
        "for requests that arrive together), in a worker thread otherwise (and always for batches); "
        "thread: always in a worker thread (health probes answer during any prediction); inline: always "
        "on the event loop, at once.",
    )
    batching: BatchingConfig | None = Field(
        default=None,
        description="Adaptive batching: requests from every protocol join one bounded queue and the model's "
        "predict_batch(items) gets up to max_batch_size inputs at once. The model (or a decorator of its "
        "chain) must define predict_batch. Absent: every request is predicted on its own.",
    )

    @model_validator(mode="after")
    def _class_or_graph(self) -> ModelConfig:
        if self.graph is None:
            if self.class_path is None:
                raise ValueError("class_path is missing: give class_path (a model class), or name and graph "
                                 "(an inference graph)")
            extra = [key for key in ("name", "version", "state") if getattr(self, key) is not None]
            if extra:
                raise ValueError(f"{', '.join(extra)}: only for a graph endpoint (with graph)")
            return self
        if self.class_path is not None:
            raise ValueError("give class_path or graph, not both")
        if self.name is None:
            raise ValueError("a graph endpoint needs a name")
        check_structure(self.graph)
        return self


class ServiceConfig(BaseModel):
    """The whole service config file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service_title: str = Field(default="RESTful Model Service", description="Title in the API docs.")
    description: str = Field(default="", description="Description in the API docs.")
    version: str = Field(default="0.1.0", description="Version of the service.")
    python_path: list[str] = Field(
        default_factory=list,
        description="Folders, relative to the config file, put on sys.path before importing models.",
    )
    models: list[ModelConfig] = Field(default_factory=list, description="The models to serve.")
    logging: dict[str, Any] | None = Field(default=None, description="logging.config.dictConfig document.")
    metrics: dict[str, Any] | None = Field(
        default=None, description="Accepted for rest_model_service compatibility."
    )
    tracing: bool = Field(
        default=False, description="OpenTelemetry spans around each decorator layer's predict (needs the otel "
        "extra and a tracer provider configured in the process); off: nothing is wrapped.",
    )
    default_model: str | None = Field(
        default=None,
        description="The model that the protocols whose paths name no model (Seldon v1, MLflow /invocations) "
        "serve; default: the first model with create_endpoint.",
    )

    @field_validator("models")
    @classmethod
    def _unique_class_entries(cls, models: list[ModelConfig]) -> list[ModelConfig]:
        names = [m.qualified_name for m in models if m.qualified_name]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"qualified_name listed more than once: {', '.join(duplicates)}")
        return models


def expand_env(value: Any, env: Mapping[str, str], path: str = "") -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string of a loaded YAML document."""
    if isinstance(value, str):
        return _expand_string(value, env, path)
    if isinstance(value, list):
        return [expand_env(item, env, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        return {k: expand_env(v, env, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    return value


def _expand_string(text: str, env: Mapping[str, str], path: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigurationError(
            f"{path or '<root>'}: environment variable {name} is not set and has no default "
            f"(write ${{{name}:-default}} to give one)"
        )

    return _VAR.sub(replace, text)


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (the last one would win)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key}' (the later value would silently replace the earlier)",
                    key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_config(text: str, source: str = "<string>", env: Mapping[str, str] | None = None) -> ServiceConfig:
    """Parse and validate a config document; errors name ``source``, the key path and the problem."""
    try:
        document = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigurationError(f"{source}{where}: YAML syntax error: {problem}") from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigurationError(f"{source}: the top level must be a mapping, not {type(document).__name__}")
    try:
        document = expand_env(document, os.environ if env is None else env)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{source}: {exc.message}") from None
    except RecursionError:
        raise ConfigurationError(
            f"{source}: the document is nested too deeply, or a YAML alias refers to its own anchor"
        ) from None
    try:
        return ServiceConfig.model_validate(document)
    except ValidationError as exc:
        raise ConfigurationError(f"{source}: {format_validation_error(exc)}") from None


def configure_logging(config: ServiceConfig, source: str | None = None) -> None:
    """Apply the config's ``logging:`` section; a section ``logging.config`` refuses is a ``ConfigurationError``."""
    if config.logging is None:
        return
    try:
        logging.config.dictConfig(config.logging)
    except Exception as exc:  # dictConfig raises ValueError, TypeError, ImportError... for a bad section
        reason = f"{exc}: {exc.__cause__}" if exc.__cause__ is not None else str(exc)
        raise ConfigurationError(f"{source or '<config>'}: logging: {reason}") from None


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> ServiceConfig:
    """Read and validate a service config file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(f"{file}: config file not found") from None
    except IsADirectoryError:
        raise ConfigurationError(f"{file}: is a directory, not a config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{file}: cannot read the config file: {exc}") from None
    config = parse_config(text, source=str(file), env=env)
    if not config.python_path:
        return config
    base = file.resolve().parent
    resolved = [str((base / entry).resolve()) for entry in config.python_path]
    return config.model_copy(update={"python_path": resolved})


def format_validation_error(exc: ValidationError) -> str:
    """One line per problem: ``key.path: message``."""
    lines = []
    for error in exc.errors(include_url=False):
        lines.append(f"{dotted(error['loc'])}: {_describe(error)}")
    return "; ".join(lines)


def dotted(loc: tuple[int | str, ...] | list[int | str]) -> str:
    """``('models', 0, 'class_path')`` → ``models[0].class_path``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "<root>"


def _describe(error: Mapping[str, Any]) -> str:
    kind = error.get("type")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required field is missing"
    if kind == "value_error":
        return str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    return str(error.get("msg", "invalid value"))
