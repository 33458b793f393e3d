"""Flow ``retention-report``: retention KPIs, the risk list's outlook and model health in one HTML page."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from prefect import flow, task

from churnguard.core.data.intake import dataset_for_stage
from churnguard.core.data.stage import Stage
from churnguard.models.registry import champion_info
from churnguard.models.store import configure_tracking
from churnguard.pipelines.common import EXTERNAL, as_of_text, fails_on_bad_input, run_settings, staged_data
from churnguard.pipelines.orchestration import publish_markdown, run_logger, step
from churnguard.reports.build import build_report


@task(name="build-report", timeout_seconds=3600, **EXTERNAL)
def report_task(
    stage: Stage,
    out_dir: str | None,
    risk_lists_dir: str | None,
    config_file: str | None,
    outcomes_dir: str | None = None,
) -> dict:
    """Compute the KPIs, write report.html and CSVs atomically, attach them to the champion's MLflow run."""
    logger = run_logger()
    settings = run_settings(config_file)
    client = configure_tracking(settings)
    champion = champion_info(settings, client)
    result = build_report(
        dataset_for_stage(stage, settings),
        settings,
        Path(out_dir) if out_dir else settings.paths.reports,
        risk_list_dir=Path(risk_lists_dir) if risk_lists_dir else None,
        champion=champion,
        outcomes_dir=Path(outcomes_dir) if outcomes_dir else None,
    )
    logger.info(f"Report written to {result.html_path}")
    if champion and champion.get("run_id"):
        client.log_artifacts(
            champion["run_id"], str(result.folder), artifact_path=f"reports/{result.folder.name}"
        )
        logger.info(f"Report attached to MLflow run {champion['run_id']} (champion v{champion['version']})")
    return {
        "html": str(Path(result.html_path).resolve()),
        "markdown": result.markdown,
        "headline": result.headline,
    }


@flow(name="retention-report", log_prints=True)
@fails_on_bad_input
def report_flow(
    data_dir: str,
    out_dir: str | None = None,
    as_of: date | None = None,
    risk_lists_dir: str | None = None,
    config_file: str | None = None,
    outcomes_dir: str | None = None,
) -> dict:
    """Validate the data and write the retention KPI report for ``as_of``.

    ``outcomes_dir`` holds ``outcomes.parquet`` from ``churn outcomes`` (default ``paths.outcomes``).
    """
    with staged_data(data_dir, as_of_text(as_of), config_file) as stage:
        result = step(report_task, stage, out_dir, risk_lists_dir, config_file, outcomes_dir)
        publish_markdown(
            key="retention-report",
            markdown=result["markdown"],
            description="Retention KPIs (headline numbers)",
        )
        return result


if __name__ == "__main__":
    report_flow(data_dir="data/sample")
