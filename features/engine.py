"""The feature source of a staged run, on the engine the settings name (DuckDB, PostgreSQL or Spark)."""

from __future__ import annotations

from churnguard.core.config import Settings
from churnguard.core.data.stage import Stage
from churnguard.features.source import FeatureSource, source_from_parquet


def source_for_stage(stage: Stage, settings: Settings) -> FeatureSource:
    """DuckDB over the staged Parquet files, PostgreSQL over the tables the stage validated, or Spark
    over the staged Parquet files."""
    if stage.engine == "postgres":
        from churnguard.features.source_postgres import source_from_postgres

        return source_from_postgres(settings, stage.as_of, stage.model_columns)
    if settings.engine == "spark":
        from churnguard.features.source_spark import source_from_spark

        return source_from_spark(stage.folder, settings)
    return source_from_parquet(stage.folder, settings.features)
