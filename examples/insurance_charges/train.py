"""Train the insurance charges model: ``python -m insurance_charges.train [--output DIR] [--challenger]``.

``--challenger`` trains the challenger of the inference graph example (``graph_deployment.yaml``):
the same pipeline with other hyperparameters (a shallower, faster-learning boosting), packaged as
the next version (``InsuranceChargesChallenger``).

Writes the fitted pipeline (``model.skops``; ``--format joblib`` for ``model.joblib``), the training
data (``insurance.csv``), metrics, ``validation.jsonl`` (known inputs with the outputs this model
gives, for the deployment gate) and ``outlier_detector.json``: the outlier step's detector, fitted on
the training inputs (a JSON file, packaged and signed with the model; docs/graphs.md).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from example_support import arguments, package, profile, save_model
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from insurance_charges.dataset import COLUMNS, generate
from insurance_charges.model import MODEL_FILE, InsuranceChargesChallenger, InsuranceChargesModel
from insurance_charges.schemas import InsuranceChargesModelInput
from modelward.artifacts import DatasetRef, hash_file
from modelward.graph.outlier import DETECTOR_NAME, FittedFor
from modelward.graph.outlier_fit import fit_detector

KNOWN_CASES = [
    {"age": 42, "sex": "female", "bmi": 24.0, "children": 2, "smoker": False, "region": "northwest"},
    {"age": 62, "sex": "male", "bmi": 22.0, "children": 5, "smoker": True, "region": "southwest"},
    {"age": 18, "sex": "male", "bmi": 33.5, "children": 0, "smoker": False, "region": "southeast"},
    {"age": 55, "sex": "female", "bmi": 38.2, "children": 1, "smoker": True, "region": "northeast"},
    {"age": 30, "sex": "female", "bmi": 27.9, "children": 3, "smoker": False, "region": "southwest"},
    {"age": 65, "sex": "male", "bmi": 45.0, "children": 0, "smoker": False, "region": "northwest"},
]


def build_pipeline(challenger: bool = False) -> Pipeline:
    encoder = ColumnTransformer(
        [("categories", OneHotEncoder(handle_unknown="ignore"), [1, 4, 5])], remainder="passthrough"
    )
    regressor = GradientBoostingRegressor(n_estimators=60, max_depth=2, learning_rate=0.2, random_state=7) \
        if challenger else GradientBoostingRegressor(n_estimators=150, max_depth=3, random_state=42)
    return Pipeline([("encode", encoder), ("regress", regressor)])


def model_class(challenger: bool = False) -> type[InsuranceChargesModel]:
    return InsuranceChargesChallenger if challenger else InsuranceChargesModel


def train(output: Path, file_format: str = "skops", challenger: bool = False) -> dict[str, float]:
    """Fit the pipeline on generated data and write every artifact into ``output``."""
    output.mkdir(parents=True, exist_ok=True)
    features, charges = generate()
    with (output / "insurance.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*COLUMNS, "charges"])
        writer.writerows([*row, target] for row, target in zip(features.tolist(), charges, strict=True))
    x_train, x_test, y_train, y_test = train_test_split(features, charges, test_size=0.2, random_state=42)
    pipeline = build_pipeline(challenger).fit(x_train, y_train)
    predicted = pipeline.predict(x_test)
    metrics = {"r2": round(float(r2_score(y_test, predicted)), 4),
               "mae": round(float(mean_absolute_error(y_test, predicted)), 2)}
    save_model(pipeline, output, file_format)
    (output / "data_profile.json").write_text(json.dumps(profile(input_rows(features)), indent=2) + "\n",
                                              encoding="utf-8")
    (output / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    write_cases(pipeline, output / "validation.jsonl", model_class(challenger))
    write_detector(x_train, output / DETECTOR_NAME, model_class(challenger))
    return metrics


def write_detector(features: np.ndarray, target: Path,
                   cls: type[InsuranceChargesModel] = InsuranceChargesModel) -> None:
    """Fit the outlier step's detector on the training inputs (1% of them above its threshold)."""
    model = FittedFor(qualified_name=cls.qualified_name, version=cls.version)
    fit_detector(input_rows(features), InsuranceChargesModelInput, contamination=0.01, model=model).write(target)


def input_rows(features: np.ndarray) -> list[dict[str, object]]:
    """The training rows as the model's input documents (what the payload log records)."""
    return [dict(zip(COLUMNS, row, strict=True)) for row in features.tolist()]


def write_cases(pipeline: Pipeline, target: Path, cls: type[InsuranceChargesModel] = InsuranceChargesModel) -> None:
    """Record the trained model's answers on the known cases (tolerance: one cent)."""
    model = cls.from_pipeline(pipeline)
    with target.open("w", encoding="utf-8") as handle:
        for case in KNOWN_CASES:
            output = model.predict(InsuranceChargesModelInput.model_validate(case))
            line = {"input": case, "output": output.model_dump(), "tolerance": {"absolute": 0.01}}
            handle.write(json.dumps(line) + "\n")

def main() -> None:
    args = arguments(__doc__, MODEL_FILE.parent, challenger=True)
    cls = model_class(args.challenger)
    metrics = train(args.output, args.file_format, args.challenger)
    print(f"trained {cls.qualified_name} {cls.version} into {args.output}: r2={metrics['r2']} mae={metrics['mae']}")
    if args.package:
        digest, _ = hash_file(args.output / "insurance.csv")
        dataset = DatasetRef(name="insurance (generated, seed 42)", uri="insurance.csv", digest=digest)
        package(args.output, args.package, args.key, qualified_name=cls.qualified_name, version=cls.version,
                datasets=(dataset,))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
