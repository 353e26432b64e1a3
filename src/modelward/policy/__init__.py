"""Policies on every prediction: Rego evaluated in process (regorus) or by an OPA server.

    engine.evaluate(query, input) -> Decision(allow, messages, policy, policy_digest, decision_id, duration)

``PolicyDecorator`` applies a policy to a model; ``modelward policy test`` runs ``*_test.rego``.
"""

from modelward.policy.bundle import PolicyBundle, PolicyFile, read_bundle, resolve_path
from modelward.policy.config import DecisionLogConfig, PolicyConfig
from modelward.policy.dataapi import DataApiServer
from modelward.policy.decision import Decision
from modelward.policy.decorator import PolicyDecorator, bundle_from
from modelward.policy.embedded import EmbeddedEngine, compile_engine
from modelward.policy.engine import PolicyEngine, StaticEngine
from modelward.policy.log import DecisionLog
from modelward.policy.opa import OpaEngine

__all__ = [
    "DataApiServer",
    "Decision",
    "DecisionLog",
    "DecisionLogConfig",
    "EmbeddedEngine",
    "OpaEngine",
    "PolicyBundle",
    "PolicyConfig",
    "PolicyDecorator",
    "PolicyEngine",
    "PolicyFile",
    "StaticEngine",
    "bundle_from",
    "compile_engine",
    "read_bundle",
    "resolve_path",
]
