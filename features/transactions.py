"""RFM, rhythm and trend features from transactions, for many cutoffs in one query.

A purchase is a transaction with a positive amount; a negative amount is a refund. Spend is net
(refunds subtract). All-history aggregates are merged from per-bucket partials (each row read once,
however many cutoffs); windowed aggregates read only the rows in the longest window before a cutoff.
"""

from __future__ import annotations

import ibis
from ibis.expr.types import Table

from churnguard.core.config import ChurnSettings, FeatureSettings, ValueSettings
from churnguard.features.cutoffs import CutoffTable
from churnguard.features.timeutil import (
    NO_TIME,
    SECONDS_PER_DAY,
    accumulate,
    bucketed,
    days_between,
    fixed_point,
    in_window,
    join_recent,
    seconds_between,
)

CENTS = 100.0  # money is summed in whole cents
MINUTES = 1 / 60  # gaps are summed in whole minutes (their squares stay exact for a century of history)


def _with_gaps(tx: Table) -> Table:
    tx = tx.mutate(is_purchase=tx.amount > 0)
    # Gaps between consecutive purchases, computed once over the whole history: a gap is known at a
    # cutoff exactly when its later purchase is before the cutoff, so bucketing keeps it point-in-time.
    previous = tx.ts.lag().over(group_by=[tx.customer_id, tx.is_purchase], order_by=tx.ts)
    seconds = seconds_between(tx.ts, previous)
    return tx.mutate(gap_min=ibis.ifelse(tx.is_purchase, fixed_point(seconds, MINUTES), ibis.null("float64")))


def in_cents(transactions: Table) -> Table:
    """``customer_id``, ``ts``, ``amount`` and ``cents`` (the amount in whole cents, for exact sums)."""
    tx = transactions.select("customer_id", "ts", "amount")
    return tx.mutate(cents=fixed_point(tx.amount, CENTS))


def history_partials(transactions: Table, cuts: CutoffTable) -> Table:
    """Purchase aggregates per (customer_id, history bucket); :func:`history_aggregates` merges them."""
    # Rows from the last cutoff on are dropped before the gaps: no earlier gap depends on them.
    tx = _with_gaps(bucketed(in_cents(transactions), cuts))
    buy = tx.is_purchase
    return tx.group_by(["customer_id", "bucket"]).aggregate(
        n_purchases=tx.count(where=buy),
        spend_total=tx.cents.sum(),
        purchase_spend=tx.cents.sum(where=buy),
        spend_max=tx.amount.max(where=buy),
        first_purchase_ts=tx.ts.min(where=buy),
        last_purchase_ts=tx.ts.max(where=buy),
        gap_n=tx.gap_min.count(),
        gap_sum=tx.gap_min.sum(),
        gap_sq=(tx.gap_min * tx.gap_min).sum(),
        n_refunds=tx.count(where=tx.amount < 0),
    )


def history_aggregates(partials: Table, cuts: CutoffTable) -> Table:
    """All-history purchase aggregates per customer (and cutoff) for customers with any transaction."""
    firsts, lasts = {"first_purchase_ts"}, {"spend_max", "last_purchase_ts"}

    def combine(p: Table) -> dict:
        return {
            name: p[name].min() if name in firsts else p[name].max() if name in lasts else p[name].sum()
            for name in p.columns
            if name not in ("customer_id", "bucket", "cutoff", "k")
        }

    return accumulate(partials, cuts, combine)


def window_days(features: FeatureSettings, churn: ChurnSettings, value: ValueSettings) -> set[int]:
    """Every window length the transaction aggregates use (the cutoff table needs their starts)."""
    t = features.trend_days
    return {*features.windows_days, t, 2 * t, churn.lookback_days, value.window_days}


def longest_window(features: FeatureSettings, churn: ChurnSettings, value: ValueSettings) -> int:
    """Days of history the windowed aggregates need before a cutoff."""
    return max(window_days(features, churn, value))


