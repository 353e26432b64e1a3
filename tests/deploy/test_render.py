"""Rendered manifests: compared exactly with goldens, validated against Kubernetes' own schemas.

Regenerate the goldens after an intended change with
``MODELWARD_UPDATE_GOLDENS=1 .venv/bin/python -m pytest tests/deploy/test_render.py`` and review
the diff before committing it.
"""

from __future__ import annotations

import os
import re
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


def model_container(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    """The model service container of any target's workload."""
    workload = manifests[-1] if manifests[-1]["kind"] in ("SeldonDeployment", "InferenceService") else \
        find(manifests, "Deployment")
    if workload["kind"] == "SeldonDeployment":
        return workload["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"][0]
    if workload["kind"] == "InferenceService":
        return workload["spec"]["predictor"]["containers"][0]
    return workload["spec"]["template"]["spec"]["containers"][0]


def port_number(container: dict[str, Any], port: int | str) -> int:
    """A probe's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    return next(p["containerPort"] for p in container["ports"] if p.get("name") == port)


@pytest.mark.parametrize(("target", "port"), [("kubernetes", 8000), ("seldon", 9000), ("kserve", 8080)])
@pytest.mark.parametrize("case", CASES)
def test_the_server_listens_where_the_controller_and_the_probes_look(case: str, target: str, port: int) -> None:
    container = model_container(rendered(case, target))
    assert container["command"] == ["modelward"]
    assert container["args"] == ["serve", "--host", "0.0.0.0", "--port", str(port)]
    assert container["ports"][0]["containerPort"] == port
    probes = {key: value["httpGet"] for key, value in container.items() if key.endswith("Probe")}
    paths = {"livenessProbe": "/api/health", "readinessProbe": "/api/health/ready",
             "startupProbe": "/api/health/startup"}
    assert {key: get["path"] for key, get in probes.items()} == \
        {k: v for k, v in paths.items() if target != "kserve" or k != "startupProbe"}
    assert {port_number(container, get["port"]) for get in probes.values()} == {port}


def test_seldon_names_the_port_the_operator_reads() -> None:
    container = model_container(rendered("full", "seldon"))
    assert container["ports"] == [{"name": "http", "containerPort": 9000, "protocol": "TCP"}]
    assert rendered("full", "seldon")[-1]["spec"]["protocol"] == "seldon"


@pytest.mark.parametrize("protocol", ["v1", "v2"])
def test_kserve_protocol_is_the_predictors_protocol_variable(protocol: str) -> None:
    spec = load_deployment(DATA / "minimal" / "deployment.yaml")
    spec = spec.model_copy(update={"kubernetes": spec.kubernetes.model_copy(update={"kserve_protocol": protocol})})
    env = {e["name"]: e.get("value") for e in model_container(render(spec, "kserve"))["env"]}
    assert env["PROTOCOL"] == protocol


def test_grpc_port_is_served_declared_and_exposed() -> None:
    spec = load_deployment(DATA / "minimal" / "deployment.yaml")
    spec = spec.model_copy(update={"kubernetes": spec.kubernetes.model_copy(update={"grpc_port": 8081})})
    manifests = render(spec, "kubernetes")
    container = model_container(manifests)
    assert container["args"][-2:] == ["--grpc-port", "8081"]
    assert {"name": "grpc", "containerPort": 8081, "protocol": "TCP"} in container["ports"]
    assert {"name": "grpc", "port": 8081, "targetPort": "grpc", "protocol": "TCP"} in \
        find(manifests, "Service")["spec"]["ports"]
    for manifest in manifests:
        validate(manifest)


def service_document(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    return dict(yaml.safe_load(find(manifests, "ConfigMap")["data"]["rest_config.yaml"]))


@pytest.mark.parametrize("target", ["kubernetes", "seldon"])
def test_with_the_opa_sidecar_the_policy_decorator_evaluates_on_it(target: str) -> None:
    manifests = rendered("full", target)
    decorator = service_document(manifests)["models"][0]["decorators"][0]
    assert decorator["configuration"]["engine"] == "opa"
    assert decorator["configuration"]["opa_url"] == "http://localhost:8181"
    container = model_container(manifests)
    pod = manifests[-1]["spec"]["predictors"][0]["componentSpecs"][0]["spec"] if target == "seldon" else \
        find(manifests, "Deployment")["spec"]["template"]["spec"]
    opa = next(c for c in pod["containers"] if c["name"] == "opa")
    assert opa["ports"][0]["containerPort"] == 8181 and container["name"] != "opa"


def test_the_sidecars_port_follows_the_option_into_the_config() -> None:
    spec = load_deployment(DATA / "full" / "deployment.yaml")
    options = spec.kubernetes.model_copy(update={"opa": spec.kubernetes.opa.model_copy(update={"port": 8282})})
    manifests = render(spec.model_copy(update={"kubernetes": options}), "kubernetes", inputs_for("full", spec))
    decorator = service_document(manifests)["models"][0]["decorators"][0]
    assert decorator["configuration"]["opa_url"] == "http://localhost:8282"
    opa = find(manifests, "Deployment")["spec"]["template"]["spec"]["containers"][1]
    assert "--addr=:8282" in opa["args"]


def test_without_a_sidecar_the_policy_decorator_stays_embedded() -> None:
    kserve = service_document(rendered("full", "kserve"))["models"][0]["decorators"][0]["configuration"]
    assert "engine" not in kserve and kserve["policies"] == ["/policies"]
    spec = load_deployment(DATA / "full" / "deployment.yaml")
    no_policies = service_document(render(spec, "kubernetes", RenderInputs()))
    assert "engine" not in no_policies["models"][0]["decorators"][0]["configuration"]


def package_env(manifests: list[dict[str, Any]]) -> str | None:
    return next((e["value"] for e in model_container(manifests)["env"] if e["name"] == "MODEL_PACKAGE"), None)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("package", ["/home/me/packages/toy-1.0.0.zip", "file:///home/me/packages/toy-1.0.0.zip"])
def test_a_host_path_package_is_refused_naming_model_path_and_remedy(target: str, package: str) -> None:
    spec = load_deployment(DATA / "minimal" / "deployment.yaml").model_copy(update={"package": package})
    with pytest.raises(ConfigurationError) as caught:
        render(spec, target)
    assert str(caught.value) == (
        f"model diabetes_progression_model: package '{package}' is a path on this machine, which a pod cannot "
        "read; give an s3:// URI (package: s3://BUCKET/toy-1.0.0.zip, or MODELWARD_STORE_URL=s3://... for "
        "`modelward deploy`) or a path inside the image (kubernetes.package: /service/packages/toy-1.0.0.zip)")


def test_a_local_registry_copy_is_refused_too() -> None:
    spec = load_deployment(DATA / "minimal" / "deployment.yaml")
    with pytest.raises(ConfigurationError, match=re.escape("package 'file:///data/store/sha256/ab.zip' is a path on")):
        render(spec, "kubernetes", RenderInputs(package_uri="file:///data/store/sha256/ab.zip"))


def test_package_locations_a_pod_can_read() -> None:
    spec = load_deployment(DATA / "minimal" / "deployment.yaml").model_copy(update={"package": "/host/toy.zip"})
    in_image = spec.model_copy(update={"kubernetes": spec.kubernetes.model_copy(
        update={"package": "/service/packages/toy.zip"})})
    assert package_env(render(in_image, "kubernetes")) == "/service/packages/toy.zip"
    local_registry = RenderInputs(package_uri="file:///data/store/sha256/ab.zip")
    assert package_env(render(in_image, "seldon", local_registry)) == "/service/packages/toy.zip"
    in_s3 = RenderInputs(package_uri="s3://registry/sha256/ab.zip")  # the verified registry copy comes first
    assert package_env(render(in_image, "kserve", in_s3)) == "s3://registry/sha256/ab.zip"
    s3_package = spec.model_copy(update={"package": "s3://models/toy.zip"})
    assert package_env(render(s3_package, "kubernetes")) == "s3://models/toy.zip"
    assert package_env(render(load_deployment(DATA / "minimal" / "deployment.yaml"), "kubernetes")) is None


@pytest.mark.parametrize("value", ["packages/toy.zip", "file:///service/toy.zip", "/service/../etc/toy.zip",
                                   "https://example.com/toy.zip"])
def test_kubernetes_package_must_be_s3_or_an_absolute_image_path(tmp_path: Path, value: str) -> None:
    file = tmp_path / "deployment.yaml"
    file.write_text(yaml.safe_dump({"name": "ok", "model": {"qualified_name": "m", "class_path": "a.B"},
                                    "kubernetes": {"package": value}}), encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        load_deployment(file)
    assert f"kubernetes.package: '{value}' is neither an s3:// URI nor an absolute path inside the image" in \
        str(caught.value)


def test_ports_of_one_pod_may_not_collide(tmp_path: Path) -> None:
    file = tmp_path / "deployment.yaml"
    file.write_text(yaml.safe_dump({"name": "ok", "model": {"qualified_name": "m", "class_path": "a.B"},
                                    "kubernetes": {"grpc_port": 8000}}), encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"grpc_port 8000 is already container_port or opa\.port"):
        load_deployment(file)
