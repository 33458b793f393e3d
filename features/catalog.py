"""What each feature column means, for documentation, and which event types are service or engagement.

Feature names are built from patterns (``n_purchases_{w}d``, ``evt_{event}_count_{w}d``,
``attr_{name}``); the catalog parses a concrete name back into its family, a short human phrase and
the kind of value it holds, so nothing about a feature has to be stored beside the model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from churnguard.features.build import FeatureSpec
from churnguard.features.engagement import NPS_EVENT, event_slug

# What a feature describes. A reason's kind is not its feature's family: ``models/reason_stories.py`` folds
# rhythm, BTYD and RFM features into the behaviour behind them and never words attributes alone.
FAMILIES = (
    "recency",
    "frequency",
    "monetary",
    "rhythm",
    "trend",
    "engagement",
    "service",
    "nps",
    "subscription",
    "attribute",
    "segment",
)
# days: a duration; count: how many; amount: money; ratio: a quotient; score: a bounded grade;
# flag: 0/1; category: text; probability: a chance from 0 to 1; number: any other number (event
# values, numeric attributes, expected counts).
KINDS = ("days", "count", "amount", "ratio", "score", "flag", "category", "probability", "number")
BY_EVENT = "by event type"  # the family of ``evt_*`` entries depends on the event (see ``event_family``)
_SERVICE_WORDS = {"support", "ticket", "tickets", "complaint", "complaints"}


@dataclass(frozen=True)
class FeatureInfo:
    """One concrete feature column: ``meaning`` is a short phrase, e.g. "purchases in the last 90 days"."""

    name: str
    family: str
    meaning: str
    kind: str


@dataclass(frozen=True)
class CatalogEntry:
    """A documented name pattern; ``{w}`` is a window in days, ``{event}`` an event type, ``{name}`` a column."""

    pattern: str
    family: str
    meaning: str
    kind: str

    @property
    def regex(self) -> re.Pattern[str]:
        parts = re.split(r"(\{w\}|\{event\}|\{name\})", self.pattern)
        groups = {"{w}": r"(?P<w>\d+)", "{event}": r"(?P<event>.+)", "{name}": r"(?P<name>.+)"}
        return re.compile("".join(groups.get(p, re.escape(p)) for p in parts))


ENTRIES = (
    CatalogEntry("recency_days", "recency", "days since the last purchase", "days"),
    CatalogEntry("tenure_days", "recency", "days as a customer (since signup or first purchase)", "days"),
    CatalogEntry("n_purchases", "frequency", "purchases in all history", "count"),
    CatalogEntry("n_purchases_{w}d", "frequency", "purchases in the last {w} days", "count"),
    CatalogEntry("spend_total", "monetary", "net spend in all history", "amount"),
    CatalogEntry("spend_total_{w}d", "monetary", "net spend in the last {w} days", "amount"),
    CatalogEntry("spend_mean", "monetary", "average purchase amount", "amount"),
    CatalogEntry("spend_mean_{w}d", "monetary", "average purchase amount in the last {w} days", "amount"),
    CatalogEntry("spend_max", "monetary", "largest purchase", "amount"),
    CatalogEntry("spend_max_{w}d", "monetary", "largest purchase in the last {w} days", "amount"),
    CatalogEntry("refund_share", "monetary", "refunds per purchase", "ratio"),
    CatalogEntry("trailing_spend", "monetary", "net spend over the customer-value window", "amount"),
    CatalogEntry("gap_mean_days", "rhythm", "usual days between purchases", "days"),
    CatalogEntry("gap_std_days", "rhythm", "variation in days between purchases", "days"),
    CatalogEntry(
        "overdue_ratio", "rhythm", "days since the last purchase relative to the usual gap", "ratio"
    ),
    CatalogEntry(
        "btyd_p_alive", "recency", "chance of still being an active buyer (BG/NBD model)", "probability"
    ),
    CatalogEntry(
        "btyd_p_no_purchase",
        "recency",
        "chance of no purchase in the churn horizon (BG/NBD model)",
        "probability",
    ),
    CatalogEntry(
        "btyd_expected_purchases",
        "frequency",
        "expected purchases in the churn horizon (BG/NBD model)",
        "number",
    ),
    CatalogEntry(
        "purchase_trend_{w}d",
        "trend",
        "purchases in the last {w} days relative to the {w} days before",
        "ratio",
    ),
    CatalogEntry(
        "spend_trend_{w}d", "trend", "net spend in the last {w} days relative to the {w} days before", "ratio"
    ),
    CatalogEntry("evt_{event}_count_{w}d", BY_EVENT, "{event} events in the last {w} days", "count"),
    CatalogEntry(
        "evt_{event}_active_days_{w}d", BY_EVENT, "days with a {event} event in the last {w} days", "count"
    ),
    CatalogEntry("evt_{event}_days_since", BY_EVENT, "days since the last {event} event", "days"),
    CatalogEntry(
        "evt_{event}_value_mean_{w}d", BY_EVENT, "average {event} value in the last {w} days", "number"
    ),
    CatalogEntry(
        "email_open_rate_{w}d", "engagement", "emails opened per email sent in the last {w} days", "ratio"
    ),
    CatalogEntry(
        "email_click_rate_{w}d", "engagement", "email clicks per email opened in the last {w} days", "ratio"
    ),
    CatalogEntry("nps_last", "nps", "last NPS answer (0-10)", "score"),
    CatalogEntry("nps_class", "nps", "last NPS answer: promoter, passive or detractor", "category"),
    CatalogEntry("sub_active", "subscription", "has an active subscription", "flag"),
    CatalogEntry("sub_n_ended", "subscription", "subscriptions ended", "count"),
    CatalogEntry("sub_age_days", "subscription", "days since the current subscription started", "days"),
    CatalogEntry("sub_mrr", "subscription", "monthly recurring revenue of active subscriptions", "amount"),
    CatalogEntry("sub_plan", "subscription", "plan of the newest active subscription", "category"),
    CatalogEntry("attr_{name}", "attribute", "customer {name}", "category"),
    CatalogEntry("rfm_r", "segment", "RFM recency score (1-5, 5 = bought most recently)", "score"),
    CatalogEntry("rfm_f", "segment", "RFM frequency score (1-5, 5 = buys most often)", "score"),
    CatalogEntry("rfm_m", "segment", "RFM monetary score (1-5, 5 = spends most)", "score"),
    CatalogEntry("rfm_segment", "segment", "RFM segment", "category"),
)


def event_family(slug: str) -> str:
    """``service`` for support tickets and complaints, ``nps`` for NPS answers, else ``engagement``."""
    if slug == event_slug(NPS_EVENT):
        return "nps"
    return "service" if _SERVICE_WORDS & set(slug.split("_")) else "engagement"


class FeatureCatalog:
    """Look up any concrete feature name: ``feature_catalog()["evt_login_count_30d"]``."""

    def __init__(self, spec: FeatureSpec | None = None):
        self._numeric_attributes = set(spec.numeric_attributes) if spec else set()
        self._compiled = [(entry, entry.regex) for entry in ENTRIES]

    def __getitem__(self, name: str) -> FeatureInfo:
        for entry, regex in self._compiled:
            match = regex.fullmatch(name)
            if match:
                return self._info(name, entry, match.groupdict())
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(regex.fullmatch(name) for _, regex in self._compiled)

    def _info(self, name: str, entry: CatalogEntry, groups: dict[str, str]) -> FeatureInfo:
        family, kind = entry.family, entry.kind
        words = dict(groups)
        if "event" in groups:
            family = event_family(groups["event"])
            words["event"] = " ".join("NPS" if w == "nps" else w for w in groups["event"].split("_"))
        if "name" in groups:
            words["name"] = groups["name"].replace("_", " ")
            kind = "number" if groups["name"] in self._numeric_attributes else "category"
        return FeatureInfo(name=name, family=family, meaning=entry.meaning.format(**words), kind=kind)


@cache
def _default_catalog() -> FeatureCatalog:
    return FeatureCatalog()


def feature_catalog(spec: FeatureSpec | None = None) -> FeatureCatalog:
    """The catalog of feature names.

    Args:
        spec: the model's feature spec, which tells numeric attributes (kind ``number``) from text
            ones (kind ``category``); without it every attribute is a category.

    Returns:
        A catalog: ``catalog[name]`` gives the :class:`FeatureInfo` of a concrete feature name and
        raises ``KeyError`` for a name no feature pattern produces.
    """
    return _default_catalog() if spec is None else FeatureCatalog(spec)
