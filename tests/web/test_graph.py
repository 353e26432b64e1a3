"""The lineage layout, the health URL rule and the safe Markdown (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime

from modelward import catalog as c
from modelward.catalog.lineage import Upstream
from modelward.web import graph
from modelward.web.health import health_url, probe
from modelward.web.render import Links, markdown

MOMENT = datetime(2026, 3, 1, tzinfo=UTC)


def _deployment(ident: str, replaced: str | None = None) -> c.DeploymentView:
    return c.DeploymentView(id=ident, model="m", version="1", target="local", host_detail="", endpoint_url="",
                            environment="prod", replicas=1, deployed_by="ci", deployed_at=MOMENT, status="running",
                            reason="", config_digest="", policy_package="", policy_bundle_digest="",
                            replaced_id=replaced, updated_at=MOMENT)


def _lineage(datasets: int, code: bool, deployments: int) -> c.Lineage:
    up = Upstream(datasets=[c.DatasetRef(name=f"d{i}", digest=f"sha256:{i}") for i in range(datasets)],
                  code_repository="https://git/x" if code else "", code_commit="abc" if code else "",
                  artifact_uri="s3://b/m-1.zip", artifact_digest="sha256:a", signing_key_id="k", registry_url="")
    return c.Lineage(model="m", version="1", stage="production", upstream=up,
                     downstream=[_deployment(f"dep{i}") for i in range(deployments)])


def test_the_layout_chains_data_code_artifact_version_and_deployments() -> None:
    drawn = graph.layout(_lineage(2, True, 3), version_href="/v", deployment_href=lambda i: f"/d/{i}")
    kinds = [n.kind for n in drawn.nodes]
    assert kinds == ["dataset", "dataset", "code", "artifact", "version", "deployment", "deployment", "deployment"]
    pairs = {(e.source, e.target) for e in drawn.edges}
    assert pairs == {("dataset:0", "code"), ("dataset:1", "code"), ("code", "artifact"), ("artifact", "version"),
                     ("version", "deployment:dep0"), ("version", "deployment:dep1"), ("version", "deployment:dep2")}
    assert [n.href for n in drawn.nodes if n.kind == "deployment"] == ["/d/dep2", "/d/dep1", "/d/dep0"]
    assert all(n.y >= 0 and n.y + graph.BOX_H <= drawn.height for n in drawn.nodes)
    assert len({n.x for n in drawn.nodes}) == 5


def test_without_code_data_goes_to_the_artifact_and_many_deployments_are_capped() -> None:
    drawn = graph.layout(_lineage(1, False, graph.MAX_DEPLOYMENTS + 5), version_href="/v",
                         deployment_href=lambda i: i)
    assert ("dataset:0", "artifact") in {(e.source, e.target) for e in drawn.edges}
    assert sum(n.kind == "deployment" for n in drawn.nodes) == graph.MAX_DEPLOYMENTS and drawn.hidden == 5
    assert graph.cut("x" * 40) == "x" * (graph.LABEL - 1) + "…"


def test_health_asks_only_the_origin_over_http() -> None:
    assert health_url("http://h:8000/api/models/m/prediction?x=1") == "http://h:8000/api/health"
    for bad in ("", "javascript:alert(1)", "file:///etc/passwd", "ftp://h/x", "http://user:pw@h/x"):
        assert health_url(bad) is None
    assert probe("file:///etc/passwd").state == "unknown"


def test_markdown_keeps_html_and_script_links_as_text() -> None:
    html = str(markdown("**b** <script>x()</script> <img src=x onerror=y()> [a](javascript:x()) [ok](https://e/)"))
    assert "<strong>b</strong>" in html and "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html and 'href="javascript:' not in html and 'href="https://e/"' in html


def test_links_quote_path_segments_and_map_audit_entities() -> None:
    links = Links("/console")
    assert links.version("m", "1.0 rc/1") == "/console/models/m/versions/1.0%20rc%2F1"
    assert links.entity("model:m") == "/console/models/m" and links.entity("m@1") == "/console/models/m/versions/1"
    assert links.entity("deployment:abc") == "/console/deployments/abc" and links.entity("token:abc") == ""
    assert links.home(q="a b", owner="") == "/console/?q=a+b"
