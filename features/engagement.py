"""Engagement features from events: per event type and window, email rates, service and NPS."""

from __future__ import annotations

import re
from collections.abc import Sequence

import ibis
from ibis.expr.types import Table

from features.cutoffs import CutoffTable
from features.timeutil import accumulate_buckets, days_between, fixed_point, in_window, join_recent

VALUE_SCALE = 1e6  # event values are summed in millionths, exactly (see fixed_point)
NPS_EVENT = "nps_response"
EMAIL_SENT, EMAIL_OPEN, EMAIL_CLICK = "email_sent", "email_open", "email_click"


def event_slug(event_type: str) -> str:
    """A feature-name-safe form of a free-text event type (``"Support Ticket"`` -> ``support_ticket``)."""
    return re.sub(r"[^a-z0-9]+", "_", event_type.lower()).strip("_") or "other"


def _coded(events: Table, event_types: Sequence[str]) -> Table:
    """Events of the given types with an integer ``code`` (the type's position) instead of the text type.

    Grouping and filtering on a small integer is much cheaper than on text, and the join drops the
    other types.
    """
    codes = ibis.memtable({"event_type": list(event_types), "code": list(range(len(event_types)))})
    ev = events.select("customer_id", "ts", "event_type", "value")
    return ev.join(codes, "event_type").select("customer_id", "ts", "code", "value")


def window_aggregates(
    events: Table,
    cuts: Table,
    event_types: Sequence[str],
    valued_types: Sequence[str],
    windows: Sequence[int],
) -> list[Table]:
    """Counts, active days and mean values per event type and window, per (customer_id, cutoff).

    Returns one table per event type (in the order of ``event_types``) with that type's columns.

    Events are first counted per (customer, cutoff, type, UTC day): a day is active in a window when
    it has an event in that window, which avoids a distinct count per type and window.
    """
    longest = max(windows)
    ev = join_recent(_coded(events, event_types), cuts, "ts", longest)
    days = ev.group_by(["customer_id", "cutoff", "code", ev.ts.date().name("day")]).aggregate(
        **{
            f"n_{w}": ev.count(where=in_window(ev.ts, ev, w)) if w != longest else ev.count() for w in windows
        },
        value_sum=fixed_point(ev.value, VALUE_SCALE).sum(),
        value_n=ev.value.count(),
    )
    per_type = days.group_by(["customer_id", "cutoff", "code"]).aggregate(
        **{f"count_{w}": days[f"n_{w}"].sum() for w in windows},
        **{f"active_days_{w}": days.count(where=days[f"n_{w}"] > 0) for w in windows},
        value_sum=days.value_sum.sum(),
        value_n=days.value_n.sum(),
    )
    # One table per type, renamed to its feature columns; the caller joins them to the population.
    tables = []
    for code, event_type in enumerate(event_types):
        slug = event_slug(event_type)
        rows = per_type.filter(per_type.code == code)
        columns = {}
        for w in windows:
            columns[f"evt_{slug}_count_{w}d"] = rows[f"count_{w}"]
            columns[f"evt_{slug}_active_days_{w}d"] = rows[f"active_days_{w}"]
        if event_type in valued_types:
            columns[f"evt_{slug}_value_mean_{longest}d"] = ibis.ifelse(
                rows.value_n > 0, rows.value_sum / rows.value_n / VALUE_SCALE, ibis.null("float64")
            )
        tables.append(rows.select("customer_id", "cutoff", **columns))
    return tables


def history_aggregates(events: Table, cuts: CutoffTable, event_types: Sequence[str]) -> Table:
    """Time of the last event of each type and the last NPS answer before each cutoff."""
    ev = _coded(events, event_types)
    ev = ev.mutate(bucket=cuts.bucket(ev.ts))
    ev = ev.filter(ev.bucket.notnull())
    last = {f"_last_{event_slug(t)}": ev.ts.max(where=ev.code == code) for code, t in enumerate(event_types)}
    if NPS_EVENT in event_types:
        last["_nps_value"] = ev.value.argmax(ev.ts, where=ev.code == list(event_types).index(NPS_EVENT))
    p = ev.group_by(["customer_id", "bucket"]).aggregate(**last)
    running = {name: p[name].max() for name in last if name != "_nps_value"}
    if NPS_EVENT in event_types:
        running["nps_last"] = p._nps_value.argmax(p[f"_last_{event_slug(NPS_EVENT)}"])
    return accumulate_buckets(p, cuts, **running)


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
