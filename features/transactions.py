"""RFM, rhythm and trend features from transactions, for many cutoffs in one query.

A purchase is a transaction with a positive amount; a negative amount is a refund. Spend is net
(refunds subtract). All-history aggregates are built from per-bucket partials (each row read once);
windowed aggregates read only the rows in the longest window before each cutoff.
"""

from __future__ import annotations

import ibis
from ibis.expr.types import Table

from churnguard.config import ChurnSettings, FeatureSettings, ValueSettings
from features.cutoffs import CutoffTable
from features.timeutil import NO_TIME, accumulate_buckets, days_between, in_window, join_recent


def _with_gaps(transactions: Table) -> Table:
    tx = transactions.select("customer_id", "ts", "amount").mutate(is_purchase=ibis._.amount > 0)
    # Gaps between consecutive purchases, computed once over the whole history: a gap is known at a
    # cutoff exactly when its later purchase is before the cutoff, so bucketing keeps it point-in-time.
    previous = tx.ts.lag().over(group_by=[tx.customer_id, tx.is_purchase], order_by=tx.ts)
    return tx.mutate(
        gap_days=ibis.ifelse(tx.is_purchase, days_between(tx.ts, previous), ibis.null("float64"))
    )


def history_aggregates(transactions: Table, cuts: CutoffTable) -> Table:
    """All-history purchase aggregates per (customer_id, cutoff) for customers with any transaction."""
    tx = _with_gaps(transactions)
    tx = tx.mutate(bucket=cuts.bucket(tx.ts))
    tx = tx.filter(tx.bucket.notnull())
    buy = tx.is_purchase
    partials = tx.group_by(["customer_id", "bucket"]).aggregate(
        n=tx.count(where=buy),
        spend=tx.amount.sum(),
        purchase_spend=tx.amount.sum(where=buy),
        max_amount=tx.amount.max(where=buy),
        first_ts=tx.ts.min(where=buy),
        last_ts=tx.ts.max(where=buy),
        gap_n=tx.gap_days.count(),
        gap_sum=tx.gap_days.sum(),
        gap_sq=(tx.gap_days * tx.gap_days).sum(),
        n_refunds=tx.count(where=tx.amount < 0),
    )
    p = partials
    return accumulate_buckets(
        p,
        cuts,
        n_purchases=p.n.sum(),
        spend_total=p.spend.sum(),
        purchase_spend=p.purchase_spend.sum(),
        spend_max=p.max_amount.max(),
        first_purchase_ts=p.first_ts.min(),
        last_purchase_ts=p.last_ts.max(),
        gap_n=p.gap_n.sum(),
        gap_sum=p.gap_sum.sum(),
        gap_sq=p.gap_sq.sum(),
        n_refunds=p.n_refunds.sum(),
    )


def window_days(features: FeatureSettings, churn: ChurnSettings, value: ValueSettings) -> set[int]:
    """Every window length the transaction aggregates use (the cutoff table needs their starts)."""
    t = features.trend_days
    return {*features.windows_days, t, 2 * t, churn.lookback_days, value.window_days}


def longest_window(features: FeatureSettings, churn: ChurnSettings, value: ValueSettings) -> int:
    """Days of history the windowed aggregates need before a cutoff."""
    return max(window_days(features, churn, value))


def window_aggregates(
    transactions: Table, cuts: Table, features: FeatureSettings, churn: ChurnSettings, value: ValueSettings
) -> Table:
    """Windowed purchase counts and spend per (customer_id, cutoff) for customers with recent rows."""
    tx = join_recent(
        transactions.select("customer_id", "ts", "amount"),
        cuts,
        "ts",
        longest_window(features, churn, value),
    )
    buy = tx.amount > 0
    aggs = {}
    for w in features.windows_days:
        inside = in_window(tx.ts, tx, w)
        aggs[f"n_purchases_{w}d"] = tx.count(where=buy & inside)
        aggs[f"spend_total_{w}d"] = tx.amount.sum(where=inside)
        aggs[f"spend_mean_{w}d"] = tx.amount.mean(where=buy & inside)
        aggs[f"spend_max_{w}d"] = tx.amount.max(where=buy & inside)
    t = features.trend_days
    recent = in_window(tx.ts, tx, t)
    previous = in_window(tx.ts, tx, 2 * t) & ~recent
    aggs["_n_recent"] = tx.count(where=buy & recent)
    aggs["_n_previous"] = tx.count(where=buy & previous)
    aggs["_spend_recent"] = tx.amount.sum(where=recent)
    aggs["_spend_previous"] = tx.amount.sum(where=previous)
    lookback = in_window(tx.ts, tx, churn.lookback_days)
    aggs["_n_lookback"] = tx.count(where=buy & lookback)
    aggs["_spend_lookback"] = tx.amount.sum(where=lookback)
    aggs["trailing_spend"] = tx.amount.sum(where=in_window(tx.ts, tx, value.window_days))
    return tx.group_by(["customer_id", "cutoff"]).aggregate(**aggs)


def finish_transaction_features(t: Table, features: FeatureSettings, signup_ts: ibis.Value) -> dict:
    """Derived RFM/rhythm/trend columns, given a table holding the history and window aggregates.

    Args:
        t: population rows joined with :func:`history_aggregates` and :func:`window_aggregates`.
        features: windows and trend length.
        signup_ts: the customer's signup time (may be null).

    Returns:
        Column name -> expression for the feature table.
    """
    zero = ibis.literal(0.0)
    n = t.n_purchases.fill_null(0).cast("float64")
    gap_n = t.gap_n.fill_null(0).cast("float64")
    gap_mean = ibis.ifelse(gap_n > 0, t.gap_sum / gap_n, ibis.null("float64"))
    gap_var = (t.gap_sq - t.gap_sum * t.gap_sum / gap_n) / (gap_n - 1)
    recency = days_between(t.cutoff, t.last_purchase_ts)
    known_signup = ibis.ifelse(signup_ts < t.cutoff, signup_ts, NO_TIME)
    started = ibis.least(t.first_purchase_ts, known_signup)
    trend = features.trend_days
    out = {
        "recency_days": recency,
        "tenure_days": days_between(t.cutoff, ibis.coalesce(started, t.first_purchase_ts, known_signup)),
        "n_purchases": n,
        "spend_total": t.spend_total.fill_null(zero),
        "spend_mean": ibis.ifelse(n > 0, t.purchase_spend / n, ibis.null("float64")),
        "spend_max": t.spend_max,
    }
    for w in features.windows_days:
        out[f"n_purchases_{w}d"] = t[f"n_purchases_{w}d"].fill_null(0).cast("float64")
        out[f"spend_total_{w}d"] = t[f"spend_total_{w}d"].fill_null(zero)
        out[f"spend_mean_{w}d"] = t[f"spend_mean_{w}d"]
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
