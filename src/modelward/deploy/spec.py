"""The deployment file: one frozen pydantic model, read from YAML by ``load_deployment``.

```yaml
name: insurance-charges               # DNS-1123 label: names every Kubernetes object
model:
  qualified_name: insurance_charges_model
  class_path: insurance_charges.model.InsuranceChargesModel
  version: 0.1.0                      # or give `package:` and let the package say
  configuration: {model_path: "${MODEL_PATH}"}
package: ../../.demo/packages/insurance_charges-0.1.0.zip   # folder, file:// or s3:// URI
target: local                         # local | kubernetes | seldon | kserve
environment: staging                  # staging | production
replicas: 2
resources: {requests: {cpu: 250m, memory: 256Mi}, limits: {cpu: "1", memory: 512Mi}}
autoscaling: {min_replicas: 2, max_replicas: 5, target_cpu_utilization: 80}
decorators: [{class_path: modelward.policy.PolicyDecorator, configuration: {...}}]
policies: policies/                   # folder of .rego files (and *_test.rego tests)
validation: model_files/validation.jsonl   # default: the package's validation.jsonl
local: {host: 127.0.0.1, port: 8123}
kubernetes: {namespace: model-services, image: "modelward:0.1.0", opa: {enabled: true},
             package: s3://models/insurance_charges-0.1.0.zip}   # what pods read (s3:// or in-image path)
```

Relative paths are resolved against the deployment file's folder. Every problem is one
``ConfigurationError`` naming the file, the key path and what is wrong.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from modelward.deploy.graphs import model_nodes
from modelward.errors import ConfigurationError

Target = Literal["local", "kubernetes", "seldon", "kserve"]
Environment = Literal["development", "staging", "production"]
TARGETS: tuple[str, ...] = ("local", "kubernetes", "seldon", "kserve")

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?$")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError(f"'{value}' is not a DNS-1123 label (lower-case letters, digits, '-', at most 63)")
    return value


class Amounts(_Frozen):
    """CPU and memory as Kubernetes quantities (``250m``, ``512Mi``)."""

    cpu: str = Field(description="CPU quantity, e.g. 250m or 1.")
    memory: str = Field(description="Memory quantity, e.g. 256Mi.")

    @field_validator("cpu", "memory", mode="before")
    @classmethod
    def _quantity(cls, value: Any) -> str:
        text = str(value)
        if not _QUANTITY.match(text):
            raise ValueError(f"'{text}' is not a Kubernetes quantity such as 250m, 1, 512Mi")
        return text


class Resources(_Frozen):
    """Requests and limits of the model container."""

    requests: Amounts = Field(default=Amounts(cpu="250m", memory="256Mi"))
    limits: Amounts = Field(default=Amounts(cpu="1", memory="512Mi"))


class Autoscaling(_Frozen):
    """A HorizontalPodAutoscaler on CPU utilization."""

    min_replicas: int = Field(default=1, ge=1)
    max_replicas: int = Field(default=4, ge=1)
    target_cpu_utilization: int = Field(default=80, ge=1, le=100, description="Percent of the request.")

    @model_validator(mode="after")
    def _ordered(self) -> Autoscaling:
        if self.max_replicas < self.min_replicas:
            raise ValueError("max_replicas must be at least min_replicas")
        return self


class ModelRef(_Frozen):
    """The model to deploy: its class, its name and (optionally) its version."""

    qualified_name: str = Field(description="The model's qualified name (a graph's endpoint name, with graph).")
    class_path: str | None = Field(default=None, description="Import path of the MLModel class (not with graph).")
    version: str | None = Field(default=None, description="Version; taken from the package if absent (a graph's: "
                                "a digest of the graph and its models' versions).")
    configuration: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments of __init__.")
    python_path: list[str] = Field(
        default_factory=list, description="Folders (relative to the deployment file) holding the model code."
    )


class DecoratorRef(_Frozen):
    """One decorator around the model (same shape as the service config's)."""

    class_path: str
    configuration: dict[str, Any] | None = None


class OpaSidecar(_Frozen):
    """The OPA server next to the model container, serving the policy ConfigMap."""

    enabled: bool = False
    image: str = Field(default="openpolicyagent/opa:0.70.0-static")
    port: int = Field(default=8181, ge=1, le=65535)
    resources: Resources = Field(
        default=Resources(requests=Amounts(cpu="100m", memory="250Mi"),
                          limits=Amounts(cpu="200m", memory="250Mi"))
    )


class Secrets(_Frozen):
    """Names of Kubernetes Secrets that hold the keyring and the S3 credentials (never their values)."""

    keyring: str | None = Field(default="modelward-keyring", description="Secret with trusted public keys.")
    s3: str | None = Field(default=None, description="Secret with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.")
    s3_endpoint_url: str | None = Field(default=None, description="S3 endpoint (MinIO, Ceph RGW).")


class KubernetesOptions(_Frozen):
    """Everything only the Kubernetes-family targets need."""

    namespace: str = Field(default="model-services")
    image: str = Field(default="modelward:0.1.0", description="The model service image (see Dockerfile).")
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = "ClusterIP"
    service_port: int = Field(default=80, ge=1, le=65535)
    container_port: int = Field(default=8000, ge=1, le=65535, description="HTTP port (kubernetes target).")
    grpc_port: int | None = Field(default=None, ge=1, le=65535,
                                  description="Also serve Open Inference (V2) gRPC on this port (kubernetes target).")
    kserve_protocol: Literal["v1", "v2"] = Field(
        default="v2", description="The KServe predictor's protocol (its PROTOCOL variable): v1 or v2.")
    package: str | None = Field(
        default=None, description="Where pods read the package when neither the registered copy nor `package` is "
                                  "in S3: an s3:// URI or an absolute path inside the image.")
    packages: dict[str, str] = Field(
        default_factory=dict, description="A graph's: MODEL node name → where pods read that node's package "
                                          "(as `package`).")
    max_unavailable: int = Field(default=1, ge=0, description="PodDisruptionBudget maxUnavailable.")
    opa: OpaSidecar = Field(default_factory=OpaSidecar)
    secrets: Secrets = Field(default_factory=Secrets)

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        return _dns_label(value)

    @field_validator("package")
    @classmethod
    def _pod_package(cls, value: str | None) -> str | None:
        return value if value is None else _pod_location(value)

    @field_validator("packages")
    @classmethod
    def _pod_packages(cls, value: dict[str, str]) -> dict[str, str]:
        return {node: _pod_location(location) for node, location in value.items()}

    @model_validator(mode="after")
    def _ports_differ(self) -> KubernetesOptions:
        if self.opa.enabled and self.opa.port == self.container_port:
            raise ValueError(f"opa.port {self.opa.port} is already container_port: the pod's containers share ports")
        if self.grpc_port is not None and self.grpc_port in (self.container_port, self.opa.port):
            raise ValueError(f"grpc_port {self.grpc_port} is already container_port or opa.port")
        return self


def _pod_location(value: str) -> str:
    if value.startswith("s3://"):
        return value
    if "://" in value or not value.startswith("/") or ".." in value.split("/"):
        raise ValueError(f"'{value}' is neither an s3:// URI nor an absolute path inside the image "
                         "(such as /service/packages/model.zip)")
    return value


class LocalOptions(_Frozen):
    """The local target: one managed ``modelward serve`` process."""

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535, description="0: pick a free port.")
    startup_timeout: float = Field(default=60.0, gt=0, description="Seconds to wait for the startup probe.")


