"""The rendered container command, run locally and called the way each controller calls it.

For each target the toy pod (``tests/data/deploy/pod``) is rendered and its YAML parsed back; the
model container's ``command``, ``args`` and ``env`` are run as a real process, changed in only two
ways: the ports the manifest names become free loopback ports, and the paths of the pod (its
mounts, and the image's ``/service``) become folders this test fills from the rendered ConfigMaps,
a keyring (the Secret) and a signed package baked into the "image". Then the manifest's own probes
(path and port) are polled and the model is called as the controller would: Seldon's executor posts
a Seldon message to ``/predict`` (and clients to ``/api/v1.0/predictions``), KServe routes
``/v1/models/{name}:predict`` (``PROTOCOL=v1``) or ``/v2/models/{name}/infer`` (``v2``), a plain
Service the native route (and, rendered with ``grpc_port``, V2 gRPC on the ``grpc`` port).

OPA cannot be installed here: the rendered OPA sidecar is played by ``DataApiServer`` (OPA's Data
API contract, ``modelward.policy``) on the sidecar's port, serving the rendered policies
ConfigMap; it counts its queries, so the test knows the model container asked the sidecar.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from modelward import artifacts
from modelward.deploy import load_deployment, read_policies, render, to_stream
from modelward.deploy.common import RenderInputs
from modelward.policy import DataApiServer, PolicyBundle, read_bundle
from tests.conftest import free_port, stop

pytestmark = pytest.mark.integration

POD = Path(__file__).resolve().parent.parent / "data" / "deploy" / "pod"
GRAPH_POD = POD.parent / "graph_pod"
#: the graph pod's nodes: (version, slope) of the package baked into the image for each
GRAPH_WEIGHTS = {"MODEL_PACKAGE_CHAMPION": ("1.0.0", 3.0), "MODEL_PACKAGE_CHALLENGER": ("2.0.0", 5.0)}
IMAGE_ROOT = "/service"  # where the Dockerfile puts the model code (and this image its package)


@dataclass
class Pod:
    """What one rendered target became on this machine."""

    manifests: list[dict[str, Any]]
    container: dict[str, Any]
    ports: dict[int, int]  # rendered port -> local port
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    sidecar: CountingOpa | None = None

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


class CountingOpa(DataApiServer):
    """The sidecar's stand-in: OPA's Data API on the rendered policies, counting what it was asked."""

    def __init__(self, bundle: PolicyBundle, port: int) -> None:
        super().__init__(bundle, "127.0.0.1", port)
        self.asked: list[str] = []

    def query(self, path: str, input: Any) -> Any:
        self.asked.append(path)
        return super().query(path, input)


@dataclass
class Paths:
    """The pod's paths and the local folders that stand for them (longest prefix first)."""

    mapping: dict[str, Path] = field(default_factory=dict)

    def local(self, text: str) -> str:
        for prefix in sorted(self.mapping, key=len, reverse=True):
            if text == prefix or text.startswith(prefix + "/"):
                return str(self.mapping[prefix]) + text[len(prefix):]
        return text


def substitute(value: Any, paths: Paths, ports: dict[int, int]) -> Any:
    """Ports and pod paths in a value replaced; nothing else."""
    if isinstance(value, dict):
        return {key: substitute(item, paths, ports) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, paths, ports) for item in value]
    if not isinstance(value, str):
        return ports.get(value, value) if isinstance(value, int) else value
    if value.isdigit() and int(value) in ports:
        return str(ports[int(value)])
    for old, new in ports.items():
        value = re.sub(rf"(?<=localhost:){old}\b", str(new), value)
    return paths.local(value)


