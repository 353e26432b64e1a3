"""The catalogue's library entries, proven on real objects of each library.

Every object is pickled (protocols 2 to 5) and joblib-dumped (plain, which joblib can memory-map,
and zlib/lzma compressed), packaged by ``build_package`` (the static opcode scan, nothing runs),
signed, verified by ``load_verified`` and loaded through the restricted unpickler; each must load
and predict (or compare) identically, with no extension beyond the catalogue.
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from modelward.artifacts import Manifest, build_package, load_verified
from modelward.artifacts.catalogue import load_catalogue, parse_pair
from tests.artifacts.conftest import Keys

PROTOCOLS = (2, 3, 4, 5)
JOBLIB_COMPRESSION: dict[str, Any] = {"plain": 0, "zlib": 3, "lzma": ("lzma", 3)}
VARIANTS = (*(f"p{p}.pkl" for p in PROTOCOLS), *(f"{c}.joblib" for c in JOBLIB_COMPRESSION))


@dataclass(frozen=True)
class Case:
    """A real object and how to tell that a loaded copy is the same (predicts or compares identically)."""

    value: Any
    same: Callable[[Any, Any], None]


@dataclass
class RoundTrip:
    manifest: Manifest
    loaded: dict[str, dict[str, Any]]  # case name -> variant -> loaded value

    def recorded(self) -> set[tuple[str, str]]:
        return {parse_pair(text, "t") for entry in self.manifest.files for text in entry.globals}


def round_trip(tmp_path: Path, keys: Keys, cases: dict[str, Case]) -> RoundTrip:
    """Write every case in every variant, build, sign, verify and load them all; check each is the same."""
    folder = tmp_path / "files"
    folder.mkdir()
    for name, case in cases.items():
        for protocol in PROTOCOLS:
            (folder / f"{name}.p{protocol}.pkl").write_bytes(pickle.dumps(case.value, protocol=protocol))
        for label, compress in JOBLIB_COMPRESSION.items():
            joblib.dump(case.value, folder / f"{name}.{label}.joblib", compress=compress)
    output = tmp_path / "package.zip"
    manifest = build_package(folder, output, qualified_name="libraries", version="1", signer=keys.signer)
    assert manifest.allow_globals == ()
    assert {entry.format for entry in manifest.files} == {"pickle", "joblib"}
    loaded: dict[str, dict[str, Any]] = {}
    with load_verified(output, keys.keyring(), allow_globals=()) as verified:
        for entry in manifest.files:
            name, variant = entry.path.split(".", 1)
            loaded.setdefault(name, {})[variant] = verified.load(entry.path)
    for name, case in cases.items():
        assert set(loaded[name]) == set(VARIANTS), name
        for variant, value in loaded[name].items():
            try:
                case.same(case.value, value)
            except AssertionError as exc:
                raise AssertionError(f"{name}.{variant}: {exc}") from exc
    return RoundTrip(manifest, loaded)


def vetted_by(pairs: set[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
    catalogue = load_catalogue()
    return {pair: catalogue.vetted_by(*pair, "t") for pair in pairs}


# --- comparisons -------------------------------------------------------------------------------------


def same_array(expected: Any, actual: Any) -> None:
    assert type(actual) is type(expected)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    if isinstance(expected, np.ndarray):
        assert actual.flags.f_contiguous == expected.flags.f_contiguous
    assert np.asarray(actual).tobytes(order="A") == np.asarray(expected).tobytes(order="A")  # bit for bit
    assert np.array_equal(np.ma.getmaskarray(actual), np.ma.getmaskarray(expected))


def same_object_array(expected: Any, actual: Any) -> None:
    assert actual.dtype == object and actual.shape == expected.shape
    assert [type(v) for v in actual] == [type(v) for v in expected]
    assert all(a == e or (a is None and e is None) for a, e in zip(actual, expected, strict=True))


def same_value(expected: Any, actual: Any) -> None:
    assert type(actual) is type(expected) and actual == expected


def same_draws(expected: Any, actual: Any) -> None:
    """The same random stream (drawn from a copy of ``expected``, which other variants compare with too)."""
    assert type(actual) is type(expected)
    assert np.array_equal(actual.random_sample(5) if hasattr(actual, "random_sample") else actual.random(5),
                          same_draws_reference(expected))


def same_draws_reference(expected: Any) -> Any:
    copy = pickle.loads(pickle.dumps(expected))
    return copy.random_sample(5) if hasattr(copy, "random_sample") else copy.random(5)


def same_sparse(expected: Any, actual: Any) -> None:
    assert type(actual) is type(expected) and actual.dtype == expected.dtype and actual.shape == expected.shape
    assert np.array_equal(actual.toarray(), expected.toarray())


def predicts_same(inputs: Any, *methods: str) -> Callable[[Any, Any], None]:
    def same(expected: Any, actual: Any) -> None:
        assert type(actual) is type(expected)
        for method in methods:
            want, got = getattr(expected, method)(inputs), getattr(actual, method)(inputs)
            assert np.array_equal(np.asarray(want), np.asarray(got)), method
    return same


# --- numpy -------------------------------------------------------------------------------------------


def test_numpy_arrays_scalars_and_generators_load_identically(tmp_path: Path, keys: Keys) -> None:
    structured = np.zeros(4, dtype=[("id", "<i4"), ("score", "<f8", (2,)), ("tag", "S3")])
    structured["id"], structured["score"], structured["tag"] = [1, 2, 3, 4], 0.5, b"abc"
    cases = {
        "floats": Case(np.random.default_rng(0).normal(size=(300, 40)), same_array),  # 96 KB of raw joblib bytes
        "fortran": Case(np.asfortranarray(np.arange(12, dtype=np.int16).reshape(3, 4)), same_array),
        "objects": Case(np.array(["a", 1, 2.5, None, b"raw", (1, 2)], dtype=object), same_object_array),
        "structured": Case(structured, same_array),
        "datetimes": Case(np.array(["2024-01-01", "NaT"], dtype="datetime64[s]"), same_array),
        "unicode": Case(np.array(["héllo", "wörld"]), same_array),
        "masked": Case(np.ma.masked_array([1.0, 2.0, 3.0], mask=[False, True, False]), same_array),
        "scalars": Case([np.float32(1.5), np.int64(-3), np.bool_(True), np.str_("x")], same_value),
        "generator": Case(np.random.default_rng(42), same_draws),
        "randomstate": Case(np.random.RandomState(7), same_draws),
    }
    result = round_trip(tmp_path, keys, cases)
    assert set(vetted_by(result.recorded()).values()) <= {"baseline", "numpy", "python"}
    assert ("numpy.ma.core", "_mareconstruct") in result.recorded()


# --- scipy.sparse ------------------------------------------------------------------------------------


def test_scipy_sparse_matrices_and_arrays_load_identically(tmp_path: Path, keys: Keys) -> None:
    import scipy.sparse as sp

    dense = np.where(np.random.default_rng(1).random((6, 6)) > 0.6, np.arange(36.0).reshape(6, 6), 0.0)
    kinds = {"csr": sp.csr_matrix, "csc": sp.csc_matrix, "coo": sp.coo_matrix, "lil": sp.lil_matrix,
             "dok": sp.dok_matrix, "bsr": sp.bsr_matrix, "dia": sp.dia_matrix, "csrarray": sp.csr_array,
             "cooarray": sp.coo_array}
    result = round_trip(tmp_path, keys, {name: Case(kind(dense), same_sparse) for name, kind in kinds.items()})
    libraries = vetted_by(result.recorded())
    assert {pair for pair, library in libraries.items() if library == "scipy"} >= {
        ("scipy.sparse._csr", "csr_matrix"), ("scipy.sparse._dok", "dok_matrix"), ("scipy.sparse._coo", "coo_array")}
    assert set(libraries.values()) <= {"baseline", "scipy", "python"}


# --- scikit-learn ------------------------------------------------------------------------------------


def _frame(rows: int = 120) -> Any:
    import pandas as pd

    rng = np.random.default_rng(5)
    return pd.DataFrame({"age": rng.integers(18, 80, rows).astype(float), "income": rng.normal(50, 10, rows),
                         "region": rng.choice(["north", "south", "east"], rows),
                         "product": pd.Categorical(rng.choice(["a", "b"], rows))})


def test_scikit_learn_estimators_and_a_column_transformer_pipeline_predict_identically(tmp_path: Path,
                                                                                       keys: Keys) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestRegressor
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    frame = _frame()
    target = ((frame["income"] > 50) ^ (frame["region"] == "east")).to_numpy()
    columns = ColumnTransformer([("categories", OneHotEncoder(handle_unknown="ignore"), ["region", "product"]),
                                 ("numbers", StandardScaler(), ["age", "income"])])
    pipeline = Pipeline([("columns", columns),
                         ("boost", GradientBoostingClassifier(n_estimators=15, random_state=0))]).fit(frame, target)
    numbers = frame[["age", "income"]].to_numpy()
    cases = {
        "pipeline": Case(pipeline, predicts_same(frame.head(30), "predict", "predict_proba")),
        "forest": Case(RandomForestRegressor(n_estimators=4, max_depth=3, random_state=0).fit(numbers, target),
                       predicts_same(numbers[:30], "predict")),
        "neighbors": Case(KNeighborsClassifier(algorithm="kd_tree").fit(numbers, target),
                          predicts_same(numbers[:30], "predict_proba")),
        "logistic": Case(make_pipeline(FunctionTransformer(np.log1p), LogisticRegression()).fit(numbers, target),
                         predicts_same(numbers[:30], "predict_proba")),
    }
    result = round_trip(tmp_path, keys, cases)
    recorded = result.recorded()
    assert {("sklearn.compose._column_transformer", "ColumnTransformer"), ("sklearn.tree._tree", "Tree"),
            ("sklearn.preprocessing._encoders", "OneHotEncoder"), ("sklearn.neighbors._kd_tree", "KDTree"),
            ("numpy", "log1p")} <= recorded
    assert None not in vetted_by(recorded).values()


# --- pandas ------------------------------------------------------------------------------------------


def same_frame(expected: Any, actual: Any) -> None:
    import pandas as pd

    pd.testing.assert_frame_equal(actual, expected, check_exact=True)
    assert actual.attrs == expected.attrs and actual.flags.allows_duplicate_labels == \
        expected.flags.allows_duplicate_labels


def same_series(expected: Any, actual: Any) -> None:
    import pandas as pd

    pd.testing.assert_series_equal(actual, expected, check_exact=True)


def same_index(expected: Any, actual: Any) -> None:
    import pandas as pd

    pd.testing.assert_index_equal(actual, expected, exact=True)
    assert actual.freq == expected.freq


def same_categorical(expected: Any, actual: Any) -> None:
    import pandas as pd

    pd.testing.assert_extension_array_equal(actual, expected)
    assert actual.ordered == expected.ordered


def _pandas_cases() -> dict[str, Case]:
    import pandas as pd

    days = pd.to_datetime(["2024-01-01", "2024-01-02", None])
    frame = pd.DataFrame({
        "integers": [1, 2, 3], "floats": [1.5, np.nan, 2.5], "objects": ["x", None, "z"],
        "category": pd.Categorical(["u", "v", "u"], categories=["v", "u"], ordered=True),
        "naive": days, "utc": days.tz_localize("UTC"), "durations": pd.to_timedelta([1, None, 3], unit="s"),
        "nullable_int": pd.array([1, None, 3], dtype="Int64"), "nullable_bool": pd.array([True, None, False],
                                                                                         dtype="boolean"),
        "strings": pd.array(["a", None, "c"], dtype="string"),
    }, index=pd.RangeIndex(10, 13, name="row"))
    frame.attrs["source"] = "test"
    nested = pd.DataFrame({"value": [1.0, 2.0, 3.0]},
                          index=pd.MultiIndex.from_tuples([("a", 1), ("a", 2), ("b", 1)], names=["key", "n"]))
    return {
        "frame": Case(frame, same_frame),
        "multiindex": Case(nested, same_frame),
        "series": Case(pd.Series([1.0, 2.0, np.nan], index=["a", "b", "c"], name="s"), same_series),
        "catindex": Case(pd.Series([1, 2, 3], index=pd.CategoricalIndex(["a", "b", "a"])), same_series),
        "categorical": Case(pd.Categorical(["low", "high", "low", None], categories=["low", "high"], ordered=True),
                            same_categorical),
        "daily": Case(pd.date_range("2024-01-01", periods=5, freq="D", name="day"), same_index),
        "hourlyutc": Case(pd.date_range("2024-01-01", periods=5, freq="h", tz="UTC"), same_index),
        "minutes": Case(pd.date_range("2024-01-01", periods=3, freq="min"), same_index),
        "seconds": Case(pd.date_range("2024-01-01", periods=3, freq="s"), same_index),
        "millis": Case(pd.date_range("2024-01-01", periods=3, freq="ms"), same_index),
        "micros": Case(pd.date_range("2024-01-01", periods=3, freq="us"), same_index),
        "nanos": Case(pd.date_range("2024-01-01", periods=3, freq="ns"), same_index),
        "timestamp": Case(pd.Timestamp("2024-05-06 07:08:09", tz="UTC"), same_value),
        "timedelta": Case(pd.Timedelta(minutes=5), same_value),
    }


def test_pandas_frames_series_categoricals_and_datetime_indexes_load_identically(tmp_path: Path,
                                                                                  keys: Keys) -> None:
    result = round_trip(tmp_path, keys, _pandas_cases())
    libraries = vetted_by(result.recorded())
    assert set(libraries.values()) <= {"baseline", "numpy", "pandas", "python"}, libraries
    assert {pair[0].split(".")[0] for pair, library in libraries.items() if library == "pandas"} == {"pandas"}


PANDAS_2 = Path(__file__).parents[1] / "data" / "pickles" / "pandas-2.2.3"


def test_pickles_written_by_pandas_2_load_under_the_tested_pandas(tmp_path: Path, keys: Keys) -> None:
    """pandas 2.x writes internal names (pandas.core.arrays.integer:IntegerArray...): vetted and loadable."""
    folder = tmp_path / "files"
    folder.mkdir()
    for pickled in PANDAS_2.glob("*.pkl"):
        (folder / pickled.name).write_bytes(pickled.read_bytes())
    assert len(list(folder.iterdir())) == 16
    output = tmp_path / "package.zip"
    manifest = build_package(folder, output, qualified_name="pandas2", version="1", signer=keys.signer)
    recorded = {parse_pair(text, "t") for entry in manifest.files for text in entry.globals}
    assert {("pandas.core.arrays.integer", "IntegerArray"), ("pandas.core.frame", "DataFrame"),
            ("pandas.core.indexes.category", "CategoricalIndex")} <= recorded
    with load_verified(output, keys.keyring(), allow_globals=()) as verified:
        for entry in manifest.files:
            expected = pickle.loads((folder / entry.path).read_bytes())  # our own files: the reference
            actual = verified.load(entry.path)
            comparer = {"frame": same_frame, "multiindex": same_frame, "series": same_series,
                        "categorical": same_categorical, "daily": same_index, "hourlyutc": same_index,
                        "timestamp": same_value, "timedelta": same_value}[entry.path.split(".")[0]]
            comparer(expected, actual)


# --- xgboost and lightgbm ----------------------------------------------------------------------------


def _classification() -> tuple[Any, Any]:
    rng = np.random.default_rng(11)
    features = rng.normal(size=(300, 5))
    return features, (features[:, 0] + features[:, 1] * features[:, 2] > 0).astype(int)


def test_xgboost_classifier_and_booster_predict_identically(tmp_path: Path, keys: Keys) -> None:
    import xgboost

    features, target = _classification()
    model = xgboost.XGBClassifier(n_estimators=12, max_depth=3, random_state=0).fit(features, target)
    matrix = xgboost.DMatrix(features[:50])

    def booster_same(expected: Any, actual: Any) -> None:
        assert type(actual) is xgboost.Booster
        assert np.array_equal(expected.predict(matrix), actual.predict(matrix))

    cases = {"classifier": Case(model, predicts_same(features[:50], "predict", "predict_proba")),
             "booster": Case(model.get_booster(), booster_same)}
    result = round_trip(tmp_path, keys, cases)
    assert {("xgboost.sklearn", "XGBClassifier"), ("xgboost.core", "Booster")} <= result.recorded()
    assert None not in vetted_by(result.recorded()).values()


def test_lightgbm_classifier_and_booster_predict_identically(tmp_path: Path, keys: Keys) -> None:
    import lightgbm

    features, target = _classification()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # lightgbm's notes on tiny data sets
        model = lightgbm.LGBMClassifier(n_estimators=12, num_leaves=7, verbose=-1).fit(features, target)

    def booster_same(expected: Any, actual: Any) -> None:
        assert type(actual) is lightgbm.Booster
        assert np.array_equal(expected.predict(features[:50]), actual.predict(features[:50]))

    cases = {"classifier": Case(model, predicts_same(features[:50], "predict", "predict_proba")),
             "booster": Case(model.booster_, booster_same)}
    result = round_trip(tmp_path, keys, cases)
    assert {("lightgbm.sklearn", "LGBMClassifier"), ("lightgbm.basic", "Booster")} <= result.recorded()
    assert None not in vetted_by(result.recorded()).values()


# Every exact entry that is not a class, with the review that admitted it (the TOML notes the same).
REVIEWED_HELPERS = {
    ("_codecs", "encode"): "protocol 2 bytes: encode(str, codec name); codecs come from the encodings package",
    ("numpy.random._pickle", "__randomstate_ctor"): "RandomState(ctor(name)): one call REDUCE could make",
    ("numpy.random._pickle", "__generator_ctor"): "Generator(ctor(name)): one call REDUCE could make",
    ("numpy.random._pickle", "__bit_generator_ctor"): "a known bit generator, or a class called with no argument",
    ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"): "Cython: SeedSequence.__new__ + stored state",
    ("numpy.ma.core", "_mareconstruct"): "ndarray.__new__ of an ndarray subclass, then subtype.__new__",
    ("sklearn.neighbors._kd_tree", "newObj"): "obj.__new__(obj): no __init__",
    ("sklearn.neighbors._ball_tree", "newObj"): "obj.__new__(obj): no __init__",
    ("sklearn.metrics._dist_metrics", "newObj"): "obj.__new__(obj): no __init__",
    ("pandas", "NA"): "the NA singleton (a value, not callable)",
    ("pandas._libs.missing", "NA"): "the NA singleton (a value, not callable)",
    ("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked"): "Cython: NDArrayBacked.__new__(subclass) + state",
    ("pandas._libs.internals", "_unpickle_block"): "new_block(values, placement, ndim)",
    ("pandas.core.indexes.base", "_new_Index"): "cls.__new__(cls, **d) of a class the pickle resolved",
    ("pandas.core.indexes.datetimes", "_new_DatetimeIndex"): "DatetimeArray from data, tz, freq; or cls.__new__",
    ("pandas._libs.tslibs.timestamps", "_unpickle_timestamp"): "a Timestamp from value, tz, unit",
    ("pandas._libs.tslibs.timedeltas", "_timedelta_unpickle"): "a Timedelta from value, unit",
}


def test_every_exact_entry_is_a_class_or_a_reviewed_reconstruction_helper() -> None:
    """Adding a function (or a value) to the catalogue means adding its review here too."""
    catalogue = load_catalogue()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # numpy.core, kept for numpy 1.x pickles
        found = {pair: catalogue.resolve_exact(pair, "t") for pair in catalogue.exact}
    helpers = {pair for pair, value in found.items() if not isinstance(value, type)}
    assert helpers == set(REVIEWED_HELPERS)
    assert not callable(found[("pandas", "NA")])