class DeploymentSpec(_Frozen):
    """A whole deployment file."""

    name: str = Field(description="Deployment name, a DNS-1123 label.")
    model: ModelRef
    package: str | None = Field(default=None, description="Package source: folder, zip, file:// or s3://.")
    target: Target = "local"
    environment: Environment = "staging"
    replicas: int = Field(default=1, ge=1)
    resources: Resources = Field(default_factory=Resources)
    autoscaling: Autoscaling | None = None
    decorators: list[DecoratorRef] = Field(default_factory=list)
    policies: str | None = Field(default=None, description="Folder of .rego files.")
    validation: str | None = Field(default=None, description="Known cases (JSON lines).")
    local: LocalOptions = Field(default_factory=LocalOptions)
    kubernetes: KubernetesOptions = Field(default_factory=KubernetesOptions)
    graph: dict[str, Any] | None = Field(
        default=None, description="An inference graph's root node, as in the service config (docs/graphs.md); "
                                  "instead of model.class_path.")
    packages: dict[str, str] = Field(
        default_factory=dict, description="A graph's packages: MODEL node name → package source (folder, zip, "
                                          "file:// or s3://); instead of package.")
    state: dict[str, Any] | None = Field(default=None, description="A graph's router state (as in the service "
                                                                   "config): {type: sqlite} or {type: redis, url}.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _dns_label(value)

    @model_validator(mode="after")
    def _model_or_graph(self) -> DeploymentSpec:
        if self.graph is None:
            if self.model.class_path is None:
                raise ValueError("model.class_path is missing: give it (one model), or graph and packages (an "
                                 "inference graph)")
            extra = [key for key in ("packages", "state") if getattr(self, key)]
            if extra or self.kubernetes.packages:
                raise ValueError(f"{', '.join(extra) or 'kubernetes.packages'}: only for a graph (with graph)")
            return self
        if self.model.class_path is not None:
            raise ValueError("give model.class_path or graph, not both")
        if self.package is not None:
            raise ValueError("package: a graph's packages are given per MODEL node, under packages")
        try:
            models = model_nodes(self.graph)
        except ConfigurationError as exc:
            raise ValueError(exc.message) from None
        for key, given in (("packages", self.packages), ("kubernetes.packages", self.kubernetes.packages)):
            unknown = sorted(set(given) - set(models))
            if unknown:
                raise ValueError(f"{key}: {', '.join(unknown)} is not a MODEL node of the graph "
                                 f"(MODEL nodes: {', '.join(models)})")
        return self

    def graph_nodes(self) -> list[str]:
        """A graph's MODEL nodes that come from a package (none for one model)."""
        return [node for node in model_nodes(self.graph) if node in self.packages] if self.graph else []


def format_errors(exc: ValidationError) -> str:
    """One ``key.path: message`` per problem, joined by ``; ``."""
    parts = []
    for error in exc.errors(include_url=False):
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"]).lstrip(".")
        message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        parts.append(f"{loc or '<root>'}: {message.removeprefix('Value error, ')}")
    return "; ".join(parts)


def parse_deployment(document: Any, source: str = "<deployment>") -> DeploymentSpec:
    """Validate a loaded YAML document; errors name ``source`` and the key path."""
    if not isinstance(document, dict):
        raise ConfigurationError(f"{source}: the top level must be a mapping, not {type(document).__name__}")
    try:
        return DeploymentSpec.model_validate(document)
    except ValidationError as exc:
        raise ConfigurationError(f"{source}: {format_errors(exc)}") from None


def _resolve(base: Path, value: str | None) -> str | None:
    if value is None or "://" in value:
        return value
    return str((base / value).resolve())


def load_deployment(path: str | Path) -> DeploymentSpec:
    """Read a deployment file; relative paths become absolute (relative to the file)."""
    file = Path(path)
    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"{file}: deployment file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{file}: cannot read the deployment file: {exc}") from None
    except yaml.YAMLError as exc:  # one line: where (as the service config says it) and the problem
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise ConfigurationError(f"{file}{where}: YAML syntax error: {getattr(exc, 'problem', None) or exc}") from None
    spec = parse_deployment(document, str(file))
    base = file.resolve().parent
    model = spec.model.model_copy(update={"python_path": [_resolve(base, p) for p in spec.model.python_path]})
    return spec.model_copy(update={
        "model": model,
        "package": _resolve(base, spec.package),
        "packages": {node: str(_resolve(base, source)) for node, source in spec.packages.items()},
        "policies": _resolve(base, spec.policies),
        "validation": _resolve(base, spec.validation),
    })


def read_policies(spec: DeploymentSpec) -> dict[str, str]:
    """The policy folder's ``.rego`` files by name (tests included), or ``{}`` without one."""
    if spec.policies is None:
        return {}
    folder = Path(spec.policies)
    if not folder.is_dir():
        raise ConfigurationError(f"policies: '{folder}' is not a folder of .rego files")
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.rego")) if p.is_file()}
