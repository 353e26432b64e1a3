"""Custom resources: a Seldon Core ``SeldonDeployment`` and a KServe ``InferenceService``.

Both run the same model service image as the plain Kubernetes target and come with the same
Namespace and ConfigMaps; the container runs ``modelward serve`` on the port its controller talks to.

- **Seldon Core v1** (``protocol: seldon``): the operator reads the model's HTTP port from the
  container port named ``http`` (9000 by default) and its executor, in the same pod, posts Seldon
  messages to ``localhost:9000/predict`` and ``/send-feedback`` (the Seldon microservice paths the
  server answers beside ``/api/v1.0/predictions``); with full health checks it gets
  ``/api/v1.0/health/status``. Probes given in the pod spec are kept by the operator.
- **KServe** (custom predictor): Knative routes to the one declared container port, 8080, and the
  predictor's protocol is its ``PROTOCOL`` variable (``v1``: ``/v1/models/{name}:predict``, ``v2``:
  ``/v2/models/{name}/infer``; the server answers both). The predictor carries no OPA sidecar:
  there the policy decorator uses the embedded engine on the mounted policies. Knative accepts no
  startup probe; readiness and liveness remain.

An inference graph keeps Seldon's one MODEL node (the container serves the whole graph; the node
tree is in the ``modelward.io/graph`` annotation); for KServe it becomes one InferenceService per
MODEL node and an InferenceGraph over them (``modelward.deploy.graphs.kserve_plan``).
"""

from __future__ import annotations

from typing import Any

from modelward.deploy.common import (
    HEALTH,
    READY,
    Manifest,
    Ports,
    RenderInputs,
    metadata,
    pod_annotations,
    pod_spec,
    probe,
)
from modelward.deploy.graphs import KServePlan, dns_label, kserve_plan
from modelward.deploy.kubernetes import config_map, namespace, policies_config_map, sidecar_url
from modelward.deploy.spec import DeploymentSpec
from modelward.errors import ConfigurationError

SELDON_PORT = 9000
KSERVE_PORT = 8080
SELDON_NODE = "model"
KSERVE_CONTAINER = "kserve-container"


def _supporting(spec: DeploymentSpec, inputs: RenderInputs, opa: str | None) -> list[Manifest]:
    found = [namespace(spec, inputs), config_map(spec, inputs, opa), policies_config_map(spec, inputs)]
    return [item for item in found if item is not None]


