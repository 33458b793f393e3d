"""Feature tables out of the engine: into pandas, or streamed cutoff by cutoff into one Parquet file.

Every feature table leaves the engine here, so this is where the BTYD columns are finished (their
BG/NBD fit is numpy, per cutoff: ``btyd_features.with_btyd_columns``), the same way for scoring, for
a training frame and for a training set streamed to Parquet.
"""

from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from ibis.expr.types import Table

from churnguard.core.config import Settings
from churnguard.features.assemble import feature_expr, prepare, run_cutoffs, unstaged
from churnguard.features.btyd_features import with_btyd_columns
from churnguard.features.cutoffs import CutoffTable
from churnguard.features.source import FeatureSource
from churnguard.features.spec import ID_COLUMNS, LABEL, FeatureSpec

CURRENT_CUTOFF = "_current_cutoff"  # the one-row cutoff table a compiled per-cutoff query reads


def to_frame(source: FeatureSource, expr: Table) -> pd.DataFrame:
    """Execute a feature expression into pandas with stable dtypes (float64 features, text categoricals).

    The BTYD columns are computed here from the expression's private inputs, each cutoff on its own.
    """
    # Streamed batches, not ibis's execute(): the engine then keeps no second copy of the result,
    # and execute() would turn every column holding a null into Python objects.
    return arrow_to_frame(with_btyd_columns(source.arrow_batches(expr).read_all()))


def arrow_to_frame(table: pa.Table, ordered: bool = False) -> pd.DataFrame:
    """A feature table from Arrow into pandas, sorted by cutoff and customer (``ordered``: it already is)."""
    if not ordered:
        table = _sorted(table, ["cutoff", "customer_id"])
    # Hand each Arrow column over as it is converted, so the rows exist about once in memory.
    frame = table.to_pandas(split_blocks=True, self_destruct=True)
    del table
    for name in frame.columns:
        if name in (*ID_COLUMNS, LABEL):
            continue
        if frame[name].dtype == object or pd.api.types.is_string_dtype(frame[name].dtype):
            frame[name] = frame[name].astype("str")
        else:
            frame[name] = frame[name].astype("float64")
    if LABEL in frame:
        frame[LABEL] = frame[LABEL].astype("int8")
    frame["cutoff"] = frame["cutoff"].astype("datetime64[us, UTC]")
    return frame


def _sorted(table: pa.Table, keys: list[str]) -> pa.Table:
    """``table`` ordered by ``keys``, moving one column at a time so memory holds one extra column.

    The indices are signed: with the unsigned ones ``sort_indices`` returns, ``take`` is several
    times slower.
    """
    order = pc.sort_indices(table, sort_keys=[(k, "ascending") for k in keys]).cast(pa.int64())
    names, columns = table.column_names, []
    while table.num_columns:
        columns.append(table.column(0).take(order))
        table = table.remove_column(0)
    return pa.table(columns, names=names)


class Stages:
    """Each family's aggregates computed by the backend into a temporary table of its own, one at a time.

    One query joining every family would hold all their hash tables at once, which no memory limit can
    bound (1M customers: over 2.5 GiB, and a 1 GB DuckDB limit fails); computed one after another,
    each stays within the limit and the final join reads finished tables. Pass an instance as the
    ``stage`` of ``feature_expr`` for one cutoff, and :meth:`release` once its table is read.
    """

    def __init__(self, source: FeatureSource) -> None:
        self.source = source
        self._prefix = f"_stage_{uuid.uuid4().hex[:12]}_"
        self._kept: list[Table] = []

    def __call__(self, expr: Table, name: str) -> Table:
        kept = self.source.keep(expr, name=self._prefix + name)
        self._kept.append(kept)
        return kept

    def release(self) -> None:
        """Drop the kept tables."""
        while self._kept:
            self.source.drop(self._kept.pop())


def frame_by_cutoffs(
    source: FeatureSource,
    cutoffs: Sequence[str | pd.Timestamp],
    settings: Settings,
    spec: FeatureSpec,
    with_labels: bool = False,
) -> pd.DataFrame:
    """The feature table of ``cutoffs`` in pandas, computed as :func:`tables_by_cutoff` computes it."""
    # Oldest cutoff first, each ordered by customer: together already in (cutoff, customer) order. No
    # name holds the Arrow table while it becomes pandas, so each column is freed as it is converted.
    tables = tables_by_cutoff(source, cutoffs, settings, spec, with_labels)
    return arrow_to_frame(pa.concat_tables(list(tables)), ordered=True)


