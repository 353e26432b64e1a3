"""Kubernetes manifests for a deployment: pure functions from a spec to a list of dicts.

``render_kubernetes(spec, inputs)`` returns, in the order ``kubectl apply`` should see them:
Namespace, ConfigMap (service config), ConfigMap (policies, when there are any), Deployment,
Service, HorizontalPodAutoscaler (when ``autoscaling`` is set), PodDisruptionBudget.
Secrets are referenced by name only; their values never appear in a manifest.
"""

from __future__ import annotations

import yaml

from modelward.deploy.common import (
    CONFIG_FILE,
    IN_IMAGE_PYTHON_PATH,
    Manifest,
    Ports,
    RenderInputs,
    config_map_name,
    has_sidecar,
    labels,
    metadata,
    opa_url,
    pod_annotations,
    pod_spec,
    policies_map_name,
    selector,
    service_config,
    serving_policies,
)
from modelward.deploy.spec import DeploymentSpec

MODEL_CONTAINER = "model"


def namespace(spec: DeploymentSpec, inputs: RenderInputs) -> Manifest:
    """The namespace, enforcing the restricted Pod Security Standard."""
    meta = metadata(spec.kubernetes.namespace, spec, inputs, namespaced=False)
    meta["labels"] = {
        "app.kubernetes.io/part-of": "modelward",
        "pod-security.kubernetes.io/enforce": "restricted",
    }
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def sidecar_url(spec: DeploymentSpec, inputs: RenderInputs) -> str | None:
    """The OPA sidecar's URL when the pods get one (the policy decorators then evaluate there)."""
    return opa_url(spec) if has_sidecar(spec, inputs) else None


def config_map(spec: DeploymentSpec, inputs: RenderInputs, opa: str | None = None) -> Manifest:
    """The service config, mounted into the model container (policies on the sidecar at ``opa``)."""
    document = service_config(spec, [IN_IMAGE_PYTHON_PATH], opa=opa)
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": metadata(config_map_name(spec), spec, inputs), "data": {CONFIG_FILE: text}}


def policies_config_map(spec: DeploymentSpec, inputs: RenderInputs) -> Manifest | None:
    """The policies (tests left out), mounted into the OPA sidecar and the model container."""
    files = serving_policies(inputs.policies)
    if not files:
        return None
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": metadata(policies_map_name(spec), spec, inputs), "data": files}


def deployment(spec: DeploymentSpec, inputs: RenderInputs) -> Manifest:
    """The Deployment: pods of the model service (and the OPA sidecar), rolling update."""
    ports = Ports(spec.kubernetes.container_port, spec.kubernetes.grpc_port)
    replicas = spec.autoscaling.min_replicas if spec.autoscaling else spec.replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(spec.name, spec, inputs),
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector(spec)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": labels(spec, inputs),
                             "annotations": pod_annotations(spec, inputs, sidecar_url(spec, inputs))},
                "spec": pod_spec(spec, inputs, MODEL_CONTAINER, ports),
            },
        },
    }


def service(spec: DeploymentSpec, inputs: RenderInputs) -> Manifest:
    """The Service in front of the pods."""
    k8s = spec.kubernetes
    ports: list[Manifest] = [{"name": "http", "port": k8s.service_port, "targetPort": "http", "protocol": "TCP"}]
    if k8s.grpc_port is not None:
        ports.append({"name": "grpc", "port": k8s.grpc_port, "targetPort": "grpc", "protocol": "TCP"})
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(spec.name, spec, inputs),
        "spec": {"type": k8s.service_type, "selector": selector(spec), "ports": ports},
    }


def autoscaler(spec: DeploymentSpec, inputs: RenderInputs) -> Manifest | None:
    """A HorizontalPodAutoscaler (``autoscaling/v2``) on CPU utilization."""
    scaling = spec.autoscaling
    if scaling is None:
        return None
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(spec.name, spec, inputs),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": spec.name},
            "minReplicas": scaling.min_replicas,
            "maxReplicas": scaling.max_replicas,
            "metrics": [{"type": "Resource", "resource": {
                "name": "cpu", "target": {"type": "Utilization",
                                          "averageUtilization": scaling.target_cpu_utilization}}}],
        },
    }


def disruption_budget(spec: DeploymentSpec, inputs: RenderInputs) -> Manifest:
    """A PodDisruptionBudget: voluntary evictions take at most ``max_unavailable`` pods at once."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(spec.name, spec, inputs),
        "spec": {"maxUnavailable": spec.kubernetes.max_unavailable,
                 "selector": {"matchLabels": selector(spec)}},
    }


def render_kubernetes(spec: DeploymentSpec, inputs: RenderInputs | None = None) -> list[Manifest]:
    """Every manifest of a plain Kubernetes deployment, in apply order."""
    given = inputs or RenderInputs()
    found = [
        namespace(spec, given),
        config_map(spec, given, sidecar_url(spec, given)),
        policies_config_map(spec, given),
        deployment(spec, given),
        service(spec, given),
        autoscaler(spec, given),
        disruption_budget(spec, given),
    ]
    return [item for item in found if item is not None]