def model_container(manifests: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(model container, every container of its pod) of a rendered target."""
    workload = manifests[-1] if manifests[-1]["kind"] in ("SeldonDeployment", "InferenceService") else \
        next(m for m in manifests if m["kind"] == "Deployment")
    if workload["kind"] == "SeldonDeployment":
        pod = workload["spec"]["predictors"][0]["componentSpecs"][0]["spec"]
    elif workload["kind"] == "InferenceService":
        pod = workload["spec"]["predictor"]
    else:
        pod = workload["spec"]["template"]["spec"]
    return pod["containers"][0], pod["containers"]


def fill_mounts(manifests: list[dict[str, Any]], container: dict[str, Any], root: Path,
                ports: dict[int, int], keyring: Path) -> Paths:
    """A local folder per mount: ConfigMaps written out, the keyring Secret, an empty /tmp."""
    by_volume = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    paths = Paths({mount: root / "pod" / mount.lstrip("/") for mount in [IMAGE_ROOT, *by_volume.values()]})
    maps = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "ConfigMap"}
    workload_volumes = volumes_of(manifests)
    for name, mount in by_volume.items():
        folder = paths.mapping[mount]
        volume = workload_volumes[name]
        if "configMap" in volume:
            folder.mkdir(parents=True, exist_ok=True)
            for file, text in maps[volume["configMap"]["name"]]["data"].items():
                (folder / file).write_text(text, encoding="utf-8")
        elif "secret" in volume:
            shutil.copytree(keyring, folder)
        else:
            folder.mkdir(parents=True, exist_ok=True)
    config = paths.mapping[by_volume["config"]] / "rest_config.yaml"
    document = substitute(yaml.safe_load(config.read_text(encoding="utf-8")), paths, ports)
    config.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return paths


def volumes_of(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    workload = manifests[-1]
    if workload["kind"] == "SeldonDeployment":
        pod = workload["spec"]["predictors"][0]["componentSpecs"][0]["spec"]
    elif workload["kind"] == "InferenceService":
        pod = workload["spec"]["predictor"]
    else:
        pod = next(m for m in manifests if m["kind"] == "Deployment")["spec"]["template"]["spec"]
    return {v["name"]: v for v in pod["volumes"]}


def build_image(root: Path, packages: dict[str, tuple[str, str, float]], keyring: Path) -> None:
    """The image's /service: the model code, and each signed package (``path: (version, slope)``) where
    kubernetes.package (or kubernetes.packages, for a graph) says."""
    service = root / "pod" / IMAGE_ROOT.lstrip("/")
    service.mkdir(parents=True)
    shutil.copy(POD / "image" / "pod_model.py", service / "pod_model.py")
    keys = artifacts.generate_key(root / "private", key_id="pod-key", keyring=artifacts.Keyring.load(keyring))
    for package, version, slope in packages.values():
        files = root / "model" / version
        files.mkdir(parents=True)
        (files / "weights.json").write_text(f'{{"slope": {slope}, "intercept": 0.5}}', encoding="utf-8")
        target = Path(Paths({IMAGE_ROOT: service}).local(package))
        target.parent.mkdir(parents=True, exist_ok=True)
        artifacts.build_package(files, target, qualified_name="toy_model", version=version,
                                signer=artifacts.load_signer(keys.private_path))


def rendered(target: str, options: dict[str, Any], pod: Path = POD) -> list[dict[str, Any]]:
    """The toy pod's manifests for ``target`` (``options``: changed ``kubernetes`` options), as YAML read back."""
    spec = load_deployment(pod / "deployment.yaml")
    spec = spec.model_copy(update={"kubernetes": spec.kubernetes.model_copy(update=options)})
    text = to_stream(render(spec, target, RenderInputs(policies=read_policies(spec))))
    return list(yaml.safe_load_all(text))  # what kubectl would read


def environment(container: dict[str, Any], paths: Paths, ports: dict[int, int]) -> dict[str, str]:
    """The container's env, substituted, over a bare base (the image's PATH, this checkout's code)."""
    assert all("value" in item for item in container["env"]), "the toy pod references no Secret values"
    base = {"PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"]),
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""), "LANG": "C.UTF-8"}
    return {**base, **{item["name"]: substitute(item["value"], paths, ports) for item in container["env"]}}


def start(target: str, root: Path, options: dict[str, Any], pod: Path = POD) -> Pod:
    manifests = rendered(target, options, pod)
    container, containers = model_container(manifests)
    declared = [p["containerPort"] for c in containers for p in c.get("ports", [])]
    ports = {port: free_port() for port in declared}
    keyring = root / "keyring"
    keyring.mkdir(parents=True)
    weights = {"MODEL_PACKAGE": ("1.0.0", 3.0), **GRAPH_WEIGHTS}
    build_image(root, {e["name"]: (e["value"], *weights[e["name"]]) for e in container["env"]
                       if e["name"].startswith("MODEL_PACKAGE")}, keyring)
    paths = fill_mounts(manifests, container, root, ports, keyring)
    sidecar = None
    if len(containers) > 1:
        opa = containers[1]
        assert opa["name"] == "opa"
        policy_dir = paths.local(opa["volumeMounts"][0]["mountPath"])
        sidecar = CountingOpa(read_bundle([Path(policy_dir)]), ports[opa["ports"][0]["containerPort"]])
        sidecar.start()
    command = [shutil.which(container["command"][0], path=environment(container, paths, ports)["PATH"]) or "",
               *substitute(container["args"], paths, ports)]
    log = root / "container.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(command, env=environment(container, paths, ports), cwd=root,
                                   stdout=handle, stderr=subprocess.STDOUT)
    http = ports[container["ports"][0]["containerPort"]]
    return Pod(manifests, container, ports, f"http://127.0.0.1:{http}", process, log, sidecar)


