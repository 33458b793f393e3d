"""Fixtures of the model tests: one generated sample, trained once, logged once to a temporary store.

Everything is real: XGBoost, scikit-learn, and an MLflow SQLite store under pytest's temporary
folder. The expensive steps (features, training, logging) run once per session and are shared; a
test that talks to MLflow asks for ``tracking``, which points MLflow's process-wide URI at that
store again, since other tests may have moved it.

Helpers are fixtures rather than an importable module: test folders have no ``__init__.py``, so a
plain module name could clash with another test folder's under pytest's default import mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from churnguard.core.config import Settings
from churnguard.core.data.dataset import Dataset, load_dataset
from churnguard.core.data.generate import generate_sample
from churnguard.features.build import FeatureSpec, build_training_set, discover_spec
from churnguard.features.source import FeatureSource, source_from_dataset
from churnguard.models.tracking import TrackedRun, configure_tracking, log_training_run
from churnguard.models.train import TrainResult, train_churn_model

N_CUSTOMERS = 3_000
# Small but real: two search trials, up to 150 trees, the latest 8 monthly cutoffs (4 of them train).
FAST = {"training": {"n_trials": 2, "max_rounds": 150}, "features": {"max_cutoffs": 8}}
# A deliberately weak model: ten trees and no search. The registry must refuse it after a good one.
WEAK = {"training": {"n_trials": 1, "max_rounds": 10}, "features": {"max_cutoffs": 8}}


@dataclass
class Sample:
    """The generated data, read and turned into a training set once."""

    data_dir: Path
    settings: Settings
    dataset: Dataset
    source: FeatureSource
    spec: FeatureSpec
    frame: pd.DataFrame


@dataclass
class TrackedRuns:
    """Two trainings with different settings, logged into one temporary store."""

    settings: Settings
    good: TrackedRun
    weak: TrackedRun


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    data_dir = tmp_path_factory.mktemp("sample3k")
    generate_sample(data_dir, N_CUSTOMERS, seed=3)
    settings = Settings(**FAST)
    dataset = load_dataset(data_dir, settings.data)
    source = source_from_dataset(dataset, settings.features)
    spec = discover_spec(source)
    frame = build_training_set(source, dataset.as_of, settings, spec)
    return Sample(data_dir, settings, dataset, source, spec, frame)


@pytest.fixture(scope="session")
def trained(sample: Sample) -> TrainResult:
    return train_churn_model(sample.frame, sample.settings, sample.spec)


@pytest.fixture(scope="session")
def weak(sample: Sample) -> TrainResult:
    return train_churn_model(sample.frame, Settings(**WEAK), sample.spec)


@pytest.fixture(scope="session")
def store_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings whose embedded MLflow store lives in a temporary folder."""
    return Settings(**FAST, tracking={"home": str(tmp_path_factory.mktemp("mlstore"))})


@pytest.fixture(scope="session")
def runs(sample: Sample, trained: TrainResult, weak: TrainResult, store_settings: Settings) -> TrackedRuns:
    """The good and the weak training, each logged as one run of the same experiment."""
    weak_settings = Settings(**WEAK, tracking=store_settings.tracking.model_dump())
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        configure_tracking(store_settings)
        as_of, fingerprint = sample.dataset.as_of, sample.dataset.fingerprint
        good = log_training_run(trained, store_settings, as_of, fingerprint, sample.frame)
        second = log_training_run(weak, weak_settings, as_of, fingerprint, sample.frame)
    return TrackedRuns(store_settings, good, second)


@pytest.fixture
def tracking(store_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[MlflowClient]:
    """A client of the temporary store, with MLflow's global URIs pointing at it for this test."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield configure_tracking(store_settings)
