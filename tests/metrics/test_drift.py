"""Profiles and drift statistics, checked against SciPy's implementations of the same tests."""

from __future__ import annotations

import random

import pytest
from scipy import special, stats

from modelward.errors import ConfigurationError
from modelward.metrics import ServingMetrics, create_registry, exposition
from modelward.metrics.drift import Thresholds, chi_square, compare, export, upper_gamma_q
from modelward.metrics.profile import build_profile


def training(seed: int = 1, n: int = 4000) -> list[dict[str, object]]:
    rng = random.Random(seed)
    return [{"age": rng.gauss(40, 10), "region": rng.choice(["n", "s", "e", "w"]), "smoker": rng.random() < 0.2}
            for _ in range(n)]


def test_a_profile_has_percentiles_for_numbers_and_counts_for_categories() -> None:
    profile = build_profile(training())
    age, region, smoker = (profile["features"][k] for k in ("age", "region", "smoker"))
    assert profile["rows"] == 4000 and age["kind"] == "numeric" and len(age["quantiles"]) == 101
    assert age["quantiles"][50] == pytest.approx(40, abs=1)
    assert region["kind"] == "categorical" and sum(region["counts"].values()) == 4000
    assert set(smoker["counts"]) == {"true", "false"}


def test_inputs_like_the_training_data_do_not_drift_and_shifted_ones_do() -> None:
    profile = build_profile(training())
    same = compare(profile, training(seed=2, n=1000), model="m")
    assert not same.drifted, same.as_dict()
    rng = random.Random(3)
    shifted = [{"age": rng.gauss(55, 10), "region": rng.choice(["n", "n", "n", "s", "x"]), "smoker": False}
               for _ in range(1000)]
    report = compare(profile, shifted, model="m")
    by_name = {f.feature: f for f in report.features}
    assert report.drifted
    assert by_name["age"].drifted and by_name["age"].psi is not None and by_name["age"].psi > 0.2
    assert by_name["region"].unseen == ["x"] and by_name["region"].chi2_p is not None
    assert by_name["smoker"].drifted


def test_ks_agrees_with_scipy() -> None:
    train = [row["age"] for row in training()]
    rng = random.Random(5)
    logged = sorted(rng.gauss(42, 10) for _ in range(800))
    profile = build_profile([{"age": a} for a in train])
    ours = compare(profile, [{"age": a} for a in logged], Thresholds(min_count=1)).features[0]
    theirs = stats.ks_2samp(logged, train)
    assert ours.ks == pytest.approx(theirs.statistic, abs=0.01)
    assert ours.ks_p == pytest.approx(theirs.pvalue, abs=0.02)


def test_chi_square_agrees_with_scipy() -> None:
    train, logged = {"a": 500, "b": 300, "c": 200}, {"a": 40, "b": 45, "c": 15}
    statistic, p = chi_square(train, logged)
    expected = [100 * 0.5, 100 * 0.3, 100 * 0.2]
    theirs = stats.chisquare([40, 45, 15], expected)
    assert statistic == pytest.approx(theirs.statistic, rel=1e-6)
    assert p == pytest.approx(theirs.pvalue, rel=1e-6)
    for a, x in ((0.5, 0.1), (1.5, 3.0), (10, 25.0), (40, 20.0)):
        assert upper_gamma_q(a, x) == pytest.approx(special.gammaincc(a, x), rel=1e-9, abs=1e-300)


def test_drift_becomes_gauges() -> None:
    registry = create_registry()
    report = compare(build_profile(training()), training(seed=9, n=200), model="icm")
    export(report, ServingMetrics(registry))
    text = exposition(registry)[0].decode()
    assert 'modelward_drift{feature="age",model_name="icm",statistic="psi"}' in text
    assert 'modelward_drift{feature="region",model_name="icm",statistic="chi2_p"}' in text
    assert 'modelward_drift{feature="age",model_name="icm",statistic="drifted"} 0.0' in text


def test_a_document_that_is_not_a_profile_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="not a training profile"):
        compare({"age": {"min": 1}}, [])
