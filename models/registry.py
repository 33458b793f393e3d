"""Model Registry: register each model as ``challenger``, promote to ``champion`` only when it is better."""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from churnguard.core.config import Settings
from churnguard.core.errors import BadInputError
from churnguard.features.build import LABEL
from churnguard.models import metrics
from churnguard.models.package import ChurnModel, legacy_module_names
from churnguard.models.train import customer_value

CHAMPION, CHALLENGER = "champion", "challenger"


class NoChampionError(BadInputError, LookupError):
    """No model carries the champion alias yet."""


@dataclass
class PromotionDecision:
    model_name: str
    version: str
    promoted: bool
    reason: str
    metric: str
    challenger_score: float
    champion_version: str | None = None
    champion_score: float | None = None

    def summary(self) -> str:
        verdict = "promoted to champion" if self.promoted else "kept as challenger"
        return f"{self.model_name} v{self.version} {verdict}: {self.reason}"


def champion_version(client: MlflowClient, model_name: str):
    """The champion's ModelVersion, or None when there is none."""
    try:
        return client.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException:
        return None


def load_model(model_uri: str) -> tuple[mlflow.pyfunc.PyFuncModel, ChurnModel]:
    """The pyfunc (signature-enforcing) model and the churnguard model inside it."""
    with legacy_module_names():
        pyfunc = mlflow.pyfunc.load_model(model_uri)
    return pyfunc, pyfunc.unwrap_python_model()


def load_champion(settings: Settings, client: MlflowClient):
    """Load the champion; raise :class:`NoChampionError` with the command that fixes it."""
    name = settings.registry.model_name
    version = champion_version(client, name)
    if version is None:
        raise NoChampionError(
            f"no model has the '{CHAMPION}' alias in registered model '{name}' "
            f"(tracking store {settings.tracking.resolved_uri()}): train a model first: "
            "churn train --data DIR, or run the Prefect deployment 'train-churn-model/weekly-training'"
        )
    pyfunc, model = load_model(f"models:/{name}@{CHAMPION}")
    return version, pyfunc, model


def _aligned(frame: pd.DataFrame, model: ChurnModel) -> pd.DataFrame:
    """The frame with the model's columns; features it lacks (e.g. an event type gone) become missing."""
    out = frame.copy()
    for name in model.features:
        if name not in out:
            out[name] = "unknown" if name in model.parts.preprocessor.categories else np.nan
    return out


def primary_score(frame: pd.DataFrame, probabilities: np.ndarray, settings: Settings) -> float:
    o = settings.outreach
    measured = metrics.classification_metrics(
        frame[LABEL].to_numpy(dtype=int),
        probabilities,
        customer_value(frame, settings.value.margin),
        o.cost_per_contact,
        o.save_rate,
        o.capacity,
    )
    return measured[settings.promotion.primary_metric]


def register_and_promote(
    client: MlflowClient,
    settings: Settings,
    model_uri: str,
    run_id: str,
    test_frame: pd.DataFrame,
    challenger_probabilities: np.ndarray,
    force: bool = False,
) -> PromotionDecision:
    """Register a new version as challenger, re-score the champion on the same test set, decide.

    The challenger becomes champion when there is no champion, when ``force`` is set, or when its
    primary metric beats the champion's by at least ``promotion.min_gain``. The decision and both
    scores are recorded as tags on the new version.
    """
    name = settings.registry.model_name
    metric = settings.promotion.primary_metric
    current = champion_version(client, name)
    version = mlflow.register_model(model_uri, name, tags={"run_id": run_id}).version
    client.set_registered_model_alias(name, CHALLENGER, version)
    challenger_score = primary_score(test_frame, challenger_probabilities, settings)
    decision = PromotionDecision(name, str(version), False, "", metric, challenger_score)
    if current is not None:
        _, champion = load_model(f"models:/{name}/{current.version}")
        champion_p = champion.predict(None, _aligned(test_frame, champion))["churn_probability"].to_numpy()
        decision.champion_version = str(current.version)
        decision.champion_score = primary_score(test_frame, champion_p, settings)
    gain = challenger_score - decision.champion_score if current is not None else None
    if force:
        decision.promoted, decision.reason = True, "promotion forced (--promote)"
    elif current is None:
        decision.promoted, decision.reason = True, "first model: no champion yet"
    elif gain > 0 and gain >= settings.promotion.min_gain:
        decision.promoted = True
        decision.reason = (
            f"{metric} {challenger_score:.4f} beats champion v{current.version} "
            f"{decision.champion_score:.4f} by {gain:+.4f} (min gain {settings.promotion.min_gain})"
        )
    else:
        decision.reason = (
            f"{metric} {challenger_score:.4f} does not beat champion v{current.version} "
            f"{decision.champion_score:.4f} by the min gain {settings.promotion.min_gain} "
            f"(difference {gain:+.4f})"
        )
    if decision.promoted:
        client.set_registered_model_alias(name, CHAMPION, version)
    tags = {
        "promotion_decision": "promoted" if decision.promoted else "not promoted",
        "promotion_reason": decision.reason,
        "promotion_metric": metric,
        f"challenger_{metric}": f"{challenger_score:.6f}",
    }
    if decision.champion_score is not None:
        tags[f"champion_{metric}"] = f"{decision.champion_score:.6f}"
        tags["compared_with_version"] = decision.champion_version
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    return decision


def champion_info(settings: Settings, client: MlflowClient) -> dict | None:
    """Champion version, training date and test metrics for reports, or None."""
    name = settings.registry.model_name
    version = champion_version(client, name)
    if version is None:
        return None
    run = client.get_run(version.run_id) if version.run_id else None
    test_metrics = {
        k.removeprefix("test_"): v
        for k, v in (run.data.metrics if run else {}).items()
        if k.startswith("test_") and "_auc_" not in k
    }
    return {
        "model_name": name,
        "version": str(version.version),
        "run_id": version.run_id,
        "trained_at": pd.Timestamp(version.creation_timestamp, unit="ms", tz="UTC").isoformat(),
        "as_of": run.data.tags.get("as_of") if run else None,
        "metrics": test_metrics,
    }


def resolve_model(settings: Settings, client: MlflowClient, model_uri: str | None = None):
    """Load the model to score with: the champion, or an explicit URI.

    Returns:
        ``(pyfunc, churn_model, model_name, version)``; ``version`` is the registry version when the
        URI names a registered model (``models:/name/3`` or ``models:/name@alias``), else ``"-"``.
    """
    if model_uri is None:
        version, pyfunc, model = load_champion(settings, client)
        return pyfunc, model, settings.registry.model_name, str(version.version)
    pyfunc, model = load_model(model_uri)
    name, version = model_uri, "-"
    if model_uri.startswith("models:/"):
        ref = model_uri.removeprefix("models:/")
        if "@" in ref:
            name, alias = ref.split("@", 1)
            version = str(client.get_model_version_by_alias(name, alias).version)
        elif "/" in ref:
            name, version = ref.split("/", 1)
    return pyfunc, model, name, version
