"""A small catalog for the console's tests and screenshots: three models, deployments, a failed
attempt, tokens of every role, and a model whose description and README carry script and onerror
payloads (they must render as inert text)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from modelward import catalog as c

XSS_DESCRIPTION = "Scores card fraud <script>alert(1)</script>"
XSS_README = ("# Fraud model\n\nScores card payments.\n\n<script>alert('readme')</script>\n\n"
              "<img src=x onerror=\"alert('img')\">\n\n[click me](javascript:alert('link'))\n")
README = ("# Insurance charges\n\nPredicts the yearly insurance **charges** of a customer.\n\n"
          "| metric | value |\n|---|---|\n| r2 | 0.87 |\n\n```\nmodelward deploy deployment.yaml\n```\n")
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Seeded:
    """What the seed made: plain tokens by role and the ids the tests look for."""

    tokens: dict[str, str]
    running: str
    unreachable: str
    failed: str
    attempt: str


def _version(number: str, digest: str, **extra: object) -> c.VersionInfo:
    fields: dict[str, object] = {
        "version": number, "artifact_uri": f"s3://models/insurance_charges-{number}.zip",
        "artifact_digest": f"sha256:{digest * 64}"[:71], "signing_key_id": "key-2026",
        "manifest_digest": f"sha256:{'e' * 64}", "code_repository": "https://git.example/pricing/insurance-charges",
        "code_commit": f"{digest * 7}"[:7], "registry_url": f"s3://registry/icm/{number}/",
        "datasets": (c.DatasetRef(name="charges", uri="s3://data/charges-2026.csv", digest=f"sha256:{'d' * 64}"),
                     c.DatasetRef(name="regions", uri="s3://data/regions.csv", digest=f"sha256:{'f' * 64}")),
        "metrics": {"r2": 0.87, "mae": 2150.5},
        "manifest": {"format": "modelward-package/1", "created": "2026-02-27T10:00:00Z",
                     "known_cases": "validation.jsonl", "model": {"qualified_name": "insurance_charges_model",
                                                                  "version": number}},
    }
    return c.VersionInfo(**(fields | extra))  # type: ignore[arg-type]


def seed(url: str, *, live_endpoint: str = "http://127.0.0.1:9/") -> Seeded:
    """Fill the (migrated, empty) catalog at ``url``; ``live_endpoint`` answers /api/health."""
    cat = c.open_catalog(url)
    try:
        return _fill(cat, live_endpoint.rstrip("/"))
    finally:
        cat.dispose()


def _fill(cat: c.Catalog, live: str) -> Seeded:
    icm = c.ModelInfo(qualified_name="insurance_charges_model", display_name="Insurance charges",
                      description="Predicts the yearly insurance charges of a customer", owner="greg",
                      line_of_business="pricing", project="charges", model_type="gradient boosting regression",
                      tags=("insurance", "regression"), readme=README)
    for number, digest in (("1.0.0", "a"), ("1.1.0", "b"), ("1.2.0", "c")):
        c.register_version(cat, model=icm, version=_version(number, digest), actor="alice")
    for number in ("1.0.0", "1.1.0", "1.2.0"):
        c.set_stage(cat, model="insurance_charges_model", version=number, stage="validated", actor="ci")
    c.set_stage(cat, model="insurance_charges_model", version="1.0.0", stage="archived", actor="ci")
    c.set_stage(cat, model="insurance_charges_model", version="1.1.0", stage="production", actor="ci")
    old = _deploy(cat, "1.0.0", T0, "http://pricing-v1.prod.svc/api/models/insurance_charges_model/prediction")
    running = _deploy(cat, "1.1.0", T0 + timedelta(days=7),
                      f"{live}/api/models/insurance_charges_model/prediction", replaces=old)
    unreachable = _deploy(cat, "1.1.0", T0 + timedelta(days=8), "http://127.0.0.1:9/api/models/x/prediction",
                          environment="staging", target=c.Target.LOCAL)
    failed = c.record_deployment(cat, info=c.DeploymentInfo(
        model="insurance_charges_model", version="1.2.0", target=c.Target.KUBERNETES, environment="production",
        status=c.DeploymentStatus.FAILED, deployed_at=T0 + timedelta(days=9),
        reason="validate failed: validation.jsonl case 3 does not match: charges 1203.5 != 1500.0"),
        actor="ci").id
    attempt = c.record_failed_attempt(cat, info=c.AttemptInfo(
        model="insurance_charges_model", version="1.3.0", source_uri="s3://staging/insurance_charges-1.3.0.zip",
        target=c.Target.LOCAL, environment="staging", step="verify", attempted_at=T0 + timedelta(days=10),
        reason="verify failed: key 'stranger' is not in the keyring"), actor="ci").id
    fraud = c.ModelInfo(qualified_name="fraud_model", display_name="Card fraud", description=XSS_DESCRIPTION,
                        owner="ana", line_of_business="cards", project="fraud", model_type="classifier",
                        tags=("fraud",), readme=XSS_README)
    c.register_version(cat, model=fraud, version=c.VersionInfo(
        version="2.0.0", artifact_uri="s3://models/fraud-2.0.0.zip", artifact_digest="sha256:" + "9" * 64,
        signing_key_id="key-cards"), actor="ana")
    churn = c.ModelInfo(qualified_name="churn_model", display_name="Customer churn", owner="maria",
                        description="Which customers are about to leave", line_of_business="marketing",
                        model_type="classifier", tags=("churn",))
    c.register_version(cat, model=churn, version=c.VersionInfo(
        version="0.9.0", artifact_uri="s3://models/churn-0.9.0.zip", artifact_digest="sha256:" + "7" * 64,
        signing_key_id="key-2026"), actor="maria")
    tokens = {role: c.create_token(cat, role=role, name=f"{role} token", actor="setup")[0]
              for role in ("reader", "deployer", "admin")}
    return Seeded(tokens=tokens, running=running, unreachable=unreachable, failed=failed, attempt=attempt)


def _deploy(cat: c.Catalog, number: str, when: datetime, endpoint: str, *, replaces: str | None = None,
            environment: str = "production", target: c.Target = c.Target.KUBERNETES) -> str:
    return c.record_deployment(cat, info=c.DeploymentInfo(
        model="insurance_charges_model", version=number, target=target, environment=environment,
        host_detail="cluster-a/ns-pricing" if target is c.Target.KUBERNETES else "127.0.0.1", endpoint_url=endpoint,
        replicas=2, policy_package="insurance", policy_bundle_digest="sha256:" + "5" * 64,
        config_digest="sha256:" + "4" * 64, deployed_at=when, replaces=replaces), actor="ci").id
