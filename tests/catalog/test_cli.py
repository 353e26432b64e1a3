"""The catalog commands: output, JSON, exit codes and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from modelward import catalog as c
from modelward.cli.main import main
from tests.catalog.conftest import model_info, version_info


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cat.db'}"
    monkeypatch.setenv("MODELWARD_CATALOG_URL", url)
    monkeypatch.setenv("MODELWARD_CATALOG_AUTO_MIGRATE", "false")
    return url


def test_upgrade_then_the_five_questions(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "show", "x"]) == 1
    assert "run `modelward catalog upgrade`" in capsys.readouterr().err
    assert main(["catalog", "upgrade"]) == 0
    catalog = c.open_catalog(url)
    c.register_version(catalog, model=model_info(), version=version_info(), actor="alice")
    c.record_deployment(catalog, info=c.DeploymentInfo(model="insurance_charges_model", version="1.2.0",
                                                       target="seldon", environment="prod"), actor="ci")
    capsys.readouterr()
    assert main(["catalog", "show", "insurance_charges_model@1.2.0"]) == 0
    shown = capsys.readouterr().out
    assert "s3://models/icm-1.2.0.zip" in shown and "key-2026" in shown and "seldon/prod" in shown
    assert main(["catalog", "deployments", "--model", "insurance_charges_model", "--since", "2026-01-01"]) == 0
    assert "1 of 1 deployments" in capsys.readouterr().out
    assert main(["catalog", "lineage", "insurance_charges_model@1.2.0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["upstream"]["datasets"][0]["name"] == "charges"
    assert main(["catalog", "search", "insurance", "--lob", "pricing", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 1
    assert main(["catalog", "show", "insurance_charges_model@9"]) == 1
    assert capsys.readouterr().err.startswith("error: model 'insurance_charges_model' has no version '9'")
    assert main(["catalog", "deployments", "--target", "mainframe"]) == 2


def test_audit_verify_names_the_first_broken_event(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "upgrade"]) == 0
    catalog = c.open_catalog(url)
    c.register_version(catalog, model=model_info(), version=version_info(), actor="alice")
    assert main(["catalog", "audit", "verify"]) == 0
    assert "intact: 2 events" in capsys.readouterr().out
    with catalog.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_events SET after = '{}' WHERE seq = 1"))
    assert main(["catalog", "audit", "verify"]) == 1
    assert "audit event 1 (model.create model:insurance_charges_model) was altered" in capsys.readouterr().err


def test_tokens_and_export(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "upgrade"]) == 0
    capsys.readouterr()
    assert main(["tokens", "create", "--role", "deployer", "--name", "ci"]) == 0
    plain = capsys.readouterr().out.strip()
    assert plain.startswith("mwc_")
    assert main(["tokens", "list"]) == 0
    listing = capsys.readouterr().out
    assert "deployer" in listing and plain not in listing
    assert main(["tokens", "create", "--role", "king"]) == 2
    token_id = plain.split("_")[1]
    assert main(["tokens", "revoke", token_id]) == 0
    assert main(["tokens", "revoke", "nope"]) == 1
    out = tmp_path / "atlas.json"
    assert main(["catalog", "export", "--format", "atlas", "-o", str(out)]) == 0
    assert "model" in [d["name"] for d in json.loads(out.read_text())["typedefs"]["entityDefs"]]
    assert main(["catalog", "export", "--format", "csv"]) == 1
