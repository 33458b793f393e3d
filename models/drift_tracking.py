"""Drift figures in MLflow: one point per risk list on the training run of the model that scored it.

Step = the list's date in days since 1970-01-01, so MLflow's chart of ``drift_score_psi`` against
steps reads as the model's decay over calendar time, whatever order the lists were scored in.
"""

from __future__ import annotations

import time

import pandas as pd
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

SCORE_METRIC = "drift_score_psi"
FEATURE_METRIC = "drift_max_feature_psi"
EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


def model_run_id(client: MlflowClient, model_name: str, version: str, model_uri: str | None) -> str | None:
    """The MLflow run that logged the scoring model: the registry version's, or the one its URI names.

    Args:
        client: a client of the store the model came from.
        model_name: registered name (or the URI, for a model outside the registry).
        version: registered version, ``"-"`` outside the registry (see ``registry.resolve_model``).
        model_uri: the URI scored with, if one was given (``runs:/<run id>/...``, ``models:/m-...``).

    Returns:
        The run id, or ``None`` for a model no run is known for (e.g. a local folder).
    """
    if version != "-":
        return client.get_model_version(model_name, version).run_id or None
    if model_uri and model_uri.startswith("runs:/"):
        return model_uri.removeprefix("runs:/").split("/", 1)[0] or None
    if model_uri and model_uri.startswith("models:/m-"):
        model_id = model_uri.removeprefix("models:/").split("/", 1)[0]
        return client.get_logged_model(model_id).source_run_id
    return None


def drift_step(as_of: str | pd.Timestamp) -> int:
    """The list date as whole days since 1970-01-01 (the metrics' step)."""
    day = pd.Timestamp(as_of)
    day = day.tz_localize("UTC") if day.tzinfo is None else day.tz_convert("UTC")
    return (day.normalize() - EPOCH).days


def log_drift(client: MlflowClient, run_id: str, drift: dict, as_of: str | pd.Timestamp) -> list[str]:
    """Log the drift figures of one list on ``run_id``; failures are raised, not swallowed.

    Returns:
        The metric keys logged (none when the drift is unknown).
    """
    figures = {SCORE_METRIC: drift["score_psi"], FEATURE_METRIC: drift["max_feature_psi"]}
    now, step = int(time.time() * 1000), drift_step(as_of)
    metrics = [Metric(key, float(value), now, step) for key, value in figures.items() if value is not None]
    if metrics:
        client.log_batch(run_id, metrics=metrics)
    return [m.key for m in metrics]
