"""Where feature queries run: an Ibis backend holding the four tables.

This is the only module that knows the backend is DuckDB; every feature expression elsewhere is
plain Ibis, so the same code can later run on PostgreSQL, Spark, BigQuery or Snowflake.

Times in the source tables are **naive UTC** timestamps. Canonical data is tz-aware UTC; stripping
the zone once here spares every comparison, difference and date of the feature queries a time-zone
conversion per row, which on DuckDB (ICU) costs more than the rest of the query.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import pandas as pd
import pyarrow as pa
from ibis.backends import BaseBackend
from ibis.expr.types import Table

from churnguard.core.config import FeatureSettings
from churnguard.core.data.dataset import Dataset
from churnguard.features.engagement import event_slug

TIME_COLUMNS = {
    "transactions": ("ts",),
    "customers": ("signup_ts",),
    "events": ("ts",),
    "subscriptions": ("start_ts", "end_ts"),
}
BATCH_ROWS = 122_880  # rows per streamed Arrow batch (one DuckDB row group)
MAX_EVENT_TYPES = 30  # free-text event types: keep the most frequent, so features stay a bounded set


@dataclass
class FeatureSource:
    """Tables for feature queries plus what the schema of the feature table depends on."""

    backend: BaseBackend
    transactions: Table
    customers: Table
    events: Table | None
    subscriptions: Table | None
    attribute_columns: list[str]
    numeric_attributes: list[str] = field(default_factory=list)
    # Compute each feature family into a table of its own before joining them (``output.Stages``):
    # slower, but then a memory limit bounds every query. Set where the engine has a memory limit.
    staged: bool = False
    _event_counts: pd.DataFrame | None = field(default=None, repr=False)

    def keep(self, table: Table | pd.DataFrame, name: str | None = None) -> Table:
        """``table`` computed now and kept by the backend as a temporary table, for several queries.

        With a ``name``, an earlier table of that name is replaced: queries compiled against it then
        read the new rows.
        """
        name = name or f"_kept_{uuid.uuid4().hex}"
        return self.backend.create_table(name, table, temp=True, overwrite=True)

    def drop(self, table: Table) -> None:
        """Drop a temporary table :meth:`keep` made."""
        self.backend.drop_table(table.get_name(), force=True)

    def arrow_batches(self, expr: Table) -> pa.RecordBatchReader:
        """Stream the rows of ``expr`` as Arrow record batches, without a second copy in the engine.

        DuckDB-specific: ibis 12's ``to_pyarrow_batches`` calls a cursor method duckdb 2 removed, so
        this asks ibis for the DuckDB relation (memory tables registered, SQL compiled) and streams it.
        """
        return self.backend._to_duckdb_relation(expr).to_arrow_reader(BATCH_ROWS)

    def compiled(self, expr: Table) -> Callable[[], pa.RecordBatchReader]:
        """A function streaming the rows of ``expr`` as :meth:`arrow_batches` does, compiled only once.

        Each call runs the same SQL text again, so it reads the current rows of the tables ``expr``
        names (see :meth:`keep`). DuckDB-specific, like :meth:`arrow_batches`.
        """
        sql = self.backend._to_duckdb_relation(expr).sql_query()
        connection = self.backend.con
        return lambda: connection.sql(sql).to_arrow_reader(BATCH_ROWS)

    def event_type_counts(self) -> pd.DataFrame:
        """``event_type``, ``n`` (events) and ``n_valued`` (events with a ``value``), most frequent first.

        One scan of the events, made once per source.
        """
        if self._event_counts is None:
            if self.events is None:
                self._event_counts = pd.DataFrame({"event_type": [], "n": [], "n_valued": []})
            else:
                ev = self.events
                counts = ev.group_by("event_type").aggregate(n=ev.count(), n_valued=ev.value.count())
                self._event_counts = self.backend.execute(counts.order_by([ibis.desc("n"), "event_type"]))
        return self._event_counts

    def event_types(self) -> list[str]:
        """Event types seen in the data, most frequent first, one per feature name.

        Types whose names differ only in punctuation (``page view``, ``page-view``) would name the
        same columns; only the most frequent of them is kept.
        """
        kept: dict[str, str] = {}
        for value in self.event_type_counts()["event_type"].head(MAX_EVENT_TYPES):
            if value is not None and not pd.isna(value) and str(value) != "":
                kept.setdefault(event_slug(str(value)), str(value))
        return list(kept.values())


def _connect(settings: FeatureSettings) -> BaseBackend:
    """An in-process DuckDB; with ``duckdb_memory_limit`` it spills to a temporary folder beyond it."""
    backend = ibis.duckdb.connect()
    if settings.duckdb_threads:
        backend.raw_sql(f"SET threads = {int(settings.duckdb_threads)}")
    if settings.duckdb_memory_limit:
        backend.raw_sql(f"SET memory_limit = '{settings.duckdb_memory_limit}'")
        # Spill into the system's temporary folder, not a `.tmp` in the user's working directory.
        spill = Path(tempfile.gettempdir()) / f"churnguard-duckdb-{os.getpid()}"
        backend.raw_sql(f"SET temp_directory = '{spill}'")
        # Hand freed memory back to the system after each query, so what the feature table needs
        # next (pandas, the BTYD fit) does not come on top of memory DuckDB no longer uses.
        backend.raw_sql("SET allocator_flush_threshold = '32MB'")
    backend.raw_sql("SET preserve_insertion_order = false")  # lets DuckDB stream large results
    return backend


def source_from_dataset(dataset: Dataset, settings: FeatureSettings) -> FeatureSource:
    """Load a validated dataset into an embedded DuckDB database.

    Args:
        dataset: validated tables (already limited to what was known at ``as_of``).
        settings: engine settings (threads, memory limit).

    Returns:
        The feature source.
    """
    return source_from_frames(settings, **dataset.tables())


def source_from_frames(settings: FeatureSettings, **frames: pd.DataFrame | None) -> FeatureSource:
    """Load tables in churnguard's canonical form (names, types, tz-aware UTC times) into DuckDB.

    Args:
        settings: engine settings (threads, memory limit).
        frames: ``transactions`` and any of ``customers``, ``events``, ``subscriptions``.
    """
    backend = _connect(settings)
    tables = {
        name: backend.create_table(name, _naive_utc(frame, TIME_COLUMNS[name]), temp=True)
        for name, frame in frames.items()
        if frame is not None
    }
    return source_over(backend, tables, staged=bool(settings.duckdb_memory_limit))


def _naive_utc(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    changes = {
        c: frame[c].dt.tz_convert("UTC").dt.tz_localize(None)
        for c in columns
        if c in frame.columns and isinstance(frame[c].dtype, pd.DatetimeTZDtype)
    }
    return frame.assign(**changes) if changes else frame


def source_from_parquet(data_dir: Path, settings: FeatureSettings) -> FeatureSource:
    """Read canonical Parquet tables (churnguard's column names and types) without copying them.

    For data that is already validated, such as `churn generate` output: DuckDB scans the files
    directly, so memory stays bounded on large inputs.
    """
    backend = _connect(settings)
    tables = {}
    for name in ("transactions", "customers", "events", "subscriptions"):
        path = data_dir / f"{name}.parquet"
        if path.exists():
            tables[name] = _naive_utc_view(backend, backend.read_parquet(path, table_name=name), name)
    return source_over(backend, tables, staged=bool(settings.duckdb_memory_limit))


def _naive_utc_view(backend: BaseBackend, table: Table, name: str) -> Table:
    columns = [c for c in TIME_COLUMNS[name] if c in table.columns]
    if not columns:
        return table
    # DuckDB: microseconds since the epoch read straight off the stored value, with no ICU call.
    naive = ", ".join(f'make_timestamp(epoch_us("{c}")) AS "{c}"' for c in columns)
    schema = ibis.schema({c: "timestamp" if c in columns else t for c, t in table.schema().items()})
    # An explicit schema: ibis 12 cannot infer one from SQL on duckdb 2 (fetch_arrow_table is gone).
    return backend.sql(f'SELECT * REPLACE ({naive}) FROM "{name}"', schema=schema)


def source_over(
    backend: BaseBackend,
    tables: dict[str, Table],
    staged: bool = False,
    kind: type[FeatureSource] = FeatureSource,
) -> FeatureSource:
    """A feature source (of class ``kind``) over canonical tables of ``backend``: ``transactions`` and
    any of ``customers``, ``events``, ``subscriptions``, their times naive UTC."""
    if "customers" not in tables:
        ids = tables["transactions"].select("customer_id").distinct()
        tables["customers"] = ids
    events = tables.get("events")
    if events is not None and "value" not in events.columns:
        # `value` is optional in the contract; an empty one keeps every event query the same.
        tables["events"] = events.mutate(value=ibis.null("float64"))
    attributes = [c for c in tables["customers"].columns if c not in ("customer_id", "signup_ts")]
    schema = tables["customers"].schema()
    numeric = [c for c in attributes if schema[c].is_numeric()]
    return kind(
        backend=backend,
        transactions=tables["transactions"],
        customers=tables["customers"],
        events=tables.get("events"),
        subscriptions=tables.get("subscriptions"),
        attribute_columns=attributes,
        numeric_attributes=numeric,
        staged=staged,
    )
