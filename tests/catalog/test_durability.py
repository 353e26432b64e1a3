"""SIGKILL in the middle of a burst loses no acknowledged write; two writers at once lose nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from modelward import catalog as c

pytestmark = pytest.mark.integration

WRITER = """
import sys
from modelward import catalog as c
url, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
cat = c.open_catalog(url)
for i in range(count):
    model = c.ModelInfo(qualified_name=f"{prefix}-{i % 7}", owner="o")
    version = c.VersionInfo(version=f"{i}", artifact_digest=f"sha256:{prefix}{i}")
    c.register_version(cat, model=model, version=version, actor=prefix)
    dep = c.record_deployment(cat, info=c.DeploymentInfo(model=model.qualified_name, version=f"{i}",
                              target="local", deployment_id=f"{prefix}-{i}"), actor=prefix)
    print(dep.id, flush=True)
"""


def _writer(url: str, prefix: str, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", WRITER, url, prefix, str(count)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_sigkill_mid_burst_keeps_every_acknowledged_write(catalog: c.Catalog, catalog_url: str) -> None:
    proc = _writer(catalog_url, "k", 100000)
    acknowledged: list[str] = []
    try:
        assert proc.stdout is not None
        while len(acknowledged) < 60:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else "writer died"
            acknowledged.append(line.strip())
        time.sleep(0.05)  # let it be in the middle of the next writes
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=10)  # reap it and close its pipes
    for ident in acknowledged:
        assert c.get_deployment(catalog, deployment_id=ident).deployed_by == "k"
    with catalog.read() as session:
        versions = session.execute(sa.text("SELECT count(*) FROM model_versions")).scalar_one()
        deployments = session.execute(sa.text("SELECT count(*) FROM deployments")).scalar_one()
    assert versions in (deployments, deployments + 1)  # at most the last version had no deployment yet
    assert deployments >= len(acknowledged)
    assert c.verify_audit(catalog).events >= 2 * len(acknowledged)
    if catalog.dialect == "sqlite":
        with catalog.read() as session:
            assert session.execute(sa.text("PRAGMA integrity_check")).scalar_one() == "ok"


def test_two_processes_writing_at_once_lose_nothing(catalog: c.Catalog, catalog_url: str) -> None:
    procs = [_writer(catalog_url, prefix, 40) for prefix in ("a", "b")]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert len(out.split()) == 40
    assert c.list_deployments(catalog, limit=1).total == 80
    report = c.verify_audit(catalog)
    assert report.events == 80 + 80 + 14  # versions, deployments, 7 models per writer
