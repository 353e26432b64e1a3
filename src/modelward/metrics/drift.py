"""Drift of logged inputs from a training profile: PSI and KS for numbers, PSI and chi-square for categories.

``compare(profile, inputs, thresholds)`` returns a ``DriftReport``: one ``FeatureDrift`` per
feature of the profile, flagged when a statistic passes its threshold. ``export(report, metrics,
model)`` sets the ``modelward_drift`` gauges of a ``ServingMetrics``.

- PSI (population stability index) over the training deciles (numbers) or categories: the sum of
  ``(p_log - p_train) * ln(p_log / p_train)``; 0.1 is usually read as "some", 0.2 as "significant".
- KS: the largest distance between the logged values' empirical CDF and the training CDF
  (interpolated from 101 training percentiles), with its asymptotic p-value.
- chi-square: the logged category counts against the training frequencies (unseen categories pooled
  into one cell), with its p-value.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from modelward.errors import ConfigurationError
from modelward.metrics.profile import FORMAT, normalize
from modelward.metrics.serving import ServingMetrics

_EPSILON = 1e-4


@dataclass(frozen=True)
class Thresholds:
    """A feature drifts when any statistic passes its threshold."""

    psi: float = 0.2
    ks: float = 0.1
    chi2_p: float = 0.01
    min_count: int = 30


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's drift statistics (None when they do not apply)."""

    feature: str
    kind: str
    count: int
    missing: int
    psi: float | None = None
    ks: float | None = None
    ks_p: float | None = None
    chi2: float | None = None
    chi2_p: float | None = None
    unseen: list[str] = field(default_factory=list)
    drifted: bool = False
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DriftReport:
    """Every feature's drift, and whether any drifted."""

    model: str
    inputs: int
    features: list[FeatureDrift]
    thresholds: Thresholds

    @property
    def drifted(self) -> bool:
        return any(f.drifted for f in self.features)

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "inputs": self.inputs, "drifted": self.drifted,
                "thresholds": asdict(self.thresholds), "features": [asdict(f) for f in self.features]}


def compare(profile: Mapping[str, Any], inputs: Iterable[Mapping[str, Any]], thresholds: Thresholds | None = None,
            model: str = "") -> DriftReport:
    """Compare logged ``inputs`` (request documents) with the training ``profile``."""
    if profile.get("format") != FORMAT or not isinstance(profile.get("features"), dict):
        raise ConfigurationError(f"not a training profile (expected \"format\": \"{FORMAT}\" and \"features\")")
    limits = thresholds or Thresholds()
    rows = list(inputs)
    found = [_feature(name, spec, [row.get(name) for row in rows], limits)
             for name, spec in profile["features"].items()]
    return DriftReport(model, len(rows), found, limits)


def _feature(name: str, spec: Mapping[str, Any], values: list[Any], limits: Thresholds) -> FeatureDrift:
    normalized = [normalize(v) for v in values]
    present = [v for v in normalized if v is not None]
    common: dict[str, Any] = {"feature": name, "kind": str(spec["kind"]), "count": len(present),
              "missing": len(normalized) - len(present)}
    if spec["kind"] == "numeric":
        numbers = sorted(float(v) for v in present if isinstance(v, float))
        if not numbers:
            return FeatureDrift(**common)
        psi = numeric_psi(spec["quantiles"], numbers)
        ks, ks_p = ks_statistic(spec["quantiles"], numbers, int(spec["count"]))
        reasons = _reasons(len(numbers), limits, psi=psi, ks=ks)
        return FeatureDrift(**common, psi=psi, ks=ks, ks_p=ks_p, drifted=bool(reasons), reasons=reasons)
    categories = Counter(str(v) for v in present)
    if not categories:
        return FeatureDrift(**common)
    train: dict[str, int] = {str(k): int(v) for k, v in spec["counts"].items()}
    psi = categorical_psi(train, categories)
    chi2, chi2_p = chi_square(train, categories)
    unseen = sorted(set(categories) - set(train))
    reasons = _reasons(sum(categories.values()), limits, psi=psi, chi2_p=chi2_p)
    return FeatureDrift(**common, psi=psi, chi2=chi2, chi2_p=chi2_p, unseen=unseen, drifted=bool(reasons),
                        reasons=reasons)


def _reasons(count: int, limits: Thresholds, psi: float, ks: float | None = None,
             chi2_p: float | None = None) -> list[str]:
    if count < limits.min_count:
        return []
    reasons = [f"psi {psi:.3f} > {limits.psi}"] if psi > limits.psi else []
    if ks is not None and ks > limits.ks:
        reasons.append(f"ks {ks:.3f} > {limits.ks}")
    if chi2_p is not None and chi2_p < limits.chi2_p:
        reasons.append(f"chi-square p {chi2_p:.2g} < {limits.chi2_p}")
    return reasons


