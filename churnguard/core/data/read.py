"""Find and read the raw files of a data directory, applying the configured column mapping."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from churnguard.core.data.contract import TableSpec


@dataclass
class RawTable:
    """A table as read from disk, before parsing and validation.

    CSV files are read as text so that a bad value is reported as written; Parquet keeps its types.
    CSV goes through pyarrow's reader: multi-threaded, and strict, so a row with more fields than the
    header is an error instead of the C reader's silent shift of every value into the next column.
    """

    spec: TableSpec
    path: Path
    frame: pd.DataFrame

    @property
    def is_csv(self) -> bool:
        return self.path.suffix == ".csv"

    def location(self, index: int) -> str:
        """Human position of a row: CSV line number (header is line 1) or Parquet row number."""
        return f"line {index + 2}" if self.is_csv else f"row {index + 1}"


def find_table_file(data_dir: Path, name: str) -> Path | None:
    """``NAME.parquet`` when it exists, else ``NAME.csv``, else None."""
    for suffix in (".parquet", ".csv"):
        candidate = data_dir / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def read_raw_table(
    path: Path, spec: TableSpec, mapping: dict[str, str] | None = None, delimiter: str = ","
) -> RawTable:
    """Read one table file and rename the user's columns to churnguard's.

    Args:
        path: the ``.parquet`` or ``.csv`` file.
        spec: the table's contract.
        mapping: the user's column name -> churnguard's column name.
        delimiter: the CSV field separator.

    Returns:
        The raw table; unknown columns are dropped unless the table keeps attributes.
    """
    if path.suffix == ".csv":
        frame = pd.read_csv(
            path,
            sep=delimiter,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            encoding="utf-8-sig",
            engine="pyarrow",
        )
        # pandas renames a repeated header ("customer_id" twice -> "customer_id.1"), which would
        # hide it; the names as written let validation report the doubled column.
        header = _csv_header(path, delimiter)
        if len(header) == len(frame.columns):
            frame.columns = header
    else:
        frame = pd.read_parquet(path)
    frame.columns = [str(c).strip() for c in frame.columns]
    if mapping:
        frame = frame.rename(columns={src: dst for src, dst in mapping.items() if src in frame.columns})
    if not spec.keep_extra:
        frame = frame[[c for c in frame.columns if c in spec.known_columns]]
    return RawTable(spec=spec, path=path, frame=frame.reset_index(drop=True))


def _csv_header(path: Path, delimiter: str) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return next(csv.reader(handle, delimiter=delimiter), [])


def other_delimiter(path: Path, delimiter: str) -> str | None:
    """The separator a CSV file's first line seems to use instead of ``delimiter``, if any."""
    try:
        with path.open(encoding="utf-8-sig", errors="replace") as handle:
            line = handle.readline()
    except OSError:
        return None
    counts = {sep: line.count(sep) for sep in (";", "\t", "|", ",") if sep != delimiter}
    best = max(counts, key=counts.get)
    return best if counts[best] > line.count(delimiter) else None
