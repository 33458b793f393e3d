"""Flow ``train-churn-model``: training set over many cutoffs, XGBoost + baselines, MLflow run, registry."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import date
from typing import Any

import pandas as pd
from prefect import flow, task
from prefect.runtime import flow_run

from churnguard.core.atomic import write_file_atomically
from churnguard.core.config import Settings, masked_uri
from churnguard.core.data.stage import Stage
from churnguard.core.errors import InsufficientDataError
from churnguard.features.build import FeatureSpec, build_training_set, discover_spec, training_plan
from churnguard.features.engine import source_for_stage
from churnguard.features.version import feature_code_version
from churnguard.models.registry import promote as promote_version
from churnguard.models.registry import register_version
from churnguard.models.tracking import TrackedRun, configure_tracking, log_training_run
from churnguard.models.train import TrainResult, train_churn_model
from churnguard.pipelines.common import (
    EXTERNAL,
    as_of_text,
    fails_on_bad_input,
    run_settings,
    say,
    staged_data,
)
from churnguard.pipelines.orchestration import publish_markdown, publish_table, run_logger, step
from churnguard.reports.health import describe_metric

HEADLINE_METRICS = ("pr_auc", "roc_auc", "lift_at_10", "capture_at_10", "expected_profit")


def training_overrides(
    horizon_days: int | None, experiment: str | None, n_trials: int | None
) -> dict[str, dict[str, Any]]:
    """Settings sections changed by command-line options."""
    overrides: dict[str, dict[str, Any]] = {}
    if horizon_days is not None:
        overrides["churn"] = {"horizon_days": horizon_days}
    if experiment is not None or n_trials is not None:
        overrides["training"] = {
            k: v for k, v in (("experiment", experiment), ("n_trials", n_trials)) if v is not None
        }
    return overrides


def training_set_key(settings: Settings, fingerprint: str) -> str:
    """Names a cached training set: the same data, settings and feature code, or it is built anew."""
    relevant = settings.model_dump(mode="json", include={"features", "churn", "value"})
    relevant["backtest_folds"] = settings.training.backtest_folds  # decides the cutoffs too
    relevant["data"] = fingerprint
    relevant["feature_code"] = feature_code_version()  # edited feature code never reuses an old set
    if settings.engine == "spark":
        relevant["layout"] = "folder partitioned by cutoff"  # Spark's writer: not the one-file layout
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:12]


@task(name="build-training-set", timeout_seconds=3600, **EXTERNAL)
def training_set_task(stage: Stage, config_file: str | None, overrides: dict) -> dict:
    """Features and labels for every labelled cutoff before as_of, written next to the staged data."""
    logger = run_logger()
    settings = run_settings(config_file, overrides)
    target = stage.folder / f"training_{training_set_key(settings, stage.fingerprint)}.parquet"
    source = source_for_stage(stage, settings)
    spec = discover_spec(source)
    plan = training_plan(source, stage.as_of, settings)
    if plan.shortfall:
        raise InsufficientDataError(plan.shortfall)
    for note in plan.notes:
        logger.warning(note)
    if settings.engine == "spark":
        # A folder per cutoff, written by Spark's executors: the rows never pass through this process.
        from churnguard.features.source_spark import training_set_outline, write_training_set

        if not target.exists():
            write_training_set(source, plan.cutoffs, settings, spec, target)
        frame = training_set_outline(source.session, target)
    else:
        if not target.exists():
            write_file_atomically(
                target, lambda tmp: build_training_set(source, stage.as_of, settings, spec, out_path=tmp)
            )
        labels = pd.read_parquet(target, columns=["cutoff", "churned"])
        frame = labels.value_counts(["cutoff", "churned"]).rename("rows").reset_index()
    rows = int(frame["rows"].sum())
    churned = int((frame["churned"] * frame["rows"]).sum())
    logger.info(
        f"Training set: {rows:,} customer-cutoff rows over {frame['cutoff'].nunique()} cutoffs "
        f"({frame['cutoff'].min().date()} .. {frame['cutoff'].max().date()}), churn rate {churned / max(rows, 1):.1%}"
    )
    return {"path": str(target), "spec": spec.to_dict()}


@task(name="train-model", timeout_seconds=7200, **EXTERNAL)
def train_task(training: dict, config_file: str | None, overrides: dict) -> TrainResult:
    """Backtest, choose and refit the model (no MLflow: a retry here never touches the store)."""
    logger = run_logger()
    settings = run_settings(config_file, overrides)
    spec = FeatureSpec.from_dict(training["spec"])
    if settings.engine == "spark":
        from churnguard.core.spark import spark_session
        from churnguard.features.source_spark import read_training_set
        from churnguard.models.spark_train import train_churn_model_spark

        rows = read_training_set(spark_session(settings.spark), training["path"])
        return train_churn_model_spark(rows, settings, spec, progress=say(logger))
    frame = pd.read_parquet(training["path"])
    return train_churn_model(frame, settings, spec, progress=say(logger))


@task(name="log-run", timeout_seconds=1800, **EXTERNAL)
def log_task(
    result: TrainResult, stage: Stage, training: dict, config_file: str | None, overrides: dict, run_key: str
) -> TrackedRun:
    """Log the training as one MLflow run; a retry finds the run by its key instead of logging another."""
    logger = run_logger()
    settings = run_settings(config_file, overrides)
    logger.info(f"Logging the run to MLflow at {masked_uri(settings.tracking.resolved_uri())} ...")
    configure_tracking(settings)
    # On Spark the training rows stay there: the folds' test rows describe the training data instead.
    frame = None if settings.engine == "spark" else pd.read_parquet(training["path"])
    return log_training_run(result, settings, stage.as_of, stage.fingerprint, frame, run_key=run_key)


@task(name="register-model", timeout_seconds=600, **EXTERNAL)
def register_task(run: TrackedRun, config_file: str | None, overrides: dict) -> str:
    """Register the run's model; a retry returns the version already registered for the run."""
    settings = run_settings(config_file, overrides)
    return register_version(configure_tracking(settings), settings, run.model_uri, run.run_id)