def _psi(expected: list[float], actual: list[float]) -> float:
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, _EPSILON), max(a, _EPSILON)
        total += (a - e) * math.log(a / e)
    return round(total, 6)


def numeric_psi(train_quantiles: list[float], values: list[float]) -> float:
    """PSI over the training deciles (bins that collapse on repeated values are merged)."""
    edges = sorted({train_quantiles[i] for i in range(10, 100, 10)})
    expected = _fractions_by_cdf(train_quantiles, edges)
    counts = [0] * (len(edges) + 1)
    for v in values:
        counts[bisect.bisect_right(edges, v)] += 1
    return _psi(expected, [c / len(values) for c in counts])


def _fractions_by_cdf(train_quantiles: list[float], edges: list[float]) -> list[float]:
    cdf = [train_cdf(train_quantiles, e) for e in edges]
    bounds = [0.0, *cdf, 1.0]
    return [bounds[i + 1] - bounds[i] for i in range(len(bounds) - 1)]


def train_cdf(train_quantiles: list[float], x: float) -> float:
    """The training CDF at ``x``, interpolated between percentiles (right-continuous at ties)."""
    q = train_quantiles
    if x < q[0]:
        return 0.0
    if x >= q[-1]:
        return 1.0
    high = bisect.bisect_right(q, x)  # q[high-1] <= x < q[high]
    low = high - 1
    span = q[high] - q[low]
    within = (x - q[low]) / span if span > 0 else 1.0
    return (low + within) / (len(q) - 1)


def ks_statistic(train_quantiles: list[float], values: list[float], train_count: int) -> tuple[float, float]:
    """Two-sample KS distance (training CDF interpolated) and its asymptotic p-value."""
    n = len(values)
    distance = 0.0
    for i, v in enumerate(values):
        f = train_cdf(train_quantiles, v)
        distance = max(distance, abs((i + 1) / n - f), abs(i / n - f))
    effective = n * train_count / (n + train_count) if train_count else n
    return round(distance, 6), kolmogorov_p(distance * math.sqrt(effective))


def kolmogorov_p(statistic: float) -> float:
    """P(K > statistic) for the Kolmogorov distribution."""
    if statistic < 0.2:
        return 1.0
    total = sum((1.0 if k % 2 else -1.0) * math.exp(-2 * k * k * statistic * statistic) for k in range(1, 101))
    return min(1.0, max(0.0, 2 * total))


def categorical_psi(train: Mapping[str, int], logged: Mapping[str, int]) -> float:
    categories = sorted(set(train) | set(logged))
    train_total, logged_total = sum(train.values()) or 1, sum(logged.values()) or 1
    return _psi([train.get(c, 0) / train_total for c in categories],
                [logged.get(c, 0) / logged_total for c in categories])


def chi_square(train: Mapping[str, int], logged: Mapping[str, int]) -> tuple[float, float]:
    """Goodness of fit of the logged counts to the training frequencies; unseen categories pooled."""
    total, train_total = sum(logged.values()), sum(train.values()) or 1
    cells = [(logged.get(c, 0), total * count / train_total) for c, count in train.items() if count > 0]
    unseen = sum(v for c, v in logged.items() if c not in train)
    if unseen:
        cells.append((unseen, total * 0.5 / train_total))  # half an observation's worth: a rare cell
    statistic = sum((observed - expected) ** 2 / expected for observed, expected in cells)
    freedom = max(len(cells) - 1, 1)
    return round(statistic, 6), upper_gamma_q(freedom / 2, statistic / 2)


def upper_gamma_q(a: float, x: float) -> float:
    """The regularized upper incomplete gamma function Q(a, x) (chi-square survival)."""
    if x <= 0:
        return 1.0
    log_prefix = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:  # series for P, then Q = 1 - P
        term = total = 1.0 / a
        n = a
        for _ in range(500):
            n += 1
            term *= x / n
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(log_prefix))
    b, c, d = x + 1 - a, 1e300, 1 / (x + 1 - a)  # Lentz's continued fraction for Q
    h = d
    for i in range(1, 500):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = 1e-300 if abs(d) < 1e-300 else d
        c = b + an / c
        c = 1e-300 if abs(c) < 1e-300 else c
        d = 1 / d
        h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return min(1.0, h * math.exp(log_prefix))


def export(report: DriftReport, metrics: ServingMetrics) -> None:
    """Set ``modelward_drift{model_name, feature, statistic}`` for every statistic of the report."""
    for feature in report.features:
        for statistic in ("psi", "ks", "ks_p", "chi2", "chi2_p"):
            value = getattr(feature, statistic)
            if value is not None:
                metrics.set_drift(report.model, feature.feature, statistic, value)
        metrics.set_drift(report.model, feature.feature, "drifted", 1.0 if feature.drifted else 0.0)