@pytest.fixture
def pods(tmp_path: Path) -> Iterator[Callable[..., Pod]]:
    started: list[Pod] = []

    def launch(target: str, pod_folder: Path = POD, **options: Any) -> Pod:
        pod = start(target, tmp_path / target, options, pod_folder)
        started.append(pod)
        return pod

    yield launch
    for pod in started:
        stop(pod.process)
        if pod.sidecar is not None:
            pod.sidecar.shutdown()
            pod.sidecar.server_close()


def probe_url(pod: Pod, probe: dict[str, Any]) -> str:
    """The URL a kubelet would GET for ``probe`` (a named port resolved on the container)."""
    get = probe["httpGet"]
    port = get["port"]
    number = port if isinstance(port, int) else next(
        p["containerPort"] for p in pod.container["ports"] if p.get("name") == port)
    return f"http://127.0.0.1:{pod.ports[number]}{get['path']}"


def pass_probes(pod: Pod, timeout: float = 60) -> dict[str, int]:
    """Poll the startup probe (else readiness) until 200, then every probe once; their statuses."""
    first = pod.container.get("startupProbe") or pod.container["readinessProbe"]
    deadline = time.monotonic() + timeout
    while True:
        assert pod.process.poll() is None, f"the container exited: {pod.output()}"
        try:
            answer = httpx.get(probe_url(pod, first), timeout=2)
            if answer.status_code == 200:
                break
            assert "failed" not in answer.text, f"the models did not load: {pod.output()}"
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"the first probe never passed: {pod.output()}"
        time.sleep(0.2)
    return {key: httpx.get(probe_url(pod, value), timeout=5).status_code
            for key, value in pod.container.items() if key.endswith("Probe")}


