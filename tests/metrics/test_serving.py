"""ServingMetrics on a registry passed in, read back with prometheus_client's own text parser."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from modelward.metrics import ServingMetrics, create_registry, exposition


def parsed(registry: CollectorRegistry) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """``{sample name: {sorted labels: value}}`` from the registry's text exposition."""
    body, _ = exposition(registry)
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_requests_errors_and_latency_carry_the_fields_label_names() -> None:
    registry = create_registry()
    metrics = ServingMetrics(registry)
    metrics.observe_request("icm", "1.0", "v2", 200, 0.004)
    metrics.observe_request("icm", "1.0", "v2", 200, 0.2)
    metrics.observe_request("icm", "1.0", "seldon", 422, 0.001)
    metrics.observe_request("icm", "1.0", "grpc", "INVALID_ARGUMENT", 0.001)
    found = parsed(registry)
    ok = (("model_name", "icm"), ("model_version", "1.0"), ("protocol", "v2"), ("status", "200"))
    assert found["modelward_requests_total"][ok] == 2
    bad = (("model_name", "icm"), ("model_version", "1.0"), ("protocol", "seldon"), ("status", "422"))
    assert found["modelward_request_errors_total"][bad] == 1
    assert ok not in found["modelward_request_errors_total"]
    grpc = (("model_name", "icm"), ("model_version", "1.0"), ("protocol", "grpc"), ("status", "INVALID_ARGUMENT"))
    assert found["modelward_request_errors_total"][grpc] == 1
    v2 = (("model_name", "icm"), ("model_version", "1.0"), ("protocol", "v2"))
    assert found["modelward_request_duration_seconds_count"][v2] == 2
    assert found["modelward_request_duration_seconds_bucket"][(("le", "0.005"), *v2)] == 1
    assert found["modelward_request_duration_seconds_bucket"][(("le", "+Inf"), *v2)] == 2


def test_decisions_feedback_outliers_and_drift() -> None:
    registry = create_registry()
    metrics = ServingMetrics(registry)
    metrics.observe_decision("icm", allowed=True)
    metrics.observe_decision("icm", allowed=False)
    metrics.observe_decision("icm", allowed=False)
    metrics.observe_feedback("router", "model-a", 1.0)
    metrics.observe_feedback("router", "model-a", None)
    metrics.observe_outlier("icm", 2.5)
    metrics.set_drift("icm", "age", "psi", 0.31)
    found = parsed(registry)
    assert found["modelward_policy_decisions_by_model_total"][(("decision", "deny"), ("model_name", "icm"))] == 2
    assert found["modelward_feedback_total"][(("model_name", "router"), ("route", "model-a"))] == 2
    assert found["modelward_feedback_reward_count"][(("model_name", "router"), ("route", "model-a"))] == 1
    assert found["modelward_outlier_score_sum"][(("model_name", "icm"),)] == 2.5
    drift = (("feature", "age"), ("model_name", "icm"), ("statistic", "psi"))
    assert found["modelward_drift"][drift] == 0.31


def test_two_apps_never_share_a_registry() -> None:
    first, second = create_registry(), create_registry()
    ServingMetrics(first).observe_request("a", "1", "rest", 200, 0.01)
    ServingMetrics(second)
    assert "modelward_requests_total" in parsed(first)
    assert parsed(second).get("modelward_requests_total", {}) == {}