def _seldon_hpa(spec: DeploymentSpec) -> Manifest | None:
    scaling = spec.autoscaling
    if scaling is None:
        return None
    return {"minReplicas": scaling.min_replicas, "maxReplicas": scaling.max_replicas,
            "metricsv2": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": scaling.target_cpu_utilization}}}]}


def seldon_deployment(spec: DeploymentSpec, inputs: RenderInputs) -> Manifest:
    """A ``machinelearning.seldon.io/v1`` SeldonDeployment with one MODEL node (as in the article)."""
    component: Manifest = {"metadata": {"annotations": pod_annotations(spec, inputs, sidecar_url(spec, inputs))},
                           "spec": pod_spec(spec, inputs, SELDON_NODE, Ports(SELDON_PORT))}
    hpa = _seldon_hpa(spec)
    if hpa is not None:
        component["hpaSpec"] = hpa
    predictor: Manifest = {
        "name": "default",
        "replicas": spec.autoscaling.min_replicas if spec.autoscaling else spec.replicas,
        "componentSpecs": [component],
        "graph": {"name": SELDON_NODE, "type": "MODEL", "endpoint": {"type": "REST"}, "children": []},
        "labels": {"version": metadata(spec.name, spec, inputs)["labels"]["app.kubernetes.io/version"]},
    }
    meta = metadata(spec.name, spec, inputs)
    if spec.graph is not None:  # one MODEL node serves the whole graph; the tree is described here
        meta["annotations"] = {"modelward.io/graph": component["metadata"]["annotations"]["modelward.io/graph"]}
    return {"apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment", "metadata": meta,
            "spec": {"name": spec.name, "protocol": "seldon", "predictors": [predictor]}}


def _kserve_container(spec: DeploymentSpec, inputs: RenderInputs) -> Manifest:
    container = dict(pod_spec(spec, inputs, KSERVE_CONTAINER, Ports(KSERVE_PORT), sidecar=False)["containers"][0])
    container.pop("startupProbe")  # Knative serving does not accept startup probes
    container["ports"] = [{"containerPort": KSERVE_PORT, "protocol": "TCP"}]
    container["env"] = [*container["env"], {"name": "PROTOCOL", "value": spec.kubernetes.kserve_protocol}]
    container["readinessProbe"] = probe(READY, KSERVE_PORT, period=5)
    container["livenessProbe"] = probe(HEALTH, KSERVE_PORT)
    return container


def inference_service(spec: DeploymentSpec, inputs: RenderInputs) -> Manifest:
    """A ``serving.kserve.io/v1beta1`` InferenceService with a custom predictor container."""
    pod = pod_spec(spec, inputs, KSERVE_CONTAINER, Ports(KSERVE_PORT), sidecar=False)
    predictor: Manifest = {
        "minReplicas": spec.autoscaling.min_replicas if spec.autoscaling else spec.replicas,
        "maxReplicas": spec.autoscaling.max_replicas if spec.autoscaling else spec.replicas,
        "automountServiceAccountToken": False,
        "securityContext": pod["securityContext"],
        "containers": [_kserve_container(spec, inputs)],
        "volumes": pod["volumes"],
    }
    if spec.autoscaling is not None:
        predictor["scaleMetric"] = "cpu"
        predictor["scaleTarget"] = spec.autoscaling.target_cpu_utilization
    meta = metadata(spec.name, spec, inputs)
    meta["annotations"] = {"serving.kserve.io/enable-prometheus-scraping": "true",
                           **pod_annotations(spec, inputs)}
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": meta, "spec": {"predictor": predictor}}


def render_seldon(spec: DeploymentSpec, inputs: RenderInputs | None = None) -> list[Manifest]:
    """Namespace, ConfigMaps and the SeldonDeployment."""
    given = inputs or RenderInputs()
    return [*_supporting(spec, given, sidecar_url(spec, given)), seldon_deployment(spec, given)]


def render_kserve(spec: DeploymentSpec, inputs: RenderInputs | None = None) -> list[Manifest]:
    """Namespace, ConfigMaps and the InferenceService (policies evaluated in process: no sidecar).

    A graph: an InferenceService per MODEL node and an InferenceGraph over them (``kserve_graph``).
    """
    given = inputs or RenderInputs()
    if spec.graph is not None:
        return kserve_graph(spec, given)
    return [*_supporting(spec, given, None), inference_service(spec, given)]


def node_spec(spec: DeploymentSpec, node: dict[str, Any]) -> DeploymentSpec:
    """One MODEL node as a deployment of its own: a one-node graph endpoint named as its InferenceService.

    The endpoint's name is the InferenceService's, the model name KServe's router calls
    (``/v1/models/{name}:predict``); the node keeps its configuration (``${MODEL_PACKAGE_<NODE>}``).
    """
    name = service_name(spec, node["name"])
    alone = {key: value for key, value in node.items() if key != "children"}
    packages = {k: v for k, v in spec.packages.items() if k == node["name"]}
    pods = {k: v for k, v in spec.kubernetes.packages.items() if k == node["name"]}
    return spec.model_copy(update={
        "name": name, "graph": alone, "packages": packages, "decorators": [],
        "model": spec.model.model_copy(update={"qualified_name": name, "version": None}),
        "kubernetes": spec.kubernetes.model_copy(update={"packages": pods}),
    })


def service_name(spec: DeploymentSpec, node: str) -> str:
    """The InferenceService of a MODEL node: ``<deployment>-<node>`` as a DNS label."""
    return dns_label(f"{spec.name}-{node}")


def inference_graph(spec: DeploymentSpec, inputs: RenderInputs, plan: KServePlan) -> Manifest:
    """A ``serving.kserve.io/v1alpha1`` InferenceGraph: the plan's nodes, steps naming InferenceServices."""
    graph_nodes: Manifest = {}
    for node in plan.nodes:
        steps = []
        for step in node.steps:
            item: Manifest = {"name": step.name}
            if step.service is not None:
                item["serviceName"] = service_name(spec, step.service)
            else:
                item["nodeName"] = step.node
            if step.data:
                item["data"] = step.data
            if step.weight is not None:
                item["weight"] = step.weight
            steps.append(item)
        graph_nodes[node.name] = {"routerType": node.router_type, "steps": steps}
    meta = metadata(spec.name, spec, inputs)
    meta["annotations"] = {"modelward.io/graph": pod_annotations(spec, inputs)["modelward.io/graph"]}
    if plan.warnings:
        meta["annotations"]["modelward.io/kserve-warnings"] = "; ".join(plan.warnings)
    return {"apiVersion": "serving.kserve.io/v1alpha1", "kind": "InferenceGraph", "metadata": meta,
            "spec": {"nodes": graph_nodes}}


def kserve_graph(spec: DeploymentSpec, inputs: RenderInputs) -> list[Manifest]:
    """Namespace; per MODEL node its ConfigMaps and InferenceService; the InferenceGraph last.

    ``ConfigurationError`` naming the node when KServe cannot express the graph (see ``kserve_plan``).
    """
    assert spec.graph is not None
    if spec.decorators:
        raise ConfigurationError(
            "decorators: decorators around the whole graph cannot run in a KServe InferenceGraph (no step wraps "
            "the others); put them on the graph's nodes, or deploy with target kubernetes or seldon")
    plan = kserve_plan(spec.graph)
    found = [namespace(spec, inputs)]
    for node in plan.models:
        alone = node_spec(spec, node)
        given = inputs.model_copy(update={"model_version": inputs.node_versions.get(node["name"])})
        found += [m for m in _supporting(alone, given, None) if m["kind"] != "Namespace"]
        found.append(inference_service(alone, given))
    found.append(inference_graph(spec, inputs, plan))
    return found
