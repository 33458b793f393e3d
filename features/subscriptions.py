"""Subscription state at each cutoff: active or not, plan, age, MRR.

A subscription is active at time t when it started before t and has not ended before t
(``end_ts`` is empty or at/after t). End dates after the run's ``as_of`` are not known yet and are
already cleared by the loader.
"""

from __future__ import annotations

from ibis.expr.types import BooleanValue, Table, TimestampValue

from churnguard.features.cutoffs import CutoffTable
from churnguard.features.timeutil import days_between, fixed_point


def active_at(subs: Table, moment: TimestampValue) -> BooleanValue:
    return (subs.start_ts < moment) & (subs.end_ts.isnull() | (subs.end_ts >= moment))


def _with_cutoffs(subscriptions: Table, cuts: CutoffTable, moment: str) -> Table:
    """Subscriptions paired with each chosen cutoff (and its ``moment`` column, e.g. ``label_end``)."""
    if cuts.single:
        return subscriptions
    c = cuts.table.select("cutoff", moment) if moment != "cutoff" else cuts.table.select("cutoff")
    return subscriptions.cross_join(c)


def subscription_aggregates(subscriptions: Table, cuts: CutoffTable) -> Table:
    """Per customer (and cutoff) with any subscription started before the cutoff."""
    s = _with_cutoffs(subscriptions, cuts, "cutoff")
    s = s.filter(s.start_ts < cuts.value(s, "cutoff"))
    active = active_at(s, cuts.value(s, "cutoff"))
    aggs = {
        "sub_n_active": s.count(where=active),
        "sub_n_ended": s.count(where=~active),
        "_sub_first_start": s.start_ts.min(where=active),
    }
    if "mrr" in subscriptions.columns:
        aggs["sub_mrr"] = fixed_point(s.mrr, 100.0).sum(where=active) / 100.0
    if "plan" in subscriptions.columns:
        aggs["sub_plan"] = s.plan.cast("string").argmax(s.start_ts, where=active)
    return s.group_by(cuts.keys).aggregate(**aggs)


def finish_subscription_features(t: Table, cuts: CutoffTable, has_mrr: bool, has_plan: bool) -> dict:
    out = {
        # ifelse, not a cast: PostgreSQL has no boolean -> double cast.
        "sub_active": (t.sub_n_active.fill_null(0) > 0).ifelse(1, 0).cast("float64"),
        "sub_n_ended": t.sub_n_ended.fill_null(0).cast("float64"),
        "sub_age_days": days_between(cuts.value(t, "cutoff"), t._sub_first_start),
    }
    if has_mrr:
        out["sub_mrr"] = t.sub_mrr.fill_null(0.0)
    if has_plan:
        out["sub_plan"] = t.sub_plan.fill_null("none")
    return out


def still_subscribed(subscriptions: Table, cuts: CutoffTable) -> Table:
    """Customers (and cutoffs) with a subscription active at the end of the horizon (``label_end``)."""
    s = _with_cutoffs(subscriptions, cuts, "label_end")
    s = s.filter(active_at(s, cuts.value(s, "label_end")))
    return s.select(*cuts.keys).distinct()
