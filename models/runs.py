"""Recent training runs side by side, for `churn runs` and the compare-runs notebook."""

from __future__ import annotations

import mlflow
import pandas as pd

from churnguard.core.config import Settings
from churnguard.models.registry import CHALLENGER, CHAMPION, champion_version
from churnguard.models.store import configure_tracking

# Column shown -> MLflow run column: means over the backtest folds, and the gain over each baseline.
COLUMNS = {
    "folds": "metrics.backtest_folds",
    "PR AUC": "metrics.test_pr_auc",
    "±": "metrics.test_pr_auc_sd",
    "ROC AUC": "metrics.test_roc_auc",
    "lift@10": "metrics.test_lift_at_10",
    "Brier": "metrics.test_brier",
    "profit": "metrics.test_expected_profit",
    "+logit": "metrics.gain_over_logistic_pr_auc",
    "+BG/NBD": "metrics.gain_over_bgnbd_pr_auc",
}


def recent_runs(
    settings: Settings, limit: int = 10, experiment: str | None = None
) -> tuple[pd.DataFrame, str | None]:
    """The latest training runs with their backtest means, registered version and alias.

    Returns:
        One row per run (newest first) and a one-line description of the champion (or None).
    """
    client = configure_tracking(settings)
    name = experiment or settings.training.experiment
    runs = mlflow.search_runs(
        experiment_names=[name], max_results=limit, order_by=["attributes.start_time DESC"]
    )
    model = settings.registry.model_name
    # search_model_versions leaves aliases empty in MLflow 3.17; get_model_version fills them.
    versions = {
        v.run_id: client.get_model_version(model, v.version)
        for v in client.search_model_versions(f"name='{model}'")
    }
    champion = champion_version(client, model)
    if runs.empty:
        return pd.DataFrame(), _describe(champion)
    rows = []
    for _, run in runs.iterrows():
        version = versions.get(run["run_id"])
        aliases = set(version.aliases) if version else set()
        rows.append(
            {
                "run": run["run_id"][:8],
                "started": run["start_time"].strftime("%m-%d %H:%M"),
                "as_of": run.get("tags.as_of", ""),
                "h": run.get("params.churn.horizon_days", ""),
                **{label: run.get(column, float("nan")) for label, column in COLUMNS.items()},
                "version": (
                    f"v{version.version}"
                    + (f" {CHAMPION}" if CHAMPION in aliases else "")
                    + (f" {CHALLENGER}" if CHALLENGER in aliases else "")
                )
                if version
                else "",
            }
        )
    frame = pd.DataFrame(rows)
    frame["folds"] = frame["folds"].map(
        lambda n: "" if pd.isna(n) else str(int(n))
    )  # runs before backtests: none
    return frame, _describe(champion)


def _describe(version) -> str | None:
    if version is None:
        return None
    return (
        f"version {version.version} (run {version.run_id[:8]}): "
        f"{version.tags.get('promotion_reason', 'promoted')}"
    )
