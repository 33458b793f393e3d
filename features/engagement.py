"""Engagement features from events: per event type and window, email rates, service and NPS."""

from __future__ import annotations

import re
from collections.abc import Sequence

import ibis
from ibis.expr.types import Table

from features.timeutil import days_between, in_window, join_buckets, join_recent, spread_buckets

NPS_EVENT = "nps_response"
EMAIL_SENT, EMAIL_OPEN, EMAIL_CLICK = "email_sent", "email_open", "email_click"


def event_slug(event_type: str) -> str:
    """A feature-name-safe form of a free-text event type (``"Support Ticket"`` -> ``support_ticket``)."""
    return re.sub(r"[^a-z0-9]+", "_", event_type.lower()).strip("_") or "other"


def window_aggregates(
    events: Table,
    cuts: Table,
    event_types: Sequence[str],
    valued_types: Sequence[str],
    windows: Sequence[int],
) -> Table:
    """Counts, active days and mean values per event type and window, per (customer_id, cutoff)."""
    longest = max(windows)
    ev = join_recent(
        events.filter(events.event_type.isin(list(event_types))).select(
            "customer_id", "ts", "event_type", "value"
        ),
        cuts,
        "ts",
        longest,
    )
    day = ev.ts.date()
    aggs = {}
    for event_type in event_types:
        slug = event_slug(event_type)
        is_type = ev.event_type == event_type
        for w in windows:
            inside = is_type & in_window(ev.ts, ev.cutoff, w)
            aggs[f"evt_{slug}_count_{w}d"] = ev.count(where=inside)
            aggs[f"evt_{slug}_active_days_{w}d"] = day.nunique(where=inside)
        if event_type in valued_types:
            aggs[f"evt_{slug}_value_mean_{longest}d"] = ev.value.mean(where=is_type)
    return ev.group_by(["customer_id", "cutoff"]).aggregate(**aggs)


def history_aggregates(events: Table, cuts: Table, event_types: Sequence[str]) -> Table:
    """Time of the last event of each type and the last NPS answer before each cutoff."""
    ev = join_buckets(
        events.filter(events.event_type.isin(list(event_types))).select(
            "customer_id", "ts", "event_type", "value"
        ),
        cuts,
        "ts",
    )
    partials = ev.group_by(["customer_id", "bucket", "event_type"]).aggregate(
        last_ts=ev.ts.max(), last_value=ev.value.argmax(ev.ts)
    )
    p = spread_buckets(partials, cuts)
    aggs = {f"_last_{event_slug(t)}": p.last_ts.max(where=p.event_type == t) for t in event_types}
    if NPS_EVENT in event_types:
        aggs["nps_last"] = p.last_value.argmax(p.last_ts, where=p.event_type == NPS_EVENT)
    return p.group_by(["customer_id", "cutoff"]).aggregate(**aggs)


def finish_engagement_features(
    t: Table, event_types: Sequence[str], valued_types: Sequence[str], windows: Sequence[int]
) -> dict:
    """Feature columns from the joined window and history aggregates; absent history gives 0 counts."""
    out = {}
    longest = max(windows)
    for event_type in event_types:
        slug = event_slug(event_type)
        for w in windows:
            for kind in ("count", "active_days"):
                name = f"evt_{slug}_{kind}_{w}d"
                out[name] = t[name].fill_null(0).cast("float64")
        out[f"evt_{slug}_days_since"] = days_between(t.cutoff, t[f"_last_{event_slug(event_type)}"])
        if event_type in valued_types:
            out[f"evt_{slug}_value_mean_{longest}d"] = t[f"evt_{slug}_value_mean_{longest}d"]
    for w in windows:
        if EMAIL_OPEN in event_types and EMAIL_CLICK in event_types:
            opens = out[f"evt_{EMAIL_OPEN}_count_{w}d"]
            out[f"email_click_rate_{w}d"] = ibis.ifelse(
                opens > 0, out[f"evt_{EMAIL_CLICK}_count_{w}d"] / opens, ibis.null("float64")
            )
        if EMAIL_SENT in event_types and EMAIL_OPEN in event_types:
            sent = out[f"evt_{EMAIL_SENT}_count_{w}d"]
            out[f"email_open_rate_{w}d"] = ibis.ifelse(
                sent > 0, out[f"evt_{EMAIL_OPEN}_count_{w}d"] / sent, ibis.null("float64")
            )
    if NPS_EVENT in event_types:
        out["nps_last"] = t.nps_last.cast("float64")
        out["nps_class"] = nps_class(t.nps_last)
    return out


def nps_class(answer: ibis.Value) -> ibis.Value:
    """promoter (9-10), passive (7-8), detractor (0-6), none (never answered)."""
    return ibis.cases(
        (answer >= 9, "promoter"),
        (answer >= 7, "passive"),
        (answer.notnull(), "detractor"),
        else_="none",
    )
