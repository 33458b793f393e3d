"""Feature queries inside PostgreSQL: the tables are read where they live, only the feature table leaves.

The PostgreSQL side of the engine seam (``source.FeatureSource``); the feature expressions are the same
Ibis code DuckDB runs. What differs is here, in one module:

- the session runs in UTC, and the contract's ``timestamptz`` columns become naive UTC timestamps, as
  the DuckDB source makes them;
- results leave through ``COPY (query) TO STDOUT`` as CSV, parsed by Arrow against the expression's own
  schema: no value passes through a Python object, and PostgreSQL's ``numeric`` results (its float
  literals and ``EXTRACT(EPOCH ...)`` are numeric) arrive as the float64 the expression declares;
- rows after ``as_of`` are left out by the tables themselves, as validation leaves them out of a folder.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from ibis.expr.types import Table

from churnguard.core.config import Settings
from churnguard.core.data.postgres import PostgresError, resolve_url
from churnguard.core.data.postgres_checks import connect_ibis, database_tables, known_at
from churnguard.features.source import FeatureSource, source_over

_CSV_BLOCK = 8 << 20  # bytes Arrow parses at a time


@dataclass
class PostgresSource(FeatureSource):
    """A feature source whose queries run in PostgreSQL."""

    def arrow_batches(self, expr: Table) -> pa.RecordBatchReader:
        return self.compiled(expr)()

    def compiled(self, expr: Table) -> Callable[[], pa.RecordBatchReader]:
        self.backend._run_pre_execute_hooks(expr)  # in-memory tables (event type codes) created once
        schema = expr.schema().to_pyarrow()
        copy = _copy_statement(self.backend.compile(expr), schema)
        return lambda: _read_csv(self.backend.con, copy, schema)


def source_from_postgres(
    settings: Settings, as_of: pd.Timestamp, model_columns: list[str] | None = None, url: str | None = None
) -> PostgresSource:
    """A feature source over the contract's tables in ``postgres.schema_name``, as known before ``as_of``.

    Args:
        settings: ``postgres`` (URL, schema, table names) and ``data.columns``.
        as_of: rows at or after it are left out.
        model_columns: customers columns a model may read (validation's screening); the others stay
            in the database.
        url: the connection URL (default: ``postgres.url`` or ``CHURNGUARD_POSTGRES_URL``).
    """
    backend = connect_ibis(resolve_url(url or settings.postgres.url))
    tables = known_at(database_tables(backend, settings), as_of)
    tables.pop("contacts", None)  # never a feature input
    if "transactions" not in tables:
        raise PostgresError(f"no transactions table in schema {settings.postgres.schema_name!r}")
    if model_columns is not None and "customers" in tables:
        customers = tables["customers"]
        tables["customers"] = customers.select(*(c for c in customers.columns if c in model_columns))
    return source_over(backend, tables, kind=PostgresSource)


def _copy_statement(query: str, schema: pa.Schema) -> str:
    """``COPY`` of the query's rows as CSV, timestamps written as ISO 8601 with every microsecond."""
    columns = []
    for field in schema:
        name = '"' + field.name.replace('"', '""') + '"'
        if pa.types.is_timestamp(field.type):
            zone = " AT TIME ZONE 'UTC'" if field.type.tz else ""
            columns.append(f"to_char(q.{name}{zone}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US') AS {name}")
        else:
            columns.append(f"q.{name}")
    return f"COPY (SELECT {', '.join(columns)} FROM ({query}) AS q) TO STDOUT (FORMAT csv)"


def _read_csv(connection, copy: str, schema: pa.Schema) -> pa.RecordBatchReader:
    """Arrow batches of a ``COPY ... TO STDOUT (FORMAT csv)``, parsed as they arrive."""
    cursor = connection.cursor()
    stream = cursor.copy(copy)
    chunks = _Chunks(iter(stream.__enter__()), lambda: (stream.__exit__(None, None, None), cursor.close()))
    # Timestamps arrive naive (UTC); tz-aware fields are parsed naive and given their zone after.
    parse_types = {
        f.name: pa.timestamp(f.type.unit) if pa.types.is_timestamp(f.type) else f.type for f in schema
    }
    options = pa_csv.ConvertOptions(
        column_types=parse_types,
        null_values=[""],
        strings_can_be_null=True,  # NULL is an empty unquoted field; an empty text is ""
        quoted_strings_can_be_null=False,
        true_values=["t"],
        false_values=["f"],
    )
    reader = pa_csv.open_csv(
        # Buffered: Arrow makes a batch of each read, and psycopg hands over one row per chunk.
        io.BufferedReader(chunks, buffer_size=_CSV_BLOCK),
        read_options=pa_csv.ReadOptions(column_names=schema.names, block_size=_CSV_BLOCK),
        convert_options=options,
    )

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            for batch in reader:
                yield pa.RecordBatch.from_arrays(
                    [column.cast(field.type) for column, field in zip(batch.columns, schema, strict=True)],
                    schema=schema,
                )
        finally:
            chunks.close()

    return pa.RecordBatchReader.from_batches(schema, batches())


class _Chunks(io.RawIOBase):
    """A readable file over the byte chunks psycopg's COPY yields, for Arrow's streaming CSV reader."""

    def __init__(self, chunks: Iterator, on_close: Callable[[], object]) -> None:
        self._chunks = chunks
        self._pending = memoryview(b"")
        self._on_close = on_close

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(bytes(chunk))
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        if not self.closed:
            try:
                self._on_close()
            finally:
                super().close()
