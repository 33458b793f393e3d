"""Flow ``measure-outcomes``: what became of past risk lists, and whether outreach saved anyone."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
from prefect import flow, task

from churnguard.core.data.stage import Stage, contacted_between, read_contacts
from churnguard.features.build import retained_customers
from churnguard.features.engine import source_for_stage
from churnguard.models.outcomes import (
    log_realised,
    measure_list,
    past_lists,
    realised_metrics,
    slices_by_list,
    write_outcomes,
)
from churnguard.models.store import configure_tracking
from churnguard.pipelines.common import EXTERNAL, as_of_text, fails_on_bad_input, run_settings, staged_data
from churnguard.pipelines.orchestration import publish_markdown, run_logger, step


@task(name="measure-lists", timeout_seconds=3600, **EXTERNAL)
def measure_task(
    stage: Stage, risk_lists_dir: str | None, out_dir: str | None, config_file: str | None
) -> dict:
    """Measure every past list on the staged data, write outcomes atomically, log closed lists to MLflow."""
    logger = run_logger()
    settings = run_settings(config_file)
    lists_dir = Path(risk_lists_dir) if risk_lists_dir else settings.paths.risk_lists
    target = Path(out_dir) if out_dir else settings.paths.outcomes
    lists = past_lists(lists_dir, stage.as_of, settings)
    if not lists:
        logger.info(f"No risk list in {lists_dir} dated before {stage.as_of.date()}: nothing to measure yet")
        return {"path": None, "lists": [], "rows": []}
    source = source_for_stage(stage, settings)
    contacts = read_contacts(stage)
    client = configure_tracking(settings)
    frames = []
    for past in lists:
        list_settings = past.churn_settings(settings)
        retained, days = retained_customers(source, pd.Timestamp(past.as_of), list_settings, stage.as_of)
        if days == 0:
            continue  # made on the data's last day: not a day of its future observed yet
        start = pd.Timestamp(past.as_of, tz="UTC")
        # Contacts made over the days observed; None without a contacts table (no 'contacted' row then).
        contacted = (
            None if contacts is None else contacted_between(contacts, start, start + pd.Timedelta(days=days))
        )
        outcome = measure_list(past.read(), retained, days, past, stage.as_of, settings, contacted)
        frames.append(outcome)
        status = outcome["status"].iloc[0]
        logger.info(f"List of {past.as_of}: {status}, {days} of {past.horizon_days} days observed")
        if status == "closed" and log_realised(client, past, realised_metrics(outcome)):
            logger.info(
                f"Realised figures of the {past.as_of} list logged to {past.model_name} v{past.model_version}"
            )
    outcomes = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    path = write_outcomes(outcomes, target) if frames else None
    if path:
        logger.info(f"Outcomes of {len(frames)} list(s) written to {path}")
    rows = outcomes[outcomes["slice_kind"].isin(["all", "group", "contacted"])] if frames else outcomes
    return {
        "path": str(path.resolve()) if path else None,
        "lists": [str(p.as_of) for p in lists],
        "rows": rows.astype({"list_as_of": str, "measured_as_of": str}).to_dict(orient="records")
        if frames
        else [],
    }


def outcomes_markdown(rows: list[dict]) -> str:
    """Per list: how right it was, and what outreach did against the control group."""
    lines = [
        "| list | status | model | ROC AUC | churn predicted / realised | outreach vs control | save rate | return |",
        "|---|---|---|---:|---|---|---|---:|",
    ]
    for day, slices in slices_by_list(rows).items():
        overall, outreach = slices["all"], slices.get("outreach", {})
        effect = save = roi = "no control group"
        if outreach.get("effect") is not None and pd.notna(outreach.get("effect")):
            effect = (
                f"{outreach['effect']:+.1%} ({outreach['effect_low']:+.1%} to {outreach['effect_high']:+.1%})"
            )
            save = f"{outreach['save_rate']:.0%}" if pd.notna(outreach["save_rate"]) else "-"
            roi = f"{outreach['roi']:+.0%}" if pd.notna(outreach["roi"]) else "-"
        lines.append(
            f"| {day} | {overall['status']} ({overall['days_observed']} d) | v{overall['model_version']} | "
            f"{overall['roc_auc']:.3f} | {overall['predicted_churn_rate']:.1%} / {overall['realised_churn_rate']:.1%} | "
            f"{effect} | {save} | {roi} |"
        )
    return "\n".join(lines) + "\n"


@flow(name="measure-outcomes", log_prints=True)
@fails_on_bad_input
def outcomes_flow(
    data_dir: str,
    risk_lists_dir: str | None = None,
    out_dir: str | None = None,
    as_of: date | None = None,
    config_file: str | None = None,
) -> dict:
    """Validate the data, then measure every risk list made before ``as_of`` (default: the data's end)."""
    with staged_data(data_dir, as_of_text(as_of), config_file) as stage:
        result = step(measure_task, stage, risk_lists_dir, out_dir, config_file)
        if result["rows"]:
            publish_markdown(
                key="list-outcomes",
                markdown=outcomes_markdown(result["rows"]),
                description="Realised churn and the effect of outreach, per past risk list",
            )
        return result


if __name__ == "__main__":
    outcomes_flow(data_dir="data/sample")
