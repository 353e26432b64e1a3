"""Per library the catalogue covers: a validly signed pickle that reaches for a dangerous callable in
that library's namespace is refused by name, at packaging, on verify and on load, and nothing runs.

Where the callable could run code, the payload is armed: it would create the marker file (a pickle
file it would load, a Python string it would execute). Each test asserts the marker is absent.
"""

from __future__ import annotations

import re
from pathlib import Path

import joblib
import numpy as np
import pytest

from modelward.artifacts import load_verified, make_manifest
from modelward.artifacts.catalogue import load_catalogue
from modelward.errors import UnsafePickle
from tests.artifacts.conftest import Keys, MarkerPayload, evil_pickle
from tests.artifacts.test_pickles import _global, _pickle, _signed_with, _str

Arg = str | None | bool | bytes


def _arg(value: Arg) -> bytes:
    if value is None:
        return b"N"
    if isinstance(value, bool):
        return b"\x88" if value else b"\x89"
    if isinstance(value, bytes):
        return value  # already opcodes (a global, an empty dict...)
    return _str(value)


def _call(module: str, name: str, *args: Arg) -> bytes:
    """``module.name(*args)``: REDUCE on a STACK_GLOBAL."""
    return _global(module, name) + b"(" + b"".join(_arg(a) for a in args) + b"tR"


def _armed_files(folder: Path, marker: Path) -> dict[str, Path]:
    """Files that run ``touch marker`` when a loader that trusts them reads them."""
    folder.mkdir(exist_ok=True)
    files = {"pickle": folder / "evil.pkl", "npy": folder / "evil.npy", "joblib": folder / "evil.joblib"}
    files["pickle"].write_bytes(evil_pickle(marker))
    np.save(files["npy"], np.array([MarkerPayload(marker)], dtype=object), allow_pickle=True)
    joblib.dump({"x": MarkerPayload(marker)}, files["joblib"])
    return files


def _payloads(marker: Path, armed: dict[str, Path]) -> dict[str, tuple[bytes, str]]:
    """name -> (pickle bytes, the pair the loader refuses first). Armed where the callable could run code."""
    shell = f"touch {marker}"
    python = f"open({str(marker)!r}, 'w').close()"
    system = _global("posix", "system")
    payloads = {
        # numpy
        "numpy.load with allow_pickle": (_call("numpy", "load", str(armed["npy"]), None, True), "numpy:load"),
        "numpy npyio load": (_call("numpy.lib._npyio_impl", "load", str(armed["npy"]), None, True),
                             "numpy.lib._npyio_impl:load"),
        "numpy.testing runstring": (_call("numpy.testing._private.utils", "runstring", python, b"}"),
                                    "numpy.testing._private.utils:runstring"),
        "numpy.testing dotted": (_call("numpy", "testing._private.utils.runstring", python, b"}"),
                                 "numpy:testing._private.utils.runstring"),
        "numpy.fromfile": (_call("numpy", "fromfile", str(armed["npy"])), "numpy:fromfile"),
        "numpy.frompyfunc": (_call("numpy", "frompyfunc", system, "1", "1"), "numpy:frompyfunc"),
        "numpy.vectorize": (_call("numpy", "vectorize", system), "numpy:vectorize"),
        # scipy
        "scipy LinearOperator calling a function": (_call("scipy.sparse.linalg._interface", "_CustomLinearOperator",
                                                          b"K\x01K\x01\x86", system),
                                                    "scipy.sparse.linalg._interface:_CustomLinearOperator"),
        "scipy.sparse.linalg.LinearOperator": (_call("scipy.sparse.linalg", "LinearOperator", b"K\x01K\x01\x86",
                                                     system), "scipy.sparse.linalg:LinearOperator"),
        "scipy.optimize.minimize": (_call("scipy.optimize", "minimize", system, shell), "scipy.optimize:minimize"),
        "scipy.sparse.load_npz": (_call("scipy.sparse", "load_npz", str(armed["npy"])), "scipy.sparse:load_npz"),
        # pandas
        "pandas.read_pickle": (_call("pandas", "read_pickle", str(armed["pickle"])), "pandas:read_pickle"),
        "pandas.io.pickle.read_pickle": (_call("pandas.io.pickle", "read_pickle", str(armed["pickle"])),
                                         "pandas.io.pickle:read_pickle"),
        "pandas.eval": (_call("pandas", "eval", "1 + 1"), "pandas:eval"),
        "pandas computation eval": (_call("pandas.core.computation.eval", "eval", "1 + 1"),
                                    "pandas.core.computation.eval:eval"),
        "pandas DataFrame.query": (_call("pandas", "DataFrame.query", "a > 1"), "pandas:DataFrame.query"),
        "pandas apply_if_callable": (_call("pandas.core.common", "apply_if_callable", system, shell),
                                     "pandas.core.common:apply_if_callable"),
        # joblib
        "joblib.load": (_call("joblib", "load", str(armed["joblib"])), "joblib:load"),
        "joblib.numpy_pickle.load": (_call("joblib.numpy_pickle", "load", str(armed["joblib"])),
                                     "joblib.numpy_pickle:load"),
        "joblib compat NDArrayWrapper": (_call("joblib.numpy_pickle_compat", "NDArrayWrapper", str(armed["npy"])),
                                         "joblib.numpy_pickle_compat:NDArrayWrapper"),
        # scikit-learn
        "sklearn CheckingClassifier (test helper calling check_X)": (
            _call("sklearn.utils._mocking", "CheckingClassifier", system), "sklearn.utils._mocking:CheckingClassifier"),
        # xgboost
        "xgboost _load_lib": (_call("xgboost.core", "_load_lib"), "xgboost.core:_load_lib"),
        "xgboost find_lib_path": (_call("xgboost.libpath", "find_lib_path"), "xgboost.libpath:find_lib_path"),
        "xgboost objective decorator": (_call("xgboost.sklearn", "_objective_decorator", system),
                                        "xgboost.sklearn:_objective_decorator"),
        "xgboost Booster.load_model": (_call("xgboost.core", "Booster.load_model", str(armed["pickle"])),
                                       "xgboost.core:Booster.load_model"),
        # lightgbm
        "lightgbm _load_lib": (_call("lightgbm.basic", "_load_lib"), "lightgbm.basic:_load_lib"),
        "lightgbm library handle": (_call("lightgbm.basic", "_LIB"), "lightgbm.basic:_LIB"),
        "lightgbm find_lib_path": (_call("lightgbm.libpath", "_find_lib_path"), "lightgbm.libpath:_find_lib_path"),
        "lightgbm pandas categorical reader": (_call("lightgbm.basic", "_load_pandas_categorical",
                                                     str(armed["pickle"])),
                                               "lightgbm.basic:_load_pandas_categorical"),
        "lightgbm objective wrapper": (_call("lightgbm.sklearn", "_ObjectiveFunctionWrapper", system),
                                       "lightgbm.sklearn:_ObjectiveFunctionWrapper"),
    }
    return {name: (_pickle(body), pair) for name, (body, pair) in payloads.items()}


