"""Pieces every flow shares: settings per run, the validate-and-stage task, retry policy."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed

from churnguard.core.config import Settings, load_settings
from churnguard.core.data.intake import stage_input
from churnguard.core.data.stage import MARKER, Stage, read_stage, remove_stage
from churnguard.core.errors import BadInputError
from churnguard.core.progress import reporter
from churnguard.pipelines.orchestration import in_prefect_run, run_logger, step


def run_settings(config_file: str | None, overrides: dict[str, dict[str, Any]] | None = None) -> Settings:
    """Settings for one run: the config file (or ./churnguard.yaml), environment, then explicit overrides."""
    return load_settings(config_file, **(overrides or {}))


Fn = TypeVar("Fn", bound=Callable[..., Any])


class _QuietBadInput(logging.Filter):
    """Drops the engine's "exited with unexpected exception" traceback when the cause is bad input."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, BadInputError)


def fails_on_bad_input(fn: Fn) -> Fn:
    """Input the user must fix ends the flow Failed with its message alone: no traceback, no retry.

    Put it under ``@flow``. Prefect logs a traceback for an exception a flow raises, which buries the one
    line a data engineer needs; a returned Failed state carries the message alone, and calling the flow from
    Python (the CLI, a parent flow) still raises the original error. Tasks need no such help: with retries
    refused by :func:`retry_unless_bad_input`, Prefect fails them without a traceback. A worker's engine
    re-raises the failed state once more and logs it with a traceback: the filter drops that record, as the
    flow's "Finished in state Failed(...)" line already carries the message.
    """

    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except BadInputError as error:
            if not in_prefect_run():  # called in-process (the CLI without a server): the caller reports it
                raise
            engine_logger = logging.getLogger("prefect.flow_runs")
            if not any(isinstance(f, _QuietBadInput) for f in engine_logger.filters):
                engine_logger.addFilter(_QuietBadInput())
            return Failed(message=str(error), data=error)

    return run  # type: ignore[return-value]


def retry_unless_bad_input(task, task_run, state) -> bool:
    """Retry passing failures (a busy store, a full disk freed later), never input the user must fix."""
    try:
        error = state.result(raise_on_failure=False)
    except Exception:  # the result could not be read: treat as transient
        return True
    return not isinstance(error, BadInputError)


# Tasks touching files, DuckDB or MLflow: retried with growing delays, unless the input is bad.
EXTERNAL = {
    "retries": 2,
    "retry_delay_seconds": [5, 30],
    "retry_condition_fn": retry_unless_bad_input,
    "cache_policy": NO_CACHE,
}


def as_of_text(as_of: date | str | None) -> str | None:
    return None if as_of is None else str(as_of)


@task(name="validate-data", timeout_seconds=3600, **EXTERNAL)
def validate_data(data_dir: str, as_of: str | None, config_file: str | None) -> Stage:
    """Validate the data against the contract and stage it for the next tasks: a data directory as
    Parquet; with ``engine: postgres`` the tables in the database, checked there (``data_dir`` unused)."""
    logger = run_logger()
    folder = Path(data_dir)
    if (folder / MARKER).exists():
        stage = read_stage(folder)
        logger.info(f"Using data validated earlier in this run: {stage.describe()}")
        return stage
    settings = run_settings(config_file)
    if settings.engine == "postgres":
        logger.info(f"Validating the tables of schema {settings.postgres.schema_name} in PostgreSQL ...")
    else:
        logger.info(f"Validating {folder.resolve()} ...")
    stage = stage_input(folder, as_of, settings)
    logger.info(f"Validated {stage.describe()}")
    for note in stage.notes:
        logger.info(f"Note: {note}")
    return stage


@contextmanager
def staged_data(data_dir: str, as_of: str | None, config_file: str | None) -> Iterator[Stage]:
    """Validate and stage the data for one flow; the staged copy goes when that flow ends.

    A flow handed a stage by its parent (``churn-pipeline`` passes one to training, scoring and the
    report) uses it and leaves it to the parent. ``paths.keep_work`` keeps the newest copies.
    """
    stage = step(validate_data, data_dir, as_of, config_file)
    try:
        yield stage
    finally:
        if Path(data_dir).resolve() != stage.folder:
            remove_stage(stage, keep=run_settings(config_file).paths.keep_work)


def say(logger=None):
    """Progress callback for library code inside a task."""
    return reporter(logger or run_logger())
