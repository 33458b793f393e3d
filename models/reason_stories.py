"""The stories behind reasons: which behaviour each feature tells of, and how that is worded.

Every feature belongs to one story (the lapse, buying less, refunds, one story per event type, the
NPS answer, the subscription) and through it to a reason kind; attributes and tenure are context and
never make a reason. A story's :class:`Template` renders its words from the customer's own values
and says whether it has anything to say at all (a promoter's NPS answer, logins that did not drop:
nothing). :mod:`churnguard.models.reasons` chooses which stories speak for each customer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnguard.features.catalog import event_family

Row = Callable[[str], object]  # column name -> this customer's value

DEFAULT_TREND_DAYS = 90  # only when the feature names do not tell the trend window
RARE_BUYER_GAP_DAYS = 30  # within their usual gap, only a customer who buys this rarely hears the lapse
SERVICE_MEMORY_DAYS = 365  # a ticket or complaint older than this is no longer a reason
SPEND_DROP = 0.9  # spend "down" when the recent window has less than 90% of the one before

# Event types with natural words; others fall back to "<event> event(s)".
EVENT_NOUNS = {
    "login": ("login", "logins"),
    "email_open": ("email open", "email opens"),
    "email_click": ("email click", "email clicks"),
    "email_sent": ("email received", "emails received"),
    "support_ticket": ("support ticket", "support tickets"),
    "complaint": ("complaint", "complaints"),
    "nps_response": ("NPS answer", "NPS answers"),
}
RESOLUTION = "support_ticket"  # its event value is the hours a ticket took to resolve


@dataclass(frozen=True)
class Template:
    """Words for one story: ``render`` takes the customer's values of ``inputs``, in that order.

    ``says`` takes the same inputs as arrays and tells which customers the story has something to
    say about (None: everyone); ``render`` is only asked about those. ``whole``: the words depend only
    on the inputs rounded to whole numbers, so customers with 142.3 and 141.8 days share one rendering.
    """

    inputs: tuple[str, ...]
    render: Callable[..., str]
    whole: bool = False
    says: Callable[..., np.ndarray] | None = None

    def __call__(self, row: Row) -> str | None:
        """The words for one customer, or None when the story has nothing to say about them."""
        values = [row(column) for column in self.inputs]
        if self.whole:
            values = [float(np.rint(v)) + 0.0 if isinstance(v, float) else v for v in values]
        if not self.speaks([np.array([v]) for v in values], 1)[0]:
            return None
        return self.render(*values)

    def speaks(self, columns: Sequence[np.ndarray], n: int) -> np.ndarray:
        """Which of ``n`` customers the story speaks for, from their values (rounded when ``whole``)."""
        if self.says is None:
            return np.ones(n, dtype=bool)
        return np.asarray(self.says(*columns), dtype=bool)


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _float(column: np.ndarray) -> np.ndarray:
    column = np.atleast_1d(column)
    if column.dtype.kind in "fiub":
        return column.astype(float, copy=False)
    return pd.to_numeric(pd.Series(column), errors="coerce").to_numpy(dtype=float)


def _count(v: float, one: str, many: str) -> str:
    return f"{v:,.0f} {one if round(v) == 1 else many}"


def _days(v: float) -> str:
    return _count(v, "day", "days")


def _number(v: float) -> str:
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}".rstrip("0")


def _ago(v: float) -> str:
    return "today" if round(v) == 0 else f"{_days(v)} ago"


def _lapse(recency: object, gap: object) -> str:
    if _missing(recency):
        return "No purchase yet"
    if _missing(gap):  # fewer than two purchases
        return f"Only one purchase, {_ago(recency)}; no repeat yet"
    usual = f"usually buys every {gap:,.0f}" if gap >= 0.5 else "usually buys again within a day"
    last = "Last purchase today" if recency == 0 else f"No purchase for {_days(recency)}"
    return f"{last}; {usual}"


def _lapse_template() -> Template:
    def says(recency: np.ndarray, gap: np.ndarray) -> np.ndarray:
        # Later than their own rhythm, no rhythm yet, or buying rarely; not a regular buyer on schedule.
        recency, gap = _float(recency), _float(gap)
        return np.isnan(recency) | np.isnan(gap) | (recency > gap) | (gap >= RARE_BUYER_GAP_DAYS)

    return Template(("recency_days", "gap_mean_days"), _lapse, whole=True, says=says)


def _previous(recent: np.ndarray, before: np.ndarray, by_ratio: bool) -> np.ndarray:
    """The window before the recent one, from the double window or (``by_ratio``) the trend ratio."""
    if not by_ratio:
        return before - recent
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(before > 0, recent / before, np.nan)


def _falls(n: float, prev_n: float, s: float, prev_s: float) -> tuple[bool, bool]:
    """Fewer purchases, less spend (below ``SPEND_DROP`` of before); works on arrays alike."""
    return np.round(prev_n) > np.round(n), (prev_s > 0) & (s < SPEND_DROP * prev_s)


def _money(v: float) -> str:
    return f"{v:,.0f}" if v >= 0 else f"{v:,.0f} net of refunds"


def _buying_template(w: int, names: Collection[str]) -> Template:
    """Fewer purchases or less spend in the last ``w`` days than in the ``w`` days before."""
    recent = (f"n_purchases_{w}d", f"spend_total_{w}d")
    double = (f"n_purchases_{2 * w}d", f"spend_total_{2 * w}d")
    by_ratio = not set(double) <= set(names)
    before = (f"purchase_trend_{w}d", f"spend_trend_{w}d") if by_ratio else double

    def render(n: float, before_n: float, s: float, before_s: float) -> str:
        prev_n, prev_s = (float(_previous(*pair, by_ratio)) for pair in ((n, before_n), (s, before_s)))
        fewer, less = _falls(n, prev_n, s, prev_s)
        parts = [f"Purchases down from {prev_n:,.0f} to {n:,.0f}"] if fewer else []
        if less:
            spend = f"from {_money(prev_s)} to {_money(s)}"
            parts.append(f"spend {spend}" if parts else f"Spend down {spend}")
        return f"{' and '.join(parts)} (last {w} days vs the {w} before)"

    def says(n: np.ndarray, before_n: np.ndarray, s: np.ndarray, before_s: np.ndarray) -> np.ndarray:
        n, before_n, s, before_s = (_float(c) for c in (n, before_n, s, before_s))
        fewer, less = _falls(n, _previous(n, before_n, by_ratio), s, _previous(s, before_s, by_ratio))
        return fewer | less

    inputs = (recent[0], before[0], recent[1], before[1])
    return Template(inputs, render, whole=not by_ratio, says=says)


def _refunds_template() -> Template:
    def render(share: float) -> str:
        amount = "Under 1%" if share < 0.005 else f"{share:.0%}"
        return f"{amount} of orders refunded"

    return Template(("refund_share",), render, says=lambda share: _float(share) > 0)


def _nps(answer: object) -> str:
    cls = "promoter" if answer >= 9 else "passive" if answer >= 7 else "detractor"
    return f"Last NPS answer {answer:.0f} ({cls})"


def _nps_template() -> Template:
    # A promoter's answer, or none, is no reason to call.
    return Template(("nps_last",), _nps, says=lambda answer: _float(answer) < 9)


def _subscription(active: object, ended: object, plan: object) -> str:
    if not active:
        what = "their subscription" if ended == 1 else f"{ended:,.0f} subscriptions"
        return f"Cancelled {what}; none active now"
    on_plan = "" if _missing(plan) or plan in ("none", "unknown") else f" on the {plan} plan"
    return f"Cancelled {_count(ended, 'subscription', 'subscriptions')} before; still subscribed{on_plan}"


def _subscription_template() -> Template:
    # A cancellation is the change; an active or never-taken subscription alone is no reason.
    says = lambda active, ended, plan: _float(ended) > 0  # noqa: E731
    return Template(("sub_active", "sub_n_ended", "sub_plan"), _subscription, whole=True, says=says)


def _event_template(slug: str, names: Collection[str]) -> Template:
    """An event type's story: engagement that fell, or service contacts (tickets, complaints)."""
    one, many = EVENT_NOUNS.get(slug, (f"{slug.replace('_', ' ')} event", f"{slug.replace('_', ' ')} events"))
    counted = re.compile(rf"evt_{re.escape(slug)}_count_(\d+)d")
    windows = sorted(int(m[1]) for m in map(counted.fullmatch, names) if m)
    short, long = (windows[0], windows[-1]) if windows else (0, 0)
    since = f"evt_{slug}_days_since"
    if event_family(slug) == "service":
        return _service_template(slug, one, many, long, since)
    if not windows:
        return Template(
            (since,), lambda d: f"No {many} ever" if _missing(d) else f"No {one} for {_days(d)}", True
        )

    def render(recent: float, total: float, d: object) -> str:
        if _missing(d):
            return f"No {many} ever"
        before = total - recent
        if recent == 0:
            after = f", after {before:,.0f} in the {long - short} days before" if before > 0 else ""
            return f"No {one} for {_days(d)}{after}"
        return f"{_count(recent, one, many)} in the last {short} days, down from {before:,.0f} in the {long - short} days before"

    def says(recent: np.ndarray, total: np.ndarray, d: np.ndarray) -> np.ndarray:
        recent, total = _float(recent), _float(total)
        before = total - recent
        falling = (long > short) & (recent * (long - short) < before * short)
        return np.isnan(_float(d)) | (recent == 0) | falling

    inputs = (f"evt_{slug}_count_{short}d", f"evt_{slug}_count_{long}d", since)
    return Template(inputs, render, whole=True, says=says)


