"""Feature queries on Spark: the same Ibis expressions as DuckDB's, run by a Spark session.

The Spark side of the engine seam (``source.FeatureSource``). What differs from DuckDB is here:

- intermediate tables the queries share are Spark DataFrames persisted (memory, then disk) under a
  temporary view: ibis' PySpark backend has no temporary tables;
- a feature table never has to pass through the driver: :func:`spark_feature_frame` returns a Spark
  DataFrame whose BTYD columns are finished in the executors (``mapInArrow``), with only each
  cutoff's BG/NBD fit on the driver, and :func:`write_training_set` writes it with Spark's own writer,
  partitioned by cutoff;
- the session computes in UTC (``core.spark``), and time differences are whole microseconds in the
  shared expressions (Spark's ``unix_timestamp`` would drop fractions of a second).

A one-cutoff table asked for in pandas (:meth:`SparkSource.arrow_batches`) is collected to the driver,
as it would be from any engine.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import pandas as pd
import pyarrow as pa
from ibis.expr.types import Table

from churnguard.core.config import Settings
from churnguard.core.spark import spark_session
from churnguard.features.btyd_features import (
    AGE,
    BTYD_COLUMNS,
    INPUT_COLUMNS,
    T_X,
    X,
    finish_btyd,
    fits_by_cutoff,
)
from churnguard.features.build import feature_table
from churnguard.features.source import TIME_COLUMNS, FeatureSource, source_over
from churnguard.features.spec import FeatureSpec

# Customers per cutoff the driver fits BG/NBD on: four parameters, whose standard errors shrink with
# 1/sqrt(n), are fixed to many digits by a million; beyond it a stable hash sample of them is used.
BTYD_FIT_CUSTOMERS = 1_000_000


@dataclass
class SparkSource(FeatureSource):
    """A feature source whose queries run in a Spark session."""

    _persisted: dict[str, object] = field(default_factory=dict, repr=False)

    @property
    def session(self):
        """The ``pyspark.sql.SparkSession`` the queries run in."""
        return self.backend._session

    def spark_frame(self, expr: Table):
        """The Spark DataFrame computing ``expr`` (lazy: nothing runs until it is read or written)."""
        self.backend._register_in_memory_tables(expr)  # small lookups (event type codes) become views
        return self.session.sql(self.backend.compile(expr))

    def keep(self, table: Table | pd.DataFrame, name: str | None = None) -> Table:
        from pyspark import StorageLevel

        if isinstance(table, pd.DataFrame):
            table = ibis.memtable(table)
        name = name or f"_kept_{uuid.uuid4().hex}"
        frame = self.spark_frame(table).persist(StorageLevel.MEMORY_AND_DISK)
        frame.count()  # computed now, as a temporary table would be: later queries read these rows
        frame.createOrReplaceTempView(name)
        replaced = self._persisted.pop(name, None)
        if replaced is not None:
            replaced.unpersist()
        self._persisted[name] = frame
        return self.backend.table(name)

    def drop(self, table: Table) -> None:
        name = table.get_name()
        self.session.catalog.dropTempView(name)
        frame = self._persisted.pop(name, None)
        if frame is not None:
            frame.unpersist()

    def arrow_batches(self, expr: Table) -> pa.RecordBatchReader:
        # Collected to the driver: for tables asked for in pandas (one cutoff's population).
        return self.spark_frame(expr).toArrow().to_reader()

    def compiled(self, expr: Table) -> Callable[[], pa.RecordBatchReader]:
        # The SQL names kept tables by their views, so each call reads the rows kept under them now.
        return lambda: self.arrow_batches(expr)


def source_from_spark(data_dir: Path | str, settings: Settings) -> SparkSource:
    """A feature source over canonical Parquet tables (a validated stage's files) read by Spark.

    Args:
        data_dir: folder holding ``transactions.parquet`` and any of ``customers``, ``events``,
            ``subscriptions`` (``.parquet``), on storage every executor can read.
        settings: ``spark`` (the session).
    """
    session = spark_session(settings.spark)
    backend = ibis.pyspark.connect(session)
    folder = Path(data_dir)
    tables = {}
    for name in TIME_COLUMNS:
        path = folder / f"{name}.parquet"
        if path.exists():
            view = f"_{name}_{uuid.uuid4().hex[:12]}"
            session.read.parquet(str(path)).createOrReplaceTempView(view)
            # Spark timestamps are instants shown in the session's zone, UTC: ibis reads them as the
            # naive UTC times every feature expression expects.
            tables[name] = backend.table(view)
    return source_over(backend, tables, kind=SparkSource)


def spark_feature_frame(
    source: SparkSource,
    cutoffs: Sequence[str | pd.Timestamp],
    settings: Settings,
    spec: FeatureSpec,
    with_labels: bool = False,
):
    """The feature table of ``cutoffs`` as a Spark DataFrame, every cutoff in one distributed query.

    The same rows and values as ``build.feature_table`` on any engine; its BTYD columns are finished in
    the executors under each cutoff's BG/NBD fit, made on the driver from three numbers per buyer.
    """
    return _finished_frame(source, cutoffs, settings, spec, with_labels)[0]


def _finished_frame(
    source: SparkSource,
    cutoffs: Sequence[str | pd.Timestamp],
    settings: Settings,
    spec: FeatureSpec,
    with_labels: bool,
):
    """:func:`spark_feature_frame`, and the persisted frame it reads (None when nothing was persisted):
    unpersist it once the result is written or persisted itself, or it holds executor memory until the
    session ends."""
    frame = source.spark_frame(feature_table(source, cutoffs, settings, spec, with_labels))
    if X not in frame.columns:
        return frame, None
    from pyspark import StorageLevel

    frame = frame.persist(StorageLevel.MEMORY_AND_DISK)  # read twice: the fit's inputs, then the rows
    fits = fits_by_cutoff(_fit_inputs(frame))
    schema = _finished_schema(frame.schema)

    def finish(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            yield from finish_btyd(pa.Table.from_batches([batch]), fits).to_batches()

    return frame.mapInArrow(finish, schema), frame


def _unpersist(frame) -> None:
    if frame is not None:
        frame.unpersist()


def _fit_inputs(frame) -> pa.Table:
    """``cutoff`` and the BG/NBD inputs of the buyers, at most :data:`BTYD_FIT_CUSTOMERS` per cutoff."""
    from pyspark.sql import functions as F

    buyers = frame.where(F.col(X).isNotNull())
    largest = buyers.groupBy("cutoff").count().agg(F.max("count")).collect()[0][0] or 0
    if largest > BTYD_FIT_CUSTOMERS:
        # The same customers every run: a hash of the id, not a random draw.
        share = int(BTYD_FIT_CUSTOMERS / largest * 1_000_000)
        buyers = buyers.where(F.pmod(F.xxhash64("customer_id"), F.lit(1_000_000)) < share)
    return buyers.select("cutoff", X, T_X, AGE).toArrow()


def _finished_schema(schema):
    """The Spark schema after :func:`finish_btyd`: the inputs replaced by the BTYD columns."""
    from pyspark.sql.types import DoubleType, StructField, StructType

    fields = []
    for spark_field in schema.fields:
        if spark_field.name == X:
            fields += [StructField(name, DoubleType(), True) for name in BTYD_COLUMNS]
        elif spark_field.name not in INPUT_COLUMNS:
            fields.append(spark_field)
    return StructType(fields)


def write_training_set(
    source: SparkSource,
    cutoffs: Sequence[str | pd.Timestamp],
    settings: Settings,
    spec: FeatureSpec,
    out_dir: Path,
) -> int:
    """Write the labelled feature table of ``cutoffs`` with Spark's writer: a Parquet folder partitioned
    by cutoff, rows ordered by customer within each. Written beside ``out_dir`` and renamed into place,
    so a failed run leaves no half-written folder.

    Returns:
        Rows written.
    """
    frame, persisted = _finished_frame(source, cutoffs, settings, spec, with_labels=True)
    partial = out_dir.with_name(f".{out_dir.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        (
            frame.sortWithinPartitions("cutoff", "customer_id")
            .write.mode("error")
            .partitionBy("cutoff")
            .parquet(str(partial))
        )
        rows = source.session.read.parquet(str(partial)).count()
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(partial, out_dir)
    finally:
        _unpersist(persisted)
        shutil.rmtree(partial, ignore_errors=True)
    return rows


def read_training_set(session, path: Path | str):
    """A training set :func:`write_training_set` wrote, as a Spark DataFrame in the feature table's
    column order (Spark reads a partition column last)."""
    frame = session.read.parquet(str(path))
    rest = [c for c in frame.columns if c not in ("customer_id", "cutoff")]
    return frame.select("customer_id", "cutoff", *rest)


def training_set_outline(session, path: Path | str) -> pd.DataFrame:
    """``cutoff`` and ``churned`` counts of a written training set, aggregated by Spark: one row per
    cutoff and label, ``rows`` each, for a summary line that reads no customer's row."""
    frame = session.read.parquet(str(path)).groupBy("cutoff", "churned").count()
    outline = frame.toPandas().rename(columns={"count": "rows"})
    outline["cutoff"] = pd.to_datetime(outline["cutoff"])
    return outline


def scoring_features(source: SparkSource, as_of: str | pd.Timestamp, settings: Settings, spec: FeatureSpec):
    """The scoring population's features as of ``as_of``: the Spark DataFrame (persisted, for the
    model's work in the executors) and the same rows in pandas, as ``build.build_features`` gives them
    (for the list's global steps on the driver: ranks, tiers, groups, drift)."""
    from pyspark import StorageLevel

    from churnguard.features.cutoffs import normalize_cutoffs
    from churnguard.features.output import arrow_to_frame

    # The frame it is computed from stays persisted: unpersisting it would make Spark drop this cache too.
    frame = spark_feature_frame(source, normalize_cutoffs([as_of]), settings, spec)
    frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
    return frame, arrow_to_frame(frame.toArrow())
