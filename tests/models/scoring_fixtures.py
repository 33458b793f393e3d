"""The scoring tests' shared world: generated customers, a model trained once and made champion.

Everything is real: the sample generator (plus an accented region, "Zürich", and a numeric
attribute, ``age``), DuckDB features, XGBoost, and an MLflow SQLite store in a temporary folder.

This is an importable module rather than a conftest (``tests/models/conftest.py`` serves the
training tests). A fixture imported into several test modules is built once per module, so the
world itself is cached here and built once per session.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from churnguard.core.config import Settings
from churnguard.core.data.dataset import Dataset, load_dataset
from churnguard.core.data.generate import generate_sample
from churnguard.features.build import FeatureSpec, build_features, build_training_set, discover_spec
from churnguard.features.source import FeatureSource, source_from_dataset
from churnguard.models.package import ChurnModel
from churnguard.models.registry import load_champion, register_and_promote
from churnguard.models.scoring import ScoredList, score_customers
from churnguard.models.tracking import configure_tracking, log_training_run
from churnguard.models.train import train_churn_model

N_CUSTOMERS = 3_000
ACCENTED_REGION = "Zürich"
CAPACITY = 200
OVERRIDES = {
    "training": {"n_trials": 1, "max_rounds": 100},
    "features": {"max_cutoffs": 6},
    "outreach": {"capacity": CAPACITY},
}


@dataclass
class ScoringWorld:
    """The sample, its training set, the champion model and the risk list it scores."""

    settings: Settings
    dataset: Dataset
    source: FeatureSource
    spec: FeatureSpec
    training_set: pd.DataFrame
    version: str
    pyfunc: mlflow.pyfunc.PyFuncModel
    model: ChurnModel
    features: pd.DataFrame
    scored: ScoredList

    def score(self, settings: Settings | None = None, features: pd.DataFrame | None = None) -> ScoredList:
        """Score again, e.g. with other settings or rows."""
        return score_customers(
            self.features if features is None else features,
            self.pyfunc,
            self.model,
            settings or self.settings,
            self.settings.registry.model_name,
            self.version,
            self.dataset.as_of,
            self.dataset.fingerprint,
        )


def write_sample(data_dir: Path) -> Path:
    """The generated sample, with North renamed Zürich and an ``age`` attribute (some unknown)."""
    generate_sample(data_dir, N_CUSTOMERS, seed=5)
    path = data_dir / "customers.parquet"
    customers = pd.read_parquet(path)
    customers["region"] = customers["region"].replace({"North": ACCENTED_REGION})
    rng = np.random.default_rng(5)
    age = rng.integers(18, 80, len(customers)).astype(float)
    age[rng.random(len(customers)) < 0.05] = np.nan
    customers["age"] = age
    customers.to_parquet(path, index=False)
    return data_dir


_WORLD: dict[str, ScoringWorld] = {}


def build_world(root: Path) -> ScoringWorld:
    """Generate, train, log, register as champion, load it back and score (once per session)."""
    if "world" in _WORLD:
        return _WORLD["world"]
    settings = Settings(**OVERRIDES, tracking={"home": str(root / "mlstore")})
    dataset = load_dataset(write_sample(root / "data"), settings.data)
    source = source_from_dataset(dataset, settings.features)
    spec = discover_spec(source)
    training_set = build_training_set(source, dataset.as_of, settings, spec)
    result = train_churn_model(training_set, settings, spec)
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        client = configure_tracking(settings)
        run = log_training_run(result, settings, dataset.as_of, dataset.fingerprint)
        register_and_promote(client, settings, run.model_uri, run.run_id, *result.evaluation)
        version, pyfunc, model = load_champion(settings, client)
    features = build_features(source, dataset.as_of, settings, model.parts.feature_spec)
    world = ScoringWorld(
        settings, dataset, source, spec, training_set, str(version.version), pyfunc, model, features, None
    )
    world.scored = world.score()
    _WORLD["world"] = world
    return world


@pytest.fixture(scope="session")
def scoring_world(tmp_path_factory: pytest.TempPathFactory) -> ScoringWorld:
    return build_world(tmp_path_factory.mktemp("scoring_world"))


@pytest.fixture
def scoring_store(scoring_world: ScoringWorld, monkeypatch: pytest.MonkeyPatch) -> Iterator[MlflowClient]:
    """MLflow's process-wide URIs pointing at the world's store again (other tests move them)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield configure_tracking(scoring_world.settings)
