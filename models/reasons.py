"""Plain-words reasons from per-feature contributions: "No purchase for 142 days; usually buys every 30".

Each feature name resolves once to a template (which feature values it reads and how it words
them) and a topic. A customer's reasons are their largest positive contributions, one per topic, so
"days since last purchase" and "overdue ratio" never both say the customer is lapsing. The choice and
the wording are vectorised: a template renders each distinct value once, not once per customer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnguard.features.build import FeatureSpec
from churnguard.features.catalog import feature_catalog

Row = Callable[[str], object]  # column name -> this customer's value
BIAS = "bias"

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
# Event types whose reasons share a topic with other features (one NPS reason, one email reason).
EVENT_TOPICS = {"nps_response": "nps", "email_open": "email", "email_click": "email", "email_sent": "email"}
MAX_REASONS = 3
NO_SUBSCRIPTION = "No active subscription"


@dataclass(frozen=True)
class Template:
    """Words for one feature: ``render`` takes the customer's values of ``inputs``, in that order.

    ``whole``: the words depend only on the inputs rounded to whole numbers (they print them with
    no decimals and test nothing else but missing), so customers with 142.3 and 141.8 days share one
    rendering.
    """

    inputs: tuple[str, ...]
    render: Callable[..., str]
    whole: bool = False

    def __call__(self, row: Row) -> str:
        return self.render(*(row(column) for column in self.inputs))


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _count(v: float, one: str, many: str) -> str:
    return f"{v:,.0f} {one if round(v) == 1 else many}"


def _number(v: float) -> str:
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}".rstrip("0")


def _period(w: int) -> str:
    return "the previous quarter" if w == 90 else f"the previous {w} days"


def _change(v: object, what: str, w: int) -> str:
    if _missing(v):
        return f"No {what} in {_period(w)} to compare with"
    if v < 0:
        return f"Net {what} negative (refunds) in the last {w} days"
    if abs(1 - v) < 0.005:
        return f"{what.capitalize()} unchanged vs {_period(w)}"
    direction = "down" if v < 1 else "up"
    return f"{what.capitalize()} {direction} {abs(1 - v):.0%} vs {_period(w)}"


def _spent(v: float, when: str) -> str:
    return f"Refunds exceeded purchases by {-v:,.0f} {when}" if v < 0 else f"Spent {v:,.0f} {when}"


def _lapse(recency: object, gap: object) -> str:
    if _missing(recency):
        return "No purchase yet"
    text = f"No purchase for {recency:,.0f} days"
    return text if _missing(gap) else f"{text}; usually buys every {gap:,.0f}"


def _nps(answer: object) -> str:
    if _missing(answer):
        return "Never answered the NPS survey"
    cls = "promoter" if answer >= 9 else "passive" if answer >= 7 else "detractor"
    return f"Last NPS answer {answer:.0f} ({cls})"


def _purchase_pattern(name: str, fmt: Callable[[float, float], str]) -> Template:
    """A BTYD feature's words from its value and the purchase count (which explains a missing value)."""

    def render(value: object, purchases: object) -> str:
        if not _missing(purchases) and purchases == 0:
            return "No purchase yet"
        if _missing(value):  # the date's customers were too few to fit the model
            return "Not enough customers to model buying patterns"
        return fmt(value, purchases)

    return Template((name, "n_purchases"), render)


def _chance(p: float) -> str:
    """A probability in words that never reads 0% or 100% unless it is exactly that."""
    if 0 < p < 0.005:
        return "under 1%"
    return "over 99%" if 0.995 <= p < 1 else f"{p:.0%}"


MODEL_NOTE = "(purchase pattern model)"


def _alive(p: float, purchases: float) -> str:
    if purchases == 1:  # BG/NBD counts a one-time buyer as alive: nobody drops out before a repeat
        return "Only one purchase so far: no repeat pattern yet"
    chance = _chance(p)
    likely = f"Only {chance} likely" if p < 0.5 and chance[0].isdigit() else f"{chance.capitalize()} likely"
    return f"{likely} to still be an active buyer {MODEL_NOTE}"


