"""The churn model as one MLflow pyfunc: preprocessing + booster + calibrator + feature list.

Scoring needs nothing else: ``mlflow.pyfunc.load_model(uri).predict(features)`` returns calibrated
probabilities, and ``unwrap_python_model().contributions(features)`` the per-feature contributions
that explain them.
"""

from __future__ import annotations

import importlib
import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
import xgboost as xgb
from mlflow.models import ModelSignature
from mlflow.types.schema import ColSpec, Schema

from churnguard.features.build import FeatureSpec
from churnguard.models.calibrate import Calibrator
from churnguard.models.preprocess import Preprocessor

BIAS = "bias"
ENTRY_POINT = Path(__file__).with_name("pyfunc_entry.py")
# Models logged before churnguard installed as one namespace run an entry file that imports
# `models.package`: the old name -> the module it now is.
LEGACY_MODULES = {"models": "churnguard.models", "models.package": "churnguard.models.package"}


@dataclass
class ModelParts:
    """What a trained churn model is made of (all plain data but the booster)."""

    booster: xgb.Booster
    preprocessor: Preprocessor
    calibrator: Calibrator
    feature_spec: FeatureSpec
    settings: dict  # the feature/churn settings the model was trained with

    def bundle(self) -> dict:
        return {
            "preprocessor": self.preprocessor.to_dict(),
            "calibrator": self.calibrator.to_dict(),
            "feature_spec": self.feature_spec.to_dict(),
            "settings": self.settings,
        }


class ChurnModel(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc wrapper; also usable directly in-process via :meth:`from_parts`."""

    def __init__(self) -> None:
        self.parts: ModelParts | None = None

    @classmethod
    def from_parts(cls, parts: ModelParts) -> ChurnModel:
        model = cls()
        model.parts = parts
        return model

    def load_context(self, context) -> None:
        booster = xgb.Booster()
        booster.load_model(context.artifacts["booster"])
        bundle = json.loads(Path(context.artifacts["bundle"]).read_text(encoding="utf-8"))
        self.parts = ModelParts(
            booster=booster,
            preprocessor=Preprocessor.from_dict(bundle["preprocessor"]),
            calibrator=Calibrator.from_dict(bundle["calibrator"]),
            feature_spec=FeatureSpec.from_dict(bundle["feature_spec"]),
            settings=bundle["settings"],
        )

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """Calibrated churn probabilities (and the raw booster score) for a feature frame."""
        raw = self.raw_scores(model_input)
        return pd.DataFrame(
            {"churn_probability": self.parts.calibrator.apply(raw), "raw_score": raw}, index=model_input.index
        )

    def raw_scores(self, frame: pd.DataFrame) -> np.ndarray:
        matrix = xgb.DMatrix(self.parts.preprocessor.transform(frame), enable_categorical=True)
        return self.parts.booster.predict(matrix)

    def contributions(self, frame: pd.DataFrame, approximate: bool = False) -> pd.DataFrame:
        """Per-feature contributions to the log-odds (TreeSHAP, or XGBoost's fast approximation).

        Returns:
            One column per feature plus ``bias``; each row sums to the raw log-odds.
        """
        matrix = xgb.DMatrix(self.parts.preprocessor.transform(frame), enable_categorical=True)
        values = self.parts.booster.predict(matrix, pred_contribs=True, approx_contribs=approximate)
        return pd.DataFrame(values, columns=[*self.parts.preprocessor.features, BIAS], index=frame.index)

    @property
    def features(self) -> list[str]:
        return self.parts.preprocessor.features


@contextmanager
def legacy_module_names() -> Iterator[None]:
    """Let a model logged before the namespace move find ``models.package`` while it loads.

    The old names are borrowed only for the load and point at churnguard's own modules. A ``models``
    that another project has already imported is left alone (such a model then fails to load; log it
    again with ``churn train``).
    """
    borrowed = [] if "models" in sys.modules else list(LEGACY_MODULES)
    for old in borrowed:
        sys.modules[old] = importlib.import_module(LEGACY_MODULES[old])
    try:
        yield
    finally:
        for old in borrowed:
            sys.modules.pop(old, None)


def save_artifacts(parts: ModelParts, folder: Path) -> dict[str, str]:
    """Write the booster and the JSON bundle; returns the pyfunc ``artifacts`` mapping."""
    folder.mkdir(parents=True, exist_ok=True)
    booster_path = folder / "booster.json"
    bundle_path = folder / "bundle.json"
    parts.booster.save_model(booster_path)
    bundle_path.write_text(json.dumps(parts.bundle(), indent=2, default=str), encoding="utf-8")
    return {"booster": str(booster_path), "bundle": str(bundle_path)}


def pip_requirements() -> list[str]:
    """Exact versions of what the model needs at load time (no slow requirement inference)."""
    from importlib.metadata import version

    return [
        f"{name}=={version(name)}" for name in ("mlflow", "xgboost-cpu", "pandas", "numpy", "scikit-learn")
    ]


def log_churn_model(parts: ModelParts, input_example: pd.DataFrame) -> mlflow.models.model.ModelInfo:
    """Log the model into the active MLflow run with a signature inferred from real inputs and outputs."""
    model = ChurnModel.from_parts(parts)
    example = input_example[parts.preprocessor.features].head(5)
    inferred = mlflow.models.infer_signature(example, model.predict(None, example))
    # Inference marks a column optional when the example happens to hold a missing value there; the
    # model needs every feature column (values may be missing), so all of them are required.
    columns = [ColSpec(c.type, c.name, required=True) for c in inferred.inputs.inputs]
    signature = ModelSignature(inputs=Schema(columns), outputs=inferred.outputs)
    with tempfile.TemporaryDirectory() as tmp:
        artifacts = save_artifacts(parts, Path(tmp))
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=str(ENTRY_POINT),
            artifacts=artifacts,
            signature=signature,
            input_example=example,
            pip_requirements=pip_requirements(),
        )
