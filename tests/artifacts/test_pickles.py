"""The pickle allow-list: even a validly signed pickle resolves only exact, vetted (module, qualname) pairs.

Every payload here would create a marker file if it ever ran; each test asserts the marker is absent.
"""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest

from modelward.artifacts import Manifest, build_package, load_verified, make_manifest, sign_package
from modelward.artifacts.catalogue import GlobalPolicy, load_catalogue
from modelward.artifacts.digests import sha256_bytes
from modelward.artifacts.pickles import safe_pickle_loads
from modelward.artifacts.scan import scan_joblib, scan_pickle
from modelward.errors import UnsafePickle
from tests.artifacts.conftest import Keys, MarkerPayload, evil_pickle

# --- hand-made payloads (protocol 4 opcodes), so that no gadget has to be importable to build them ---


def _str(text: str) -> bytes:
    data = text.encode()
    return b"\x8c" + bytes([len(data)]) + data if len(data) < 256 else b"X" + struct.pack("<I", len(data)) + data


def _global(module: str, name: str) -> bytes:
    return _str(module) + _str(name) + b"\x93"  # STACK_GLOBAL


def _call(module: str, name: str, *args: str) -> bytes:
    """``module.name(*args)`` with string arguments."""
    return _global(module, name) + b"(" + b"".join(_str(a) for a in args) + b"tR"


def _pickle(body: bytes) -> bytes:
    return b"\x80\x04" + body + b"."


def _touch(marker: Path) -> str:
    return f"touch {marker}"


def _payloads(marker: Path) -> dict[str, tuple[bytes, str]]:
    """name -> (pickle bytes that would create ``marker``, the pair the loader must refuse first)."""
    shell = _touch(marker)
    python = f"open({str(marker)!r}, 'w').close()"
    doc = f">>> open({str(marker)!r}, 'w').close()\n"
    return {
        "os.system via sklearn dotted name": (_pickle(_call("sklearn", "os.system", shell)), "sklearn:os.system"),
        "numpy runstring": (_pickle(_global("numpy", "testing._private.utils.runstring") + b"(" + _str(python)
                                    + b"}tR"), "numpy:testing._private.utils.runstring"),
        "yaml.unsafe_load": (_pickle(_call("yaml", "unsafe_load", f"!!python/object/apply:os.system ['{shell}']")),
                             "yaml:unsafe_load"),
        "doctest.run_docstring_examples": (_pickle(_global("doctest", "run_docstring_examples") + b"(" + _str(doc)
                                                   + b"}tR"), "doctest:run_docstring_examples"),
        "imaplib.IMAP4_stream": (_pickle(_call("imaplib", "IMAP4_stream", shell)), "imaplib:IMAP4_stream"),
        "builtins.eval": (_pickle(_call("builtins", "eval", python)), "builtins:eval"),
        "builtins.exec": (_pickle(_call("builtins", "exec", python)), "builtins:exec"),
        "builtins.getattr": (_pickle(_global("builtins", "getattr") + b"(" + _call("builtins", "__import__", "os")
                                     + _str("system") + b"tR(" + _str(shell) + b"tR"), "builtins:getattr"),
        "builtins.__import__": (_pickle(_call("builtins", "__import__", "mw_marker_module")), "builtins:__import__"),
        "posix.system": (evil_pickle(marker), "posix:system"),
    }


def _dynamic_stack_global(marker: Path) -> bytes:
    """posix.system, with its name computed by a call (str('system')) instead of pushed as a constant."""
    return _pickle(_str("posix") + _call("builtins", "str", "system") + b"\x93(" + _str(_touch(marker)) + b"tR")


