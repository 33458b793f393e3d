"""Record a training in MLflow: params, metrics, tags, datasets, plots and the model itself."""

from __future__ import annotations

import json
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from churnguard.core.config import Settings
from churnguard.features.build import LABEL
from churnguard.models import plots
from churnguard.models.package import log_churn_model
from churnguard.models.registry import TRAINING_CUTOFF_TAG
from churnguard.models.search import SEARCH_SPACE
from churnguard.models.store import configure_tracking  # noqa: F401  (re-exported for older imports)
from churnguard.models.train import TrainResult

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def git_commit() -> str:
    """The project's current commit, or ``unknown`` outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _flatten(prefix: str, value: object, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out[prefix] = json.dumps(value) if isinstance(value, list) else str(value)


def run_params(result: TrainResult, settings: Settings) -> dict[str, str]:
    """Flat params: config sections, the refit's and the folds' cutoffs, search space and choice."""
    params: dict[str, str] = {}
    config = settings.model_dump(
        mode="json", include={"features", "churn", "training", "value", "outreach", "promotion"}
    )
    _flatten("", config, params)
    backtest = result.backtest
    evaluation, _ = result.evaluation
    params.update(
        {
            "cutoffs.train_first": str(result.refit_cutoffs[0].date()),
            "cutoffs.train_last": str(result.refit_cutoffs[-1].date()),
            "cutoffs.train_count": str(len(result.refit_cutoffs)),
            "backtest.test_cutoffs": ", ".join(str(c.date()) for c in backtest.test_cutoffs),
            "backtest.train_cutoffs": json.dumps(
                {str(f.fold.test_cutoff.date()): len(f.fold.train_cutoffs) for f in backtest.folds}
            ),
            "rows.train": str(result.refit_rows),
            "rows.test": str(len(evaluation)),
            "n_features": str(len(result.parts.preprocessor.features)),
            "search_space": json.dumps(SEARCH_SPACE),
            "calibration.method": result.parts.calibrator.method,
            "best.trees": str(backtest.n_trees),
        }
    )
    params.update({f"best.{k}": str(v) for k, v in backtest.best.params.items()})
    return params


@dataclass
class TrackedRun:
    run_id: str
    model_uri: str
    experiment_id: str


RUN_KEY_TAG = "churnguard.run_key"  # one training, however often its logging is retried
MODEL_URI_TAG = "churnguard.model_uri"  # written last: the run was logged completely


def logged_run(run_key: str, experiment: str) -> TrackedRun | None:
    """The completely logged run of this training in ``experiment``, if any.

    Runs an earlier attempt left partial (no model URI tag: failed or killed while logging) are
    deleted, so a retry leaves exactly one run per training.
    """
    client = MlflowClient()
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return None
    runs = client.search_runs([found.experiment_id], filter_string=f"tags.`{RUN_KEY_TAG}` = '{run_key}'")
    complete = None
    for run in runs:
        if complete is None and run.info.status == "FINISHED" and MODEL_URI_TAG in run.data.tags:
            complete = run
        else:
            client.delete_run(run.info.run_id)
    if complete is None:
        return None
    return TrackedRun(complete.info.run_id, complete.data.tags[MODEL_URI_TAG], complete.info.experiment_id)


def log_training_run(
    result: TrainResult,
    settings: Settings,
    as_of: pd.Timestamp,
    fingerprint: str,
    training_frame: pd.DataFrame | None = None,
    run_key: str | None = None,
) -> TrackedRun:
    """Log one training as one MLflow run and the model as a pyfunc artifact.

    Args:
        result: what :func:`churnguard.models.train.train_churn_model` produced.
        settings: the settings used (logged as params).
        as_of: the training date.
        fingerprint: content hash of the input data.
        training_frame: the rows the model was refitted on, logged as the training dataset (its
            schema and profile; default: the folds' test rows stand in).
        run_key: identifies this training across retries: a run already logged completely under the
            key is returned instead of logging a second one, and a partial one (a failed attempt) is
            deleted first.
    """
    training_frame = result.evaluation[0] if training_frame is None else training_frame
    if run_key is not None:
        done = logged_run(run_key, settings.training.experiment)
        if done is not None:
            return done
    tags = {
        TRAINING_CUTOFF_TAG: str(result.refit_cutoffs[-1].date()),
        "as_of": str(as_of.date()),
        "data_fingerprint": fingerprint,
        "git_commit": git_commit(),
        "churn_definition": settings.churn.definition,
        "horizon_days": str(settings.churn.horizon_days),
        **({RUN_KEY_TAG: run_key} if run_key else {}),
    }
    with mlflow.start_run(run_name=run_name(result, settings, as_of), tags=tags) as run:
        mlflow.log_params(run_params(result, settings))
        mlflow.log_metrics({k: v for k, v in result.metrics.items() if pd.notna(v)})
        mlflow.log_metrics({f"test_auc_{_metric_key(k)}": v for k, v in result.segment_auc.items()})
        for trial_no, trial in enumerate(result.backtest.trials):
            mlflow.log_metric("search_valid_pr_auc", trial.valid_pr_auc, step=trial_no)
        mlflow.log_dict({"trials": [t.__dict__ for t in result.backtest.trials]}, "search/trials.json")
        mlflow.log_text(result.backtest.table().to_csv(index=False), "backtest/folds.csv")
        mlflow.log_dict(result.parts.calibrator.to_dict(), "model_parts/calibrator.json")
        mlflow.log_text(result.importance.to_csv(header=["mean_abs_shap"]), "explain/importance.csv")
        with warnings.catch_warnings():
            # ids and labels are integers by design; MLflow's hint about missing ints does not apply
            warnings.filterwarnings("ignore", message=".*Inferred schema contains integer.*")
            evaluation, _ = result.evaluation
            for name, frame in (("train", training_frame), ("test", evaluation)):
                # MLflow keeps the schema, a profile and a digest, never rows; without the id column
                # not even its name says whose rows they were.
                rows = frame.drop(columns="customer_id", errors="ignore")
                dataset = mlflow.data.from_pandas(rows, name=f"{name} cutoffs", targets=LABEL)
                mlflow.log_input(dataset, context="training" if name == "train" else "testing")
        _log_plots(result)
        info = log_churn_model(result.parts, evaluation)
        mlflow.set_tag(MODEL_URI_TAG, info.model_uri)  # last: a run without it is a partial attempt
        return TrackedRun(
            run_id=run.info.run_id, model_uri=info.model_uri, experiment_id=run.info.experiment_id
        )


def run_name(result: TrainResult, settings: Settings, as_of: pd.Timestamp) -> str:
    """A name that tells runs apart in MLflow's list: date, result, definition and when it ran.

    e.g. ``2026-10-31 PR AUC 0.839 inactivity 90d (11-30 05:21 UTC)``.
    """
    started = pd.Timestamp.now(tz="UTC").strftime("%m-%d %H:%M")
    return (
        f"{as_of.date()} PR AUC {result.metrics['test_pr_auc']:.3f} "
        f"{settings.churn.definition} {settings.churn.horizon_days}d ({started} UTC)"
    )


def _metric_key(label: str) -> str:
    """MLflow metric names allow letters, digits, _ - . / and space; segment labels may hold others."""
    return "".join(ch if ch.isalnum() or ch in "_-./ " else "_" for ch in label.replace("=", "_"))


def _log_plots(result: TrainResult) -> None:
    """Plots of every fold's test cutoff (out-of-fold scores) and of all folds pooled."""
    evaluation, probabilities = result.evaluation
    folds = result.backtest.folds
    raw = np.concatenate([f.raw for f in folds])
    pooled_baselines = {
        name: np.concatenate([f.baseline_scores[name] for f in folds]) for name in folds[0].baseline_scores
    }
    y = evaluation[LABEL].to_numpy(dtype=int)
    figures = _figures("plots", y, probabilities, raw, pooled_baselines)
    figures["plots/feature_importance_shap.png"] = plots.importance_figure(result.importance)
    for fold in folds:
        folder = f"plots/fold_{fold.fold.test_cutoff.date()}"
        figures.update(_figures(folder, fold.y, fold.probabilities, fold.raw, fold.baseline_scores))
    for path, figure in figures.items():
        mlflow.log_figure(figure, path)


def _figures(folder: str, y: np.ndarray, probabilities: np.ndarray, raw: np.ndarray, baselines: dict) -> dict:
    scores = {"xgboost": probabilities, **baselines}
    return {
        f"{folder}/roc.png": plots.roc_figure(y, scores),
        f"{folder}/precision_recall.png": plots.pr_figure(y, scores),
        f"{folder}/calibration.png": plots.calibration_figure(y, probabilities, raw),
        f"{folder}/gains_lift.png": plots.gains_figure(y, scores),
        f"{folder}/score_distribution.png": plots.score_distribution_figure(y, probabilities),
    }
