"""Writes tests/data/pickles/pandas-2.2.3/*.pkl: pandas 2.x objects for tests/artifacts/test_catalogue.py.

Run with pandas 2.2.3 (and numpy < 2.3) in a throwaway venv, never the project's:
``python -m venv /tmp/p2 && /tmp/p2/bin/pip install pandas==2.2.3 'numpy<2.3' && /tmp/p2/bin/python
tests/data/pickles/make_pandas2.py``. The files show that pickles written by pandas 2 load through the
catalogue's pandas 2.x names under the pandas the project tests with.
"""

import pickle
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).with_name(f"pandas-{pd.__version__}")
days = pd.to_datetime(["2024-01-01", "2024-01-02", None])
CASES = {
    "frame": pd.DataFrame({
        "integers": [1, 2, 3], "floats": [1.5, np.nan, 2.5], "objects": ["x", None, "z"],
        "category": pd.Categorical(["u", "v", "u"], categories=["v", "u"], ordered=True),
        "naive": days, "utc": days.tz_localize("UTC"), "durations": pd.to_timedelta([1, None, 3], unit="s"),
        "nullable_int": pd.array([1, None, 3], dtype="Int64"),
        "nullable_bool": pd.array([True, None, False], dtype="boolean"),
        "strings": pd.array(["a", None, "c"], dtype="string")}, index=pd.RangeIndex(10, 13, name="row")),
    "multiindex": pd.DataFrame({"value": [1.0, 2.0, 3.0]},
                               index=pd.MultiIndex.from_tuples([("a", 1), ("a", 2), ("b", 1)], names=["key", "n"])),
    "series": pd.Series([1.0, 2.0, np.nan], index=pd.CategoricalIndex(["a", "b", "a"]), name="s"),
    "categorical": pd.Categorical(["low", "high", "low", None], categories=["low", "high"], ordered=True),
    "daily": pd.date_range("2024-01-01", periods=5, freq="D", name="day"),
    "hourlyutc": pd.date_range("2024-01-01", periods=5, freq="h", tz="UTC"),
    "timestamp": pd.Timestamp("2024-05-06 07:08:09", tz="UTC"),
    "timedelta": pd.Timedelta(minutes=5),
}

if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    for name, value in CASES.items():
        for protocol in (2, 5):
            (OUT / f"{name}.p{protocol}.pkl").write_bytes(pickle.dumps(value, protocol=protocol))