def _no_purchase(p: float, purchases: float) -> str:
    return f"{_chance(p).capitalize()} chance of no purchase in the churn horizon {MODEL_NOTE}"


def _expected_purchases(v: float, purchases: float) -> str:
    if v < 0.05:
        return f"Expected to make almost no purchases in the churn horizon {MODEL_NOTE}"
    amount = "1 purchase" if round(v, 1) == 1 else f"{v:,.1f} purchases"
    return f"Expected to make {amount} in the churn horizon {MODEL_NOTE}"


BTYD_TEMPLATES = {
    "btyd_p_alive": _alive,
    "btyd_p_no_purchase": _no_purchase,
    "btyd_expected_purchases": _expected_purchases,
}


def _value(name: str, fmt: Callable[[float], str], when_missing: str, whole: bool = False) -> Template:
    return Template((name,), lambda v: when_missing if _missing(v) else fmt(v), whole)


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
        return _value(name, lambda v: f"Last {one} {v:,.0f} days ago", f"No {one} ever", whole=True)
    phrase = VALUE_PHRASES.get(slug, f"Average {one} value {{v:.1f}} (last {{w}} days)")
    return _value(name, lambda v: phrase.format(v=v, w=w), f"No {many} in the last {w} days")


_EVENT = re.compile(
    r"evt_(?P<slug>.+?)_(?P<measure>count|active_days|value_mean)_(?P<w>\d+)d|evt_(?P<slug2>.+)_days_since"
)
_WINDOWED = re.compile(r"(?P<base>.+)_(?P<w>\d+)d")
_HISTORY = {"n_purchases", "spend_total", "spend_mean", "spend_max"}
_SUBSCRIPTION_STATE = {"sub_active", "sub_age_days", "sub_mrr", "sub_plan"}


def _fixed_template(name: str) -> Template | None:
    fixed = {
        "tenure_days": _value(name, lambda v: f"Customer for {v:,.0f} days", "New customer", whole=True),
        "n_purchases": _value(
            name, lambda v: f"{_count(v, 'purchase', 'purchases')} in total", "No purchase yet", whole=True
        ),
        "spend_total": _value(name, lambda v: _spent(v, "in total"), "No spend yet"),
        "spend_mean": _value(name, lambda v: f"Average order {v:,.0f}", "No order yet", whole=True),
        "spend_max": _value(name, lambda v: f"Largest order {v:,.0f}", "No order yet", whole=True),
        "refund_share": _value(name, lambda v: f"{v:.0%} of orders refunded", "No order yet"),
        "gap_mean_days": _value(
            name, lambda v: f"Usually {v:,.0f} days between purchases", "Only one purchase so far", True
        ),
        "gap_std_days": _value(
            name,
            lambda v: f"Irregular buying: gaps vary by ±{v:,.0f} days",
            "Too few purchases to show a rhythm",
            whole=True,
        ),
        "sub_active": _value(
            name, lambda v: "Has an active subscription" if v else NO_SUBSCRIPTION, NO_SUBSCRIPTION
        ),
        "sub_n_ended": _value(
            name,
            lambda v: f"{_count(v, 'subscription', 'subscriptions')} cancelled before",
            "No earlier cancellation",
        ),
        "sub_age_days": _value(
            name, lambda v: f"Subscription started {v:,.0f} days ago", NO_SUBSCRIPTION, whole=True
        ),
        "sub_mrr": _value(
            name, lambda v: f"Subscription worth {v:,.2f} a month" if v else NO_SUBSCRIPTION, NO_SUBSCRIPTION
        ),
        "sub_plan": _value(
            name, lambda v: NO_SUBSCRIPTION if v == "none" else f"On the {v} plan", NO_SUBSCRIPTION
        ),
        "rfm_r": _value(name, lambda v: f"RFM recency score {v:.0f} of 5", "No RFM score"),
        "rfm_f": _value(name, lambda v: f"RFM frequency score {v:.0f} of 5", "No RFM score"),
        "rfm_m": _value(name, lambda v: f"RFM monetary score {v:.0f} of 5", "No RFM score"),
        "rfm_segment": _value(name, lambda v: f"RFM segment: {v}", "No RFM segment"),
    }
    return fixed.get(name)