def test_seldon_pod_answers_the_executor_and_asks_the_sidecar(pods: Callable[..., Pod]) -> None:
    pod = pods("seldon")
    assert pass_probes(pod) == {"startupProbe": 200, "readinessProbe": 200, "livenessProbe": 200}
    message = {"data": {"names": ["x"], "ndarray": [[2.0]]}, "meta": {"tags": {"caller": "executor"}}}
    for path in ("/predict", "/api/v1.0/predictions"):  # the executor's path, then a client's
        answer = httpx.post(pod.url + path, json=message, timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"] == {"names": ["y"], "ndarray": [[6.5]]}
    assert httpx.get(pod.url + "/api/v1.0/health/status", timeout=5).status_code == 200
    denied = httpx.post(pod.url + "/predict", json={"data": {"names": ["x"], "ndarray": [[-1.0]]}}, timeout=10)
    assert denied.status_code == 403
    assert denied.json()["status"]["info"] == "x may not be negative"
    assert pod.sidecar is not None and pod.sidecar.asked == ["data/toy", "data/toy", "data/toy"]


@pytest.mark.parametrize("protocol", ["v2", "v1"])
def test_kserve_pod_answers_its_protocol_on_8080s_stand_in(pods: Callable[..., Pod], protocol: str) -> None:
    pod = pods("kserve", kserve_protocol=protocol)
    assert pod.sidecar is None and list(pod.ports) == [8080]
    env = {e["name"]: e["value"] for e in pod.container["env"]}
    assert env["PROTOCOL"] == protocol
    assert pass_probes(pod) == {"readinessProbe": 200, "livenessProbe": 200}
    if protocol == "v2":
        body = {"inputs": [{"name": "x", "datatype": "FP64", "shape": [1], "data": [2.0]}]}
        answer = httpx.post(pod.url + "/v2/models/toy_model/infer", json=body, timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json()["outputs"][0]["data"] == [6.5]
        assert httpx.get(pod.url + "/v2/models/toy_model/ready", timeout=5).status_code == 200
    else:
        answer = httpx.post(pod.url + "/v1/models/toy_model:predict", json={"instances": [{"x": 2.0}]}, timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"predictions": [{"y": 6.5}]}
    denied = httpx.post(pod.url + "/v1/models/toy_model:predict", json={"instances": [{"x": -1.0}]}, timeout=10)
    assert denied.status_code == 403 and denied.json() == {"error": "x may not be negative"}, denied.text


def test_kubernetes_pod_answers_the_native_route_through_the_service_port(pods: Callable[..., Pod]) -> None:
    pod = pods("kubernetes", grpc_port=8081)
    assert pass_probes(pod) == {"startupProbe": 200, "readinessProbe": 200, "livenessProbe": 200}
    service = next(m for m in pod.manifests if m["kind"] == "Service")
    assert service["spec"]["ports"][0]["targetPort"] == pod.container["ports"][0]["name"] == "http"
    answer = httpx.post(pod.url + "/api/models/toy_model/prediction", json={"x": 2.0}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"y": 6.5}
    denied = httpx.post(pod.url + "/api/models/toy_model/prediction", json={"x": -3.0}, timeout=10)
    assert denied.status_code == 403 and "x may not be negative" in denied.text
    assert pod.sidecar is not None and pod.sidecar.asked == ["data/toy", "data/toy"]
    version = httpx.get(pod.url + "/api/models", timeout=5).json()
    assert "1.0.0" in str(version), "the model reports the version of the package baked into the image"
    grpc_port = next(p["containerPort"] for p in pod.container["ports"] if p["name"] == "grpc")
    assert model_ready_over_grpc(f"127.0.0.1:{pod.ports[grpc_port]}") is True


def model_ready_over_grpc(address: str) -> bool:
    """Open Inference V2 gRPC ``ModelReady`` on the container's ``grpc`` port."""
    import grpc

    from modelward.serving.v2.grpc_gen import inference_pb2, inference_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        stub = inference_pb2_grpc.GRPCInferenceServiceStub(channel)
        answer = stub.ModelReady(inference_pb2.ModelReadyRequest(name="toy_model"), timeout=10)
        return bool(answer.ready)


@pytest.mark.parametrize("target", ["kubernetes", "seldon"])
def test_a_graph_pod_routes_and_learns_from_feedback(pods: Callable[..., Pod], target: str) -> None:
    """The whole graph in the one rendered container: each answer names its route, feedback reaches the router."""
    pod = pods(target, GRAPH_POD)
    assert pass_probes(pod) == {"startupProbe": 200, "readinessProbe": 200, "livenessProbe": 200}
    expected = {0: 3.0 * 2 + 0.5, 1: 5.0 * 2 + 0.5}  # champion 1.0.0, challenger 2.0.0 (their packages)
    routes = []
    for index in range(8):
        if target == "seldon":  # what Seldon's executor posts to its one MODEL node, then the feedback it relays
            message = {"data": {"names": ["x"], "ndarray": [[2.0]]}, "meta": {"puid": f"p{index}"}}
            answer = httpx.post(pod.url + "/predict", json=message, timeout=10)
            assert answer.status_code == 200, answer.text
            route = answer.json()["meta"]["routing"]["bandit"]
            assert answer.json()["data"]["ndarray"] == [[expected[route]]]
            feedback = {"request": message, "response": answer.json(), "reward": float(route)}
            fed = httpx.post(pod.url + "/send-feedback", json=feedback, timeout=10)
        else:
            answer = httpx.post(pod.url + "/api/models/toy_graph/prediction", json={"x": 2.0}, timeout=10,
                                headers={"X-Request-ID": f"r{index}"})
            assert answer.status_code == 200, answer.text
            route = json.loads(answer.headers["x-modelward-meta"])["routing"]["bandit"]
            assert answer.json() == {"y": expected[route]}
            fed = httpx.post(pod.url + "/api/models/toy_graph/feedback", timeout=10,
                             json={"reward": float(route), "request_id": f"r{index}"})
        assert fed.status_code == 200, fed.text
        routes.append(route)
    metrics = httpx.get(pod.url + "/metrics", timeout=5).text
    fed_back = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                   if line.startswith("modelward_feedback_total{") and 'model_name="toy_graph"' in line)
    assert fed_back == len(routes)
