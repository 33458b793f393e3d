"""Small Ibis helpers for time arithmetic and cutoff joins, shared by every feature family.

Times inside feature queries are naive UTC timestamps: comparisons and differences then need no
time-zone arithmetic per row (which costs more than the rest of a query on DuckDB).
"""

from __future__ import annotations

import ibis
from ibis.expr.types import BooleanValue, NumericValue, Table, TimestampValue, Value

from features.cutoffs import CutoffTable, since

SECONDS_PER_DAY = 86_400.0
NO_TIME = ibis.null("timestamp")


def fixed_point(value: NumericValue, scale: float) -> NumericValue:
    """``value`` in whole units of ``1/scale`` (e.g. cents for money), still as a float64.

    Sums of such integer-valued doubles are exact below 2**53, so they do not depend on the order in
    which the engine adds rows: a customer's features at a cutoff are then identical whether that
    cutoff is computed alone (scoring) or with others (training).
    """
    return (value * scale).round().cast("float64")


def days_between(later: TimestampValue, earlier: TimestampValue) -> NumericValue:
    """Fractional days from ``earlier`` to ``later``."""
    return (later.epoch_seconds() - earlier.epoch_seconds()).cast("float64") / SECONDS_PER_DAY


def in_window(ts: TimestampValue, rows: Table, days: int) -> BooleanValue:
    """``ts`` lies in the ``days`` before the row's cutoff (callers have already ensured ``ts < cutoff``).

    ``rows`` is a table joined with the cutoff table, which holds the window's start.
    """
    return ts >= rows[since(days)]


def join_recent(rows: Table, cuts: Table, ts_column: str, days: int) -> Table:
    """Rows paired with each cutoff they precede by at most ``days``: ``[cutoff - days, cutoff)``."""
    ts = rows[ts_column]
    return rows.join(cuts, [ts >= cuts[since(days)], ts < cuts.cutoff])


def accumulate_buckets(partials: Table, cuts: CutoffTable, **running: Value) -> Table:
    """All-history aggregates per (customer_id, cutoff) from per-bucket partial aggregates.

    ``running`` maps each output column to an aggregate over ``partials`` (``partials.n.sum()``,
    ``partials.last_ts.max()``, ...). It runs cumulatively over each customer's buckets in time
    order; the customer's latest bucket at or before a cutoff then holds the value at that cutoff.
    So each raw row is read once, and no aggregate spans (customers x cutoffs) rows.
    """
    by_customer = {"group_by": "customer_id", "order_by": "bucket"}
    cumulative = ibis.cumulative_window(**by_customer)
    run = partials.select(
        "customer_id",
        "bucket",
        until=partials.bucket.lead().over(**by_customer).fill_null(len(cuts.stamps)),
        **{name: value.over(cumulative) for name, value in running.items()},
    )
    c = cuts.table.select("cutoff", "k")
    matched = run.join(c, [run.bucket <= c.k, c.k < run.until])
    return matched.select("customer_id", "cutoff", *running)
