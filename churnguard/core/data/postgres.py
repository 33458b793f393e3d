"""Copy a validated data directory into PostgreSQL with the contract's types, all tables at once.

The folder is validated by ``load_dataset`` (the same contract and errors as every command), without
an as_of cutoff: the database holds the whole history and each run cuts it at its own as_of. Customer
attributes a model may not see are left out, except ``scoring.carry_columns``, which the risk list
carries. Each table is copied (COPY, CSV written by Arrow) into a new table; the old tables are then
dropped and the new ones renamed, all in one transaction: readers see the old tables or the new ones,
never a mix, and a failed load leaves the old ones as they were.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from churnguard.core import interrupt
from churnguard.core.config import DataSettings, masked_uri
from churnguard.core.data.contract import TABLES
from churnguard.core.data.dataset import Dataset, load_dataset
from churnguard.core.data.parse import IdKind
from churnguard.core.data.validate import ValidationReport
from churnguard.core.errors import BadInputError

URL_VARIABLE = "CHURNGUARD_POSTGRES_URL"
TABLE_NAMES = tuple(spec.name for spec in TABLES)
STAGING_PREFIX = "_churnguard_load_"
_NO_CUTOFF = pd.Timestamp("9999-12-31", tz="UTC")  # validate without excluding any row as "future"
_BATCH_ROWS = 100_000


class PostgresError(BadInputError):
    """The database cannot be reached or refused the load; the message names the masked URL."""


@dataclass(frozen=True)
class PostgresLoad:
    """What ``load_postgres`` did: rows per table, tables dropped, seconds, and the validation report."""

    url: str  # masked
    schema: str
    rows: dict[str, int]
    dropped: tuple[str, ...]
    seconds: float
    report: ValidationReport


def resolve_url(url: str | None) -> str:
    """The connection URL: the argument, else ``CHURNGUARD_POSTGRES_URL``.

    Raises:
        BadInputError: neither is set, or the URL is not a ``postgresql://`` URL.
    """
    url = url or os.environ.get(URL_VARIABLE)
    if not url:
        raise BadInputError(
            f"no database URL: pass --url postgresql://USER@HOST:PORT/DB or set {URL_VARIABLE}"
        )
    if urlsplit(url).scheme not in ("postgresql", "postgres"):
        raise BadInputError(f"not a PostgreSQL URL: {masked_uri(url)} (expected postgresql://...)")
    return url


def sql_types(frame: pd.DataFrame, id_kind: IdKind) -> dict[str, str]:
    """The PostgreSQL type of each column: timestamptz, double precision, bigint, boolean or text."""
    types = {}
    for column, dtype in frame.dtypes.items():
        if column == "customer_id":
            types[column] = "bigint" if id_kind == "int" else "text"
        elif isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(dtype):
            types[column] = "timestamptz"
        elif pd.api.types.is_bool_dtype(dtype):
            types[column] = "boolean"
        elif pd.api.types.is_integer_dtype(dtype):
            types[column] = "bigint"
        elif pd.api.types.is_float_dtype(dtype):
            types[column] = "double precision"
        else:
            types[column] = "text"
    return types


def tables_to_load(dataset: Dataset) -> dict[str, pd.DataFrame]:
    """The dataset's tables as they go into the database: customers with the carried columns."""
    customers = dataset.customers
    if dataset.carry is not None:
        extra = [c for c in dataset.carry.columns if c not in customers.columns]
        customers = customers.merge(dataset.carry[["customer_id", *extra]], on="customer_id", how="left")
    present = {**dataset.tables(), "customers": customers, "contacts": dataset.contacts}
    return {name: present[name] for name in TABLE_NAMES if present.get(name) is not None}


