"""Custom resources: a Seldon Core ``SeldonDeployment`` and a KServe ``InferenceService``.

Both run the same model service image as the plain Kubernetes target and come with the same
Namespace and ConfigMaps. Seldon's executor calls the model on port 9000 with the Seldon protocol
(``/api/v1.0/predictions``); KServe's custom predictor listens on 8080 and speaks the Open
Inference (V2) protocol. The KServe predictor carries no OPA sidecar (Knative allows one port per
revision): there the policy decorator uses the embedded engine on the mounted policies.
"""

from __future__ import annotations

from modelward.deploy.common import Manifest, RenderInputs, metadata, pod_annotations, pod_spec, probe
from modelward.deploy.kubernetes import config_map, namespace, policies_config_map
from modelward.deploy.spec import DeploymentSpec

SELDON_PORT = 9000
KSERVE_PORT = 8080
SELDON_NODE = "model"
KSERVE_CONTAINER = "kserve-container"


def _supporting(spec: DeploymentSpec, inputs: RenderInputs) -> list[Manifest]:
    found = [namespace(spec, inputs), config_map(spec, inputs), policies_config_map(spec, inputs)]
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
    component: Manifest = {"metadata": {"annotations": pod_annotations(spec, inputs)},
                           "spec": pod_spec(spec, inputs, SELDON_NODE, SELDON_PORT)}
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
    return {"apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment",
            "metadata": metadata(spec.name, spec, inputs),
            "spec": {"name": spec.name, "protocol": "seldon", "predictors": [predictor]}}


def _kserve_container(spec: DeploymentSpec, inputs: RenderInputs) -> Manifest:
    container = dict(pod_spec(spec, inputs, KSERVE_CONTAINER, KSERVE_PORT)["containers"][0])
    container.pop("startupProbe")  # Knative serving does not accept startup probes
    container["ports"] = [{"containerPort": KSERVE_PORT, "protocol": "TCP"}]
    container["readinessProbe"] = probe("/api/health/ready", KSERVE_PORT, period=5)
    container["livenessProbe"] = probe("/api/health", KSERVE_PORT)
    return container


def inference_service(spec: DeploymentSpec, inputs: RenderInputs) -> Manifest:
    """A ``serving.kserve.io/v1beta1`` InferenceService with a custom predictor container."""
    pod = pod_spec(spec, inputs, KSERVE_CONTAINER, KSERVE_PORT)
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
    return [*_supporting(spec, given), seldon_deployment(spec, given)]


def render_kserve(spec: DeploymentSpec, inputs: RenderInputs | None = None) -> list[Manifest]:
    """Namespace, ConfigMaps and the InferenceService."""
    given = inputs or RenderInputs()
    return [*_supporting(spec, given), inference_service(spec, given)]