NAMES = list(_payloads(Path("/nonexistent"), {k: Path("/nonexistent") for k in ("pickle", "npy", "joblib")}))


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "PWNED"


@pytest.fixture
def payloads(tmp_path: Path, marker: Path) -> dict[str, tuple[bytes, str]]:
    return _payloads(marker, _armed_files(tmp_path / "armed", marker))


def _refused(pair: str) -> str:
    module, name = pair.split(":")
    return rf"refuses global '{re.escape(pair)}' \(module '{re.escape(module)}', name '{re.escape(name)}'\)"


@pytest.mark.parametrize("name", NAMES)
def test_a_library_gadget_recorded_in_a_signed_manifest_is_refused_on_verify(
        tmp_path: Path, keys: Keys, marker: Path, payloads: dict[str, tuple[bytes, str]], name: str) -> None:
    payload, pair = payloads[name]
    package = _signed_with(tmp_path, keys, payload, (pair,))
    with pytest.raises(UnsafePickle, match=_refused(pair)):
        load_verified(package, keys.keyring(), allow_globals=())
    assert not marker.exists()


@pytest.mark.parametrize("name", NAMES)
def test_a_library_gadget_is_refused_by_name_on_load(tmp_path: Path, keys: Keys, marker: Path,
                                                     payloads: dict[str, tuple[bytes, str]], name: str) -> None:
    payload, pair = payloads[name]
    package = _signed_with(tmp_path, keys, payload, ())  # verifies: the manifest records nothing
    expected = () if "." in pair.split(":")[1] else (pair,)
    with load_verified(package, keys.keyring(), allow_globals=()) as verified, \
            pytest.raises(UnsafePickle, match=_refused(pair)):
        verified.load("model.pkl", allow_globals=expected)
    assert not marker.exists()


@pytest.mark.parametrize("name", NAMES)
def test_packaging_refuses_a_library_gadget_without_running_it(tmp_path: Path, marker: Path,
                                                               payloads: dict[str, tuple[bytes, str]],
                                                               name: str) -> None:
    payload, pair = payloads[name]
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(payload)
    with pytest.raises(UnsafePickle, match=_refused(pair)):
        make_manifest(folder, qualified_name="m", version="1")
    assert not marker.exists()


def test_the_armed_files_are_live(tmp_path: Path, marker: Path) -> None:
    """The payloads' files really run code when a trusting loader reads them (so the tests above mean it)."""
    armed = _armed_files(tmp_path / "armed", marker)
    for load in (lambda: np.load(armed["npy"], allow_pickle=True), lambda: joblib.load(armed["joblib"])):
        load()
        assert marker.exists()
        marker.unlink()


