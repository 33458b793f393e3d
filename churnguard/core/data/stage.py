"""Stage a validated dataset as canonical Parquet so later steps read it without validating again.

A flow validates its input once, stages it, and passes the stage folder (a path, not frames) to its
tasks; the feature engine then scans the Parquet files directly, which keeps memory bounded.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from churnguard.core.atomic import replace_folder
from churnguard.core.data.dataset import Dataset, to_utc_timestamp
from churnguard.core.data.validate import ValidationReport

MARKER = "stage.json"
KEEP_STAGES = 5


@dataclass(frozen=True)
class Stage:
    """A staged dataset: where it is and what it holds (small enough to pass between tasks)."""

    folder: Path
    source_dir: Path
    as_of: pd.Timestamp
    fingerprint: str
    rows: dict[str, int]
    notes: list[str]

    def describe(self) -> str:
        counts = ", ".join(f"{rows:,} {name}" for name, rows in self.rows.items())
        return f"{self.source_dir} as of {self.as_of.date()}: {counts}"


def stage_dataset(dataset: Dataset, work_root: Path) -> Stage:
    """Write the dataset's tables as Parquet under ``work_root`` (reused when already staged).

    Args:
        dataset: a validated dataset.
        work_root: folder holding stages; the oldest beyond the last few are removed.

    Returns:
        The stage.
    """
    folder = Path(work_root) / f"{dataset.fingerprint}-{dataset.as_of.strftime('%Y%m%dT%H%M%S')}"
    stage = Stage(
        folder=folder.resolve(),
        source_dir=Path(dataset.data_dir).resolve(),
        as_of=dataset.as_of,
        fingerprint=dataset.fingerprint,
        rows={name: len(frame) for name, frame in dataset.tables().items()},
        notes=[note.render() for note in dataset.report.notes],
    )
    if not (folder / MARKER).exists():

        def fill(tmp: Path) -> None:
            for name, frame in dataset.tables().items():
                frame.to_parquet(tmp / f"{name}.parquet", index=False)
            (tmp / MARKER).write_text(json.dumps(_to_json(stage), indent=2), encoding="utf-8")

        replace_folder(folder, fill)
    _prune(Path(work_root), keep=folder)
    return stage


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
    )


def load_stage(stage: Stage) -> Dataset:
    """The staged tables as a Dataset (already validated, so no second validation)."""
    tables = {name: pd.read_parquet(stage.folder / f"{name}.parquet") for name in stage.rows}
    customers = tables["customers"]
    return Dataset(
        data_dir=stage.source_dir,
        as_of=stage.as_of,
        transactions=tables["transactions"],
        customers=customers,
        events=tables.get("events"),
        subscriptions=tables.get("subscriptions"),
        id_kind="int" if pd.api.types.is_integer_dtype(customers["customer_id"].dtype) else "str",
        fingerprint=stage.fingerprint,
        report=ValidationReport(data_dir=stage.source_dir),
    )


def _to_json(stage: Stage) -> dict:
    return {
        "source_dir": str(stage.source_dir),
        "as_of": stage.as_of.isoformat(),
        "fingerprint": stage.fingerprint,
        "rows": stage.rows,
        "notes": stage.notes,
    }


def _prune(work_root: Path, keep: Path) -> None:
    stages = sorted(
        (p for p in work_root.iterdir() if (p / MARKER).exists() and p != keep),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in stages[KEEP_STAGES - 1 :]:
        shutil.rmtree(old, ignore_errors=True)