@task(name="promote-model", timeout_seconds=1800, **EXTERNAL)
def promote_task(
    version: str,
    run: TrackedRun,
    result: TrainResult,
    config_file: str | None,
    overrides: dict,
    promote: bool,
) -> dict:
    """Compare with the champion on unseen outcomes and move the aliases last."""
    logger = run_logger()
    settings = run_settings(config_file, overrides)
    client = configure_tracking(settings)
    decision = promote_version(client, settings, version, run.run_id, *result.evaluation, force=promote)
    logger.info(f"MLflow run {run.run_id}: {decision.summary()}")
    return {
        "run_id": run.run_id,
        "experiment": settings.training.experiment,
        "tracking_uri": masked_uri(settings.tracking.resolved_uri()),
        "model_name": decision.model_name,
        "version": decision.version,
        "promoted": decision.promoted,
        "decision": decision.summary(),
        "metrics": {k: v for k, v in result.metrics.items()},
    }


def metrics_table(metrics: dict[str, float], settings: Settings) -> list[dict[str, Any]]:
    """XGBoost vs the baselines, mean over the backtest folds (± sd for XGBoost), in the report's words."""
    baselines = {"logistic": "logistic regression", "recency": "recency alone", "bgnbd": "BG/NBD"}
    present = {k: v for k, v in baselines.items() if f"{k}_test_pr_auc" in metrics}
    tested = {k.removeprefix("test_"): v for k, v in metrics.items() if k.startswith("test_")}
    rows = []
    for key in (*HEADLINE_METRICS, "log_loss", "brier", "ece"):
        label, xgboost = describe_metric(key, tested.get(key), tested, settings)
        spread = tested.get(f"{key}_sd")
        if spread is not None and spread == spread:  # not NaN: more than one fold
            xgboost += f" ± {describe_metric(key, spread, tested, settings)[1]}"
        row = {"measure": label, "XGBoost": xgboost}
        for name, title in present.items():
            row[title] = (
                describe_metric(key, metrics.get(f"{name}_test_{key}"), tested, settings)[1]
                if key in HEADLINE_METRICS
                else ""
            )
        rows.append(row)
    return rows


@flow(name="train-churn-model", log_prints=True)
@fails_on_bad_input
def train_flow(
    data_dir: str,
    as_of: date | None = None,
    horizon_days: int | None = None,
    experiment: str | None = None,
    n_trials: int | None = None,
    promote: bool = False,
    config_file: str | None = None,
) -> dict:
    """Validate the data, train a churn model on temporal splits, track it in MLflow, promote if better."""
    overrides = training_overrides(horizon_days, experiment, n_trials)
    with staged_data(data_dir, as_of_text(as_of), config_file) as stage:
        training = step(training_set_task, stage, config_file, overrides)
        result = step(train_task, training, config_file, overrides)
        run = step(
            log_task,
            result,
            stage,
            training,
            config_file,
            overrides,
            run_key=str(flow_run.id or uuid.uuid4()),
        )
        version = step(register_task, run, config_file, overrides)
        summary = step(promote_task, version, run, result, config_file, overrides, promote)
        publish_table(
            key="training-metrics",
            table=metrics_table(summary["metrics"], run_settings(config_file, overrides)),
            description=f"Mean of {int(summary['metrics']['backtest_folds'])} backtest folds. {summary['decision']} "
            f"(MLflow run {summary['run_id']})",
        )
        publish_markdown(
            key="training-decision",
            markdown=f"# {summary['decision']}\n\nMLflow run `{summary['run_id']}` in experiment "
            f"`{summary['experiment']}` at `{summary['tracking_uri']}`.\n",
        )
        return summary


if __name__ == "__main__":
    train_flow(data_dir="data/sample")
