"""What every renderer shares: the render inputs, labels, the service config, the pod's parts.

Everything here is a pure function of its arguments: no clock, no environment, no files.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelward.deploy.graphs import node_env, seldon_summary
from modelward.deploy.spec import Amounts, DeploymentSpec, Resources
from modelward.errors import ConfigurationError

Manifest = dict[str, Any]

CONFIG_DIR = "/service/configuration"
CONFIG_FILE = "rest_config.yaml"
POLICY_DIR = "/policies"
KEYRING_DIR = "/etc/modelward/keyring"
IN_IMAGE_PYTHON_PATH = ".."  # the image keeps model code in /service, the config in /service/configuration
RUN_AS = 10000
OPA_DEFAULT_PORT = 8181
SERVE_COMMAND = "modelward"
POLICY_DECORATORS = frozenset({"modelward.policy.PolicyDecorator", "modelward.policy.decorator.PolicyDecorator"})
HEALTH, READY, STARTUP = "/api/health", "/api/health/ready", "/api/health/startup"
_LABEL_VALUE = re.compile(r"[^A-Za-z0-9._-]")


class RenderInputs(BaseModel):
    """What a renderer needs besides the deployment file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    policies: dict[str, str] = Field(default_factory=dict, description="Rego files by name.")
    package_uri: str | None = Field(default=None, description="The registered package (overrides spec).")
    package_digest: str | None = Field(default=None, description="sha256 of the registered package.")
    model_version: str | None = Field(default=None, description="Version (overrides spec.model.version).")
    node_packages: dict[str, str] = Field(default_factory=dict,
                                          description="A graph's registered packages by MODEL node (override spec).")
    node_digests: dict[str, str] = Field(default_factory=dict, description="sha256 of each node's package.")
    node_versions: dict[str, str] = Field(default_factory=dict, description="Each MODEL node's model version.")


@dataclass(frozen=True)
class Ports:
    """What the model container listens on: HTTP (every REST protocol) and, optionally, V2 gRPC."""

    http: int
    grpc: int | None = None


def label_value(text: str) -> str:
    """``text`` as a valid label value (at most 63 characters, alphanumeric at both ends)."""
    return _LABEL_VALUE.sub("-", text)[:63].strip("-._")


def version_of(spec: DeploymentSpec, inputs: RenderInputs) -> str:
    """The model version being deployed (``unversioned`` when nobody said)."""
    return inputs.model_version or spec.model.version or "unversioned"


def selector(spec: DeploymentSpec) -> dict[str, str]:
    """The labels that select this deployment's pods."""
    return {"app.kubernetes.io/name": spec.name, "app.kubernetes.io/instance": spec.name}


def labels(spec: DeploymentSpec, inputs: RenderInputs) -> dict[str, str]:
    """Labels on every object: selector labels plus version, model and environment."""
    return {
        **selector(spec),
        "app.kubernetes.io/version": label_value(version_of(spec, inputs)),
        "app.kubernetes.io/part-of": "modelward",
        "app.kubernetes.io/managed-by": "modelward",
        "modelward.io/model": label_value(spec.model.qualified_name),
        "modelward.io/environment": spec.environment,
    }


def metadata(name: str, spec: DeploymentSpec, inputs: RenderInputs, namespaced: bool = True) -> Manifest:
    """``metadata`` for one object."""
    meta: Manifest = {"name": name, "labels": labels(spec, inputs)}
    if namespaced:
        meta["namespace"] = spec.kubernetes.namespace
    return meta


def opa_url(spec: DeploymentSpec) -> str:
    """Where the model container reaches the OPA sidecar: the pod's own loopback."""
    return f"http://localhost:{spec.kubernetes.opa.port}"


def _on_opa(decorator: Manifest, url: str) -> Manifest:
    """A policy decorator's configuration switched to the OPA engine at ``url`` (others unchanged)."""
    if decorator["class_path"] not in POLICY_DECORATORS:
        return decorator
    options = {k: v for k, v in (decorator.get("configuration") or {}).items() if k not in ("host", "port")}
    return {**decorator, "configuration": {**options, "engine": "opa", "opa_url": url}}