def test_no_gadget_is_vetted_by_the_catalogue() -> None:
    catalogue = load_catalogue()
    for _payload, pair in _payloads(Path("/x"), {k: Path("/x") for k in ("pickle", "npy", "joblib")}).values():
        module, name = pair.split(":")
        if "." not in name:
            assert catalogue.vetted_by(module, name, "t") is None, pair


# --- rebuild-only classes: a Booster may be rebuilt from its state, never called -------------------


def _model_files(folder: Path) -> dict[str, Path]:
    """A real xgboost and a real lightgbm model file somewhere on this machine (not in the package)."""
    import lightgbm
    import xgboost

    folder.mkdir()
    features = np.random.default_rng(2).normal(size=(80, 3))
    target = (features[:, 0] > 0).astype(int)
    files = {"xgboost.core": folder / "other.json", "lightgbm.basic": folder / "other.txt"}
    xgboost.XGBClassifier(n_estimators=2).fit(features, target).get_booster().save_model(files["xgboost.core"])
    lightgbm.LGBMClassifier(n_estimators=2, verbose=-1).fit(features, target).booster_.save_model(
        files["lightgbm.basic"])
    return files


def _booster_calls(module: str, path: Path) -> dict[str, bytes]:
    """``Booster(None, None, path)`` (model_file=path) through each opcode that calls a global."""
    args = b"NN" + _str(str(path))
    return {"REDUCE": _pickle(_call(module, "Booster", None, None, str(path))),
            "INST": b"(" + args + b"i" + module.encode() + b"\nBooster\n.",
            "OBJ": _pickle(b"(" + _global(module, "Booster") + args + b"o")}


@pytest.mark.parametrize("module", ["xgboost.core", "lightgbm.basic"])
@pytest.mark.parametrize("opcode", ["REDUCE", "INST", "OBJ"])
def test_a_signed_pickle_cannot_call_a_booster_to_read_a_model_file_it_names(tmp_path: Path, keys: Keys,
                                                                             module: str, opcode: str) -> None:
    import pickle

    path = _model_files(tmp_path / "elsewhere")[module]
    payload = _booster_calls(module, path)[opcode]
    assert type(pickle.loads(payload)).__module__ == module  # live: an unrestricted load reads that file
    package = _signed_with(tmp_path, keys, payload, (f"{module}:Booster",))
    with load_verified(package, keys.keyring(), allow_globals=()) as verified, \
            pytest.raises(UnsafePickle, match=rf"model.pkl: refuses to call global '{module}:Booster': the "
                                              "catalogue lets a pickle rebuild it from its state, never call it"):
        verified.load("model.pkl")


@pytest.mark.parametrize("module", ["xgboost.core", "lightgbm.basic"])
@pytest.mark.parametrize("opcode", ["REDUCE", "INST", "OBJ"])
def test_packaging_refuses_a_pickle_that_calls_a_booster(tmp_path: Path, module: str, opcode: str) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(_booster_calls(module, tmp_path / "other-model")[opcode])
    with pytest.raises(UnsafePickle, match=rf"model.pkl: refuses to call global '{module}:Booster'"):
        make_manifest(folder, qualified_name="m", version="1")


@pytest.mark.parametrize("module", ["xgboost.core", "lightgbm.basic"])
def test_a_joblib_file_cannot_call_a_booster_either(tmp_path: Path, keys: Keys, module: str) -> None:
    from modelward.artifacts.catalogue import GlobalPolicy
    from modelward.artifacts.pickles import safe_joblib_loads

    path = _model_files(tmp_path / "elsewhere")[module]
    policy = GlobalPolicy(recorded=frozenset({(module, "Booster")}))
    with pytest.raises(UnsafePickle, match=rf"refuses to call global '{module}:Booster'"):
        safe_joblib_loads(_booster_calls(module, path)["REDUCE"], policy, "f.joblib")


def test_rebuild_only_names_must_be_exact_entries(tmp_path: Path) -> None:
    from modelward.artifacts.catalogue import CATALOGUE_FILE

    text = CATALOGUE_FILE.read_text(encoding="utf-8").replace(
        'rebuild_only = ["xgboost.core:Booster"]', 'rebuild_only = ["xgboost.core:Booster", "xgboost.core:DMatrix"]')
    edited = tmp_path / "catalogue.toml"
    edited.write_text(text, encoding="utf-8")
    with pytest.raises(UnsafePickle, match=r"rebuild_only names xgboost\.core:DMatrix, which no exact table lists"):
        load_catalogue(edited)
    assert load_catalogue().rebuild_only == {("xgboost.core", "Booster"), ("lightgbm.basic", "Booster")}
