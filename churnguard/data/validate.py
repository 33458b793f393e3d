"""Validate a data directory with pandera and report every problem at once.

Each table is checked lazily by a pandera schema whose checks parse the raw values, so a report
shows the value as the user wrote it and where it is (CSV line or Parquet row). Problems are fatal;
notes (rows dated after ``as_of``, refunds) are counted and reported but do not stop a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from churnguard.config import DataSettings
from churnguard.data.contract import NULLABLE_COLUMNS, TABLES, TableSpec
from churnguard.data.parse import (
    IdKind,
    finalize_ids,
    id_kind_of,
    is_missing,
    parse_ids,
    parse_numbers,
    parse_timestamps,
)
from churnguard.data.read import RawTable, find_table_file, read_raw_table


@dataclass
class Problem:
    """One kind of problem in one column of one file."""

    table: str
    file: str
    column: str | None
    message: str
    count: int
    examples: list[str] = field(default_factory=list)

    def render(self) -> str:
        where = f"{self.file}" + (f", column {self.column!r}" if self.column else "")
        rows = f" ({self.count:,} row{'s' if self.count != 1 else ''})" if self.count else ""
        lines = [f"- {where}: {self.message}{rows}"]
        lines += [f"    {example}" for example in self.examples]
        return "\n".join(lines)


@dataclass
class ValidationReport:
    """Everything validation found: fatal problems, non-fatal notes, and rows read per table."""

    data_dir: Path
    problems: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)
    row_counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def render(self) -> str:
        lines = [f"Validation of {self.data_dir}"]
        for table, rows in self.row_counts.items():
            lines.append(f"  {table}: {rows:,} rows read")
        if self.problems:
            lines.append(f"{len(self.problems)} problem(s) stop the run:")
            lines += [p.render() for p in self.problems]
        if self.notes:
            lines.append("Notes (not fatal):")
            lines += [p.render() for p in self.notes]
        if self.ok:
            lines.append("OK: the data meets the contract.")
        return "\n".join(lines)


class DataValidationError(ValueError):
    """The data directory breaks the contract; ``report`` lists every problem."""

    def __init__(self, report: ValidationReport):
        super().__init__(report.render())
        self.report = report


@dataclass
class ValidatedTables:
    """Typed, validated tables (``None`` for absent optional ones) and the customer id kind."""

    tables: dict[str, pd.DataFrame | None]
    id_kind: IdKind
    files: dict[str, Path]


class _TableChecker:
    """Parses one raw table once and exposes pandera checks over the parsed values."""

    def __init__(self, raw: RawTable, settings: DataSettings, id_kind: IdKind, known_ids: pd.Series | None):
        self.raw = raw
        self.settings = settings
        self.id_kind = id_kind
        self.known_ids = known_ids
        self.parsed: dict[str, pd.Series] = {}

    def column(self, name: str) -> pd.Series:
        if name not in self.parsed:
            values = self.raw.frame[name]
            if name == "customer_id":
                self.parsed[name] = parse_ids(values, self.id_kind)
            elif name in self.raw.spec.timestamp_columns:
                self.parsed[name] = parse_timestamps(values, self.settings.timezone)
            elif name in self.raw.spec.numeric_columns:
                self.parsed[name] = parse_numbers(values)
            else:
                self.parsed[name] = values
        return self.parsed[name]

    def schema(self) -> pa.DataFrameSchema:
        spec, frame = self.raw.spec, self.raw.frame
        columns: dict[str, pa.Column] = {}
        for name in spec.known_columns:
            if name not in frame.columns:
                continue
            checks = []
            if name not in NULLABLE_COLUMNS:
                checks.append(pa.Check(lambda s: ~is_missing(s), ignore_na=False, error="empty value in a required column"))
            if name == "customer_id":
                checks.append(self._parsed_check(name, f"not a valid {self._id_word()} customer id"))
                if self.known_ids is not None:
                    checks.append(
                        pa.Check(
                            lambda s: self.column("customer_id").isin(self.known_ids)[s.index],
                            error="customer never appears in transactions or customers",
                        )
                    )
            elif name in spec.timestamp_columns:
                checks.append(self._parsed_check(name, "unparsable timestamp (expected ISO date or datetime)"))
            elif name in spec.numeric_columns:
                checks.append(self._parsed_check(name, "not a number"))
            unique = (spec.name, name) in {("transactions", "order_id"), ("customers", "customer_id")}
            columns[name] = pa.Column(checks=checks, nullable=True, unique=unique, required=False)
        frame_checks = []
        if spec.name == "subscriptions":
            frame_checks.append(
                pa.Check(
                    lambda df: ~(self.column("end_ts") < self.column("start_ts"))[df.index],
                    error="subscription ends before it starts",
                )
            )
        return pa.DataFrameSchema(columns, checks=frame_checks)

    def _parsed_check(self, name: str, message: str) -> pa.Check:
        # A value the user wrote that parses to nothing is the failure; absent values are not.
        return pa.Check(lambda s: self.column(name)[s.index].notna(), error=message)

    def _id_word(self) -> str:
        return "integer" if self.id_kind == "int" else "text"

    def problems(self) -> list[Problem]:
        try:
            self.schema().validate(self.raw.frame, lazy=True)
        except pa.errors.SchemaErrors as exc:
            return self._to_problems(exc.failure_cases)
        return []

    def _to_problems(self, cases: pd.DataFrame) -> list[Problem]:
        problems = []
        cases = cases.dropna(subset=["index"])
        is_frame_check = cases["schema_context"].eq("DataFrameSchema")
        cases = cases.assign(column=cases["column"].where(~is_frame_check, None))
        for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
            column = None if pd.isna(column) else str(column)
            rows = sorted({int(i) for i in group["index"]})
            message = f"duplicate {column}" if check == "field_uniqueness" else str(check)
            problems.append(
                Problem(
                    table=self.raw.spec.name,
                    file=self.raw.path.name,
                    column=column,
                    message=message,
                    count=len(rows),
                    examples=[self._example(i, column) for i in rows[: self.settings.example_rows]],
                )
            )
        return problems

    def _example(self, index: int, column: str | None) -> str:
        row = self.raw.frame.iloc[index]
        shown = [column] if column else [c for c in self.raw.spec.known_columns if c in row.index]
        values = ", ".join(f"{c}={_show(row[c])}" for c in shown)
        return f"{self.raw.location(index)}: {values}"

    def typed(self) -> pd.DataFrame:
        """The table in churnguard's types (call only when it has no problems)."""
        frame = self.raw.frame
        out = {}
        for name in frame.columns:
            if name == "customer_id":
                out[name] = finalize_ids(self.column(name), self.id_kind)
            elif name in self.raw.spec.known_columns:
                out[name] = self.column(name)
            else:
                out[name] = _attribute(frame[name])
        typed = pd.DataFrame(out)
        if "event_type" in typed:
            typed["event_type"] = typed["event_type"].astype("str").str.strip().str.lower()
        return typed


