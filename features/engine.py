"""The feature source of a staged run, on the engine the settings name (DuckDB or PostgreSQL)."""

from __future__ import annotations

from churnguard.core.config import Settings
from churnguard.core.data.stage import Stage
from churnguard.features.source import FeatureSource, source_from_parquet


def source_for_stage(stage: Stage, settings: Settings) -> FeatureSource:
    """DuckDB over the staged Parquet files, or PostgreSQL over the tables the stage validated."""
    if stage.engine == "postgres":
        from churnguard.features.source_postgres import source_from_postgres

        return source_from_postgres(settings, stage.as_of, stage.model_columns)
    return source_from_parquet(stage.folder, settings.features)
