"""A package refused at verify (never registered) is still recorded in the catalog, with its reason."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from modelward import artifacts
from modelward import catalog as cat
from modelward.cli.main import main
from modelward.deploy import load_deployment
from modelward.errors import ManifestMismatch, NotFound
from modelward.services.orchestrator import Orchestrator
from modelward.settings import Settings

TOY = Path(__file__).resolve().parent.parent / "data" / "deploy" / "toy"


def _tampered_package(root: Path, keyring: artifacts.Keyring) -> Path:
    key = artifacts.generate_key(root, key_id="test-key", keyring=keyring)
    folder = root / "model"
    folder.mkdir()
    (folder / "weights.json").write_text(json.dumps({"slope": 5.0, "intercept": 1.0}))
    package = root / "toy-2.0.0.zip"
    artifacts.build_package(folder, package, qualified_name="toy_model", version="2.0.0",
                            signer=artifacts.load_signer(key.private_path))
    tampered = root / "tampered.zip"
    with zipfile.ZipFile(package) as source, zipfile.ZipFile(tampered, "w") as sink:
        for item in source.infolist():
            data = source.read(item)
            sink.writestr(item, data.replace(b"5.0", b"6.0") if item.filename == "weights.json" else data)
    return tampered


def test_tampered_package_is_a_failed_attempt_in_the_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    keys = tmp_path / "keyring"
    keys.mkdir()
    keyring = artifacts.Keyring.load(keys)
    tampered = _tampered_package(tmp_path, keyring)
    settings = Settings(data_dir=tmp_path / "data", keyring=keys)
    catalog = cat.open_from_settings(settings, migrate=True)
    orchestrator = Orchestrator(settings=settings, catalog=catalog, keyring=keyring, actor="tester")
    spec = load_deployment(TOY / "deployment.yaml").model_copy(update={"package": str(tampered)})
    with pytest.raises(ManifestMismatch, match=r"verify failed: .*weights\.json"):
        orchestrator.deploy(spec)

    page = cat.list_deployments(catalog, status="failed")
    assert page.total == 1
    failed = page.deployments[0]
    assert (failed.model, failed.failed_step, failed.version_registered) == ("toy_model", "verify", False)
    assert (failed.target, failed.environment, failed.deployed_by) == ("local", "staging", "tester")
    assert failed.source_uri == str(tampered) and "weights.json" in failed.reason
    assert orchestrator.state.attempts()[-1]["recorded"] == "catalog (failed attempt)"
    assert failed.id == orchestrator.state.attempts()[-1]["deployment_id"]
    with pytest.raises(NotFound):
        cat.get_model(catalog, name="toy_model")  # nothing was registered
    assert cat.verify_audit(catalog).events == 1

    monkeypatch.setenv("MODELWARD_CATALOG_URL", settings.resolved_catalog_url())
    assert main(["catalog", "deployments", "--status", "failed"]) == 0
    shown = capsys.readouterr().out
    assert "toy_model@?  failed" in shown and "step verify" in shown and "weights.json" in shown
    catalog.dispose()
