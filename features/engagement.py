"""Engagement features from events: per event type and window, email rates, service and NPS."""

from __future__ import annotations

import re
from collections.abc import Sequence

import ibis
from ibis.expr.types import Table

from churnguard.features.cutoffs import CutoffTable, since
from churnguard.features.timeutil import NO_TIME, accumulate, bucketed, days_between, fixed_point, join_recent

VALUE_SCALE = 1e6  # event values are summed in millionths, exactly (see fixed_point)
NPS_EVENT = "nps_response"
EMAIL_SENT, EMAIL_OPEN, EMAIL_CLICK = "email_sent", "email_open", "email_click"


def event_slug(event_type: str) -> str:
    """A feature-name-safe form of a free-text event type (``"Support Ticket"`` -> ``support_ticket``)."""
    return re.sub(r"[^a-z0-9]+", "_", event_type.lower()).strip("_") or "other"


def coded(events: Table, event_types: Sequence[str]) -> Table:
    """Events of the given types with an integer ``code`` (the type's position) instead of the text type.

    Grouping and filtering on a small integer is much cheaper than on text, and the join drops the
    other types.
    """
    codes = ibis.memtable({"event_type": list(event_types), "code": list(range(len(event_types)))})
    ev = events.select("customer_id", "ts", "event_type", "value")
    return ev.join(codes, "event_type").select("customer_id", "ts", "code", "value")


def with_previous_same_day(ev: Table) -> Table:
    """Coded events with ``prev_same_day``: the time of the previous event of the same customer and type
    on the same UTC day (null for the first of its day).

    An event is the first of its day inside a window ``[start, cutoff)`` exactly when
    ``prev_same_day`` is null or before ``start``: so active days are a plain filtered count. Rows
    before the earliest window start may be left out first; that changes no such test.
    """
    previous = ev.ts.lag().over(group_by=[ev.customer_id, ev.code], order_by=ev.ts)
    return ev.mutate(prev_same_day=ibis.ifelse(previous.date() == ev.ts.date(), previous, NO_TIME))


def window_aggregates(
    ev: Table,
    cuts: CutoffTable,
    event_types: Sequence[str],
    valued_types: Sequence[str],
    windows: Sequence[int],
) -> Table:
    """Counts, active days and mean values per event type and window, per customer (and cutoff).

    ``ev`` are :func:`with_previous_same_day` events, at least those the chosen cutoffs' windows need.
    One row per customer (and cutoff) with ``evt_{slug}_count_{w}d``, ``evt_{slug}_active_days_{w}d``
    and, for valued types, ``evt_{slug}_value_mean_{longest}d``: one grouping for every type.
    """
    longest = max(windows)
    ev = join_recent(ev, cuts, "ts", longest)
    aggs = {}
    for code, event_type in enumerate(event_types):
        slug = event_slug(event_type)
        of_type = ev.code == code
        for w in windows:
            start = cuts.value(ev, since(w))
            inside = of_type & (ev.ts >= start) if w != longest else of_type
            aggs[f"evt_{slug}_count_{w}d"] = ev.count(where=inside)
            first_of_day = ev.prev_same_day.isnull() | (ev.prev_same_day < start)
            aggs[f"evt_{slug}_active_days_{w}d"] = ev.count(where=inside & first_of_day)
        if event_type in valued_types:
            aggs[f"_value_sum_{slug}"] = fixed_point(ev.value, VALUE_SCALE).sum(where=of_type)
            aggs[f"_value_n_{slug}"] = ev.value.count(where=of_type)
    t = ev.group_by(cuts.keys).aggregate(**aggs)
    means = {}
    for event_type in (t for t in event_types if t in valued_types):
        slug = event_slug(event_type)
        n = t[f"_value_n_{slug}"]
        means[f"evt_{slug}_value_mean_{longest}d"] = ibis.ifelse(
            n > 0, t[f"_value_sum_{slug}"] / n / VALUE_SCALE, ibis.null("float64")
        )
    return t.mutate(**means).drop(*(c for c in t.columns if c.startswith("_value_")))


def history_partials(ev: Table, cuts: CutoffTable, event_types: Sequence[str]) -> Table:
    """Last event time per type (and the last NPS answer) per (customer_id, history bucket)."""
    ev = bucketed(ev, cuts)
    last = {f"_last_{event_slug(t)}": ev.ts.max(where=ev.code == code) for code, t in enumerate(event_types)}
    if NPS_EVENT in event_types:
        last["nps_last"] = ev.value.argmax(ev.ts, where=ev.code == list(event_types).index(NPS_EVENT))
    return ev.group_by(["customer_id", "bucket"]).aggregate(**last)


def history_aggregates(partials: Table, cuts: CutoffTable, event_types: Sequence[str]) -> Table:
    """Time of the last event of each type and the last NPS answer before each chosen cutoff."""

    def combine(p: Table) -> dict:
        running = {f"_last_{event_slug(t)}": p[f"_last_{event_slug(t)}"].max() for t in event_types}
        if NPS_EVENT in event_types:
            running["nps_last"] = p.nps_last.argmax(p[f"_last_{event_slug(NPS_EVENT)}"])
        return running

    return accumulate(partials, cuts, combine)


def finish_engagement_features(
    t: Table,
    cuts: CutoffTable,
    event_types: Sequence[str],
    valued_types: Sequence[str],
    windows: Sequence[int],
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
        out[f"evt_{slug}_days_since"] = days_between(cuts.value(t, "cutoff"), t[f"_last_{slug}"])
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
