"""Stage a validated dataset as canonical Parquet so later steps read it without validating again.

A flow validates its input once, stages it, and passes the stage folder (a path, not frames) to its
tasks; the feature engine then scans the Parquet files directly, which keeps memory bounded. A stage
is a copy of customer data, so each flow run stages into a folder of its own and removes it when it
ends (``paths.keep_work`` keeps the newest few, for debugging); no run ever removes another's.

Columns the risk list carries (``scoring.carry_columns``, e.g. an e-mail address) go to a file of
their own, ``carry.parquet``: feature queries read only the four tables, so a carried column that
is no model attribute never reaches features, the model or its store. The optional ``contacts``
table is staged as ``contacts.parquet`` for the steps that measure outcomes and apply cooldowns
(:func:`read_contacts`); feature queries never read it either.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from churnguard.core.atomic import replace_folder
from churnguard.core.data.dataset import Dataset, to_utc_timestamp
from churnguard.core.data.validate import ValidationReport
from churnguard.core.errors import BadInputError

MARKER = "stage.json"
CARRY_FILE = "carry.parquet"
CONTACTS = "contacts"


@dataclass(frozen=True)
class Stage:
    """A staged dataset: where it is and what it holds (small enough to pass between tasks)."""

    folder: Path
    source_dir: Path
    as_of: pd.Timestamp
    fingerprint: str
    rows: dict[str, int]
    notes: list[str]
    carry_columns: list[str] = field(default_factory=list)
    engine: str = "duckdb"  # "postgres": the tables stay in the database; the folder holds the marker
    model_columns: list[str] | None = None  # postgres: the customers columns a model may read

    def describe(self) -> str:
        counts = ", ".join(f"{rows:,} {name}" for name, rows in self.rows.items())
        return f"{self.source_dir} as of {self.as_of.date()}: {counts}"


def stage_dataset(dataset: Dataset, work_root: Path) -> Stage:
    """Write the dataset's tables as Parquet into a new folder under ``work_root``.

    Args:
        dataset: a validated dataset.
        work_root: folder holding stages.

    Returns:
        The stage; remove it with :func:`remove_stage` when the run that staged it ends.
    """
    run = uuid.uuid4().hex[:8]
    folder = Path(work_root) / f"{dataset.fingerprint}-{dataset.as_of.strftime('%Y%m%dT%H%M%S')}-{run}"
    stage = Stage(
        folder=folder.resolve(),
        source_dir=Path(dataset.data_dir).resolve(),
        as_of=dataset.as_of,
        fingerprint=dataset.fingerprint,
        rows={name: len(frame) for name, frame in _staged_tables(dataset).items()},
        notes=[note.render() for note in dataset.report.notes],
        carry_columns=[]
        if dataset.carry is None
        else [c for c in dataset.carry.columns if c != "customer_id"],
    )

    def fill(tmp: Path) -> None:
        for name, frame in _staged_tables(dataset).items():
            frame.to_parquet(tmp / f"{name}.parquet", index=False)
        if dataset.carry is not None:
            dataset.carry.to_parquet(tmp / CARRY_FILE, index=False)
        (tmp / MARKER).write_text(json.dumps(stage_json(stage), indent=2), encoding="utf-8")

    replace_folder(folder, fill)
    return stage


def remove_stage(stage: Stage, keep: int = 0) -> None:
    """Remove a stage when the run that staged it ends; with ``keep``, only stages beyond the newest ``keep``.

    Pruning for ``keep`` only touches stages older than a day, so a run never removes the stage of
    another run still going.
    """
    if keep <= 0:
        shutil.rmtree(stage.folder, ignore_errors=True)
        return
    root = stage.folder.parent
    stages = sorted(
        (p for p in root.iterdir() if (p / MARKER).exists()), key=lambda p: p.stat().st_mtime, reverse=True
    )
    day_ago = time.time() - 86_400
    for old in stages[keep:]:
        if old.stat().st_mtime < day_ago:
            shutil.rmtree(old, ignore_errors=True)


def read_stage(folder: Path) -> Stage:
    """The stage written in ``folder``."""
    values = json.loads((Path(folder) / MARKER).read_text(encoding="utf-8"))
    return Stage(
        folder=Path(folder).resolve(),
        source_dir=Path(values["source_dir"]),
        as_of=to_utc_timestamp(values["as_of"]),
        fingerprint=values["fingerprint"],
        rows=values["rows"],
        notes=values["notes"],
        carry_columns=values.get("carry_columns", []),
        engine=values.get("engine", "duckdb"),
        model_columns=values.get("model_columns"),
    )


def read_carry(stage: Stage, columns: Sequence[str]) -> pd.DataFrame | None:
    """``customer_id`` and ``columns`` of the customers table, for the risk list (``None`` when none asked).

    Raises:
        BadInputError: the data was staged without one of ``columns`` (validated with other settings).
    """
    if not columns:
        return None
    missing = [c for c in columns if c not in stage.carry_columns]
    if missing:
        raise BadInputError(
            f"scoring.carry_columns names {', '.join(map(repr, missing))}, but the data in {stage.folder} was "
            "validated without it: validate and score with the same settings"
        )
    return pd.read_parquet(stage.folder / CARRY_FILE, columns=["customer_id", *columns])


def read_contacts(stage: Stage) -> pd.DataFrame | None:
    """The staged contacts: ``customer_id``, ``ts`` (tz-aware UTC) and ``channel``/``outcome`` when the
    data has them; ``None`` when the data directory has no contacts table.

    Only rows before the stage's ``as_of`` are there: validation excluded later ones.
    """
    if CONTACTS not in stage.rows:
        return None
    return pd.read_parquet(stage.folder / f"{CONTACTS}.parquet")


def contacted_between(contacts: pd.DataFrame | None, start: pd.Timestamp, end: pd.Timestamp) -> pd.Index:
    """Customers with a contact in ``[start, end)``; none without a contacts table."""
    if contacts is None:
        return pd.Index([])
    inside = (contacts["ts"] >= start) & (contacts["ts"] < end)
    return pd.Index(contacts.loc[inside, "customer_id"].unique())


def load_stage(stage: Stage) -> Dataset:
    """The staged tables as a Dataset (already validated, so no second validation).

    A stage of the PostgreSQL engine holds no tables: read them with
    ``postgres_checks.dataset_from_database``.
    """
    if stage.engine != "duckdb":
        raise ValueError(f"a stage of the {stage.engine} engine holds no tables to load")
    return staged_dataset(
        stage, {name: pd.read_parquet(stage.folder / f"{name}.parquet") for name in stage.rows}
    )


def staged_dataset(stage: Stage, tables: dict[str, pd.DataFrame]) -> Dataset:
    """A Dataset of a stage's validated tables (canonical names and types), without validating again."""
    customers = tables.get("customers")
    if customers is None:
        customers = pd.DataFrame({"customer_id": tables["transactions"]["customer_id"].drop_duplicates()})
    return Dataset(
        data_dir=stage.source_dir,
        as_of=stage.as_of,
        transactions=tables["transactions"],
        customers=customers,
        events=tables.get("events"),
        subscriptions=tables.get("subscriptions"),
        contacts=tables.get(CONTACTS),
        id_kind="int" if pd.api.types.is_integer_dtype(customers["customer_id"].dtype) else "str",
        fingerprint=stage.fingerprint,
        report=ValidationReport(data_dir=stage.source_dir),
    )


def _staged_tables(dataset: Dataset) -> dict[str, pd.DataFrame]:
    """The model's tables and, when present, the contacts."""
    tables = dataset.tables()
    if dataset.contacts is not None:
        tables[CONTACTS] = dataset.contacts
    return tables


def stage_json(stage: Stage) -> dict:
    """The marker's content (``read_stage`` reads it back)."""
    return {
        "source_dir": str(stage.source_dir),
        "as_of": stage.as_of.isoformat(),
        "fingerprint": stage.fingerprint,
        "rows": stage.rows,
        "notes": stage.notes,
        "carry_columns": stage.carry_columns,
        "engine": stage.engine,
        "model_columns": stage.model_columns,
    }
