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
from churnguard.models.value import customer_value

CHAMPION, CHALLENGER = "champion", "challenger"
TRAINING_CUTOFF_TAG = "training_cutoff_last"  # on every training run: the refit's newest labelled cutoff


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
    compared_on: str = ""

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


def last_training_cutoff(run) -> pd.Timestamp | None:
    """The newest cutoff whose labels a logged model was fitted on (``None`` when the run does not say)."""
    value = run.data.tags.get(TRAINING_CUTOFF_TAG) or run.data.params.get("cutoffs.train_last")
    return pd.Timestamp(value, tz="UTC") if value else None


def register_and_promote(
    client: MlflowClient,
    settings: Settings,
    model_uri: str,
    run_id: str,
    evaluation: pd.DataFrame,
    challenger_probabilities: np.ndarray,
    force: bool = False,
) -> PromotionDecision:
    """Register a new version as challenger and promote it when it beats the champion on unseen outcomes.

    ``evaluation`` holds the challenger's backtest test rows with their out-of-fold probabilities. The
    two models are compared on outcomes neither was fitted on: the test cutoffs after the champion's
    last training cutoff, the champion re-scored on them. When there are none (the champion saw all of
    them, e.g. a retrain on the same data), their backtest means over the same test cutoffs decide;
    when the folds differ too, nothing comparable exists and the champion stays. The first model is
    always promoted, and ``force`` promotes anyway. The decision, both scores and the cutoffs compared
    on are tags on the new version.
    """
    name = settings.registry.model_name
    metric = settings.promotion.primary_metric
    current = champion_version(client, name)
    version = mlflow.register_model(model_uri, name, tags={"run_id": run_id}).version
    client.set_registered_model_alias(name, CHALLENGER, version)
    challenger_run = client.get_run(run_id)
    challenger_score = challenger_run.data.metrics.get(f"test_{metric}")
    decision = PromotionDecision(name, str(version), False, "", metric, challenger_score)
    compared_on = "backtest folds of this run"
    if current is not None:
        decision.champion_version = str(current.version)
        champion_run = client.get_run(current.run_id) if current.run_id else None
        seen_until = last_training_cutoff(champion_run) if champion_run else None
        unseen = evaluation["cutoff"] > seen_until if seen_until is not None else None
        if unseen is not None and unseen.any():
            rows = evaluation[unseen].reset_index(drop=True)
            _, champion = load_model(f"models:/{name}/{current.version}")
            champion_p = champion.predict(None, _aligned(rows, champion))["churn_probability"].to_numpy()
            decision.champion_score = primary_score(rows, champion_p, settings)
            decision.challenger_score = primary_score(
                rows, challenger_probabilities[unseen.to_numpy()], settings
            )
            cutoffs = sorted({str(pd.Timestamp(c).date()) for c in rows["cutoff"]})
            compared_on = f"test cutoffs {', '.join(cutoffs)}, after champion v{current.version}'s last training cutoff {seen_until.date()}"
        elif champion_run is not None and _fold_cutoffs(champion_run) == _fold_cutoffs(challenger_run):
            decision.champion_score = champion_run.data.metrics.get(f"test_{metric}")
            compared_on = f"backtest means over the same test cutoffs {_fold_cutoffs(challenger_run)}"
        else:
            compared_on = (
                "nothing: no test cutoff after the champion's training, and different backtest folds"
            )
    decision.compared_on = compared_on
    if force:
        decision.promoted, decision.reason = True, "promotion forced (--promote)"
    elif current is None:
        decision.promoted, decision.reason = True, "first model: no champion yet"
    elif decision.champion_score is None or decision.challenger_score is None:
        decision.reason = f"kept as challenger: no outcomes to compare it with champion v{current.version} on"
    else:
        gain = decision.challenger_score - decision.champion_score
        verdict = "beats" if gain > 0 and gain >= settings.promotion.min_gain else "does not beat"
        decision.promoted = verdict == "beats"
        decision.reason = (
            f"{metric} {decision.challenger_score:.4f} {verdict} champion v{current.version} "
            f"{decision.champion_score:.4f} (difference {gain:+.4f}, min gain {settings.promotion.min_gain}) "
            f"on {compared_on}"
        )
    if decision.promoted:
        client.set_registered_model_alias(name, CHAMPION, version)
    tags = {
        "promotion_decision": "promoted" if decision.promoted else "not promoted",
        "promotion_reason": decision.reason,
        "promotion_metric": metric,
        "promotion_compared_on": compared_on,
    }
    if decision.challenger_score is not None:
        tags[f"challenger_{metric}"] = f"{decision.challenger_score:.6f}"
    if decision.champion_score is not None:
        tags[f"champion_{metric}"] = f"{decision.champion_score:.6f}"
        tags["compared_with_version"] = decision.champion_version
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    return decision


def _fold_cutoffs(run) -> str | None:
    return run.data.params.get("backtest.test_cutoffs")


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
        if k.startswith("test_") and "_auc_" not in k and not k.endswith("_sd")
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
