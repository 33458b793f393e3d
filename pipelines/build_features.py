"""Flow ``build-features``: the point-in-time feature table of one cutoff, written to Parquet."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from prefect import flow, task

from churnguard.core.atomic import write_file_atomically
from churnguard.core.data.stage import Stage
from churnguard.features.build import build_features, discover_spec
from churnguard.features.engine import source_for_stage
from churnguard.pipelines.common import EXTERNAL, as_of_text, fails_on_bad_input, run_settings, staged_data
from churnguard.pipelines.orchestration import publish_markdown, run_logger, step


@task(name="write-feature-table", timeout_seconds=3600, **EXTERNAL)
def write_feature_table(stage: Stage, out_file: str, config_file: str | None) -> dict:
    """Build the features of the population at the stage's as_of and write them atomically."""
    logger = run_logger()
    settings = run_settings(config_file)
    source = source_for_stage(stage, settings)
    frame = build_features(source, stage.as_of, settings, discover_spec(source))
    target = Path(out_file)
    write_file_atomically(target, lambda tmp: frame.to_parquet(tmp, index=False))
    logger.info(f"Wrote {len(frame):,} customers x {frame.shape[1] - 3} features to {target}")
    return {"path": str(target.resolve()), "customers": len(frame), "columns": int(frame.shape[1])}


@flow(name="build-features", log_prints=True)
@fails_on_bad_input
def build_features_flow(
    data_dir: str, out_file: str, as_of: date | None = None, config_file: str | None = None
) -> dict:
    """Validate the data, then write the feature table of every active customer as of ``as_of``."""
    with staged_data(data_dir, as_of_text(as_of), config_file) as stage:
        written = step(write_feature_table, stage, out_file, config_file)
        publish_markdown(
            key="feature-table",
            markdown=f"# Feature table as of {stage.as_of.date()}\n\n{written['customers']:,} customers, "
            f"{written['columns']} columns, written to `{written['path']}`.\n",
            description="Point-in-time features of one cutoff",
        )
        return written


if __name__ == "__main__":
    build_features_flow(data_dir="data/sample", out_file="output/features.parquet")
