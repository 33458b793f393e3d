"""The data contract checked where the data lives: tables in PostgreSQL, validated by queries.

A folder is read whole and checked row by row; a database may hold billions of rows, so every check
here is an aggregate the server computes (counts, and a few example rows per problem), and no table
leaves the database. The one exception is the customer attribute screening (which columns a model may
see), made on a random sample of ``postgres.sample_rows`` customers and said so in a note. Problems
name the table (``schema.table``), the column, how many rows, and example rows, as they do for files.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import ibis
import pandas as pd
from ibis.backends import BaseBackend
from ibis.expr.types import BooleanColumn, Table

from churnguard.core.atomic import replace_folder
from churnguard.core.config import Settings, masked_uri
from churnguard.core.data.attributes import screen_attributes
from churnguard.core.data.contract import NULLABLE_COLUMNS, TABLES_BY_NAME, UNIQUE_COLUMNS
from churnguard.core.data.dataset import Dataset, to_utc_timestamp
from churnguard.core.data.postgres import PostgresError, connect_error, resolve_url
from churnguard.core.data.stage import CARRY_FILE, CONTACTS, MARKER, Stage, stage_json, staged_dataset
from churnguard.core.data.validate import DataValidationError, Problem, ValidationReport

REFERENCING = ("events", "subscriptions", "contacts")  # tables whose customers must be known


def connect_ibis(url: str) -> BaseBackend:
    """An Ibis PostgreSQL backend whose session runs in UTC; errors name the masked URL, never the password."""
    try:
        backend = ibis.connect(url)
    except Exception as exc:  # psycopg's OperationalError and the like
        raise connect_error(exc, url) from None
    backend.raw_sql("SET TIME ZONE 'UTC'").close()
    # The feature queries are wide joins whose row estimates run high: PostgreSQL's JIT then spends
    # seconds compiling each one (2.7 s of a 3.8 s query on 20k customers), more than it saves.
    backend.raw_sql("SET jit = off").close()
    return backend


def database_tables(backend: BaseBackend, settings: Settings) -> dict[str, Table]:
    """The contract's tables found in ``postgres.schema_name``, named as churnguard names them.

    ``postgres.tables`` maps a contract table to the database's table name; ``data.columns`` maps the
    database's column names to churnguard's, as it does for files.
    """
    schema = settings.postgres.schema_name
    present = set(backend.list_tables(database=schema))
    tables = {}
    for name in TABLES_BY_NAME:
        stored = settings.postgres.tables.get(name, name)
        if stored not in present:
            continue
        table = backend.table(stored, database=schema)
        mapping = settings.data.columns.get(name, {})
        renames = {ours: user for user, ours in mapping.items() if user in table.columns}
        tables[name] = table.rename(renames) if renames else table
    return tables


def known_at(tables: Mapping[str, Table], as_of: pd.Timestamp) -> dict[str, Table]:
    """Each table as known before ``as_of``, its times naive UTC (the session runs in UTC).

    The same cut a folder gets from validation: transactions, events and contacts before ``as_of``,
    customers who signed up before it (or never said when), subscriptions started before it with an
    end at or after it not known yet (still running).
    """
    moment = ibis.literal(as_of.tz_convert("UTC").tz_localize(None), type="timestamp")
    known = {}
    for name, table in tables.items():
        naive = {
            c: table[c].cast("timestamp")
            for c in TABLES_BY_NAME[name].timestamp_columns
            if c in table.columns and table.schema()[c].is_timestamp()
        }
        table = table.mutate(**naive) if naive else table
        if name in ("transactions", "events", "contacts"):
            table = table.filter(table.ts < moment)
        elif name == "subscriptions":
            table = table.filter(table.start_ts < moment)
            table = table.mutate(
                end_ts=ibis.ifelse(table.end_ts < moment, table.end_ts, ibis.null("timestamp"))
            )
        elif name == "customers" and "signup_ts" in table.columns:
            table = table.filter(table.signup_ts.isnull() | (table.signup_ts < moment))
        known[name] = table
    return known


@dataclass(frozen=True)
class DatabaseCheck:
    """What :func:`check_database` found: the report, rows kept per table, and what staging needs."""

    report: ValidationReport
    as_of: pd.Timestamp
    rows: dict[str, int]
    fingerprint: str
    model_columns: list[str]  # customers columns a model may read
    where: str  # schema and server, without credentials


def check_database(
    settings: Settings, as_of: str | pd.Timestamp | None, url: str | None = None
) -> DatabaseCheck:
    """Validate the contract's tables in PostgreSQL as known before ``as_of`` (default: the day after the
    newest transaction).

    Raises:
        DataValidationError: a table breaks the contract (the report lists every problem).
        PostgresError: the database cannot be reached.
    """
    url = resolve_url(url or settings.postgres.url)
    backend = connect_ibis(url)
    try:
        return _check(backend, settings, as_of, url)
    finally:
        backend.disconnect()


def _check(backend: BaseBackend, settings: Settings, as_of, url: str) -> DatabaseCheck:
    schema = settings.postgres.schema_name
    parts = urlsplit(masked_uri(url))
    where = f"schema {schema} of PostgreSQL at {parts.hostname}:{parts.port or 5432}{parts.path}"
    report = ValidationReport(data_dir=Path(where))
    tables = database_tables(backend, settings)
    label = {name: f"{schema}.{settings.postgres.tables.get(name, name)}" for name in tables}
    if "transactions" not in tables:
        report.problems.append(
            Problem(
                "transactions",
                f"{schema}.{settings.postgres.tables.get('transactions', 'transactions')}",
                None,
                f"required table missing in {where}",
                0,
            )
        )
        raise DataValidationError(report)
    for name, table in tables.items():
        report.problems += _structure(name, table, label[name], settings)
    if report.problems:
        raise DataValidationError(report)

    if as_of is None:
        newest = backend.execute(tables["transactions"].ts.max())
        if newest is None or pd.isna(newest):
            report.problems.append(
                Problem("transactions", label["transactions"], None, "table is empty (no rows)", 0)
            )
            raise DataValidationError(report)
        stamp = to_utc_timestamp(newest).floor("D") + pd.Timedelta(days=1)
    else:
        stamp = to_utc_timestamp(as_of)

    examples = settings.data.example_rows
    known = known_at(tables, stamp)
    ids = known["transactions"].select("customer_id")
    if "customers" in tables:
        ids = ids.union(tables["customers"].select("customer_id"), distinct=True)
    for name, table in tables.items():
        report.problems += _content(name, table, label[name], ids, examples)
    if report.problems:
        raise DataValidationError(report)

    rows = {name: int(backend.execute(table.count())) for name, table in known.items()}
    if not rows["transactions"]:
        report.problems.append(
            Problem(
                "transactions", label["transactions"], "ts", f"no transaction before as_of {stamp.date()}", 0
            )
        )
        raise DataValidationError(report)
    for name, table in tables.items():
        report.notes += _future_notes(name, table, label[name], stamp)
    tx = known["transactions"]
    refunds = int(backend.execute(tx.count(where=tx.amount < 0)))
    if refunds:
        report.notes.append(
            Problem(
                "transactions",
                label["transactions"],
                "amount",
                "negative amounts counted as refunds",
                refunds,
            )
        )
    model_columns = _screen_customers(
        backend, known.get("customers"), settings, report, label.get("customers")
    )
    return DatabaseCheck(
        report=report,
        as_of=stamp,
        rows=rows,
        fingerprint=_fingerprint(backend, known, settings),
        model_columns=model_columns,
        where=where,
    )


def _structure(name: str, table: Table, label: str, settings: Settings) -> list[Problem]:
    """Required columns present, and of a type the contract can read."""
    spec, schema = TABLES_BY_NAME[name], table.schema()
    problems = [
        Problem(name, label, column, "required column missing", 0)
        for column in spec.required_columns
        if column not in schema
    ]
    for column in spec.known_columns:
        if column not in schema:
            continue
        dtype = schema[column]
        if column in spec.timestamp_columns:
            if not dtype.is_timestamp():
                problems.append(Problem(name, label, column, f"not a timestamp column (type {dtype})", 0))
            elif dtype.timezone is None and settings.data.timezone != "UTC":
                problems.append(
                    Problem(
                        name,
                        label,
                        column,
                        f"timestamp without time zone, and data.timezone is {settings.data.timezone}: "
                        "store timestamptz (load-postgres does), or keep UTC times with data.timezone: UTC",
                        0,
                    )
                )
        elif column in spec.numeric_columns and not dtype.is_numeric():
            problems.append(Problem(name, label, column, f"not a number column (type {dtype})", 0))
        elif column == "customer_id" and not (dtype.is_integer() or dtype.is_string()):
            problems.append(
                Problem(name, label, column, f"customer ids must be integers or text (type {dtype})", 0)
            )
    return problems


def _content(name: str, table: Table, label: str, ids: Table, examples: int) -> list[Problem]:
    """Empty tables, empty required values, duplicates, unknown customers, subscriptions ending early."""
    spec = TABLES_BY_NAME[name]
    checks: list[tuple[str | None, BooleanColumn | None, str]] = []
    for column in spec.known_columns:
        if column in table.columns and column not in NULLABLE_COLUMNS:
            checks.append((column, table[column].isnull(), "empty value in a required column"))
    if name == "subscriptions":
        checks.append((None, table.end_ts < table.start_ts, "subscription ends before it starts"))
    problems = []
    total = int(table.count().execute())
    if not total:
        return [Problem(name, label, None, "table is empty (no rows)", 0)]
    for column, failing, message in checks:
        problems += _failing(table.filter(failing), name, label, column, message, examples)
    for unique_table, column in UNIQUE_COLUMNS:
        if unique_table == name and column in table.columns:
            present = table.filter(table[column].notnull())
            counts = present.group_by(column).aggregate(n=present.count())
            doubled = table.semi_join(counts.filter(counts.n > 1), column)
            problems += _failing(doubled, name, label, column, f"duplicate {column}", examples)
    if name in REFERENCING:
        unknown = table.filter(table.customer_id.notnull()).anti_join(ids, "customer_id")
        problems += _failing(
            unknown,
            name,
            label,
            "customer_id",
            "customer never appears in transactions or customers",
            examples,
        )
    return problems


def _failing(
    rows: Table, name: str, label: str, column: str | None, message: str, examples: int
) -> list[Problem]:
    count = int(rows.count().execute())
    if not count:
        return []
    shown = rows.limit(examples).execute()
    lines = [
        ", ".join(f"{key}={_show(value)}" for key, value in record.items())
        for record in shown.to_dict(orient="records")
    ]
    return [Problem(name, label, column, message, count, lines)]


def _show(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return "(empty)"
    return repr(value) if isinstance(value, str) else str(value)


def _future_notes(name: str, table: Table, label: str, stamp: pd.Timestamp) -> list[Problem]:
    """Rows dated on or after as_of: left out (or, for a subscription's end, not known yet)."""
    moment = ibis.literal(stamp.tz_convert("UTC").tz_localize(None), type="timestamp")
    notes = []
    for column in TABLES_BY_NAME[name].timestamp_columns:
        if column not in table.columns:
            continue
        later = int(table.count(where=table[column].cast("timestamp") >= moment).execute())
        if later:
            outcome = "treated as active" if column == "end_ts" else "excluded"
            when = stamp.isoformat() if stamp != stamp.floor("D") else str(stamp.date())
            notes.append(Problem(name, label, column, f"dated on or after as_of {when}: {outcome}", later))
    return notes


def _screen_customers(
    backend: BaseBackend,
    customers: Table | None,
    settings: Settings,
    report: ValidationReport,
    label: str | None,
) -> list[str]:
    """The customers columns a model may read, screened as a folder's are, on a random sample."""
    if customers is None:
        return ["customer_id"]
    attributes = [c for c in customers.columns if c not in ("customer_id", "signup_ts")]
    keep = ["customer_id", *(["signup_ts"] if "signup_ts" in customers.columns else [])]
    if not attributes:
        return keep
    size = settings.postgres.sample_rows
    total = int(backend.execute(customers.count()))
    sample = customers.select(*attributes)
    if total > size:
        sample = sample.order_by(ibis.random()).limit(size)
    frame = backend.execute(sample)
    unknown = sorted(set(settings.data.attributes.use or ()) - set(attributes))
    if unknown:
        report.problems.append(
            Problem(
                "customers",
                label or "customers",
                None,
                f"data.attributes.use names {', '.join(map(repr, unknown))}, which the table does not have "
                f"(attributes: {', '.join(attributes)})",
                0,
            )
        )
        raise DataValidationError(report)
    kept, refused = screen_attributes(frame, attributes, settings.data.attributes)
    for refusal in refused:
        report.notes.append(
            Problem(
                "customers",
                label or "customers",
                refusal.column,
                f"left out of the model: {refusal.reason}",
                0,
            )
        )
    if total > size:
        report.notes.append(
            Problem(
                "customers",
                label or "customers",
                None,
                f"attributes screened on a random sample of {size:,} of {total:,} customers "
                "(postgres.sample_rows); every other check ran on all rows, in the database",
                0,
            )
        )
    return keep + list(kept)


def _fingerprint(backend: BaseBackend, known: Mapping[str, Table], settings: Settings) -> str:
    """A digest of what the run reads: per table its rows, newest time and sums, and the settings."""
    digest = hashlib.sha256()
    for name in sorted(known):
        table = known[name]
        parts = {"n": table.count()}
        for column in table.columns:
            dtype = table.schema()[column]
            if dtype.is_timestamp():
                parts[f"max_{column}"] = table[column].max().cast("string")
            elif dtype.is_numeric() and column != "customer_id":
                parts[f"sum_{column}"] = table[column].sum().cast("float64")
        values = backend.execute(table.aggregate(**parts)).iloc[0].to_dict()
        digest.update(json.dumps([name, {k: str(v) for k, v in values.items()}]).encode())
    salt = settings.model_dump_json(
        include={"data": {"timezone", "columns", "attributes"}, "postgres": {"schema_name", "tables"}}
    )
    digest.update(salt.encode())
    return digest.hexdigest()[:16]


def stage_database(check: DatabaseCheck, settings: Settings, url: str | None = None) -> Stage:
    """A stage for a run on PostgreSQL: no copy of the tables, only the marker and the small side tables
    a run needs outside the database (the carried columns of the risk list, the contacts)."""
    url = resolve_url(url or settings.postgres.url)
    run = uuid.uuid4().hex[:8]
    folder = Path(settings.paths.work) / f"{check.fingerprint}-{check.as_of.strftime('%Y%m%dT%H%M%S')}-{run}"
    carry_columns = list(settings.scoring.carry_columns)
    stage = Stage(
        folder=folder.resolve(),
        source_dir=check.report.data_dir,
        as_of=check.as_of,
        fingerprint=check.fingerprint,
        rows=check.rows,
        notes=[note.render() for note in check.report.notes],
        carry_columns=carry_columns,
        engine="postgres",
        model_columns=check.model_columns,
    )
    backend = connect_ibis(url)
    try:
        known = known_at(database_tables(backend, settings), check.as_of)

        def fill(tmp: Path) -> None:
            if carry_columns:
                customers = known.get("customers")
                missing = [c for c in carry_columns if customers is None or c not in customers.columns]
                if missing:
                    raise PostgresError(
                        f"scoring.carry_columns names {', '.join(map(repr, missing))}, which the customers "
                        f"table in {check.where} does not have"
                    )
                backend.to_pyarrow(customers.select("customer_id", *carry_columns)).to_pandas().to_parquet(
                    tmp / CARRY_FILE, index=False
                )
            if CONTACTS in known:
                frame = backend.to_pyarrow(known[CONTACTS]).to_pandas()
                frame["ts"] = pd.to_datetime(frame["ts"]).dt.tz_localize("UTC")
                frame.to_parquet(tmp / f"{CONTACTS}.parquet", index=False)
            (tmp / MARKER).write_text(json.dumps(stage_json(stage), indent=2), encoding="utf-8")

        replace_folder(folder, fill)
    finally:
        backend.disconnect()
    return stage


def dataset_from_database(stage: Stage, settings: Settings, url: str | None = None) -> Dataset:
    """The staged run's tables fetched from PostgreSQL into pandas, for the report's KPIs.

    The report counts customers, purchases and cohorts in pandas, so it reads the tables (as known at
    the stage's as_of, model columns only); the features never do.
    """
    url = resolve_url(url or settings.postgres.url)
    backend = connect_ibis(url)
    try:
        known = known_at(database_tables(backend, settings), stage.as_of)
        frames = {}
        for name, table in known.items():
            if name == "customers" and stage.model_columns:
                table = table.select(*(c for c in table.columns if c in stage.model_columns))
            frame = backend.to_pyarrow(table).to_pandas()
            for column in TABLES_BY_NAME[name].timestamp_columns:
                if column in frame:
                    frame[column] = pd.to_datetime(frame[column]).dt.tz_localize("UTC")
            frames[name] = frame
    finally:
        backend.disconnect()
    return staged_dataset(stage, frames)
