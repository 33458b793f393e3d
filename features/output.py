"""Feature tables out of the engine: into pandas, or streamed cutoff by cutoff into one Parquet file.

Every feature table leaves the engine here, so this is where the BTYD columns are finished (their
BG/NBD fit is numpy, per cutoff: ``btyd_features.with_btyd_columns``), the same way for scoring, for
a training frame and for a training set streamed to Parquet.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from ibis.expr.types import Table

from churnguard.core.config import Settings
from churnguard.features.assemble import feature_expr, prepare, run_cutoffs
from churnguard.features.btyd_features import with_btyd_columns
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


def arrow_to_frame(table: pa.Table) -> pd.DataFrame:
    """A feature table from Arrow into pandas, sorted by cutoff and customer."""
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
    customer: the engine returns them in any order, and a training set in a fixed order makes the
    same data give the same model (row sampling in XGBoost follows row positions).
    """
    cuts = run_cutoffs(list(cutoffs), settings, spec)
    inputs = prepare(source, cuts, settings, spec)
    if len(cuts.stamps) == 1:
        table = source.arrow_batches(feature_expr(inputs, cuts, settings, spec, with_labels)).read_all()
        yield _sorted(with_btyd_columns(table), ["customer_id"])
        return
    inputs = inputs.kept()
    current = source.keep(cuts.one(0).chosen_rows(), name=CURRENT_CUTOFF)
    try:
        run = source.compiled(feature_expr(inputs, cuts.reading(current, 0), settings, spec, with_labels))
        for k in range(len(cuts.stamps)):
            source.keep(cuts.one(k).chosen_rows(), name=CURRENT_CUTOFF)
            yield _sorted(with_btyd_columns(run().read_all()), ["customer_id"])
    finally:
        inputs.release()
        source.drop(current)


def write_parquet(tables: Iterable[pa.Table], path: Path) -> int:
    """Write Arrow tables of one schema into one Parquet file while the next one is computed.

    A writer thread encodes each table (pyarrow releases the GIL) while the engine computes the next;
    at most one table waits. Only text columns are dictionary-encoded: most float columns have too
    many distinct values for a dictionary to pay.

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
        except BaseException as error:  # reported by the caller's thread
            failure.append(error)
            while handoff.get() is not None:  # keep the producer from blocking
                pass
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
    finally:
        handoff.put(None)
        thread.join()
    if failure:
        raise failure[0]
    return rows