def service_config(spec: DeploymentSpec, python_path: list[str], title: str | None = None,
                   opa: str | None = None) -> Manifest:
    """The service config document (``rest_config.yaml``) that serves this one model.

    With ``opa`` (the sidecar's URL), every policy decorator evaluates on that OPA server.
    """
    model: Manifest = _endpoint(spec)
    if spec.model.configuration:
        model["configuration"] = dict(spec.model.configuration)
    if spec.decorators:
        decorators = [d.model_dump(exclude_none=True) for d in spec.decorators]
        model["decorators"] = [_on_opa(d, opa) for d in decorators] if opa else decorators
    return {
        "service_title": title or f"{spec.name} model service",
        "version": spec.model.version or "0.1.0",
        "python_path": python_path,
        "models": [model],
    }


def _endpoint(spec: DeploymentSpec) -> Manifest:
    """A model entry's head: ``qualified_name`` + ``class_path``, or a graph's ``name`` + ``graph``."""
    if spec.graph is None:
        return {"qualified_name": spec.model.qualified_name, "class_path": spec.model.class_path,
                "create_endpoint": True}
    found: Manifest = {"name": spec.model.qualified_name}
    if spec.model.version:
        found["version"] = spec.model.version
    found["graph"] = spec.graph
    if spec.state:
        found["state"] = dict(spec.state)
    return found


def digest_of(document: Any) -> str:
    """``sha256:<hex>`` of a JSON-serializable document in canonical form."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def config_digest(spec: DeploymentSpec, inputs: RenderInputs, python_path: list[str],
                  opa: str | None = None) -> str:
    """Digest of what configures the pods: the service config and the policies."""
    return digest_of({"config": service_config(spec, python_path, opa=opa), "policies": inputs.policies})


def policy_digest(policies: Mapping[str, str]) -> str | None:
    """Digest of the policy bundle (``None`` without policies)."""
    return digest_of(dict(policies)) if policies else None


def amounts(value: Amounts) -> dict[str, str]:
    return {"cpu": value.cpu, "memory": value.memory}


def resources(value: Resources) -> Manifest:
    """A container's ``resources``."""
    return {"requests": amounts(value.requests), "limits": amounts(value.limits)}


def container_security() -> Manifest:
    """Non-root, read-only root filesystem, no privilege escalation, no capabilities."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security() -> Manifest:
    """The pod's ``securityContext`` (restricted Pod Security Standard)."""
    return {"runAsNonRoot": True, "runAsUser": RUN_AS, "runAsGroup": RUN_AS, "fsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"}}


def _host_path_refused(spec: DeploymentSpec, package: str, node: str | None = None) -> ConfigurationError:
    name = PurePosixPath(package.removeprefix("file://")).name or "model.zip"
    what = "a path on this machine" if package.startswith(("/", "file://")) or "://" not in package else \
        f"a '{package.split('://', 1)[0]}://' location"
    key, where = ("package", "kubernetes.package") if node is None else \
        (f"packages.{node}", f"kubernetes.packages.{node}")
    subject = f"model {spec.model.qualified_name}" + (f", node {node}" if node else "")
    return ConfigurationError(
        f"{subject}: package '{package}' is {what}, which a pod cannot read; give an "
        f"s3:// URI ({key}: s3://BUCKET/{name}, or MODELWARD_STORE_URL=s3://... for `modelward deploy`) or a "
        f"path inside the image ({where}: /service/packages/{name})")


def pod_package(spec: DeploymentSpec, inputs: RenderInputs) -> str | None:
    """The package as a pod reads it, or ``ConfigurationError`` when a pod could not read it.

    In order: the registered package when it is in S3 (the verified, content-addressed copy), else
    ``kubernetes.package`` (an ``s3://`` URI or an absolute path inside the image), else ``package``
    when it is an ``s3://`` URI. A path on the machine that renders (or ``file://``) is refused.
    """
    registered = inputs.package_uri
    if registered is not None and registered.startswith("s3://"):
        return registered
    if spec.kubernetes.package:
        return spec.kubernetes.package
    package = registered or spec.package
    if package is None or package.startswith("s3://"):
        return package
    raise _host_path_refused(spec, package)


