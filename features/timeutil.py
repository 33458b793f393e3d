"""Small Ibis helpers for time arithmetic, windows and history buckets, shared by every feature family.

Times inside feature queries are naive UTC timestamps: comparisons and differences then need no
time-zone arithmetic per row (which costs more than the rest of a query on DuckDB).
"""

from __future__ import annotations

from collections.abc import Callable

import ibis
from ibis.expr.types import BooleanValue, NumericValue, Table, TimestampValue, Value

from churnguard.features.cutoffs import CutoffTable, since

SECONDS_PER_DAY = 86_400.0
MICROSECONDS_PER_SECOND = 1e6
NO_TIME = ibis.null("timestamp")


def fixed_point(value: NumericValue, scale: float) -> NumericValue:
    """``value`` in whole units of ``1/scale`` (e.g. cents for money), still as a float64.

    Sums of such integer-valued doubles are exact below 2**53, so they do not depend on the order in
    which the engine adds rows: a customer's features at a cutoff are then identical whether that
    cutoff is computed alone (scoring) or with others (training).

    Halves round away from zero, by ``floor``/``ceil`` in double precision rather than the engine's
    ``ROUND``: PostgreSQL rounds a double half-to-even, and Ibis works around that through ``numeric``,
    whose cast keeps 15 digits (89.49999999999999 becomes 89.5 and rounds up), so the same row
    would give another whole unit on another engine.
    """
    scaled = (value * scale).cast("float64")
    return ibis.ifelse(scaled >= 0, (scaled + 0.5).floor(), (scaled - 0.5).ceil()).cast("float64")


def seconds_between(later: TimestampValue, earlier: TimestampValue) -> NumericValue:
    """Seconds from ``earlier`` to ``later``, fractions included, the same to the bit on every engine.

    Counted in whole microseconds first (an exact integer everywhere), not as a difference of epoch
    seconds: those are doubles on DuckDB, where ~1.7e9 seconds keep only about 7 digits of fraction,
    and exact ``numeric`` values on PostgreSQL, so the two would differ in the last bits.
    """
    return later.delta(earlier, unit="microsecond").cast("float64") / MICROSECONDS_PER_SECOND


def days_between(later: TimestampValue, earlier: TimestampValue) -> NumericValue:
    """Fractional days from ``earlier`` to ``later`` (see :func:`seconds_between`)."""
    return later.delta(earlier, unit="microsecond").cast("float64") / (
        SECONDS_PER_DAY * MICROSECONDS_PER_SECOND
    )


def in_window(ts: TimestampValue, cuts: CutoffTable, rows: Table, days: int) -> BooleanValue:
    """``ts`` lies in the ``days`` before the row's cutoff (callers have already ensured ``ts < cutoff``)."""
    return ts >= cuts.value(rows, since(days))


def join_recent(rows: Table, cuts: CutoffTable, ts_column: str, days: int) -> Table:
    """Rows paired with each chosen cutoff they precede by at most ``days``: ``[cutoff - days, cutoff)``.

    For one cutoff this is a filter on literals, which the engine applies while scanning.
    """
    ts = rows[ts_column]
    if cuts.single:
        return rows.filter(ts >= cuts.value(rows, since(days)), ts < cuts.value(rows, "cutoff"))
    c = cuts.table
    return rows.join(c, [ts >= c[since(days)], ts < c.cutoff])


def bucketed(rows: Table, cuts: CutoffTable, ts_column: str = "ts") -> Table:
    """Rows before the last cutoff of the run with their history ``bucket`` (see ``CutoffTable.bucket``)."""
    rows = rows.filter(rows[ts_column] < ibis.literal(cuts.stamps[-1], type="timestamp"))
    single = len(cuts.stamps) == 1  # then every row left is in bucket 0
    return rows.mutate(bucket=ibis.literal(0, type="int64") if single else cuts.bucket(rows[ts_column]))


def accumulate(partials: Table, cuts: CutoffTable, combine: Callable[[Table], dict[str, Value]]) -> Table:
    """All-history aggregates per customer and chosen cutoff, from per-bucket partial aggregates.

    ``partials`` has ``customer_id``, ``bucket`` and one column per aggregate, named as the result;
    ``combine(rows)`` maps each name to the aggregate that merges buckets (``rows.n.sum()``,
    ``rows.last_ts.max()``, ...). The value at cutoff ``k`` merges the customer's buckets ``<= k``, so
    each raw row is read once however many cutoffs there are. With a single bucket the partials
    already are the result.
    """
    names = list(combine(partials))
    if len(cuts.stamps) == 1:
        return partials.select("customer_id", *names)
    if cuts.single:
        rows = partials.filter(partials.bucket <= cuts.chosen[0])
        return rows.group_by("customer_id").aggregate(**combine(rows))
    c = cuts.table.select("cutoff", "k")
    rows = partials.join(c, partials.bucket <= c.k)
    return rows.group_by(["customer_id", "cutoff"]).aggregate(**combine(rows))
