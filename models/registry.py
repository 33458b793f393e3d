"""Model Registry: register each model as ``challenger``, promote to ``champion`` only when it is better."""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode
from mlflow.tracking import MlflowClient

from churnguard.core.config import Settings, masked_uri
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

    def tags(self) -> dict[str, str]:
        """The decision as model-version tags."""
        tags = {
            "promotion_decision": "promoted" if self.promoted else "not promoted",
            "promotion_reason": self.reason,
            "promotion_metric": self.metric,
            "promotion_compared_on": self.compared_on,
        }
        if self.challenger_score is not None:
            tags[f"challenger_{self.metric}"] = f"{self.challenger_score:.6f}"
        if self.champion_score is not None:
            tags[f"champion_{self.metric}"] = f"{self.champion_score:.6f}"
            tags["compared_with_version"] = str(self.champion_version)
        return tags


def champion_version(client: MlflowClient, model_name: str):
    """The champion's ModelVersion, or None when the registry says there is none.

    Only "no such registered model" or "no champion alias" mean no champion. Any other failure (an
    unreachable or failing server, refused credentials) is raised: taken for "no champion", it would
    promote the next model over a champion that exists.
    """
    try:
        registered = client.get_registered_model(model_name)
    except MlflowException as exc:
        if exc.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            return None
        raise
    version = registered.aliases.get(CHAMPION)
    return None if version is None else client.get_model_version(model_name, str(version))


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
            f"(tracking store {masked_uri(settings.tracking.resolved_uri())}): train a model first: "
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


def register_version(client: MlflowClient, settings: Settings, model_uri: str, run_id: str) -> str:
    """Register the run's model as a new version, or return the version already registered for that run.

    A retried registration therefore never adds a second version of the same training. No alias moves
    here: that is :func:`promote`'s last step.
    """
    name = settings.registry.model_name
    existing = client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
    if existing:
        return str(min(int(v.version) for v in existing))
    return str(mlflow.register_model(model_uri, name, tags={"run_id": run_id}).version)


def register_and_promote(
    client: MlflowClient,
    settings: Settings,
    model_uri: str,
    run_id: str,
    evaluation: pd.DataFrame,
    challenger_probabilities: np.ndarray,
    force: bool = False,
) -> PromotionDecision:
    """:func:`register_version`, then :func:`promote` (one call for notebooks and tests)."""
    version = register_version(client, settings, model_uri, run_id)
    return promote(client, settings, version, run_id, evaluation, challenger_probabilities, force)


def promote(
    client: MlflowClient,
    settings: Settings,
    version: str,
    run_id: str,
    evaluation: pd.DataFrame,
    challenger_probabilities: np.ndarray,
    force: bool = False,
) -> PromotionDecision:
    """Make a registered version the challenger, and the champion when it beats the current one on unseen outcomes.

    ``evaluation`` holds the challenger's backtest test rows with their out-of-fold probabilities. The
    two models are compared on outcomes neither was fitted on: the test cutoffs after the champion's
    last training cutoff, the champion re-scored on them. When there are none (the champion saw all of
    them, e.g. a retrain on the same data), their backtest means over the same test cutoffs decide;
    when the folds differ too, nothing comparable exists and the champion stays. The first model is
    always promoted, and ``force`` promotes anyway.

    The decision, both scores and the cutoffs compared on become tags of the version before any alias
    moves, and the aliases move last: a failure on the way leaves them as they were, and a retry
    re-applies the recorded decision instead of comparing the version with itself.
    """
    name = settings.registry.model_name
    recorded = client.get_model_version(name, version).tags
    if "promotion_decision" in recorded:
        decision = _recorded_decision(name, version, recorded, settings.promotion.primary_metric)
    else:
        decision = _decide(client, settings, version, run_id, evaluation, challenger_probabilities, force)
        for key, value in decision.tags().items():
            client.set_model_version_tag(name, version, key, value)
    client.set_registered_model_alias(name, CHALLENGER, version)
    if decision.promoted:
        client.set_registered_model_alias(name, CHAMPION, version)
    return decision


def _decide(
    client: MlflowClient,
    settings: Settings,
    version: str,
    run_id: str,
    evaluation: pd.DataFrame,
    challenger_probabilities: np.ndarray,
    force: bool,
) -> PromotionDecision:
    name = settings.registry.model_name
    metric = settings.promotion.primary_metric
    current = champion_version(client, name)
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
    return decision


def _recorded_decision(name: str, version: str, tags: dict[str, str], metric: str) -> PromotionDecision:
    """The decision an earlier attempt wrote on the version (see :meth:`PromotionDecision.tags`)."""

    def score(key: str) -> float | None:
        return float(tags[key]) if key in tags else None

    return PromotionDecision(
        model_name=name,
        version=version,
        promoted=tags["promotion_decision"] == "promoted",
        reason=tags.get("promotion_reason", ""),
        metric=tags.get("promotion_metric", metric),
        challenger_score=score(f"challenger_{metric}"),
        champion_version=tags.get("compared_with_version"),
        champion_score=score(f"champion_{metric}"),
        compared_on=tags.get("promotion_compared_on", ""),
    )


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