def tables_by_cutoff(
    source: FeatureSource,
    cutoffs: Iterable[str | pd.Timestamp],
    settings: Settings,
    spec: FeatureSpec,
    with_labels: bool = False,
) -> Iterator[pa.Table]:
    """The feature table of each cutoff in turn (oldest first), as Arrow.

    The rows and history partials every cutoff reads are computed once and kept by the backend, and
    the query is compiled once against a one-row table holding the current cutoff: each cutoff then
    costs one run of that query over its own rows, and memory follows one cutoff rather than all.
    Each table has its BTYD columns finished, as :func:`to_frame` does, and its rows ordered by
    customer (by the engine, which can spill a sort): a training set in a fixed order makes the same
    data give the same model (row sampling in XGBoost follows row positions).

    On a source with ``staged`` set (an engine under a memory limit), each cutoff is computed alone and
    each family's aggregates into a table of their own before the join (see :class:`Stages`), so the
    limit bounds every query.
    """
    cuts = run_cutoffs(list(cutoffs), settings, spec)
    if source.staged:
        # Under a memory limit each cutoff is computed alone, as for scoring: inputs shared by every
        # cutoff would stay in the engine's memory meanwhile (5M customers: twelve cutoffs failed at
        # 1 GB so). The rows are the same; the shared history is read again per cutoff.
        for stamp in cuts.stamps:
            yield from _one_cutoff(source, run_cutoffs([stamp], settings, spec), settings, spec, with_labels)
        return
    if len(cuts.stamps) == 1:
        yield from _one_cutoff(source, cuts, settings, spec, with_labels)
        return
    inputs = prepare(source, cuts, settings, spec).kept()
    current = source.keep(cuts.one(0).chosen_rows(), name=CURRENT_CUTOFF)
    try:
        expr = feature_expr(inputs, cuts.reading(current, 0), settings, spec, with_labels)
        run = source.compiled(expr.order_by("customer_id"))
        for k in range(len(cuts.stamps)):
            if k:
                source.keep(cuts.one(k).chosen_rows(), name=CURRENT_CUTOFF)
            yield with_btyd_columns(run().read_all())
    finally:
        inputs.release()
        source.drop(current)


def _one_cutoff(
    source: FeatureSource, cuts: CutoffTable, settings: Settings, spec: FeatureSpec, with_labels: bool
) -> Iterator[pa.Table]:
    """The feature table of the one cutoff of ``cuts``, its families staged when the source says so."""
    stages = Stages(source)
    try:
        stage = stages if source.staged else unstaged
        expr = feature_expr(
            prepare(source, cuts, settings, spec), cuts, settings, spec, with_labels, stage=stage
        )
        result = [source.arrow_batches(expr.order_by("customer_id")).read_all()]
    finally:
        stages.release()  # before finishing the table, so the engine's memory is free by then
    yield with_btyd_columns(result.pop())  # no name keeps the engine's table once it is finished


def write_parquet(tables: Iterable[pa.Table], path: Path, overlap: bool = True) -> int:
    """Write Arrow tables of one schema into one Parquet file while the next one is computed.

    A writer thread encodes each table (pyarrow releases the GIL) while the engine computes the next;
    at most one table waits. ``overlap=False`` waits for each table to be written before asking for the
    next, so one table at a time is in memory beside the engine (for an engine under a memory limit).
    Only text columns are dictionary-encoded: most float columns have too many distinct values for a
    dictionary to pay.

    Returns:
        Rows written.
    """
    handoff: queue.Queue[pa.Table | None] = queue.Queue(maxsize=1)
    failure: list[BaseException] = []

    def write() -> None:
        writer = None
        try:
            while (table := handoff.get()) is not None:
                if writer is None:
                    text = [
                        f.name
                        for f in table.schema
                        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
                    ]
                    writer = pq.ParquetWriter(path, table.schema, use_dictionary=text)
                writer.write_table(table, row_group_size=256 * 1024)
                del table
                handoff.task_done()
        except BaseException as error:  # reported by the caller's thread
            failure.append(error)
            handoff.task_done()
            while handoff.get() is not None:  # keep the producer from blocking
                handoff.task_done()
        finally:
            if writer is not None:
                writer.close()

    thread = threading.Thread(target=write, name="parquet-writer", daemon=True)
    thread.start()
    rows = 0
    try:
        for table in tables:
            rows += table.num_rows
            handoff.put(table)
            del table
            if not overlap:
                handoff.join()
    finally:
        handoff.put(None)
        thread.join()
    if failure:
        raise failure[0]
    return rows
