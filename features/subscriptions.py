"""Subscription state at each cutoff: active or not, plan, age, MRR.

A subscription is active at time t when it started before t and has not ended before t
(``end_ts`` is empty or at/after t). End dates after the run's ``as_of`` are not known yet and are
already cleared by the loader.
"""

from __future__ import annotations

from ibis.expr.types import BooleanValue, Table, TimestampValue

from features.timeutil import days_between, fixed_point


def active_at(subs: Table, moment: TimestampValue) -> BooleanValue:
    return (subs.start_ts < moment) & (subs.end_ts.isnull() | (subs.end_ts >= moment))


def subscription_aggregates(subscriptions: Table, cuts: Table) -> Table:
    """Per (customer_id, cutoff) with any subscription started before the cutoff."""
    s = subscriptions.join(cuts, subscriptions.start_ts < cuts.cutoff)
    active = active_at(s, s.cutoff)
    aggs = {
        "sub_n_active": s.count(where=active),
        "sub_n_ended": s.count(where=~active),
        "_sub_first_start": s.start_ts.min(where=active),
    }
    if "mrr" in subscriptions.columns:
        aggs["sub_mrr"] = fixed_point(s.mrr, 100.0).sum(where=active) / 100.0
    if "plan" in subscriptions.columns:
        aggs["sub_plan"] = s.plan.cast("string").argmax(s.start_ts, where=active)
    return s.group_by(["customer_id", "cutoff"]).aggregate(**aggs)


def finish_subscription_features(t: Table, has_mrr: bool, has_plan: bool) -> dict:
    out = {
        "sub_active": (t.sub_n_active.fill_null(0) > 0).cast("float64"),
        "sub_n_ended": t.sub_n_ended.fill_null(0).cast("float64"),
        "sub_age_days": days_between(t.cutoff, t._sub_first_start),
    }
    if has_mrr:
        out["sub_mrr"] = t.sub_mrr.fill_null(0.0)
    if has_plan:
        out["sub_plan"] = t.sub_plan.fill_null("none")
    return out


def still_subscribed(subscriptions: Table, cuts: Table) -> Table:
    """(customer_id, cutoff) pairs with a subscription active at the end of the horizon (``label_end``)."""
    s = subscriptions.join(cuts, active_at(subscriptions, cuts.label_end))
    return s.select("customer_id", "cutoff").distinct()
