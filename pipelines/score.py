"""Flow ``score-customers``: the champion scores every active customer into an explained risk list."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
from prefect import flow, task

from churnguard.core.config import LAPSED_TIER
from churnguard.core.data.stage import Stage, read_carry, read_contacts
from churnguard.features.build import build_features
from churnguard.features.engine import source_for_stage
from churnguard.models.compare import picked_within, previous_risk_list
from churnguard.models.drift_tracking import drift_step, log_drift, model_run_id
from churnguard.models.drift_words import drift_details, drift_line
from churnguard.models.registry import resolve_model
from churnguard.models.scoring import cooldown_customers, score_customers, write_risk_list
from churnguard.models.store import configure_tracking
from churnguard.pipelines.common import (
    EXTERNAL,
    as_of_text,
    fails_on_bad_input,
    run_settings,
    say,
    staged_data,
)
from churnguard.pipelines.orchestration import publish_markdown, run_logger, step

TOP_ROWS = 20


@task(name="score-and-write", timeout_seconds=3600, **EXTERNAL)
def score_task(
    stage: Stage, out_dir: str | None, model_uri: str | None, config_file: str | None, overrides: dict
) -> dict:
    """Build features as of the stage's date, score them with the model, write the risk list atomically."""
    logger = run_logger()
    settings = run_settings(config_file, overrides)
    client = configure_tracking(settings)
    pyfunc, model, name, version = resolve_model(settings, client, model_uri)
    logger.info(f"Scoring with {name} version {version}")
    source = source_for_stage(stage, settings)
    scorer = None
    if settings.engine == "spark":
        # The model and its reasons run in Spark's executors; the driver ranks, tiers and groups.
        from churnguard.features.source_spark import scoring_features
        from churnguard.models.spark_scoring import SparkScorer

        frame, features = scoring_features(source, stage.as_of, settings, model.parts.feature_spec)
        scorer = SparkScorer(frame)
    else:
        features = build_features(source, stage.as_of, settings, model.parts.feature_spec)
    logger.info(f"Built features for {len(features):,} active customers as of {stage.as_of.date()}")
    lists = Path(out_dir) if out_dir else settings.paths.risk_lists
    rest = settings.outreach.cooldown_days
    picked = picked_within(lists, stage.as_of, rest) if rest else None
    cooldown = cooldown_customers(read_contacts(stage), picked, stage.as_of, rest)
    scored = score_customers(
        features,
        pyfunc,
        model,
        settings,
        name,
        version,
        stage.as_of,
        stage.fingerprint,
        progress=say(logger),
        carry=read_carry(stage, settings.scoring.carry_columns),
        previous=previous_risk_list(lists, stage.as_of),
        cooldown=cooldown,
        scorer=scorer,
    )
    folder = write_risk_list(scored, lists, stage.as_of)
    logger.info(f"Risk list of {len(scored.risk_list):,} customers written to {folder}")
    # Carried CRM columns stay in the list's files, out of the task's result.
    # The top of the list a caller works from: lapsed customers (already gone) have their own tier.
    keepable = scored.risk_list[scored.risk_list["risk_tier"] != LAPSED_TIER]
    top = keepable.head(TOP_ROWS).drop(columns=settings.scoring.carry_columns)
    return {
        "folder": str(folder.resolve()),
        "summary": scored.summary,
        "top": top.astype({"as_of": str}).where(pd.notna(top), None).to_dict(orient="records"),
    }


def top_table(rows: list[dict]) -> str:
    """The riskiest customers as a Markdown table: rounded numbers, the reason and action in full."""
    lines = [
        "| rank | customer | churn probability | tier | value at risk | top reason | suggested action | group |",
        "|---:|---|---:|---|---:|---|---|---|",
    ]
    for row in rows:
        cells = [
            str(row["rank"]),
            str(row["customer_id"]),
            f"{row['churn_probability']:.0%}",
            row["risk_tier"],
            f"{row['value_at_risk']:,.0f}",
            row.get("reason_1") or "",
            row.get("suggested_action") or "",
            row["group"],
        ]
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


