"""Validate a data directory with pandera and report every problem at once.

Each table is checked lazily by a pandera schema whose checks parse the raw values, so a report
shows the value as the user wrote it and where it is (CSV line or Parquet row). Problems are fatal;
notes (rows dated after ``as_of``, refunds) are counted and reported but do not stop a run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from churnguard.core.config import CsvSettings, DataSettings
from churnguard.core.data.contract import NULLABLE_COLUMNS, TABLES, UNIQUE_COLUMNS, TableSpec
from churnguard.core.data.parse import (
    IdKind,
    day_month_formats,
    finalize_ids,
    id_kind_of,
    is_missing,
    parse_ids,
    parse_numbers,
    parse_text,
    parse_timestamps,
)
from churnguard.core.data.read import RawTable, find_table_file, other_delimiter, read_raw_table
from churnguard.core.errors import BadInputError


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
            lines.append(f"  {table}: {rows:,} row{'s' if rows != 1 else ''} read")
        if self.problems:
            lines.append(f"{len(self.problems)} problem(s) stop the run:")
            lines += [p.render() for p in self.problems]
        if self.notes:
            lines.append("Notes (not fatal):")
            lines += [p.render() for p in self.notes]
        if self.ok:
            lines.append("OK: the data meets the contract.")
        return "\n".join(lines)


class DataValidationError(BadInputError, ValueError):
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
    """Parses one raw table once and exposes pandera checks over the parsed values.

    Every check runs with ``ignore_na=False`` so pandera hands it the whole column and it can return
    a mask computed once over the full table (no per-check re-indexing on large tables). A check
    counts its failures itself and shows pandera only the first few: pandera formats every failure
    case in Python, which takes minutes when a whole 10M-row column is in the wrong format.
    """

    def __init__(self, raw: RawTable, settings: DataSettings, id_kind: IdKind):
        self.raw = raw
        self.settings = settings
        self.id_kind = id_kind
        self.known_ids: pd.Series | None = None
        self.parsed: dict[str, pd.Series] = {}
        self.failure_counts: dict[tuple[str | None, str], int] = {}

    def column(self, name: str) -> pd.Series:
        if name not in self.parsed:
            values = self.raw.frame[name]
            if name == "customer_id":
                self.parsed[name] = parse_ids(values, self.id_kind)
            elif name in _ID_LIKE:
                self.parsed[name] = parse_ids(values, id_kind_of(values))
            elif name in self.raw.spec.timestamp_columns:
                self.parsed[name] = parse_timestamps(values, self.settings.timezone, self._date_format())
            elif name in self.raw.spec.numeric_columns:
                self.parsed[name] = parse_numbers(
                    values, self.settings.csv.decimal if self.raw.is_csv else "."
                )
            elif name in self.raw.spec.known_columns:
                self.parsed[name] = parse_text(values)
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
                checks.append(
                    self._check(name, partial(is_missing, frame[name]), "empty value in a required column")
                )
            if name == "customer_id":
                checks.append(self._parsed_check(name, f"not a valid {self._id_word()} customer id"))
                if self.known_ids is not None:
                    checks.append(
                        self._check(
                            name, self._unknown_ids, "customer never appears in transactions or customers"
                        )
                    )
            elif name in spec.timestamp_columns:
                checks.append(self._parsed_check(name, _timestamp_message(self._date_format())))
            elif name in spec.numeric_columns:
                checks.append(self._parsed_check(name, "not a number"))
            elif name in _ID_LIKE:
                checks.append(self._parsed_check(name, f"not a valid {name.replace('_', ' ')}"))
            if (spec.name, name) in UNIQUE_COLUMNS:
                checks.append(self._check(name, partial(self._duplicated, name), f"duplicate {name}"))
            columns[name] = pa.Column(checks=checks, nullable=True, required=False)
        frame_checks = []
        if spec.name == "subscriptions":
            frame_checks.append(
                self._check(None, self._ends_before_start, "subscription ends before it starts")
            )
        return pa.DataFrameSchema(columns, checks=frame_checks)

    def _check(self, column: str | None, failing: Callable[[], pd.Series], message: str) -> pa.Check:
        """A pandera check failing the first example rows where ``failing()`` is True; all are counted."""

        def check(obj: pd.Series | pd.DataFrame) -> pd.Series:
            bad = failing()
            if not obj.index.equals(bad.index):
                bad = bad.reindex(obj.index, fill_value=False)
            rows = np.flatnonzero(bad.to_numpy(dtype=bool))
            self.failure_counts[(column, message)] = len(rows)
            ok = np.ones(len(bad), dtype=bool)
            ok[rows[: self.settings.example_rows]] = False
            return pd.Series(ok, index=obj.index)

        return pa.Check(check, ignore_na=False, error=message)

    def _parsed_check(self, name: str, message: str) -> pa.Check:
        # A value the user wrote that parses to nothing is the failure; absent values are not.
        return self._check(
            name, lambda: self.column(name).isna() & ~is_missing(self.raw.frame[name]), message
        )

    def _unknown_ids(self) -> pd.Series:
        ids = self.column("customer_id")
        return ids.notna() & ~ids.isin(self.known_ids)

    def _duplicated(self, name: str) -> pd.Series:
        values = self.column(name)
        if values.dtype == "Int64":
            return values.notna() & values.duplicated(keep=False)
        # Text: factorize + bincount is 2-3x faster than duplicated(keep=False) on Arrow strings;
        # missing values (code -1) count in slot 0 and are never duplicates.
        codes, uniques = pd.factorize(values)
        counts = np.bincount(codes + 1, minlength=len(uniques) + 1)
        return pd.Series((codes >= 0) & (counts[codes + 1] > 1), index=values.index)

    def _ends_before_start(self) -> pd.Series:
        return (self.column("end_ts") < self.column("start_ts")).fillna(False).astype(bool)

    def _id_word(self) -> str:
        return "integer" if self.id_kind == "int" else "text"

    def _date_format(self) -> str | None:
        return self.settings.csv.date_format if self.raw.is_csv else None

    def problems(self) -> list[Problem]:
        try:
            # Nothing is coerced, so pandera needs no deep copy of a large frame; a shallow one (copy on
            # write) keeps pandera's schema registry off the raw frame, which outlives this call.
            self.schema().validate(self.raw.frame.copy(deep=False), lazy=True, inplace=True)
        except pa.errors.SchemaErrors as exc:
            return [self._with_date_hint(p) for p in self._to_problems(exc.failure_cases)]
        return []

    def _with_date_hint(self, problem: Problem) -> Problem:
        """Name data.csv.date_format when ISO parsing refused CSV dates such as 31.10.2026."""
        if not self.raw.is_csv or problem.column is None or problem.message != _timestamp_message(None):
            return problem
        values = self.raw.frame[problem.column]
        refused = values[self.column(problem.column).isna() & ~is_missing(values)]
        problem.message += _date_format_hint(day_month_formats(refused))
        return problem

    def _to_problems(self, cases: pd.DataFrame) -> list[Problem]:
        problems = []
        is_frame_check = cases["schema_context"].eq("DataFrameSchema")
        cases = cases.assign(column=cases["column"].where(~is_frame_check, None))
        unplaced = cases["index"].isna()
        for case in cases[unplaced].itertuples():
            # Not tied to a row (e.g. a check that raised): never drop it, or a broken table would pass.
            column = None if pd.isna(case.column) else str(case.column)
            message = f"{case.check}: {case.failure_case}"
            problems.append(Problem(self.raw.spec.name, self.raw.path.name, column, message, 0))
        for (column, check), group in cases[~unplaced].groupby(["column", "check"], dropna=False, sort=False):
            column = None if pd.isna(column) else str(column)
            rows = np.unique(group["index"].to_numpy(dtype="int64"))
            problems.append(
                Problem(
                    table=self.raw.spec.name,
                    file=self.raw.path.name,
                    column=column,
                    message=str(check),
                    count=self.failure_counts.get((column, str(check)), len(rows)),
                    examples=[self._example(int(i), column) for i in rows[: self.settings.example_rows]],
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
            elif name in _ID_LIKE:
                ids = self.column(name)
                out[name] = ids if ids.dtype == "Int64" else ids.astype("str")  # nullable: Int64 stays
            elif name in self.raw.spec.known_columns:
                out[name] = self.column(name)
            else:
                out[name] = _attribute(frame[name], self.settings.csv.decimal if self.raw.is_csv else ".")
        typed = pd.DataFrame(out)
        # Free-text categories are compared lowercased downstream ("Phone" and "phone" are one channel).
        for name in _LOWERCASE:
            if name in typed and name in self.raw.spec.known_columns:
                typed[name] = typed[name].str.lower()
        return typed


# Identifiers other than customer_id, typed like customer ids (integers or text) but column by column,
# so CSV "1001" and Parquet 1001 are the same order.
_ID_LIKE = {"order_id"}
_LOWERCASE = ("event_type", "channel", "outcome")


def _attribute(values: pd.Series, decimal: str = ".") -> pd.Series:
    """Customer attributes: numbers stay numeric, everything else becomes text.

    Codes with leading zeros ("007", postcode "01234") are text, like customer ids.
    """
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("float64")
    text = parse_text(values)
    numbers = parse_numbers(text, decimal)
    all_numbers = numbers.notna().any() and numbers.notna().sum() == text.notna().sum()
    leading_zero = text.str.match(r"^[+-]?0[0-9]").fillna(False).any()
    return numbers if all_numbers and not leading_zero else text


def _timestamp_message(date_format: str | None) -> str:
    if date_format is None:
        return "unparsable timestamp (expected ISO date or datetime)"
    example = pd.Timestamp("2026-10-31 14:30", tz="UTC").strftime(date_format)
    return f"unparsable timestamp (expected data.csv.date_format {date_format!r}, e.g. {example!r})"


def _date_format_hint(formats: list[str]) -> str:
    """``; ... set data.csv.date_format: '%d.%m.%Y'`` for dates written day/month, else empty.

    Dates that read either way (03/04/2026: 3 April or March 4) are never guessed: the user picks.
    """
    if not formats:
        return ""
    if len(formats) == 1:
        return f"; the dates look like {formats[0]!r}: in churnguard.yaml set data.csv.date_format: {formats[0]!r}"
    day_first, month_first = formats
    return (
        "; these dates read as day/month or as month/day: in churnguard.yaml set data.csv.date_format: "
        f"{day_first!r} (day first) or {month_first!r} (month first)"
    )


def _show(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return "<empty>"
    return repr(str(value))


def _structure_problems(raw: RawTable, mapping: dict[str, str]) -> list[Problem]:
    problems = []
    reverse = {dst: src for src, dst in mapping.items()}
    doubled = sorted(set(raw.frame.columns[raw.frame.columns.duplicated()]))
    for name in doubled:
        hint = f" (also mapped from {reverse[name]!r})" if name in reverse else ""
        problems.append(
            Problem(raw.spec.name, raw.path.name, name, f"column appears more than once{hint}", 0)
        )
    for name in raw.spec.required_columns:
        if name not in raw.frame.columns:
            hint = f" (mapped from {reverse[name]!r})" if name in reverse else ""
            available = ", ".join(map(str, raw.frame.columns)) or "none"
            problems.append(
                Problem(
                    raw.spec.name,
                    raw.path.name,
                    name,
                    f"required column missing{hint}",
                    0,
                    [f"columns found: {available}"],
                )
            )
    if not problems and raw.frame.empty:
        problems.append(Problem(raw.spec.name, raw.path.name, None, "table is empty (no rows)", 0))
    return problems


def _read(path: Path, spec: TableSpec, mapping: dict[str, str], csv: CsvSettings) -> RawTable | Problem:
    try:
        raw = read_raw_table(path, spec, mapping, csv.delimiter)
    except pd.errors.EmptyDataError:
        return Problem(spec.name, path.name, None, "table is empty (the file has no header and no rows)", 0)
    except Exception as exc:  # any reader error is the user's file, reported as such
        return Problem(spec.name, path.name, None, f"cannot be read: {exc}{_delimiter_hint(path, csv)}", 0)
    if raw.is_csv and len(raw.frame.columns) <= 1 and _delimiter_hint(path, csv):
        return Problem(
            spec.name, path.name, None, f"the header reads as one column{_delimiter_hint(path, csv)}", 0
        )
    return raw


def _delimiter_hint(path: Path, csv: CsvSettings) -> str:
    """``: the file looks ';'-separated ...`` when the first line says so, else empty."""
    found = other_delimiter(path, csv.delimiter) if path.suffix == ".csv" else None
    if found is None:
        return ""
    decimal = " (and data.csv.decimal: ',' when numbers are written like 12,50)" if found == ";" else ""
    return (
        f"; the file looks {found!r}-separated, not {csv.delimiter!r}: in churnguard.yaml set "
        f"data.csv.delimiter: {found!r}{decimal}"
    )


def _has_ids(raw: RawTable | None) -> bool:
    return raw is not None and "customer_id" in raw.frame.columns and not raw.frame.columns.duplicated().any()


def validate_data_dir(
    data_dir: Path, settings: DataSettings
) -> tuple[ValidationReport, ValidatedTables | None]:
    """Read and validate every table of a data directory.

    Args:
        data_dir: folder with ``transactions`` and optional ``customers``, ``events``, ``subscriptions``,
            ``contacts``.
        settings: timezone, column mapping and report size.

    Returns:
        The report, and the typed tables when there is no fatal problem (else ``None``).
    """
    data_dir = Path(data_dir)
    report = ValidationReport(data_dir=data_dir)
    if not data_dir.is_dir():
        report.problems.append(Problem("-", str(data_dir), None, "data directory does not exist", 0))
        return report, None

    files: dict[str, Path] = {}
    raws: dict[str, RawTable | None] = {}
    problems: dict[str, list[Problem]] = {spec.name: [] for spec in TABLES}
    checkers: dict[str, _TableChecker] = {}
    for spec in TABLES:
        path = find_table_file(data_dir, spec.name)
        if path is None:
            if spec.required:
                where = f"{spec.name}.parquet or {spec.name}.csv"
                problems[spec.name].append(Problem(spec.name, where, None, "required table missing", 0))
            continue
        files[spec.name] = path
        mapping = settings.columns.get(spec.name, {})
        read = _read(path, spec, mapping, settings.csv)
        raws[spec.name] = read if isinstance(read, RawTable) else None
        if isinstance(read, Problem):
            problems[spec.name].append(read)
            continue
        report.row_counts[spec.name] = len(read.frame)
        problems[spec.name] += _structure_problems(read, mapping)

    # Customer ids take their kind from transactions (customers when transactions is unusable); the
    # known ids are checked only when every table that defines customers could be read.
    id_sources = [raws.get(name) for name in ("transactions", "customers") if _has_ids(raws.get(name))]
    id_kind: IdKind = id_kind_of(id_sources[0].frame["customer_id"]) if id_sources else "int"
    for name, raw in raws.items():
        if raw is not None and not problems[name]:
            checkers[name] = _TableChecker(raw, settings, id_kind)
    known_ids = _known_ids(raws, checkers, id_kind, files)
    for name, checker in checkers.items():
        if name in _NEEDS_KNOWN:
            checker.known_ids = known_ids
        problems[name] += checker.problems()

    typed: dict[str, pd.DataFrame | None] = {spec.name: None for spec in TABLES}
    for spec in TABLES:
        report.problems += problems[spec.name]
    if not report.ok:
        return report, None
    for name, checker in checkers.items():
        typed[name] = checker.typed()
    return report, ValidatedTables(tables=typed, id_kind=id_kind, files=files)


def _known_ids(
    raws: dict[str, RawTable | None],
    checkers: dict[str, _TableChecker],
    id_kind: IdKind,
    files: dict[str, Path],
) -> pd.Series | None:
    """Every parsed customer id of transactions and customers, or None when one of them is unreadable."""
    sources = [name for name in ("transactions", "customers") if name in files]
    if "transactions" not in files or not all(_has_ids(raws.get(name)) for name in sources):
        return None
    ids = []
    for name in sources:
        checker = checkers.get(name)
        raw = raws[name]
        assert raw is not None
        ids.append(checker.column("customer_id") if checker else parse_ids(raw.frame["customer_id"], id_kind))
    return pd.concat(ids, ignore_index=True).dropna().drop_duplicates()


_NEEDS_KNOWN = {"events", "subscriptions", "contacts"}
