"""Deployment specs and pure renderers: Kubernetes, SeldonDeployment and KServe manifests.

Nothing here touches a cluster, a process or the clock: ``render(spec, target, inputs)`` returns
a list of manifest dicts, golden-tested. Applying them is the orchestrator's job
(``modelward.services.orchestrator``).
"""

from modelward.deploy.common import RenderInputs, config_digest, digest_of, policy_digest, service_config
from modelward.deploy.custom import render_kserve, render_seldon
from modelward.deploy.kubernetes import render_kubernetes
from modelward.deploy.render import RENDERERS, render, to_files, to_stream, to_yaml
from modelward.deploy.spec import (
    TARGETS,
    Autoscaling,
    DecoratorRef,
    DeploymentSpec,
    KubernetesOptions,
    LocalOptions,
    ModelRef,
    OpaSidecar,
    Resources,
    Secrets,
    load_deployment,
    parse_deployment,
    read_policies,
)

__all__ = [
    "RENDERERS",
    "TARGETS",
    "Autoscaling",
    "DecoratorRef",
    "DeploymentSpec",
    "KubernetesOptions",
    "LocalOptions",
    "ModelRef",
    "OpaSidecar",
    "RenderInputs",
    "Resources",
    "Secrets",
    "config_digest",
    "digest_of",
    "load_deployment",
    "parse_deployment",
    "policy_digest",
    "read_policies",
    "render",
    "render_kserve",
    "render_kubernetes",
    "render_seldon",
    "service_config",
    "to_files",
    "to_stream",
    "to_yaml",
]
