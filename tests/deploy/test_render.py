"""Rendered manifests: compared exactly with goldens, validated against Kubernetes' own schemas.

Regenerate the goldens after an intended change with
``MODELWARD_UPDATE_GOLDENS=1 .venv/bin/python -m pytest tests/deploy/test_render.py`` and review
the diff before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from modelward.deploy import (
    DeploymentSpec,
    RenderInputs,
    load_deployment,
    read_policies,
    render,
    to_files,
    to_stream,
)
from modelward.errors import ConfigurationError

DATA = Path(__file__).resolve().parent.parent / "data" / "deploy"
KUBERNETES_VERSION = "1.35"  # a current release whose schemas kubernetes-validate ships (offline)
CASES = ("full", "minimal")
TARGETS = ("kubernetes", "seldon", "kserve")
DIGEST = "sha256:" + "ab" * 32
BUILT_IN = {"v1", "apps/v1", "autoscaling/v2", "policy/v1"}


def inputs_for(case: str, spec: DeploymentSpec) -> RenderInputs:
    if case == "minimal":
        return RenderInputs()
    return RenderInputs(policies=read_policies(spec), package_digest=DIGEST)


def rendered(case: str, target: str) -> list[dict[str, Any]]:
    spec = load_deployment(DATA / case / "deployment.yaml")
    return render(spec, target, inputs_for(case, spec))


def validate(manifest: dict[str, Any]) -> None:
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def as_pod(pod_spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "check"}, "spec": pod_spec}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("case", CASES)
def test_manifests_match_golden(case: str, target: str) -> None:
    text = to_stream(rendered(case, target))
    golden = DATA / case / "golden" / f"{target}.yaml"
    if os.environ.get("MODELWARD_UPDATE_GOLDENS") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("case", CASES)
def test_built_in_kinds_validate_against_kubernetes_schemas(case: str, target: str) -> None:
    manifests = rendered(case, target)
    built_in = [m for m in manifests if m["apiVersion"] in BUILT_IN]
    assert built_in, "every target renders at least a Namespace and a ConfigMap"
    for manifest in built_in:
        validate(manifest)


def test_a_broken_manifest_fails_validation() -> None:
    deployment = next(m for m in rendered("full", "kubernetes") if m["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = {"x": 1}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)


@pytest.mark.parametrize("case", CASES)
def test_seldon_component_pod_spec_is_a_valid_pod_spec(case: str) -> None:
    seldon = rendered(case, "seldon")[-1]
    assert seldon["apiVersion"] == "machinelearning.seldon.io/v1"
    assert seldon["kind"] == "SeldonDeployment"
    predictor = seldon["spec"]["predictors"][0]
    assert predictor["graph"] == {"name": "model", "type": "MODEL", "endpoint": {"type": "REST"},
                                  "children": []}
    pod = predictor["componentSpecs"][0]["spec"]
    assert pod["containers"][0]["name"] == predictor["graph"]["name"]
    validate(as_pod(pod))


@pytest.mark.parametrize("case", CASES)
def test_kserve_predictor_is_a_valid_pod_spec(case: str) -> None:
    service = rendered(case, "kserve")[-1]
    assert (service["apiVersion"], service["kind"]) == ("serving.kserve.io/v1beta1", "InferenceService")
    predictor = dict(service["spec"]["predictor"])
    for key in ("minReplicas", "maxReplicas", "scaleMetric", "scaleTarget"):
        predictor.pop(key, None)
    assert predictor["containers"][0]["name"] == "kserve-container"
    assert predictor["containers"][0]["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    validate(as_pod(predictor))


def kinds(manifests: list[dict[str, Any]]) -> list[str]:
    return [m["kind"] for m in manifests]


def test_kubernetes_objects_in_apply_order() -> None:
    assert kinds(rendered("full", "kubernetes")) == [
        "Namespace", "ConfigMap", "ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler",
        "PodDisruptionBudget"]
    assert kinds(rendered("minimal", "kubernetes")) == [
        "Namespace", "ConfigMap", "Deployment", "Service", "PodDisruptionBudget"]


def find(manifests: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(m for m in manifests if m["kind"] == kind)


def test_pods_are_non_root_with_a_read_only_root_and_a_writable_tmp() -> None:
    pod = find(rendered("full", "kubernetes"), "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["runAsUser"] != 0
        assert "limits" in container["resources"] and "requests" in container["resources"]
    model = pod["containers"][0]
    assert {"name": "tmp", "mountPath": "/tmp"} in model["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}} in pod["volumes"]
    probes = {k: model[k]["httpGet"]["path"] for k in ("livenessProbe", "readinessProbe", "startupProbe")}
    assert probes == {"livenessProbe": "/api/health", "readinessProbe": "/api/health/ready",
                      "startupProbe": "/api/health/startup"}


def test_opa_sidecar_runs_the_articles_command_on_the_policy_config_map() -> None:
    manifests = rendered("full", "kubernetes")
    pod = find(manifests, "Deployment")["spec"]["template"]["spec"]
    opa = next(c for c in pod["containers"] if c["name"] == "opa")
    assert opa["args"] == ["run", "--ignore=.*", "--server", "/policies"]
    assert opa["readinessProbe"]["httpGet"]["path"] == "/health?bundle=true"
    assert opa["volumeMounts"] == [{"name": "policies", "mountPath": "/policies", "readOnly": True}]
    policies = next(m for m in manifests if m["metadata"]["name"] == "insurance-charges-policies")
    assert {"name": "policies", "configMap": {"name": "insurance-charges-policies"}} in pod["volumes"]
    assert list(policies["data"]) == ["insurance_charges_model.rego"], "tests stay out of the pod"


def test_no_opa_sidecar_without_policies_even_when_enabled() -> None:
    spec = load_deployment(DATA / "full" / "deployment.yaml")
    pod = find(render(spec, "kubernetes", RenderInputs()), "Deployment")["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["model"]


def test_secrets_are_referenced_never_inlined() -> None:
    manifests = rendered("full", "kubernetes")
    pod = find(manifests, "Deployment")["spec"]["template"]["spec"]
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert "value" not in env[key]
        assert env[key]["valueFrom"] == {"secretKeyRef": {"name": "minio-credentials", "key": key}}
    assert {"name": "keyring", "secret": {"secretName": "modelward-keyring"}} in pod["volumes"]
    assert "Secret" not in kinds(manifests)


def test_service_config_in_the_config_map_names_the_model() -> None:
    config_map = find(rendered("full", "kubernetes"), "ConfigMap")
    document = yaml.safe_load(config_map["data"]["rest_config.yaml"])
    assert document["models"][0]["class_path"] == "insurance_charges.model.InsuranceChargesModel"
    assert document["models"][0]["decorators"][0]["class_path"] == "modelward.policy.PolicyDecorator"
    assert document["python_path"] == [".."]


def test_autoscaler_targets_cpu_between_min_and_max() -> None:
    hpa = find(rendered("full", "kubernetes"), "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70


def test_a_config_change_changes_the_pod_annotation() -> None:
    spec = load_deployment(DATA / "full" / "deployment.yaml")
    before = find(render(spec, "kubernetes"), "Deployment")
    changed = spec.model_copy(update={"model": spec.model.model_copy(update={"configuration": {"x": 1}})})
    after = find(render(changed, "kubernetes"), "Deployment")
    key = "modelward.io/config-digest"
    assert before["spec"]["template"]["metadata"]["annotations"][key] != \
        after["spec"]["template"]["metadata"]["annotations"][key]


def test_files_are_numbered_in_apply_order() -> None:
    names = list(to_files(rendered("minimal", "kubernetes")))
    assert names == ["00-namespace-model-services.yaml", "01-configmap-diabetes-progression-config.yaml",
                     "02-deployment-diabetes-progression.yaml", "03-service-diabetes-progression.yaml",
                     "04-poddisruptionbudget-diabetes-progression.yaml"]


@pytest.mark.parametrize(("document", "message"), [
    ({"name": "Bad_Name", "model": {"qualified_name": "m", "class_path": "a.B"}}, "name: 'Bad_Name' is not"),
    ({"name": "ok", "model": {"qualified_name": "m", "class_path": "a.B"}, "colour": 1}, "colour: unknown key"),
    ({"name": "ok", "model": {"class_path": "a.B"}}, "model.qualified_name: Field required"),
    ({"name": "ok", "model": {"qualified_name": "m", "class_path": "a.B"},
      "resources": {"limits": {"cpu": "lots", "memory": "1Gi"}}}, "resources.limits.cpu: 'lots' is not"),
    ({"name": "ok", "model": {"qualified_name": "m", "class_path": "a.B"},
      "autoscaling": {"min_replicas": 3, "max_replicas": 2}}, "max_replicas must be at least min_replicas"),
    ({"name": "ok", "model": {"qualified_name": "m", "class_path": "a.B"}, "target": "mesos"}, "target:"),
])
def test_bad_deployment_files_name_the_key(tmp_path: Path, document: dict[str, Any], message: str) -> None:
    file = tmp_path / "deployment.yaml"
    file.write_text(yaml.safe_dump(document), encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        load_deployment(file)
    assert str(file) in str(caught.value)
    assert message in str(caught.value)


def test_a_yaml_syntax_error_is_one_line_with_its_place(tmp_path: Path) -> None:
    file = tmp_path / "deployment.yaml"
    file.write_text("name: toy\nmodel: {qualified_name: a\n", encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        load_deployment(file)
    assert str(caught.value) == f"{file}:3:1: YAML syntax error: expected ',' or '}}', but got '<stream end>'"


def test_missing_deployment_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="deployment file not found"):
        load_deployment(tmp_path / "nope.yaml")


def test_local_target_has_no_manifests() -> None:
    spec = load_deployment(DATA / "minimal" / "deployment.yaml")
    with pytest.raises(ConfigurationError, match="'local' has no manifests"):
        render(spec, "local")


@pytest.mark.parametrize("target", TARGETS)
def test_yaml_stream_reads_back_as_the_same_manifests(target: str) -> None:
    manifests = rendered("full", target)
    assert list(yaml.safe_load_all(to_stream(manifests))) == manifests
