"""A run's input validated and staged, wherever it lives: a data folder, or tables in PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from churnguard.core.config import Settings
from churnguard.core.data.dataset import Dataset, load_dataset
from churnguard.core.data.stage import Stage, load_stage, stage_dataset
from churnguard.core.errors import BadInputError


def stage_input(data_dir: Path | str | None, as_of: str | pd.Timestamp | None, settings: Settings) -> Stage:
    """Validate the run's data and stage it (``engine: postgres``: in the database, and ``data_dir`` is
    not read).

    Raises:
        DataValidationError: the data breaks the contract.
        BadInputError: no data folder given for the DuckDB engine, or the database cannot be reached.
    """
    if settings.engine == "postgres":
        from churnguard.core.data.postgres_checks import check_database, stage_database

        return stage_database(check_database(settings, as_of), settings)
    dataset = load_dataset(data_folder(data_dir), settings.data, as_of, settings.scoring.carry_columns)
    return stage_dataset(dataset, settings.paths.work)


def data_folder(data_dir: Path | str | None) -> Path:
    """The data folder of a DuckDB run; a clear error when none was given."""
    if data_dir is None:
        raise BadInputError("no data folder: pass --data DIR (or set engine: postgres to read a database)")
    return Path(data_dir)


def dataset_for_stage(stage: Stage, settings: Settings) -> Dataset:
    """The staged tables in pandas: read from the stage's files, or fetched from PostgreSQL."""
    if stage.engine == "postgres":
        from churnguard.core.data.postgres_checks import dataset_from_database

        return dataset_from_database(stage, settings)
    return load_stage(stage)