def _windowed_template(name: str, base: str, w: int) -> Template | None:
    no_order = f"No order in the last {w} days"
    templates = {
        "n_purchases": _value(
            name,
            lambda v: (
                f"No purchase in the last {w} days"
                if v == 0
                else f"{_count(v, 'purchase', 'purchases')} in the last {w} days"
            ),
            f"No purchase in the last {w} days",
        ),
        "spend_total": _value(name, lambda v: _spent(v, f"in the last {w} days"), no_order),
        "spend_mean": _value(name, lambda v: f"Average order {v:,.0f} in the last {w} days", no_order, True),
        "spend_max": _value(name, lambda v: f"Largest order {v:,.0f} in the last {w} days", no_order, True),
        "purchase_trend": Template((name,), lambda v: _change(v, "purchases", w)),
        "spend_trend": Template((name,), lambda v: _change(v, "spend", w)),
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
    return templates.get(base)


def template_for(name: str) -> tuple[Template, str]:
    """The template of one feature and its topic (a customer gets at most one reason per topic).

    Topics group features that tell the same story: lapsing (recency, overdue ratio, the BTYD
    purchase pattern model's P(alive), expected purchases and P(no purchase)), buying rhythm,
    recent purchases (every window), all-time purchases, trend, one per event type (NPS answers
    with the last NPS answer, email events with email rates), the current subscription, RFM.

    Raises:
        KeyError: a feature without a template; every feature churnguard builds has one.
    """
    if name in ("recency_days", "overdue_ratio"):
        return Template(("recency_days", "gap_mean_days"), _lapse, whole=True), "lapse"
    if name in BTYD_TEMPLATES:  # the purchase pattern model tells the same story as the lapse
        return _purchase_pattern(name, BTYD_TEMPLATES[name]), "lapse"
    if name in ("nps_last", "nps_class"):
        return Template(("nps_last",), _nps), "nps"
    event = _EVENT.fullmatch(name)
    if event:
        slug = event["slug2"] or event["slug"]
        topic = EVENT_TOPICS.get(slug, f"event:{slug}")
        if event["slug2"]:
            return _event_template(name, slug, "days_since", None), topic
        return _event_template(name, slug, event["measure"], int(event["w"])), topic
    template = _fixed_template(name)
    if template is not None:
        if name.startswith("rfm_"):
            return template, "segment"
        if name in _SUBSCRIPTION_STATE:
            return template, "subscription"
        if name.startswith("gap_"):
            return template, "rhythm"
        return template, "history" if name in _HISTORY else name
    if name.startswith("attr_"):
        label = name.removeprefix("attr_").replace("_", " ").capitalize()
        return _value(
            name,
            lambda v: (
                f"{label} unknown"
                if v == "unknown"
                else f"{label}: {_number(v) if isinstance(v, int | float | np.number) else v}"
            ),
            f"{label} unknown",
        ), name
    windowed = _WINDOWED.fullmatch(name)
    if windowed:
        base, w = windowed["base"], int(windowed["w"])
        template = _windowed_template(name, base, w)
        if template is not None:
            topic = "trend" if base.endswith("trend") else "email" if base.startswith("email") else "recent"
            return template, topic
    raise KeyError(f"no reason template for feature {name!r}")


def check_templates(feature_names: Sequence[str]) -> None:
    """Raise KeyError naming the first feature without a reason template."""
    for name in feature_names:
        template_for(name)


@dataclass
class Explanations:
    """Per customer (row) and reason slot: the reason text and the kind (feature family) behind it.

    Both arrays have shape ``(customers, MAX_REASONS)``; a slot without a reason holds None.
    """

    texts: np.ndarray
    kinds: np.ndarray

    def columns(self) -> dict[str, np.ndarray]:
        return {f"reason_{slot + 1}": self.texts[:, slot] for slot in range(MAX_REASONS)}


def explain(
    frame: pd.DataFrame,
    contributions: pd.DataFrame,
    spec: FeatureSpec | None = None,
    batch_rows: int = 100_000,
) -> Explanations:
    """Reasons for each row from its largest positive contributions, one per topic.

    Equivalent to walking each row's features from the largest contribution down (ties: the
    earlier column first), skipping topics already used, until three reasons or a contribution <= 0.

    Args:
        frame: the customers' feature values (same row order as ``contributions``).
        contributions: per-feature contributions (``bias`` column ignored).
        spec: the model's feature spec (tells numeric attributes apart).
        batch_rows: rows chosen at a time (bounds memory).

    Returns:
        Up to three reasons per customer, each on a different topic.
    """
    names = [c for c in contributions.columns if c != BIAS]
    catalog = feature_catalog(spec)
    resolved = [template_for(n) for n in names]
    families = np.array([catalog[n].family for n in names], dtype=object)
    topics = list(dict.fromkeys(topic for _, topic in resolved))
    groups = [np.array([j for j, (_, t) in enumerate(resolved) if t == topic]) for topic in topics]
    positions = contributions.columns.get_indexer(names)
    n = len(contributions)
    chosen = np.full((n, MAX_REASONS), -1, dtype=np.int64)
    for start in range(0, n, batch_rows):
        block = contributions.iloc[start : start + batch_rows, positions].to_numpy(dtype=float)
        chosen[start : start + len(block)] = _choose(block, groups)

    columns: dict[str, np.ndarray] = {}

    def values(column: str) -> np.ndarray:
        if column not in columns:
            array = frame[column].to_numpy()
            columns[column] = array + 0.0 if array.dtype.kind == "f" else array  # -0.0 reads as 0
        return columns[column]

    texts = np.full((n, MAX_REASONS), None, dtype=object)
    kinds = np.full((n, MAX_REASONS), None, dtype=object)
    for slot in range(MAX_REASONS):
        picked = chosen[:, slot]
        by_feature = np.argsort(picked, kind="stable")
        features, starts = np.unique(picked[by_feature], return_index=True)
        for j, rows in zip(features, np.split(by_feature, starts[1:]) if n else [], strict=True):
            if j < 0:
                continue
            template = resolved[j][0]
            inputs = [values(c)[rows] for c in template.inputs]
            if template.whole:
                inputs = [np.rint(c) if c.dtype.kind == "f" else c for c in inputs]
            texts[rows, slot] = _render(template, inputs)
            kinds[rows, slot] = families[j]
    return Explanations(texts=texts, kinds=kinds)


def _choose(block: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    """Column of each row's 1st, 2nd, 3rd reason (-1: none): best positive feature of distinct topics."""
    n, rows = len(block), np.arange(len(block))
    best = np.empty((n, len(groups)))
    where = np.empty((n, len(groups)), dtype=np.int64)
    for t, cols in enumerate(groups):
        arg = block[:, cols].argmax(axis=1)  # first maximum: the earliest column wins a tie
        where[:, t] = cols[arg]
        best[:, t] = block[rows, where[:, t]]
    chosen = np.full((n, MAX_REASONS), -1, dtype=np.int64)
    no_column = np.iinfo(np.int64).max
    for slot in range(min(MAX_REASONS, len(groups))):
        top = best.max(axis=1)
        t = np.where(best == top[:, None], where, no_column).argmin(axis=1)
        positive = top > 0
        chosen[positive, slot] = where[rows, t][positive]
        best[rows, t] = -np.inf
    return chosen


def _render(template: Template, inputs: list[np.ndarray]) -> np.ndarray:
    """The template's text for every row, rendering each distinct combination of inputs once."""
    codes = np.zeros(len(inputs[0]), dtype=np.int64)
    for column in inputs:
        column_codes, uniques = pd.factorize(column, use_na_sentinel=False)
        codes, _ = pd.factorize(codes * len(uniques) + column_codes)  # < rows, so it never overflows
    first = np.unique(codes, return_index=True)[1]
    words = [template.render(*parts) for parts in zip(*(c[first].tolist() for c in inputs), strict=True)]
    return np.array(words, dtype=object)[codes]
