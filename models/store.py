"""Where MLflow keeps runs and models: point the client at the configured store, create the experiment.

Kept apart from :mod:`churnguard.models.tracking` so that scoring and reports, which only read the
registry, do not import training and plotting libraries.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

from churnguard.core.config import Settings

# Tells MLflow 3's UI this experiment trains models: it opens on the runs, not on GenAI traces.
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}


def configure_tracking(settings: Settings) -> MlflowClient:
    """Point MLflow at the configured store (embedded SQLite by default) and ensure the experiment exists.

    Returns:
        A client bound to that store.
    """
    uri = settings.tracking.resolved_uri()
    artifact_location = settings.tracking.artifact_location()
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    with _environment_kept("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        # MLflow 3 also exports these URIs to os.environ; keeping the environment as the user set it
        # lets later settings in the same process (tests, notebooks, workers) resolve their own store.
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    name = settings.training.experiment
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        client.create_experiment(name, artifact_location=artifact_location, tags=EXPERIMENT_TAGS)
    elif any(experiment.tags.get(k) != v for k, v in EXPERIMENT_TAGS.items()):
        for key, value in EXPERIMENT_TAGS.items():
            client.set_experiment_tag(experiment.experiment_id, key, value)
    mlflow.set_experiment(name)
    return client


@contextmanager
def _environment_kept(*names: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
