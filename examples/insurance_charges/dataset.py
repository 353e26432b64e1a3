"""A generated insurance dataset with the schema of the source articles (deterministic by seed)."""

from __future__ import annotations

import numpy as np

REGIONS = ["southwest", "southeast", "northwest", "northeast"]
COLUMNS = ["age", "sex", "bmi", "children", "smoker", "region"]


def generate(rows: int = 4000, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """Features (object array with COLUMNS) and charges, shaped like the public insurance data."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 66, rows)
    sex = rng.choice(["male", "female"], rows)
    bmi = np.clip(rng.normal(30.7, 6.1, rows), 15.0, 50.0).round(1)
    children = rng.choice(6, rows, p=[0.43, 0.24, 0.18, 0.11, 0.02, 0.02])
    smoker = rng.random(rows) < 0.2
    region = rng.choice(REGIONS, rows)
    region_effect = np.select([region == "southeast", region == "northeast"], [900.0, 600.0], 0.0)
    charges = (
        -2500.0 + 265.0 * age + 480.0 * children + 330.0 * bmi
        + smoker * (23000.0 + (bmi > 30) * 19500.0)
        + (sex == "male") * 130.0 + region_effect
        + rng.normal(0.0, 2500.0, rows)
    )
    features = np.empty((rows, len(COLUMNS)), dtype=object)
    for index, column in enumerate([age, sex, bmi, children, smoker, region]):
        features[:, index] = column
    return features, np.clip(charges, 1100.0, None).round(2)