def _service_template(slug: str, one: str, many: str, w: int, since: str) -> Template:
    hours = f"evt_{slug}_value_mean_{w}d" if slug == RESOLUTION else ""

    def render(count: object, d: object, resolution: object = np.nan) -> str:
        if _missing(count) or count == 0:
            return f"Last {one} {_ago(d)}"
        text = (
            f"1 {one} {_ago(d)}"
            if count == 1
            else f"{count:,.0f} {many} in the last {w} days, latest {_ago(d)}"
        )
        return text if _missing(resolution) else f"{text}; took {resolution:,.0f} hours to resolve on average"

    def says(count: np.ndarray, d: np.ndarray, *_: np.ndarray) -> np.ndarray:
        # None ever, or none for over a year, is nothing to follow up.
        return _float(d) <= SERVICE_MEMORY_DAYS

    inputs = (f"evt_{slug}_count_{w}d", since, *([hours] if hours else []))
    return Template(inputs, render, whole=True, says=says)


def _attribute_template(name: str) -> Template:
    label = name.removeprefix("attr_").replace("_", " ").capitalize()

    def render(v: object) -> str:
        if _missing(v) or v == "unknown":
            return f"{label} unknown"
        return f"{label}: {_number(v) if isinstance(v, int | float | np.number) else v}"

    return Template((name,), render)


