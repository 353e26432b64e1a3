"""Fixtures for the artifacts tests: a keyring, signers and a real signed package in tmp_path."""

from __future__ import annotations

import json
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from modelward.artifacts import Keyring, Signer, Training, build_package, generate_key, load_signer


class MarkerPayload:
    """A pickle payload that, if it ever ran, would create a marker file through ``os.system``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, (f"touch {self.marker}",))


def evil_pickle(marker: Path) -> bytes:
    """Pickle bytes that would run ``touch marker``."""
    return pickle.dumps(MarkerPayload(marker), protocol=4)


@dataclass
class Keys:
    """A keyring folder with one trusted key, and that key's signer."""

    keyring_dir: Path
    private_dir: Path
    signer: Signer

    def keyring(self) -> Keyring:
        return Keyring.load(self.keyring_dir)


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    keyring_dir, private_dir = tmp_path / "keyring", tmp_path / "private"
    keyring_dir.mkdir()
    generated = generate_key(private_dir, key_id="team-2026", keyring=Keyring.load(keyring_dir))
    return Keys(keyring_dir, private_dir, load_signer(generated.private_path))


@pytest.fixture
def model_files(tmp_path: Path) -> Path:
    """A trained scikit-learn pipeline (joblib), metrics, a data profile report and known cases."""
    folder = tmp_path / "model_files"
    (folder / "reports").mkdir(parents=True)
    rng = np.random.default_rng(7)
    features = rng.normal(size=(200, 3))
    target = features @ np.array([1.5, -2.0, 0.5]) + 3.0
    pipeline = Pipeline([("scale", StandardScaler()), ("fit", LinearRegression())]).fit(features, target)
    joblib.dump(pipeline, folder / "model.joblib")
    (folder / "metrics.json").write_text(json.dumps({"r2": 1.0}), encoding="utf-8")
    (folder / "reports" / "data_profile.html").write_text("<html>profile</html>", encoding="utf-8")
    cases = [{"input": {"x": row.tolist()}, "output": {"y": float(pipeline.predict(row[None, :])[0])},
              "tolerance": {"absolute": 0.01}} for row in features[:3]]
    (folder / "validation.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    return folder


TRAINING = Training(metrics={"r2": 1.0}, owner="risk-team", reports=("reports/data_profile.html",))


@pytest.fixture
def package(tmp_path: Path, model_files: Path, keys: Keys) -> Path:
    """A signed .zip package of ``model_files``."""
    output = tmp_path / "model-1.0.0.zip"
    build_package(model_files, output, qualified_name="toy_model", version="1.0.0", training=TRAINING,
                  signer=keys.signer)
    return output
