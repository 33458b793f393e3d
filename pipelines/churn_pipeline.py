"""Flow ``churn-pipeline``: validate, train when needed, score, measure past lists, report — the weekly run."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from prefect import flow, task

from churnguard.models.registry import champion_version
from churnguard.models.store import configure_tracking
from churnguard.pipelines.common import EXTERNAL, as_of_text, fails_on_bad_input, run_settings, staged_data
from churnguard.pipelines.orchestration import publish_markdown, run_logger, step
from churnguard.pipelines.outcomes import outcomes_flow
from churnguard.pipelines.report import report_flow
from churnguard.pipelines.score import score_flow
from churnguard.pipelines.train import train_flow


@task(name="find-champion", timeout_seconds=600, **EXTERNAL)
def find_champion(config_file: str | None) -> str | None:
    """The champion's version in the registry, or None."""
    settings = run_settings(config_file)
    version = champion_version(configure_tracking(settings), settings.registry.model_name)
    return None if version is None else str(version.version)


@flow(name="churn-pipeline", log_prints=True)
@fails_on_bad_input
def churn_pipeline(
    data_dir: str,
    output_dir: str = "output",
    as_of: date | None = None,
    retrain: bool = False,
    capacity: int | None = None,
    config_file: str | None = None,
) -> dict:
    """Validate the data, train when there is no champion (or when asked), score, measure the risk lists
    made before (``output_dir/outcomes``) and report."""
    logger = run_logger()
    with staged_data(data_dir, as_of_text(as_of), config_file) as stage:
        staged = str(stage.folder)
        champion = step(find_champion, config_file)
        training = None
        if retrain or champion is None:
            logger.info("Training: " + ("requested (retrain)" if retrain else "no champion model yet"))
            training = step(train_flow, data_dir=staged, config_file=config_file)
        else:
            logger.info(f"Using champion version {champion}; pass retrain=True to train a new model")
        risk_lists = str(Path(output_dir) / "risk_lists")
        scoring = step(
            score_flow, data_dir=staged, out_dir=risk_lists, capacity=capacity, config_file=config_file
        )
        outcomes_dir = str(Path(output_dir) / "outcomes")
        outcomes = step(
            outcomes_flow,
            data_dir=staged,
            risk_lists_dir=risk_lists,
            out_dir=outcomes_dir,
            config_file=config_file,
        )
        report = step(
            report_flow,
            data_dir=staged,
            out_dir=str(Path(output_dir) / "reports"),
            risk_lists_dir=risk_lists,
            config_file=config_file,
            outcomes_dir=outcomes_dir,
        )
        publish_markdown(
            key="churn-pipeline-outputs",
            markdown=(
                f"# Churn pipeline as of {stage.as_of.date()}\n\n"
                + (
                    f"- Training: {training['decision']}\n"
                    if training
                    else f"- Model: champion v{champion}\n"
                )
                + f"- Risk list: `{scoring['folder']}`\n"
                + (f"- Outcomes of past lists: `{outcomes['path']}`\n" if outcomes["path"] else "")
                + f"- Report: [{report['html']}](file://{report['html']})\n"
            ),
            description="Where this run's outputs are",
        )
        return {
            "as_of": str(stage.as_of.date()),
            "training": training,
            "risk_list": scoring["folder"],
            "report": report["html"],
            "outcomes": outcomes["path"],
            "outcome_rows": outcomes["rows"],
            "summary": scoring["summary"],
        }


if __name__ == "__main__":
    churn_pipeline(data_dir="data/sample")
