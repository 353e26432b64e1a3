"""``SignedOutlierDetector``: the detector comes from a verified package; a tampered one is never read."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from modelward.artifacts import Keyring, build_package, generate_key, load_signer
from modelward.errors import ConfigurationError, ManifestMismatch, SignatureInvalid, UnknownKey
from modelward.graph.outlier import DETECTOR_NAME, Detector, FittedFor
from modelward.graph.outlier_fit import fit_detector
from modelward.model.context import response_metadata
from modelward.services.outlier import SignedOutlierDetector
from tests.graph.outlier_fixtures import ABSURD, NORMAL, Applicant, QuoteModel, training_rows


@pytest.fixture(scope="module")
def detector() -> Detector:
    return fit_detector(training_rows(), Applicant, model=FittedFor(qualified_name="quote_model", version="1.0.0"))


@pytest.fixture
def signed(tmp_path: Path, detector: Detector) -> tuple[Path, Path]:
    """(a signed .zip package holding the detector, the keyring that trusts its key)."""
    folder = tmp_path / "files"
    folder.mkdir()
    detector.write(folder / DETECTOR_NAME)
    (folder / "metrics.json").write_text('{"r2": 1.0}', encoding="utf-8")
    keyring = tmp_path / "keyring"
    keyring.mkdir()
    key = generate_key(tmp_path / "private", key_id="team", keyring=Keyring.load(keyring))
    package = tmp_path / "quote_model-1.0.0.zip"
    build_package(folder, package, qualified_name="quote_model", version="1.0.0", signer=load_signer(key.private_path))
    return package, keyring


def rewrite(package: Path, name: str, data: bytes) -> None:
    """Replace one member of a zip package (manifest and signature untouched)."""
    with zipfile.ZipFile(package) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    members[name] = data
    with zipfile.ZipFile(package, "w") as archive:
        for member, content in members.items():
            archive.writestr(member, content)


def test_the_detector_is_read_from_the_verified_package(signed: tuple[Path, Path], detector: Detector) -> None:
    package, keyring = signed
    step = SignedOutlierDetector(package=str(package), keyring=str(keyring)).set_model(QuoteModel())
    assert step.detector == detector
    meta: dict[str, object] = {}
    token = response_metadata.set(meta)
    try:
        step.predict(Applicant.model_validate(ABSURD))
    finally:
        response_metadata.reset(token)
    assert meta["outlier"] == {"score": pytest.approx(detector.score(ABSURD), abs=1e-5),
                               "threshold": round(detector.threshold, 6), "is_outlier": True}
    assert detector.score(NORMAL) < detector.threshold


def test_a_tampered_detector_is_refused_before_it_is_read(signed: tuple[Path, Path], detector: Detector) -> None:
    package, keyring = signed
    document = json.loads(detector.to_bytes())
    document["threshold"] = 1e9  # a valid detector that would never flag anything
    rewrite(package, DETECTOR_NAME, json.dumps(document).encode())
    with pytest.raises(ManifestMismatch, match=r"'outlier_detector.json' (is \d+ bytes|digest)"):
        SignedOutlierDetector(package=str(package), keyring=str(keyring))


def test_a_detector_changed_by_one_byte_is_refused(signed: tuple[Path, Path], detector: Detector) -> None:
    package, keyring = signed
    data = bytearray(detector.to_bytes())
    index = data.index(b'"threshold": ') + len(b'"threshold": ')
    data[index] = ord("9") if data[index] != ord("9") else ord("8")  # same size, another threshold
    rewrite(package, DETECTOR_NAME, bytes(data))
    with pytest.raises(ManifestMismatch, match=r"'outlier_detector\.json' digest sha256:[0-9a-f]+ differs from the "
                                               r"manifest's"):
        SignedOutlierDetector(package=str(package), keyring=str(keyring))


def test_an_unsigned_or_foreign_signed_package_is_refused(tmp_path: Path, signed: tuple[Path, Path],
                                                          detector: Detector) -> None:
    _, keyring = signed
    folder = tmp_path / "unsigned-files"
    folder.mkdir()
    detector.write(folder / DETECTOR_NAME)
    unsigned = tmp_path / "unsigned.zip"
    build_package(folder, unsigned, qualified_name="quote_model", version="1.0.0")
    with pytest.raises(SignatureInvalid, match="is not signed"):
        SignedOutlierDetector(package=str(unsigned), keyring=str(keyring))
    stranger = generate_key(tmp_path / "stranger", key_id="stranger")
    foreign = tmp_path / "foreign.zip"
    build_package(folder, foreign, qualified_name="quote_model", version="1.0.0",
                  signer=load_signer(stranger.private_path))
    with pytest.raises(UnknownKey, match="stranger"):
        SignedOutlierDetector(package=str(foreign), keyring=str(keyring))


def test_a_package_without_the_detector_or_of_another_model_is_refused(tmp_path: Path,
                                                                       signed: tuple[Path, Path]) -> None:
    package, keyring = signed
    with pytest.raises(ManifestMismatch, match=r"the manifest lists no file 'detector\.json'"):
        SignedOutlierDetector(package=str(package), keyring=str(keyring), detector="detector.json")

    class OtherModel(QuoteModel):
        qualified_name = "other_model"

    step = SignedOutlierDetector(package=str(package), keyring=str(keyring))
    with pytest.raises(ConfigurationError, match=r"1\.0\.0\.zip holds model 'quote_model', not 'other_model'"):
        step.set_model(OtherModel())


def test_the_package_is_required(signed: tuple[Path, Path]) -> None:
    with pytest.raises(ConfigurationError, match=r"^SignedOutlierDetector: package: Field required"):
        SignedOutlierDetector(keyring=str(signed[1]))