def load_postgres(
    data_dir: Path | str,
    url: str,
    settings: DataSettings,
    schema: str = "public",
    carry_columns: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
) -> PostgresLoad:
    """Validate a data directory and replace its tables in a PostgreSQL schema in one transaction.

    Contract tables in the schema that the folder lacks (e.g. an old ``contacts``) are dropped, so the
    schema mirrors the folder.

    Args:
        data_dir: the data directory.
        url: ``postgresql://USER:PASSWORD@HOST:PORT/DB``; the password is never shown.
        settings: data settings (timezone, column mapping, attributes).
        schema: the schema to write into, created if missing.
        carry_columns: ``scoring.carry_columns``, customers columns copied although not model inputs.
        progress: called with a short message per step.

    Returns:
        Rows per table, tables dropped, seconds taken and the validation report.

    Raises:
        DataValidationError: the folder breaks the contract (nothing is written).
        PostgresError: the database is unreachable, refuses the login or the load.
    """
    import psycopg
    from psycopg import sql

    say = progress or (lambda _message: None)
    started = time.perf_counter()
    shown = masked_uri(url)
    with _connect(url) as connection:
        say("validating the data folder")
        dataset = load_dataset(data_dir, settings, as_of=_NO_CUTOFF, carry_columns=carry_columns)
        tables = tables_to_load(dataset)
        rows = {}
        try:
            with connection.transaction():
                connection.execute("SET LOCAL TIME ZONE 'UTC'")
                # Two loads into one schema at once would each drop the other's tables: take turns.
                connection.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"churnguard.load:{schema}"]
                )
                connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
                for name, frame in tables.items():
                    say(f"copying {name} ({len(frame):,} rows)")
                    rows[name] = _copy_table(
                        connection, schema, STAGING_PREFIX + name, frame, dataset.id_kind
                    )
                    interrupt.check()
                existing = _existing_tables(connection, schema)
                dropped = tuple(n for n in TABLE_NAMES if n in existing and n not in tables)
                for name in (*tables, *dropped):
                    connection.execute(
                        sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(schema, name))
                    )
                for name in tables:
                    connection.execute(
                        sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                            sql.Identifier(schema, STAGING_PREFIX + name), sql.Identifier(name)
                        )
                    )
                    connection.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, name)))
                interrupt.check()  # an interrupted load must not replace the tables
        except psycopg.Error as exc:
            raise PostgresError(
                f"loading into {shown} failed, nothing changed: {_message(exc, url)}"
            ) from None
    return PostgresLoad(shown, schema, rows, dropped, time.perf_counter() - started, dataset.report)


def _connect(url: str):
    """An open connection, or a ``PostgresError`` that says what went wrong without the password."""
    import psycopg

    try:
        return psycopg.connect(url, connect_timeout=10, autocommit=True)  # transaction() brackets the load
    except psycopg.Error as exc:
        raise connect_error(exc, url) from None


def connect_error(exc: Exception, url: str) -> PostgresError:
    """The error to raise when connecting to ``url`` failed with ``exc``: what went wrong, no password."""
    text = _message(exc, url)
    parts = urlsplit(url)
    if "password authentication failed" in text:
        reason = f"the server refused the user name or password ({text})"
    elif "does not exist" in text and "database" in text:
        reason = f"no database {parts.path.lstrip('/')!r} on that server ({text})"
    elif "refused" in text or "timeout" in text or "could not translate host name" in text:
        reason = f"no PostgreSQL server answers at {parts.hostname}:{parts.port or 5432} ({text})"
    else:
        reason = text
    return PostgresError(f"cannot connect to {masked_uri(url)}: {reason}")


def _message(exc: Exception, url: str) -> str:
    """The error's text on one line, with the URL's password (if it appears at all) replaced by ***."""
    text = " ".join(str(exc).split())
    password = urlsplit(url).password
    for secret in filter(None, {password, unquote(password or "")}):
        text = text.replace(secret, "***")
    return text


def _existing_tables(connection, schema: str) -> set[str]:
    found = connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", [schema]).fetchall()
    return {name for (name,) in found}


def _copy_table(connection, schema: str, table: str, frame: pd.DataFrame, id_kind: IdKind) -> int:
    """Create ``schema.table`` with the contract's types and COPY the frame into it; returns the rows."""
    from psycopg import sql

    types = sql_types(frame, id_kind)
    target = sql.Identifier(schema, table)
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in types)
    definition = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in types.items()
    )
    connection.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(target))
    connection.execute(sql.SQL("CREATE TABLE {} ({})").format(target, definition))
    arrow = _arrow_table(frame, types)
    options = pa_csv.WriteOptions(include_header=False)
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(target, columns)
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        for batch in arrow.to_batches(max_chunksize=_BATCH_ROWS):
            buffer = io.BytesIO()
            # Arrow writes timestamps as 2024-01-31 12:00:00.123456Z (UTC, every microsecond), doubles
            # in their shortest exact form, nulls unquoted-empty and strings quoted ("" stays "").
            pa_csv.write_csv(batch, buffer, options)
            copy.write(buffer.getbuffer())
    return arrow.num_rows


def _arrow_table(frame: pd.DataFrame, types: dict[str, str]) -> pa.Table:
    columns = {}
    for column, kind in types.items():
        values = frame[column]
        if kind == "timestamptz":
            stamps = pd.to_datetime(values)
            if stamps.dt.tz is None:
                raise ValueError(f"column {column!r} holds naive timestamps; the contract stores UTC")
            columns[column] = pa.array(stamps.dt.tz_convert("UTC"), type=pa.timestamp("us", tz="UTC"))
        elif kind == "text":
            columns[column] = pa.array(values.astype("string"), type=pa.large_string(), from_pandas=True)
        else:
            columns[column] = pa.array(values, from_pandas=True)
    return pa.table(columns)