@pytest.fixture
def marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The marker file; importing ``mw_marker_module`` would create it too."""
    path = tmp_path / "PWNED"
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "mw_marker_module.py").write_text(f"open({str(path)!r}, 'w').close()\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(modules))
    return path


def _signed_with(tmp_path: Path, keys: Keys, payload: bytes, recorded: tuple[str, ...],
                 allow_globals: tuple[str, ...] = ()) -> Path:
    """A package whose signed manifest holds ``payload`` as model.pkl and records ``recorded`` (as a signer could)."""
    folder = tmp_path / "files"
    folder.mkdir(exist_ok=True)
    (folder / "model.pkl").write_bytes(pickle.dumps({"weights": [1.0, 2.0]}))
    output = tmp_path / f"pkg-{len(list(tmp_path.iterdir()))}"
    build_package(folder, output, qualified_name="m", version="1")
    manifest = Manifest.model_validate_json((output / "manifest.json").read_bytes())
    entry = manifest.file("model.pkl").model_copy(update={"size": len(payload), "digest": sha256_bytes(payload),
                                                          "globals": recorded})
    manifest = manifest.model_copy(update={"files": (entry,), "allow_globals": allow_globals})
    (output / "model.pkl").write_bytes(payload)
    (output / "manifest.json").write_bytes(manifest.canonical_bytes())
    sign_package(output, keys.signer)
    return output


PAYLOAD_NAMES = list(_payloads(Path("/nonexistent")))


@pytest.mark.parametrize("name", PAYLOAD_NAMES)
def test_signed_gadget_recorded_in_the_manifest_is_refused_by_name_on_verify(tmp_path: Path, keys: Keys,
                                                                              marker: Path, name: str) -> None:
    payload, pair = _payloads(marker)[name]
    package = _signed_with(tmp_path, keys, payload, (pair,))
    with pytest.raises(UnsafePickle, match=rf"refuses global '{pair}' \(module '{pair.split(':')[0]}', name "):
        load_verified(package, keys.keyring(), allow_globals=())
    assert not marker.exists()


@pytest.mark.parametrize("name", PAYLOAD_NAMES)
def test_signed_gadget_is_refused_by_name_on_load(tmp_path: Path, keys: Keys, marker: Path, name: str) -> None:
    payload, pair = _payloads(marker)[name]
    package = _signed_with(tmp_path, keys, payload, ())  # a manifest that verifies: it records nothing
    with load_verified(package, keys.keyring(), allow_globals=()) as verified:
        assert verified.key_id == "team-2026"
        with pytest.raises(UnsafePickle, match=rf"refuses global '{pair}'"):
            verified.load("model.pkl", allow_globals=(pair,) if "." not in pair.split(":")[1] else ())
    assert not marker.exists()


@pytest.mark.parametrize("name", PAYLOAD_NAMES)
def test_packaging_refuses_every_gadget_without_running_it(tmp_path: Path, marker: Path, name: str) -> None:
    payload, pair = _payloads(marker)[name]
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(payload)
    with pytest.raises(UnsafePickle, match=rf"refuses global '{pair}'"):
        make_manifest(folder, qualified_name="m", version="1")
    assert not marker.exists()


def test_dynamically_built_stack_global_is_refused_at_packaging_and_at_load(tmp_path: Path, keys: Keys,
                                                                           marker: Path) -> None:
    payload = _dynamic_stack_global(marker)
    with pytest.raises(UnsafePickle, match="STACK_GLOBAL whose module and name are not string constants"):
        scan_pickle(payload, "p")
    package = _signed_with(tmp_path, keys, payload, ("builtins:str",))
    with load_verified(package, keys.keyring(), allow_globals=()) as verified, \
            pytest.raises(UnsafePickle, match=r"refuses global 'posix:system'"):
        verified.load("model.pkl")
    assert not marker.exists()


def test_an_explicit_extension_cannot_allow_the_never_modules(tmp_path: Path, keys: Keys, marker: Path) -> None:
    package = _signed_with(tmp_path, keys, evil_pickle(marker), ("posix:system",), allow_globals=("posix:system",))
    with pytest.raises(UnsafePickle, match="'posix:system': module 'posix' can never be allowed"):
        load_verified(package, keys.keyring(), allow_globals=())
    with pytest.raises(UnsafePickle, match="'builtins:eval': module 'builtins' can never be allowed"):
        build_package(tmp_path / "files", tmp_path / "x.zip", qualified_name="m", version="1",
                      allow_globals=("builtins:eval",))
    assert not marker.exists()


def test_a_signed_extension_allows_a_global_beyond_the_catalogue(tmp_path: Path, keys: Keys) -> None:
    from fractions import Fraction
    from ipaddress import IPv4Address

    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(pickle.dumps([IPv4Address("10.0.0.1"), Fraction(1, 3)]))
    with pytest.raises(UnsafePickle, match=r"refuses global 'ipaddress:IPv4Address' .* not in modelward's vetted"):
        make_manifest(folder, qualified_name="m", version="1")
    output = tmp_path / "pkg.zip"
    manifest = build_package(folder, output, qualified_name="m", version="1", signer=keys.signer,
                             allow_globals=("ipaddress:IPv4Address",))
    assert manifest.allow_globals == ("ipaddress:IPv4Address",)
    assert manifest.file("model.pkl").globals == ("fractions:Fraction", "ipaddress:IPv4Address")
    with load_verified(output, keys.keyring(), allow_globals=()) as verified:
        assert verified.extensions() == ("ipaddress:IPv4Address",)
        assert verified.load("model.pkl") == [IPv4Address("10.0.0.1"), Fraction(1, 3)]


def test_an_operator_allowance_admits_a_recorded_global(tmp_path: Path, keys: Keys) -> None:
    from ipaddress import IPv4Address

    payload = pickle.dumps(IPv4Address("10.0.0.1"))
    package = _signed_with(tmp_path, keys, payload, ("ipaddress:IPv4Address",))
    with pytest.raises(UnsafePickle, match="not in modelward's vetted catalogue"):
        load_verified(package, keys.keyring(), allow_globals=())
    with load_verified(package, keys.keyring(), allow_globals=("ipaddress:IPv4Address",)) as verified:
        assert verified.load("model.pkl") == IPv4Address("10.0.0.1")


def test_a_global_not_recorded_in_the_manifest_is_refused(tmp_path: Path, keys: Keys) -> None:
    from collections import Counter

    package = _signed_with(tmp_path, keys, pickle.dumps(Counter("aab")), ())
    with load_verified(package, keys.keyring(), allow_globals=()) as verified, \
            pytest.raises(UnsafePickle, match=r"'collections:Counter' .* not recorded in the signed manifest"):
        verified.load("model.pkl")


def test_format_1_manifests_still_load_and_cannot_name_a_dotted_global(tmp_path: Path, keys: Keys,
                                                                       marker: Path) -> None:
    from collections import Counter

    def format_1(payload: bytes, recorded: tuple[str, ...]) -> Path:
        package = _signed_with(tmp_path, keys, payload, ())
        manifest = Manifest.model_validate_json((package / "manifest.json").read_bytes())
        entry = manifest.files[0].model_copy(update={"globals": recorded})
        manifest = manifest.model_copy(update={"format": "modelward-package/1", "files": (entry,)})
        assert b"allow_globals" not in manifest.canonical_bytes()
        (package / "manifest.json").write_bytes(manifest.canonical_bytes())
        sign_package(package, keys.signer)
        return package

    old = format_1(pickle.dumps(Counter("ab"), protocol=2), ("collections.Counter",))
    with load_verified(old, keys.keyring(), allow_globals=()) as verified:
        assert verified.load("model.pkl") == Counter("ab")
    payload = _pickle(_call("sklearn", "os.system", _touch(marker)))
    with pytest.raises(UnsafePickle, match=r"'sklearn\.os:system' .* not in modelward's vetted catalogue"):
        load_verified(format_1(payload, ("sklearn.os.system",)), keys.keyring(), allow_globals=())
    with load_verified(format_1(payload, ()), keys.keyring(), allow_globals=()) as verified, \
            pytest.raises(UnsafePickle, match=r"'sklearn:os.system' .* a dotted name walks into another module"):
        verified.load("model.pkl")
    assert not marker.exists()


def test_static_scan_reads_every_protocol_and_matches_what_loading_resolves() -> None:
    from fractions import Fraction

    for protocol in range(0, pickle.HIGHEST_PROTOCOL + 1):
        data = pickle.dumps([Fraction(1, 3), Fraction(2, 3), b"raw"], protocol=protocol)
        found = scan_pickle(data, "p")
        assert ("fractions", "Fraction") in found, protocol
        assert safe_pickle_loads(data, GlobalPolicy(recorded=frozenset(found)), "p")[0] == Fraction(1, 3)


def test_bytes_after_stop_are_refused() -> None:
    with pytest.raises(UnsafePickle, match="4 bytes follow the pickle's STOP opcode"):
        scan_pickle(pickle.dumps([1, 2]) + b"junk", "p")
    with pytest.raises(UnsafePickle, match="4 bytes follow the pickle's STOP opcode"):
        safe_pickle_loads(pickle.dumps([1, 2]) + b"junk", GlobalPolicy(), "p")


def test_catalogue_rules_accept_estimator_classes_only() -> None:
    catalogue = load_catalogue()
    assert catalogue.vetted_by("sklearn.pipeline", "Pipeline", "t") == "scikit-learn"
    assert catalogue.vetted_by("sklearn.tree._tree", "Tree", "t") == "scikit-learn"
    assert catalogue.vetted_by("numpy", "float64", "t") == "numpy"
    assert catalogue.vetted_by("numpy", "log1p", "t") == "numpy"
    assert catalogue.vetted_by("scipy.sparse._csr", "csr_matrix", "t") == "scipy"
    assert catalogue.vetted_by("sklearn.utils", "check_array", "t") is None  # a function
    assert catalogue.vetted_by("sklearn.base", "clone", "t") is None
    assert catalogue.vetted_by("sklearn.pipeline", "BaseEstimator", "t") is None  # re-exported, not defined there
    assert catalogue.vetted_by("numpy", "load", "t") is None
    assert catalogue.vetted_by("numpy.lib.npyio", "load", "t") is None
    assert catalogue.vetted_by("sklearn.utils._testing", "MinimalClassifier", "t") is None  # test module
    with pytest.raises(UnsafePickle, match="a dotted name walks"):
        catalogue.vetted_by("sklearn", "os.system", "t")


# --- joblib --------------------------------------------------------------------------------------


def _joblib_bytes(value: Any, compress: Any = 0) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(value, buffer, compress=compress)
    return buffer.getvalue()


@pytest.mark.parametrize("compress", [0, 3, ("gzip", 3), ("bz2", 3), ("lzma", 3), ("xz", 3)])
@pytest.mark.parametrize("where", ["top", "inside an object array"])
def test_package_build_refuses_a_malicious_joblib_file_without_running_it(tmp_path: Path, marker: Path,
                                                                          compress: Any, where: str) -> None:
    payload = MarkerPayload(marker)
    value = {"weights": np.arange(1000.0), "evil": payload} if where == "top" else \
        {"weights": np.arange(1000.0), "labels": np.array(["a", payload], dtype=object)}
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "model.joblib").write_bytes(_joblib_bytes(value, compress))
    assert not marker.exists()
    from modelward.cli.main import main

    assert main(["package", "build", str(folder), str(tmp_path / "out.zip"), "--name", "m", "--version", "1"]) == 1
    assert not marker.exists()
    assert not (tmp_path / "out.zip").exists()
    with pytest.raises(UnsafePickle, match=r"refuses global 'posix:system'"):
        make_manifest(folder, qualified_name="m", version="1")
    assert not marker.exists()


def test_joblib_scan_skips_array_bytes_that_look_like_opcodes() -> None:
    evil = pickle.dumps(MarkerPayload(Path("/nonexistent")), protocol=4)
    array = np.frombuffer(evil + b"\x00" * (-len(evil) % 8), dtype=np.uint8)
    found = scan_joblib(_joblib_bytes({"bytes": array}), "f")
    assert ("posix", "system") not in found
    assert ("joblib.numpy_pickle", "NumpyArrayWrapper") in found


def test_joblib_scan_refuses_truncated_array_data() -> None:
    data = _joblib_bytes({"x": np.arange(100.0)})
    with pytest.raises(UnsafePickle, match=r"truncated joblib file|not a readable pickle"):
        scan_joblib(data[: len(data) // 2], "f")


def test_real_pipelines_build_verify_load_and_predict_as_skops_and_joblib(tmp_path: Path, keys: Keys) -> None:
    import skops.io
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingRegressor, HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(3)
    features = np.column_stack([rng.normal(size=200), rng.integers(0, 3, size=200)]).astype(object)
    target = features[:, 0].astype(float) * 2 + features[:, 1].astype(float)
    regression = Pipeline([("encode", ColumnTransformer([("cat", OneHotEncoder(), [1])], remainder="passthrough")),
                           ("fit", GradientBoostingRegressor(n_estimators=20, random_state=0))]).fit(features, target)
    numeric = features.astype(float)
    classifier = Pipeline([("scale", StandardScaler()), ("fit", HistGradientBoostingClassifier(max_iter=5))]).fit(
        numeric, target > target.mean())
    folder = tmp_path / "files"
    folder.mkdir()
    skops.io.dump(regression, folder / "model.skops")
    joblib.dump(regression, folder / "regression.joblib")
    joblib.dump(classifier, folder / "classifier.joblib", compress=3)
    (folder / "classifier.pkl").write_bytes(pickle.dumps(classifier))
    joblib.dump(regression, folder / "regression.pkl")  # joblib's layout under a pickle name
    output = tmp_path / "pkg.zip"
    manifest = build_package(folder, output, qualified_name="m", version="1", signer=keys.signer)
    assert manifest.format == "modelward-package/2" and manifest.allow_globals == ()
    assert "sklearn.ensemble._gb:GradientBoostingRegressor" in manifest.file("regression.joblib").globals
    assert manifest.file("regression.pkl").format == "joblib"
    with load_verified(output, keys.keyring(), allow_globals=()) as verified:
        models = {name: verified.load(name) for name in ("model.skops", "regression.joblib", "regression.pkl")}
        classifiers = [verified.load(name) for name in ("classifier.joblib", "classifier.pkl")]
    for model in models.values():
        assert np.allclose(model.predict(features[:5]), regression.predict(features[:5]))
    for model in classifiers:
        assert (model.predict(numeric[:20]) == classifier.predict(numeric[:20])).all()