_EVENT = re.compile(r"evt_(?P<slug>.+?)_(?:count|active_days|value_mean)_\d+d|evt_(?P<slug2>.+)_days_since")
_EMAIL_RATE = re.compile(r"email_(?P<what>open|click)_rate_\d+d")
_BUYING = re.compile(
    r"(?:n_purchases|spend_total|spend_mean|spend_max)(?:_\d+d)?|(?:purchase|spend)_trend_\d+d"
)
_TREND = re.compile(r"(?:purchase|spend)_trend_(?P<w>\d+)d")
_LAPSE = {
    "recency_days",
    "overdue_ratio",
    "gap_mean_days",
    "gap_std_days",
    "btyd_p_alive",
    "btyd_p_no_purchase",
    "btyd_expected_purchases",
    "rfm_r",
    "rfm_segment",
}
_SUBSCRIPTION = {"sub_active", "sub_n_ended", "sub_age_days", "sub_mrr", "sub_plan"}
CONTEXT = None  # the kind of a feature that never makes a reason on its own


def story_of(name: str) -> tuple[str, str | None]:
    """The story a feature tells and its reason kind (``CONTEXT``, None: it never makes a reason).

    Raises:
        KeyError: a feature without a story; every feature churnguard builds has one.
    """
    if name in _LAPSE:
        return "lapse", "recency"
    if _BUYING.fullmatch(name) or name in ("rfm_f", "rfm_m"):
        return "buying", "trend"
    if name == "refund_share":
        return "refunds", "monetary"
    if name in ("nps_last", "nps_class"):
        return "nps", "nps"
    if name in _SUBSCRIPTION:
        return "subscription", "subscription"
    event = _EVENT.fullmatch(name)
    rate = _EMAIL_RATE.fullmatch(name)
    if event or rate:
        slug = (event["slug2"] or event["slug"]) if event else f"email_{rate['what']}"
        family = event_family(slug)
        return ("nps", "nps") if family == "nps" else (f"event:{slug}", family)
    if name.startswith("attr_") or name == "tenure_days":
        return name, CONTEXT
    raise KeyError(f"no reason template for feature {name!r}")


def story_template(story: str, names: Collection[str]) -> Template:
    if story == "lapse":
        return _lapse_template()
    if story == "buying":
        windows = [int(m["w"]) for m in map(_TREND.fullmatch, names) if m]
        return _buying_template(windows[0] if windows else DEFAULT_TREND_DAYS, names)
    if story == "refunds":
        return _refunds_template()
    if story == "nps":
        return _nps_template()
    if story == "subscription":
        return _subscription_template()
    if story.startswith("event:"):
        return _event_template(story.removeprefix("event:"), names)
    if story == "tenure_days":
        return Template(
            (story,), lambda v: "New customer" if _missing(v) else f"Customer for {_days(v)}", True
        )
    return _attribute_template(story)


def template_for(name: str, names: Collection[str] = ()) -> tuple[Template, str | None]:
    """The template of a feature's story and its reason kind (None: context, never a reason).

    Args:
        name: the feature.
        names: the model's other features, which some stories read beside it (the window before,
            the other counts of an event type); without them a story says what ``name`` alone tells.

    Raises:
        KeyError: a feature without a template; every feature churnguard builds has one.
    """
    story, kind = story_of(name)
    return story_template(story, {*names, name}), kind


def check_templates(feature_names: Sequence[str]) -> None:
    """Raise KeyError naming the first feature without a reason template."""
    for name in feature_names:
        story_of(name)