@task(name="log-drift", timeout_seconds=600, **EXTERNAL)
def log_drift_task(summary: dict, model_uri: str | None, config_file: str | None) -> list[str]:
    """Log the list's drift figures on the MLflow run of the model version that scored it."""
    client = configure_tracking(run_settings(config_file))
    name, version = summary["model_name"], summary["model_version"]
    run_id = model_run_id(client, name, version, model_uri)
    if run_id is None:
        run_logger().info(f"No MLflow run is known for model {name}: drift figures not logged in MLflow")
        return []
    logged = log_drift(client, run_id, summary["drift"], summary["as_of"])
    if logged:
        run_logger().info(
            f"Drift figures logged on MLflow run {run_id} (step {drift_step(summary['as_of'])})"
        )
    return logged


def report_drift(summary: dict) -> None:
    """The ``drift-report`` artifact, and a log line: a warning on alert (for automations), else info."""
    drift = summary["drift"]
    status = drift["status"]
    publish_markdown(
        key="drift-report",
        markdown=drift_markdown(
            drift, summary["as_of"], f"{summary['model_name']} v{summary['model_version']}"
        ),
        description=f"Drift {'ALERT' if status == 'alert' else status}: scoring data against the training data",
    )
    if status == "alert":
        run_logger().warning(f"Drift alert: {drift_details(drift)} (risk list as of {summary['as_of']})")
    else:
        run_logger().info(drift_line(drift))


def drift_markdown(drift: dict, as_of: str, model: str) -> str:
    """Status, score PSI and the most drifting features as Markdown."""
    status = drift["status"]
    title = f"# Drift as of {as_of}: {status.upper() if status == 'alert' else status}\n\n"
    if status == "unknown":
        return title + f"{model}: {drift['note']}.\n"
    t = drift["thresholds"]
    lines = [
        f"{model}: score PSI {drift['score_psi']:.3f}, largest feature PSI {drift['max_feature_psi']:.3f} "
        f"(population stability index against the model's training data; watch from {t['watch']:g}, "
        f"alert from {t['alert']:g}).\n",
        "| feature | meaning | PSI | missing now | missing in training | unseen levels |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in drift["top"]:
        cells = [
            row["feature"],
            row["description"],
            f"{row['psi']:.3f}",
            f"{row['missing_share']:.1%}",
            f"{row['reference_missing_share']:.1%}",
            f"{row['unseen_share']:.1%}",
        ]
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    if drift.get("note"):
        lines.append(f"\n{drift['note']}")
    return title + "\n".join(lines) + "\n"


@flow(name="score-customers", log_prints=True)
@fails_on_bad_input
def score_flow(
    data_dir: str,
    out_dir: str | None = None,
    as_of: date | None = None,
    model_uri: str | None = None,
    capacity: int | None = None,
    config_file: str | None = None,
) -> dict:
    """Validate the data and write the risk list for ``as_of`` (default: the day after the newest purchase)."""
    overrides = {"outreach": {"capacity": capacity}} if capacity is not None else {}
    with staged_data(data_dir, as_of_text(as_of), config_file) as stage:
        result = step(score_task, stage, out_dir, model_uri, config_file, overrides)
        summary = result["summary"]
        tiers = "\n".join(
            f"| {tier} | {v['customers']:,} | {v['value_at_risk']:,.0f} |"
            for tier, v in summary["tiers"].items()
        )
        publish_markdown(
            key="risk-list-summary",
            markdown=(
                f"# Risk list as of {summary['as_of']}\n\n{summary['customers']:,} customers scored by "
                f"{summary['model_name']} v{summary['model_version']}; total value at risk "
                f"{summary['total_value_at_risk']:,.0f}.\n\n| tier | customers | value at risk |\n|---|---:|---:|\n"
                f"{tiers}\n\nOutreach {summary['groups']['outreach']:,}, control {summary['groups']['control']:,}, "
                f"resting after a recent contact (cooldown) {summary['groups']['cooldown']:,}.\n\n"
                f"Files: `{result['folder']}`\n"
            ),
            description="Tier counts and value at risk",
        )
        publish_markdown(
            key="risk-list-top",
            markdown=top_table(result["top"]),
            description=f"Top {TOP_ROWS} customers by churn probability, lapsed customers apart",
        )
        report_drift(summary)
        # After the list is written and the drift shown: a store that fails here fails the run, loudly,
        # without taking the list with it.
        step(log_drift_task, summary, model_uri, config_file)
        return {"folder": result["folder"], "summary": summary}


if __name__ == "__main__":
    score_flow(data_dir="data/sample")