def pod_node_packages(spec: DeploymentSpec, inputs: RenderInputs) -> dict[str, str]:
    """A graph's packages as a pod reads them, by MODEL node (each as ``pod_package`` decides)."""
    found = {}
    for node in spec.graph_nodes():
        registered = inputs.node_packages.get(node)
        if registered is not None and registered.startswith("s3://"):
            found[node] = registered
        elif node in spec.kubernetes.packages:
            found[node] = spec.kubernetes.packages[node]
        else:
            package = registered or spec.packages[node]
            if not package.startswith("s3://"):
                raise _host_path_refused(spec, package, node)
            found[node] = package
    return found


def serve_args(ports: Ports) -> list[str]:
    """``modelward serve`` on every interface, on the ports the controller talks to."""
    args = ["serve", "--host", "0.0.0.0", "--port", str(ports.http)]
    if ports.grpc is not None:
        args += ["--grpc-port", str(ports.grpc)]
    return args


def env(spec: DeploymentSpec, inputs: RenderInputs) -> list[Manifest]:
    """The model container's environment: settings, and Secret references (never values)."""
    secrets = spec.kubernetes.secrets
    items: list[Manifest] = [
        {"name": "MODELWARD_CONFIG", "value": f"{CONFIG_DIR}/{CONFIG_FILE}"},
        {"name": "MODELWARD_DATA_DIR", "value": "/tmp/modelward"},
    ]
    package = pod_package(spec, inputs)
    if package:
        items.append({"name": "MODEL_PACKAGE", "value": package})
    for node, location in pod_node_packages(spec, inputs).items():
        names = node_env(node)
        items.append({"name": names["package"], "value": location})
        version = inputs.node_versions.get(node)
        if version:
            items.append({"name": names["version"], "value": version})
    if secrets.keyring:
        items.append({"name": "MODELWARD_KEYRING", "value": KEYRING_DIR})
    if secrets.s3_endpoint_url:
        items.append({"name": "MODELWARD_S3_ENDPOINT_URL", "value": secrets.s3_endpoint_url})
    if secrets.s3:
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            items.append({"name": key, "valueFrom": {"secretKeyRef": {"name": secrets.s3, "key": key}}})
    return items


def config_map_name(spec: DeploymentSpec) -> str:
    return f"{spec.name}-config"


def policies_map_name(spec: DeploymentSpec) -> str:
    return f"{spec.name}-policies"


def serving_policies(policies: Mapping[str, str]) -> dict[str, str]:
    """The policy files a server loads (``*_test.rego`` stay out of the pod)."""
    return {name: text for name, text in sorted(policies.items()) if not name.endswith("_test.rego")}


def volumes(spec: DeploymentSpec, inputs: RenderInputs) -> list[Manifest]:
    """The pod's volumes: /tmp, the config, the policies, the keyring Secret."""
    items: list[Manifest] = [
        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
        {"name": "config", "configMap": {"name": config_map_name(spec)}},
    ]
    if serving_policies(inputs.policies):
        items.append({"name": "policies", "configMap": {"name": policies_map_name(spec)}})
    if spec.kubernetes.secrets.keyring:
        items.append({"name": "keyring", "secret": {"secretName": spec.kubernetes.secrets.keyring}})
    return items


def mounts(spec: DeploymentSpec, inputs: RenderInputs) -> list[Manifest]:
    """The model container's mounts (all read-only except /tmp)."""
    items: list[Manifest] = [
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
    ]
    if serving_policies(inputs.policies):
        items.append({"name": "policies", "mountPath": POLICY_DIR, "readOnly": True})
    if spec.kubernetes.secrets.keyring:
        items.append({"name": "keyring", "mountPath": KEYRING_DIR, "readOnly": True})
    return items


def probe(path: str, port: int | str, period: int = 10, failures: int = 3) -> Manifest:
    """An HTTP GET probe."""
    return {"httpGet": {"path": path, "port": port, "scheme": "HTTP"},
            "periodSeconds": period, "timeoutSeconds": 2, "failureThreshold": failures}


def container_ports(ports: Ports) -> list[Manifest]:
    """Named ports: ``http`` (and ``grpc``), the names Seldon's operator and the Service look for."""
    found: list[Manifest] = [{"name": "http", "containerPort": ports.http, "protocol": "TCP"}]
    if ports.grpc is not None:
        found.append({"name": "grpc", "containerPort": ports.grpc, "protocol": "TCP"})
    return found


