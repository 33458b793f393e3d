"""Small Ibis helpers for time arithmetic and cutoff joins, shared by every feature family.

Times inside feature queries are naive UTC timestamps: comparisons and differences then need no
time-zone arithmetic per row (which costs more than the rest of a query on DuckDB).
"""

from __future__ import annotations

import ibis
from ibis.expr.types import BooleanValue, NumericValue, Table, TimestampValue

from features.cutoffs import since

SECONDS_PER_DAY = 86_400.0
NO_TIME = ibis.null("timestamp")


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


def spread_buckets(partials: Table, cuts: Table) -> Table:
    """Per-bucket partial aggregates paired with every cutoff at or after their bucket.

    Combining the pairs per (customer, cutoff) gives the all-history aggregate at each cutoff while
    each raw row was scanned once.
    """
    return partials.join(cuts.select("cutoff", "k"), partials.bucket <= cuts.k)
