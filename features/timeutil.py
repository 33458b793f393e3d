"""Small Ibis helpers for time arithmetic and cutoff joins, shared by every feature family."""

from __future__ import annotations

import ibis
from ibis.expr.types import NumericValue, Table, TimestampValue

SECONDS_PER_DAY = 86_400.0


def days_between(later: TimestampValue, earlier: TimestampValue) -> NumericValue:
    """Fractional days from ``earlier`` to ``later``."""
    return (later.epoch_seconds() - earlier.epoch_seconds()).cast("float64") / SECONDS_PER_DAY


def days_before(stamp: TimestampValue, days: int) -> TimestampValue:
    return stamp - ibis.interval(days=days)


def in_window(ts: TimestampValue, cutoff: TimestampValue, days: int) -> ibis.expr.types.BooleanValue:
    """``ts`` lies in the ``days`` before ``cutoff`` (callers have already ensured ``ts < cutoff``)."""
    return ts >= days_before(cutoff, days)


def join_recent(rows: Table, cuts: Table, ts_column: str, days: int) -> Table:
    """Rows paired with each cutoff they precede by at most ``days``: ``[cutoff - days, cutoff)``."""
    ts = rows[ts_column]
    return rows.join(cuts, [ts >= days_before(cuts.cutoff, days), ts < cuts.cutoff])


def join_buckets(rows: Table, cuts: Table, ts_column: str) -> Table:
    """Rows paired with the one cutoff bucket ``[prev_cutoff, cutoff)`` they fall in, as column ``bucket``."""
    ts = rows[ts_column]
    joined = rows.join(cuts, [ts >= cuts.prev_cutoff, ts < cuts.cutoff])
    return joined.drop("cutoff", "prev_cutoff").rename(bucket="k")


def spread_buckets(partials: Table, cuts: Table) -> Table:
    """Per-bucket partial aggregates paired with every cutoff at or after their bucket.

    Combining the pairs per (customer, cutoff) gives the all-history aggregate at each cutoff while
    each raw row was scanned once.
    """
    return partials.join(cuts.select("cutoff", "k"), partials.bucket <= cuts.k)
