"""The churn model as one MLflow pyfunc: preprocessing + booster + calibrator + feature list.

Scoring needs nothing else: ``mlflow.pyfunc.load_model(uri).predict(features)`` returns calibrated
probabilities, and ``unwrap_python_model().contributions(features)`` the per-feature contributions
that explain them. The logged model carries a copy of the few churnguard modules it runs on (MLflow
``code_paths``), so it loads where churnguard is not installed, with only its pip requirements.
"""

from __future__ import annotations

import importlib
import json
import shutil
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

from churnguard.features.spec import FeatureSpec
from churnguard.models.calibrate import Calibrator
from churnguard.models.preprocess import Preprocessor

BIAS = "bias"
REFERENCE_ARTIFACT = "reference_profile"  # the drift reference (models/drift.py), when the model has one
ENTRY_POINT = Path(__file__).with_name("pyfunc_entry.py")
# Models logged before churnguard installed as one namespace run an entry file that imports
# `models.package`: the old name -> the module it now is.
LEGACY_MODULES = {"models": "churnguard.models", "models.package": "churnguard.models.package"}
# What the model imports to load, predict and explain: this module and its churnguard imports, which
# need nothing beyond pip_requirements(). A logged model carries copies of them.
BUNDLED_MODULES = (
    "churnguard.models.package",
    "churnguard.models.calibrate",
    "churnguard.models.preprocess",
    "churnguard.features.spec",
)
# Marks the copy, so that pyfunc_entry.py can tell it from an installed churnguard (same name there).
BUNDLE_MARKER = "BUNDLED_WITH_MODEL"


@dataclass
class ModelParts:
    """What a trained churn model is made of (all plain data but the booster)."""

    booster: xgb.Booster
    preprocessor: Preprocessor
    calibrator: Calibrator
    feature_spec: FeatureSpec
    settings: dict  # the feature/churn settings the model was trained with
    # Bin edges and shares of the training features and scores (models/drift.py); None in models
    # logged before drift checks, which still score.
    reference: dict | None = None

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
        reference = context.artifacts.get(REFERENCE_ARTIFACT)
        self.parts = ModelParts(
            booster=booster,
            preprocessor=Preprocessor.from_dict(bundle["preprocessor"]),
            calibrator=Calibrator.from_dict(bundle["calibrator"]),
            feature_spec=FeatureSpec.from_dict(bundle["feature_spec"]),
            settings=bundle["settings"],
            reference=json.loads(Path(reference).read_text(encoding="utf-8")) if reference else None,
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
    """Write the booster, the JSON bundle and the drift reference; returns the pyfunc ``artifacts`` mapping."""
    folder.mkdir(parents=True, exist_ok=True)
    booster_path = folder / "booster.json"
    bundle_path = folder / "bundle.json"
    parts.booster.save_model(booster_path)
    bundle_path.write_text(json.dumps(parts.bundle(), indent=2, default=str), encoding="utf-8")
    artifacts = {"booster": str(booster_path), "bundle": str(bundle_path)}
    if parts.reference is not None:
        reference_path = folder / "reference_profile.json"
        reference_path.write_text(json.dumps(parts.reference, indent=2), encoding="utf-8")
        artifacts[REFERENCE_ARTIFACT] = str(reference_path)
    return artifacts


def bundle_code(folder: Path) -> Path:
    """Copy the modules the model runs on into ``folder/churnguard``; returns that folder (a code path).

    Each package gets an empty ``__init__.py``, not churnguard's own, which may import more.
    """
    for name in BUNDLED_MODULES:
        *packages, module = name.split(".")
        for depth in range(1, len(packages) + 1):
            package = folder.joinpath(*packages[:depth])
            package.mkdir(parents=True, exist_ok=True)
            init = package / "__init__.py"
            if not init.exists():
                init.write_text('"""Part of churnguard, copied into a logged model."""\n', encoding="utf-8")
        shutil.copyfile(importlib.import_module(name).__file__, folder.joinpath(*packages, f"{module}.py"))
    root = folder / "churnguard"
    (root / BUNDLE_MARKER).write_text(
        "The churnguard modules this model needs, for where churnguard is not installed.\n", encoding="utf-8"
    )
    return root


def pip_requirements() -> list[str]:
    """Exact versions of what the model needs at load time (no slow requirement inference)."""
    from importlib.metadata import version

    return [
        f"{name}=={version(name)}" for name in ("mlflow", "xgboost-cpu", "pandas", "numpy", "scikit-learn")
    ]


def synthetic_example(preprocessor: Preprocessor, reference: pd.DataFrame) -> pd.DataFrame:
    """Two feature rows no customer has: each feature's median and upper quartile over ``reference``.

    Categories take the most common and the second most common level. Aggregates over many rows
    show the model's inputs and types without storing any customer's row in MLflow.
    """
    columns = {}
    for name in preprocessor.features:
        values = reference[name]
        if name in preprocessor.categories:
            common = values.dropna().astype("str").value_counts().index.tolist() or ["unknown"]
            columns[name] = pd.Series([common[0], common[min(1, len(common) - 1)]], dtype=values.dtype)
        else:
            points = pd.to_numeric(values, errors="coerce").quantile([0.5, 0.75]).to_numpy()
            if pd.api.types.is_integer_dtype(values.dtype):
                points = np.round(np.nan_to_num(points))
            columns[name] = pd.Series(points).astype(values.dtype)
    return pd.DataFrame(columns)


def log_churn_model(parts: ModelParts, reference: pd.DataFrame) -> mlflow.models.model.ModelInfo:
    """Log the model into the active MLflow run, its signature inferred from a synthetic example.

    Args:
        parts: the trained model.
        reference: feature rows the example's medians and quartiles are taken from (not stored).
    """
    model = ChurnModel.from_parts(parts)
    example = synthetic_example(parts.preprocessor, reference)
    inferred = mlflow.models.infer_signature(example, model.predict(None, example))
    # Inference marks a column optional when the example happens to hold a missing value there; the
    # model needs every feature column (values may be missing), so all of them are required.
    columns = [ColSpec(c.type, c.name, required=True) for c in inferred.inputs.inputs]
    signature = ModelSignature(inputs=Schema(columns), outputs=inferred.outputs)
    with tempfile.TemporaryDirectory() as tmp:
        artifacts = save_artifacts(parts, Path(tmp) / "artifacts")
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=str(ENTRY_POINT),
            artifacts=artifacts,
            code_paths=[str(bundle_code(Path(tmp) / "code"))],
            signature=signature,
            input_example=example,
            pip_requirements=pip_requirements(),
        )
