"""Settings read from MODELWARD_* variables: paths made absolute once, defaults under the data dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelward.settings import load_settings


def test_a_relative_data_dir_is_resolved_against_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODELWARD_DATA_DIR", ".demo/data")
    monkeypatch.delenv("MODELWARD_KEYRING", raising=False)
    settings = load_settings()
    assert settings.data_dir == tmp_path.resolve() / ".demo" / "data"
    assert settings.resolved_keyring() == settings.data_dir / "keyring"
    assert settings.resolved_catalog_url() == f"sqlite:///{settings.data_dir / 'catalog.db'}"


def test_a_named_keyring_wins_over_the_data_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELWARD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MODELWARD_KEYRING", str(tmp_path / "trusted.json"))
    assert load_settings().resolved_keyring() == tmp_path / "trusted.json"