def window_aggregates(
    rows: Table, cuts: CutoffTable, features: FeatureSettings, churn: ChurnSettings, value: ValueSettings
) -> Table:
    """Windowed purchase counts and spend per customer (and cutoff) for customers with recent rows.

    ``rows`` are transactions in cents (:func:`in_cents`), at least those the chosen cutoffs' windows
    need.
    """
    tx = join_recent(rows, cuts, "ts", longest_window(features, churn, value))
    buy = tx.amount > 0

    def inside(days: int) -> ibis.BooleanValue:
        return in_window(tx.ts, cuts, tx, days)

    aggs = {}
    for w in features.windows_days:
        aggs[f"n_purchases_{w}d"] = tx.count(where=buy & inside(w))
        aggs[f"spend_total_{w}d"] = tx.cents.sum(where=inside(w))
        aggs[f"_purchase_cents_{w}d"] = tx.cents.sum(where=buy & inside(w))
        aggs[f"spend_max_{w}d"] = tx.amount.max(where=buy & inside(w))
    t = features.trend_days
    recent = inside(t)
    previous = inside(2 * t) & ~recent
    aggs["_n_recent"] = tx.count(where=buy & recent)
    aggs["_n_previous"] = tx.count(where=buy & previous)
    aggs["_spend_recent"] = tx.cents.sum(where=recent)
    aggs["_spend_previous"] = tx.cents.sum(where=previous)
    lookback = inside(churn.lookback_days)
    aggs["_n_lookback"] = tx.count(where=buy & lookback)
    aggs["_spend_lookback"] = tx.cents.sum(where=lookback) / CENTS
    aggs["trailing_spend"] = tx.cents.sum(where=inside(value.window_days)) / CENTS
    return tx.group_by(cuts.keys).aggregate(**aggs)


def finish_transaction_features(
    t: Table, cuts: CutoffTable, features: FeatureSettings, signup_ts: ibis.Value
) -> dict:
    """Derived RFM/rhythm/trend columns, given a table holding the history and window aggregates.

    Args:
        t: population rows joined with :func:`history_aggregates` and :func:`window_aggregates`.
        cuts: the cutoffs ``t`` describes.
        features: windows and trend length.
        signup_ts: the customer's signup time (may be null).

    Returns:
        Column name -> expression for the feature table.
    """
    zero = ibis.literal(0.0)
    n = t.n_purchases.fill_null(0).cast("float64")
    gap_n = t.gap_n.fill_null(0).cast("float64")
    minutes_per_day = SECONDS_PER_DAY * MINUTES
    gap_mean = ibis.ifelse(gap_n > 0, t.gap_sum / gap_n / minutes_per_day, ibis.null("float64"))
    gap_var = (t.gap_sq - t.gap_sum * t.gap_sum / gap_n) / (gap_n - 1) / (minutes_per_day * minutes_per_day)
    cutoff = cuts.value(t, "cutoff")
    recency = days_between(cutoff, t.last_purchase_ts)
    known_signup = ibis.ifelse(signup_ts < cutoff, signup_ts, NO_TIME)
    started = ibis.least(t.first_purchase_ts, known_signup)
    trend = features.trend_days
    out = {
        "recency_days": recency,
        "tenure_days": days_between(cutoff, ibis.coalesce(started, t.first_purchase_ts, known_signup)),
        "n_purchases": n,
        "spend_total": t.spend_total.fill_null(zero) / CENTS,
        "spend_mean": ibis.ifelse(n > 0, t.purchase_spend / n / CENTS, ibis.null("float64")),
        "spend_max": t.spend_max,
    }
    for w in features.windows_days:
        out[f"n_purchases_{w}d"] = t[f"n_purchases_{w}d"].fill_null(0).cast("float64")
        n_w = t[f"n_purchases_{w}d"].fill_null(0).cast("float64")
        out[f"spend_total_{w}d"] = t[f"spend_total_{w}d"].fill_null(zero) / CENTS
        out[f"spend_mean_{w}d"] = ibis.ifelse(
            n_w > 0, t[f"_purchase_cents_{w}d"] / n_w / CENTS, ibis.null("float64")
        )
        out[f"spend_max_{w}d"] = t[f"spend_max_{w}d"]
    n_recent = t._n_recent.fill_null(0).cast("float64")
    n_previous = t._n_previous.fill_null(0).cast("float64")
    spend_previous = t._spend_previous.fill_null(zero)
    out.update(
        {
            "gap_mean_days": gap_mean,
            "gap_std_days": ibis.ifelse(gap_n > 1, ibis.greatest(gap_var, zero).sqrt(), ibis.null("float64")),
            "overdue_ratio": ibis.ifelse(gap_mean > 0, recency / gap_mean, ibis.null("float64")),
            f"purchase_trend_{trend}d": ibis.ifelse(
                n_previous > 0, n_recent / n_previous, ibis.null("float64")
            ),
            f"spend_trend_{trend}d": ibis.ifelse(
                spend_previous > 0, t._spend_recent.fill_null(zero) / spend_previous, ibis.null("float64")
            ),
            "refund_share": ibis.ifelse(
                n > 0, t.n_refunds.fill_null(0).cast("float64") / n, ibis.null("float64")
            ),
        }
    )
    return out
