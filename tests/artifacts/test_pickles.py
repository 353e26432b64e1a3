"""Defence in depth: even a validly signed pickle only imports the globals recorded at packaging time."""

from __future__ import annotations

import builtins
import importlib
import logging.config
import operator
import os
import pickle
import pydoc
import re
import runpy
import shelve
import subprocess
from pathlib import Path
from typing import Any

import pytest

from modelward.artifacts import Manifest, build_package, load_verified, make_manifest, sign_package
from modelward.artifacts.digests import sha256_bytes
from modelward.artifacts.pickles import BASELINE, allowed_for, safe_pickle_loads, scan_pickle_globals
from modelward.errors import UnsafePickle
from tests.artifacts.conftest import Keys, evil_pickle


class Call:
    """A payload that calls ``function(*args)`` when unpickled."""

    def __init__(self, function: Any, *args: Any) -> None:
        self.function, self.args = function, args

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.function, self.args)


def _signed_with_recorded(tmp_path: Path, keys: Keys, payload: bytes, recorded: tuple[str, ...]) -> Path:
    """A package whose signed manifest records ``recorded`` for model.pkl (as a signer could)."""
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(pickle.dumps({"weights": [1.0, 2.0]}))
    output = tmp_path / "pkg"
    build_package(folder, output, qualified_name="m", version="1")
    manifest = Manifest.model_validate_json((output / "manifest.json").read_bytes())
    entry = manifest.file("model.pkl").model_copy(update={"size": len(payload), "digest": sha256_bytes(payload),
                                                          "globals": recorded})
    manifest = manifest.model_copy(update={"files": (entry,)})
    (output / "model.pkl").write_bytes(payload)
    (output / "manifest.json").write_bytes(manifest.canonical_bytes())
    sign_package(output, keys.signer)
    return output


def test_signed_os_system_payload_is_refused_by_name_and_never_runs(tmp_path: Path, keys: Keys) -> None:
    marker = tmp_path / "PWNED"
    package = _signed_with_recorded(tmp_path, keys, evil_pickle(marker), ("posix.system",))
    with load_verified(package, keys.keyring()) as verified:
        assert verified.key_id == "team-2026"
        with pytest.raises(UnsafePickle, match=r"refuses global 'posix\.system'"):
            verified.load("model.pkl")
    assert not marker.exists()


@pytest.mark.parametrize(("function", "args", "name"), [
    (os.system, ("true",), "posix.system"),
    (subprocess.Popen, (["true"],), "subprocess.Popen"),
    (builtins.eval, ("1+1",), "builtins.eval"),
    (builtins.exec, ("x=1",), "builtins.exec"),
    (builtins.getattr, ("text", "upper"), "builtins.getattr"),
    (importlib.import_module, ("os",), "importlib.import_module"),
    (operator.methodcaller, ("system",), "operator.methodcaller"),
    (operator.attrgetter, ("system",), "operator.attrgetter"),
    (runpy.run_path, ("/dev/null",), "runpy.run_path"),
    (pydoc.pipepager, ("", "true"), "pydoc.pipepager"),  # runs a shell command
    (logging.config.valid_ident, ("x",), "logging.config.valid_ident"),  # dictConfig calls any factory
    (shelve.open, ("/dev/null",), "shelve.open"),
])
def test_dangerous_globals_are_refused_even_when_recorded(tmp_path: Path, keys: Keys, function: Any,
                                                          args: tuple[Any, ...], name: str) -> None:
    payload = pickle.dumps(Call(function, *args))
    assert name in scan_pickle_globals(payload, "payload")
    package = _signed_with_recorded(tmp_path, keys, payload, (name,))
    with load_verified(package, keys.keyring()) as verified, pytest.raises(UnsafePickle, match=name):
        verified.load("model.pkl")


@pytest.mark.parametrize("name", ["pandas.io.pickle.read_pickle", "pandas.read_pickle"])
def test_unrestricted_unpicklers_of_other_libraries_are_refused(tmp_path: Path, keys: Keys, name: str) -> None:
    module, _, function = name.rpartition(".")
    payload = f"c{module}\n{function}\n(S'/dev/null'\ntR.".encode()  # protocol 0: GLOBAL, no import needed
    assert scan_pickle_globals(payload, "payload") == (name,)
    package = _signed_with_recorded(tmp_path, keys, payload, (name,))
    with load_verified(package, keys.keyring()) as verified, \
            pytest.raises(UnsafePickle, match=rf"refuses global '{re.escape(name)}': (module|reads)"):
        verified.load("model.pkl")


def test_packaging_refuses_a_pickle_that_imports_a_dangerous_global(tmp_path: Path) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(evil_pickle(tmp_path / "PWNED"))
    with pytest.raises(UnsafePickle, match=r"refuses global 'posix\.system'"):
        make_manifest(folder, qualified_name="m", version="1")
    assert not (tmp_path / "PWNED").exists()


def test_a_global_not_recorded_in_the_manifest_is_refused(tmp_path: Path, keys: Keys) -> None:
    from collections import Counter

    payload = pickle.dumps(Counter("aab"))
    package = _signed_with_recorded(tmp_path, keys, payload, ())
    with load_verified(package, keys.keyring()) as verified, \
            pytest.raises(UnsafePickle, match=r"'collections\.Counter': not recorded in the signed manifest"):
        verified.load("model.pkl")


def test_recorded_globals_load(tmp_path: Path, keys: Keys) -> None:
    from collections import Counter

    payload = pickle.dumps(Counter("aab"))
    package = _signed_with_recorded(tmp_path, keys, payload, scan_pickle_globals(payload, "p"))
    with load_verified(package, keys.keyring()) as verified:
        assert verified.load("model.pkl") == Counter("aab")


def test_static_scan_reads_every_protocol() -> None:
    from fractions import Fraction

    for protocol in range(0, pickle.HIGHEST_PROTOCOL + 1):
        found = scan_pickle_globals(pickle.dumps([Fraction(1, 3), Fraction(2, 3)], protocol=protocol), "p")
        assert "fractions.Fraction" in found, protocol


def test_bytes_after_stop_are_refused() -> None:
    data = pickle.dumps([1, 2]) + b"junk"
    with pytest.raises(UnsafePickle, match="4 bytes follow the pickle's STOP opcode"):
        safe_pickle_loads(data, BASELINE, "p")


def test_joblib_object_arrays_go_through_the_same_allow_list(tmp_path: Path, keys: Keys) -> None:
    import joblib
    import numpy as np

    folder = tmp_path / "files"
    folder.mkdir()
    joblib.dump({"labels": np.array(["a", "b"], dtype=object)}, folder / "model.joblib")
    output = tmp_path / "pkg.zip"
    build_package(folder, output, qualified_name="m", version="1", signer=keys.signer)
    with load_verified(output, keys.keyring()) as verified:
        assert list(verified.load("model.joblib")["labels"]) == ["a", "b"]
    assert allowed_for((), ()) == BASELINE


def test_skops_is_the_safer_format_for_scikit_learn(tmp_path: Path, keys: Keys) -> None:
    import numpy as np
    import skops.io
    from sklearn.linear_model import LogisticRegression

    folder = tmp_path / "files"
    folder.mkdir()
    model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])
    skops.io.dump(model, folder / "model.skops")
    output = tmp_path / "pkg.zip"
    manifest = build_package(folder, output, qualified_name="m", version="1", signer=keys.signer)
    assert manifest.file("model.skops").format == "skops"
    with load_verified(output, keys.keyring()) as verified:
        loaded = verified.load("model.skops")
    assert list(loaded.predict(np.array([[0.0], [3.0]]))) == [0, 1]
