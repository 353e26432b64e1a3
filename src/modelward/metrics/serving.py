"""``ServingMetrics``: the request, policy, batch, feedback, drift and cache metrics of one process.

Created on a ``CollectorRegistry`` passed in (never the process-global one). Label names follow
MLServer and KServe: ``model_name``, ``model_version``, ``protocol``, ``status`` (the HTTP status or
gRPC code as text). Every method is small and typed, so the data plane and protocols call
``observe_request(...)`` without knowing Prometheus.

Decorators report their own counters through the chain (``metric_samples()``, read by
``ChainCollector`` on the same registry): the prediction cache's ``modelward_cache_requests_total``
(model_name, result: hit or miss) and the payload log's journal figures come that way.

| metric | type | labels |
|---|---|---|
| ``modelward_requests_total`` | counter | model_name, model_version, protocol, status |
| ``modelward_request_duration_seconds`` | histogram | model_name, model_version, protocol |
| ``modelward_request_errors_total`` | counter | model_name, model_version, protocol, status |
| ``modelward_policy_decisions_by_model_total`` | counter | model_name, decision |
| ``modelward_feedback_total`` | counter | model_name, route |
| ``modelward_feedback_reward`` | histogram | model_name, route |
| ``modelward_outlier_score`` | histogram | model_name |
| ``modelward_drift`` | gauge | model_name, feature, statistic |
| ``modelward_http_requests_total`` | counter | route, method, status |
| ``modelward_http_request_duration_seconds`` | histogram | route, method |
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

#: seconds; from 1 ms (an in-process sklearn model) to 10 s (a slow remote policy or a big batch)
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
WAIT_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)
REWARD_BUCKETS = (-1.0, -0.5, 0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 2.0, 5.0)
SCORE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
#: the batch queue's families, exported by ``modelward.metrics.batching.BatchCollector``
BATCH_SIZE = "modelward_batch_size"
QUEUE_DEPTH = "modelward_batch_queue_depth"

REQUEST_LABELS = ("model_name", "model_version", "protocol", "status")

#: the names the Grafana dashboard queries (``modelward.metrics.dashboard``)
REQUESTS = "modelward_requests"
DURATION = "modelward_request_duration_seconds"
ERRORS = "modelward_request_errors"
DECISIONS = "modelward_policy_decisions_by_model"
FEEDBACK = "modelward_feedback"
REWARD = "modelward_feedback_reward"
OUTLIER = "modelward_outlier_score"
DRIFT = "modelward_drift"
CACHE = "modelward_cache_requests"  # reported by the cache decorator (chain samples)
HTTP_REQUESTS = "modelward_http_requests"
HTTP_DURATION = "modelward_http_request_duration_seconds"


class ServingMetrics:
    """Every serving metric, registered on ``registry``; one instance per app (or per CLI run)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(REQUESTS, "Prediction requests answered, by model, version, protocol and status.",
                                REQUEST_LABELS, registry=registry)
        self.duration = Histogram(DURATION, "Time to answer a prediction request, in seconds.",
                                  REQUEST_LABELS[:3], buckets=DURATION_BUCKETS, registry=registry)
        self.errors = Counter(ERRORS, "Prediction requests answered with an error status (4xx or 5xx).",
                              REQUEST_LABELS, registry=registry)
        self.decisions = Counter(DECISIONS, "Policy decisions by model and decision (allow, deny).",
                                 ("model_name", "decision"), registry=registry)
        self.feedback = Counter(FEEDBACK, "Feedback messages by model and route.", ("model_name", "route"),
                                registry=registry)
        self.reward = Histogram(REWARD, "Rewards received as feedback, by model and route.",
                                ("model_name", "route"), buckets=REWARD_BUCKETS, registry=registry)
        self.outlier = Histogram(OUTLIER, "Outlier scores of inputs, by model.", ("model_name",),
                                 buckets=SCORE_BUCKETS, registry=registry)
        self.drift = Gauge(DRIFT, "Drift of a feature's logged inputs from the training profile, by statistic "
                           "(psi, ks, chi2_p).", ("model_name", "feature", "statistic"), registry=registry)
        self.http_requests = Counter(HTTP_REQUESTS, "HTTP requests by route template, method and status.",
                                     ("route", "method", "status"), registry=registry)
        self.http_duration = Histogram(HTTP_DURATION, "Time to answer an HTTP request, in seconds.",
                                       ("route", "method"), buckets=DURATION_BUCKETS, registry=registry)

    def observe_request(self, model: str, version: str, protocol: str, status: int | str, seconds: float) -> None:
        """One answered prediction request (``status``: the HTTP status or the gRPC code)."""
        code = str(status)
        self.requests.labels(model, version, protocol, code).inc()
        self.duration.labels(model, version, protocol).observe(seconds)
        if (code.isdigit() and int(code) >= 400) or (not code.isdigit() and code.upper() != "OK"):
            self.errors.labels(model, version, protocol, code).inc()

    def observe_decision(self, model: str, allowed: bool) -> None:
        """One policy decision."""
        self.decisions.labels(model, "allow" if allowed else "deny").inc()

    def observe_feedback(self, model: str, route: str, reward: float | None) -> None:
        """One feedback message (``route``: the graph route or model that answered; reward if given)."""
        self.feedback.labels(model, route).inc()
        if reward is not None:
            self.reward.labels(model, route).observe(reward)

    def observe_outlier(self, model: str, score: float) -> None:
        """One input's outlier score."""
        self.outlier.labels(model).observe(score)

    def set_drift(self, model: str, feature: str, statistic: str, value: float) -> None:
        """A drift statistic of one feature."""
        self.drift.labels(model, feature, statistic).set(value)

    def observe_http(self, route: str, method: str, status: int, seconds: float) -> None:
        """One HTTP request (any route; ``route`` is the template such as ``/api/catalog/models/{name}``)."""
        self.http_requests.labels(route, method, str(status)).inc()
        self.http_duration.labels(route, method).observe(seconds)