def model_container(spec: DeploymentSpec, inputs: RenderInputs, name: str, ports: Ports) -> Manifest:
    """The model service container: ``modelward serve`` on ``ports``, probed on the three health endpoints."""
    k8s = spec.kubernetes
    return {
        "name": name,
        "image": k8s.image,
        "imagePullPolicy": k8s.image_pull_policy,
        "command": [SERVE_COMMAND],
        "args": serve_args(ports),
        "ports": container_ports(ports),
        "env": env(spec, inputs),
        "resources": resources(spec.resources),
        "securityContext": container_security(),
        "volumeMounts": mounts(spec, inputs),
        "startupProbe": probe(STARTUP, "http", period=5, failures=60),
        "readinessProbe": probe(READY, "http", period=5),
        "livenessProbe": probe(HEALTH, "http"),
    }


def opa_args(port: int) -> list[str]:
    """The article's ``run --ignore=.* --server /policies`` (``--addr`` only off the default port)."""
    address = [] if port == OPA_DEFAULT_PORT else [f"--addr=:{port}"]
    return ["run", "--ignore=.*", "--server", *address, POLICY_DIR]


def opa_container(spec: DeploymentSpec) -> Manifest:
    """The OPA sidecar, as in the article: ``run --ignore=.* --server /policies``."""
    opa = spec.kubernetes.opa
    return {
        "name": "opa",
        "image": opa.image,
        "imagePullPolicy": spec.kubernetes.image_pull_policy,
        "args": opa_args(opa.port),
        "ports": [{"name": "opa", "containerPort": opa.port, "protocol": "TCP"}],
        "resources": resources(opa.resources),
        "securityContext": container_security(),
        "volumeMounts": [{"name": "policies", "mountPath": POLICY_DIR, "readOnly": True}],
        "livenessProbe": {"httpGet": {"path": "/health", "port": opa.port, "scheme": "HTTP"},
                          "initialDelaySeconds": 5, "periodSeconds": 5},
        "readinessProbe": {"httpGet": {"path": "/health?bundle=true", "port": opa.port, "scheme": "HTTP"},
                           "initialDelaySeconds": 5, "periodSeconds": 5},
    }


def has_sidecar(spec: DeploymentSpec, inputs: RenderInputs) -> bool:
    """Whether the pods get the OPA sidecar: enabled, and there are policies for it to serve."""
    return spec.kubernetes.opa.enabled and bool(serving_policies(inputs.policies))


def pod_spec(spec: DeploymentSpec, inputs: RenderInputs, name: str, ports: Ports, sidecar: bool = True) -> Manifest:
    """A pod spec: the model container, the OPA sidecar (when ``sidecar`` and enabled), volumes, security."""
    containers = [model_container(spec, inputs, name, ports)]
    if sidecar and has_sidecar(spec, inputs):
        containers.append(opa_container(spec))
    return {
        "automountServiceAccountToken": False,
        "securityContext": pod_security(),
        "containers": containers,
        "volumes": volumes(spec, inputs),
    }


def pod_annotations(spec: DeploymentSpec, inputs: RenderInputs, opa: str | None = None) -> dict[str, str]:
    """What was deployed: package, its digest, the config digest (a change rolls the pods)."""
    notes = {"modelward.io/config-digest": config_digest(spec, inputs, [IN_IMAGE_PYTHON_PATH], opa)}
    package = pod_package(spec, inputs)
    if package:
        notes["modelward.io/package"] = package
    if spec.graph is not None:
        notes["modelward.io/graph"] = json.dumps(seldon_summary(spec.graph), separators=(",", ":"))
        members = {node: {"package": location, "digest": inputs.node_digests.get(node, ""),
                          "version": inputs.node_versions.get(node, "")}
                   for node, location in pod_node_packages(spec, inputs).items()}
        notes["modelward.io/graph-packages"] = json.dumps(members, separators=(",", ":"), sort_keys=True)
    if inputs.package_digest:
        notes["modelward.io/package-digest"] = inputs.package_digest
    digest = policy_digest(inputs.policies)
    if digest:
        notes["modelward.io/policy-digest"] = digest
    return notes
