"""Plain-words reasons from per-feature contributions: "No purchase for 142 days; usually buys every 30".

Each feature name resolves once to a template (a small function of the customer's feature values);
reasons are the customer's largest positive contributions, one per topic, so "days since last
purchase" and "overdue ratio" never both say the customer is lapsing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.build import FeatureSpec
from features.catalog import feature_catalog

Row = Callable[[str], object]  # column name -> this customer's value
Template = Callable[[Row], str]

# Event types with natural words; others fall back to "<event> events".
EVENT_NOUNS = {
    "login": ("login", "logins"),
    "email_open": ("email open", "email opens"),
    "email_click": ("email click", "email clicks"),
    "email_sent": ("email received", "emails received"),
    "support_ticket": ("support ticket", "support tickets"),
    "complaint": ("complaint", "complaints"),
    "nps_response": ("NPS answer", "NPS answers"),
}
VALUE_PHRASES = {
    "support_ticket": "Support tickets took {v:.0f} hours on average to resolve (last {w} days)",
    "login": "Average session {v:.0f} minutes (last {w} days)",
    "nps_response": "Average NPS answer {v:.1f} (last {w} days)",
}
MAX_REASONS = 3
_CANDIDATES = 8


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _count(v: float, one: str, many: str) -> str:
    return f"{v:,.0f} {one if round(v) == 1 else many}"


def _period(w: int) -> str:
    return "the previous quarter" if w == 90 else f"the previous {w} days"


def _change(v: object, what: str, w: int) -> str:
    if _missing(v):
        return f"No {what} in {_period(w)} to compare with"
    if v < 0:
        return f"Net {what} negative (refunds) in the last {w} days"
    direction = "down" if v < 1 else "up"
    return f"{what.capitalize()} {direction} {abs(1 - v):.0%} vs {_period(w)}"


def _lapse(row: Row) -> str:
    recency, gap = row("recency_days"), row("gap_mean_days")
    if _missing(recency):
        return "No purchase yet"
    text = f"No purchase for {recency:,.0f} days"
    return text if _missing(gap) else f"{text}; usually buys every {gap:,.0f}"


def _nps(row: Row) -> str:
    answer = row("nps_last")
    if _missing(answer):
        return "Never answered the NPS survey"
    cls = "promoter" if answer >= 9 else "passive" if answer >= 7 else "detractor"
    return f"Last NPS answer {answer:.0f} ({cls})"


def _value(name: str, fmt: Callable[[float], str], when_missing: str) -> Template:
    def template(row: Row) -> str:
        v = row(name)
        return when_missing if _missing(v) else fmt(v)

    return template


def _event_template(name: str, slug: str, measure: str, w: int | None) -> Template:
    one, many = EVENT_NOUNS.get(slug, (f"{slug.replace('_', ' ')} event", f"{slug.replace('_', ' ')} events"))
    if measure == "count":
        return _value(
            name,
            lambda v: (
                f"No {many} in the last {w} days"
                if v == 0
                else f"{_count(v, one, many)} in the last {w} days"
            ),
            f"No {many} in the last {w} days",
        )
    if measure == "active_days":
        return _value(
            name,
            lambda v: f"{many.capitalize()} on {_count(v, 'day', 'days')} of the last {w}",
            f"No {many} in the last {w} days",
        )
    if measure == "days_since":
        return _value(name, lambda v: f"Last {one} {v:,.0f} days ago", f"No {one} ever")
    phrase = VALUE_PHRASES.get(slug, f"Average {one} value {{v:.1f}} (last {{w}} days)")
    return _value(name, lambda v: phrase.format(v=v, w=w), f"No {many} in the last {w} days")


_EVENT = re.compile(
    r"evt_(?P<slug>.+?)_(?P<measure>count|active_days|value_mean)_(?P<w>\d+)d|evt_(?P<slug2>.+)_days_since"
)
_WINDOWED = re.compile(r"(?P<base>.+)_(?P<w>\d+)d")


def template_for(name: str) -> tuple[Template, str]:
    """The template of one feature and its topic (reasons on one topic are shown once).

    Raises:
        KeyError: a feature without a template; every feature churnguard builds has one.
    """
    if name in ("recency_days", "overdue_ratio"):
        return _lapse, "lapse"
    if name in ("nps_last", "nps_class"):
        return _nps, "nps"
    event = _EVENT.fullmatch(name)
    if event:
        if event["slug2"]:
            return _event_template(name, event["slug2"], "days_since", None), f"event:{event['slug2']}"
        return _event_template(
            name, event["slug"], event["measure"], int(event["w"])
        ), f"event:{event['slug']}"
    fixed = {
        "tenure_days": _value(name, lambda v: f"Customer for {v:,.0f} days", "New customer"),
        "n_purchases": _value(
            name, lambda v: f"{_count(v, 'purchase', 'purchases')} in total", "No purchase yet"
        ),
        "spend_total": _value(name, lambda v: f"Spent {v:,.0f} in total", "No spend yet"),
        "spend_mean": _value(name, lambda v: f"Average order {v:,.0f}", "No order yet"),
        "spend_max": _value(name, lambda v: f"Largest order {v:,.0f}", "No order yet"),
        "refund_share": _value(name, lambda v: f"{v:.0%} of orders refunded", "No order yet"),
        "gap_mean_days": _value(
            name, lambda v: f"Usually {v:,.0f} days between purchases", "Only one purchase so far"
        ),
        "gap_std_days": _value(
            name,
            lambda v: f"Irregular buying: gaps vary by ±{v:,.0f} days",
            "Too few purchases to show a rhythm",
        ),
        "sub_active": _value(
            name,
            lambda v: "Has an active subscription" if v else "No active subscription",
            "No active subscription",
        ),
        "sub_n_ended": _value(
            name,
            lambda v: f"{_count(v, 'subscription', 'subscriptions')} cancelled before",
            "No earlier cancellation",
        ),
        "sub_age_days": _value(
            name, lambda v: f"Subscription started {v:,.0f} days ago", "No active subscription"
        ),
        "sub_mrr": _value(name, lambda v: f"Subscription worth {v:,.2f} a month", "No active subscription"),
        "sub_plan": _value(
            name,
            lambda v: "No active subscription" if v == "none" else f"On the {v} plan",
            "No active subscription",
        ),
        "rfm_r": _value(name, lambda v: f"RFM recency score {v:.0f} of 5", "No RFM score"),
        "rfm_f": _value(name, lambda v: f"RFM frequency score {v:.0f} of 5", "No RFM score"),
        "rfm_m": _value(name, lambda v: f"RFM monetary score {v:.0f} of 5", "No RFM score"),
        "rfm_segment": _value(name, lambda v: f"RFM segment: {v}", "No RFM segment"),
    }
    if name in fixed:
        return fixed[name], "segment" if name.startswith("rfm_") else name
    if name.startswith("attr_"):
        label = name.removeprefix("attr_").replace("_", " ").capitalize()
        return _value(name, lambda v: f"{label}: {v}", f"{label} unknown"), name
    windowed = _WINDOWED.fullmatch(name)
    if windowed:
        base, w = windowed["base"], int(windowed["w"])
        templates = {
            "n_purchases": _value(
                name,
                lambda v: (
                    f"No purchase in the last {w} days"
                    if v == 0
                    else f"{_count(v, 'purchase', 'purchases')} in the last {w} days"
                ),
                "",
            ),
            "spend_total": _value(name, lambda v: f"Spent {v:,.0f} in the last {w} days", ""),
            "spend_mean": _value(
                name,
                lambda v: f"Average order {v:,.0f} in the last {w} days",
                f"No order in the last {w} days",
            ),
            "spend_max": _value(
                name,
                lambda v: f"Largest order {v:,.0f} in the last {w} days",
                f"No order in the last {w} days",
            ),
            "purchase_trend": lambda row: _change(row(name), "purchases", w),
            "spend_trend": lambda row: _change(row(name), "spend", w),
            "email_click_rate": _value(
                name,
                lambda v: f"Clicked {v:.0%} of opened emails in the last {w} days",
                f"No email opened in the last {w} days",
            ),
            "email_open_rate": _value(
                name,
                lambda v: f"Opened {v:.0%} of emails received in the last {w} days",
                f"No email received in the last {w} days",
            ),
        }
        if base in templates:
            topic = "trend" if base.endswith("trend") else "email" if base.startswith("email") else base
            return templates[base], topic
    raise KeyError(f"no reason template for feature {name!r}")


@dataclass
class Explanations:
    """Per customer: up to three reason texts and the kind (feature family) of each."""

    texts: list[list[str]]
    kinds: list[list[str]]

    def columns(self) -> dict[str, list[str | None]]:
        out = {}
        for slot in range(MAX_REASONS):
            out[f"reason_{slot + 1}"] = [t[slot] if len(t) > slot else None for t in self.texts]
        return out


def explain(
    frame: pd.DataFrame, contributions: pd.DataFrame, spec: FeatureSpec | None = None
) -> Explanations:
    """Reasons for each row from its largest positive contributions.

    Args:
        frame: the customers' feature values (same index order as ``contributions``).
        contributions: per-feature contributions (``bias`` column ignored).
        spec: the model's feature spec (tells numeric attributes apart).

    Returns:
        Up to three reasons per customer, each on a different topic.
    """
    names = [c for c in contributions.columns if c != "bias"]
    catalog = feature_catalog(spec)
    resolved = [template_for(n) for n in names]
    topics = [topic for _, topic in resolved]
    kinds = [catalog[n].family for n in names]
    values = {c: frame[c].to_numpy() for c in frame.columns}
    matrix = contributions[names].to_numpy(dtype=float)
    k = min(_CANDIDATES, len(names))
    top = (
        np.argpartition(-matrix, k - 1, axis=1)[:, :k]
        if k < len(names)
        else np.tile(np.arange(len(names)), (len(matrix), 1))
    )
    order = np.take_along_axis(matrix, top, axis=1).argsort(axis=1)[:, ::-1]
    ranked = np.take_along_axis(top, order, axis=1)
    texts: list[list[str]] = []
    reason_kinds: list[list[str]] = []
    for i, candidates in enumerate(ranked):
        row_texts, row_kinds, seen = [], [], set()
        row: Row = lambda column, i=i: values[column][i]  # noqa: E731
        for j in candidates:
            if matrix[i, j] <= 0 or len(row_texts) == MAX_REASONS:
                break
            if topics[j] in seen:
                continue
            seen.add(topics[j])
            row_texts.append(resolved[j][0](row))
            row_kinds.append(kinds[j])
        texts.append(row_texts)
        reason_kinds.append(row_kinds)
    return Explanations(texts=texts, kinds=reason_kinds)


def check_templates(feature_names: Sequence[str]) -> None:
    """Raise KeyError naming the first feature without a reason template."""
    for name in feature_names:
        template_for(name)
