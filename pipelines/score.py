"""Flow ``score-customers``: the champion scores every active customer into an explained risk list."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
from prefect import flow, task

from churnguard.core.config import LAPSED_TIER
from churnguard.core.data.stage import Stage, read_carry
from churnguard.features.build import build_features
from churnguard.features.source import source_from_parquet
from churnguard.models.compare import previous_risk_list
from churnguard.models.registry import resolve_model
from churnguard.models.scoring import score_customers, write_risk_list
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
    source = source_from_parquet(stage.folder, settings.features)
    features = build_features(source, stage.as_of, settings, model.parts.feature_spec)
    logger.info(f"Built features for {len(features):,} active customers as of {stage.as_of.date()}")
    lists = Path(out_dir) if out_dir else settings.paths.risk_lists
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
                f"{tiers}\n\nOutreach {summary['groups']['outreach']:,}, control {summary['groups']['control']:,}.\n\n"
                f"Files: `{result['folder']}`\n"
            ),
            description="Tier counts and value at risk",
        )
        publish_markdown(
            key="risk-list-top",
            markdown=top_table(result["top"]),
            description=f"Top {TOP_ROWS} customers by churn probability, lapsed customers apart",
        )
        return {"folder": result["folder"], "summary": summary}


if __name__ == "__main__":
    score_flow(data_dir="data/sample")