def _attribute(values: pd.Series) -> pd.Series:
    """Customer attributes: numbers stay numeric, everything else becomes text."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("float64")
    numbers = parse_numbers(values)
    if numbers.notna().sum() == (~is_missing(values)).sum() and numbers.notna().any():
        return numbers
    text = values.astype("string").str.strip()
    return text.mask(text.eq("")).astype("str")


def _show(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return "<empty>"
    return repr(str(value))


def _structure_problems(raw: RawTable, mapping: dict[str, str]) -> list[Problem]:
    problems = []
    reverse = {dst: src for src, dst in mapping.items()}
    for name in raw.spec.required_columns:
        if name not in raw.frame.columns:
            hint = f" (mapped from {reverse[name]!r})" if name in reverse else ""
            available = ", ".join(map(str, raw.frame.columns)) or "none"
            problems.append(
                Problem(raw.spec.name, raw.path.name, name, f"required column missing{hint}", 0,
                        [f"columns found: {available}"])
            )
    if not problems and raw.frame.empty:
        problems.append(Problem(raw.spec.name, raw.path.name, None, "table is empty (no rows)", 0))
    return problems


def validate_data_dir(data_dir: Path, settings: DataSettings) -> tuple[ValidationReport, ValidatedTables | None]:
    """Read and validate every table of a data directory.

    Args:
        data_dir: folder with ``transactions`` and optional ``customers``, ``events``, ``subscriptions``.
        settings: timezone, column mapping and report size.

    Returns:
        The report, and the typed tables when there is no fatal problem (else ``None``).
    """
    report = ValidationReport(data_dir=data_dir)
    if not data_dir.is_dir():
        report.problems.append(Problem("-", str(data_dir), None, "data directory does not exist", 0))
        return report, None

    typed: dict[str, pd.DataFrame | None] = {}
    files: dict[str, Path] = {}
    id_kind: IdKind = "int"
    known_ids: pd.Series | None = None
    for spec in TABLES:
        path = find_table_file(data_dir, spec.name)
        if path is None:
            typed[spec.name] = None
            if spec.required:
                report.problems.append(
                    Problem(spec.name, f"{spec.name}.parquet or {spec.name}.csv", None,
                            "required table missing", 0)
                )
            continue
        files[spec.name] = path
        mapping = settings.columns.get(spec.name, {})
        try:
            raw = read_raw_table(path, spec, mapping)
        except Exception as exc:  # any reader error is the user's file, reported as such
            report.problems.append(Problem(spec.name, path.name, None, f"cannot be read: {exc}", 0))
            typed[spec.name] = None
            continue
        report.row_counts[spec.name] = len(raw.frame)
        structure = _structure_problems(raw, mapping)
        if structure:
            report.problems += structure
            typed[spec.name] = None
            continue
        if spec.name == "transactions":
            id_kind = id_kind_of(raw.frame["customer_id"])
        checker = _TableChecker(raw, settings, id_kind, known_ids if spec.name in _NEEDS_KNOWN else None)
        table_problems = checker.problems()
        report.problems += table_problems
        typed[spec.name] = None if table_problems else checker.typed()
        if spec.name in ("transactions", "customers"):
            # Ids that parsed are known even when other values of the table are broken.
            ids = checker.column("customer_id").dropna()
            known_ids = ids if known_ids is None else pd.concat([known_ids, ids], ignore_index=True)
    if not report.ok:
        return report, None
    return report, ValidatedTables(tables=typed, id_kind=id_kind, files=files)


_NEEDS_KNOWN = {"events", "subscriptions"}
