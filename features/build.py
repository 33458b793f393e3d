"""Build the point-in-time feature table (and labels) for one or many cutoffs.

One function, :func:`feature_table`, serves training (many cutoffs, with labels) and scoring (one
cutoff, ``as_of``): there is no second implementation. Every feature at cutoff ``c`` uses only rows
with a time strictly before ``c``; labels use ``[c, c + horizon)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import ibis
import pandas as pd
import pyarrow.compute as pc
from ibis.expr.types import Table

from churnguard.config import Settings
from churnguard.errors import InsufficientDataError
from features import engagement, segments, subscriptions, transactions
from features.cutoffs import CutoffTable, cutoff_table, normalize_cutoffs, training_cutoffs
from features.source import FeatureSource
from features.timeutil import NO_TIME, join_recent

ID_COLUMNS = ["customer_id", "cutoff"]
LABEL = "churned"
VALUE_COLUMN = "trailing_spend"  # net spend of the value window: the basis of customer value, not a feature
CATEGORICAL_FEATURES = {"rfm_segment", "nps_class", "sub_plan"}


@dataclass(frozen=True)
class FeatureSpec:
    """What the feature columns depend on besides settings; stored with a model so scoring matches it."""

    event_types: tuple[str, ...] = ()
    valued_event_types: tuple[str, ...] = ()
    attribute_columns: tuple[str, ...] = ()
    numeric_attributes: tuple[str, ...] = ()
    has_subscriptions: bool = False
    subscription_mrr: bool = False
    subscription_plan: bool = False

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> FeatureSpec:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    @property
    def categorical_attributes(self) -> list[str]:
        return [c for c in self.attribute_columns if c not in self.numeric_attributes]


def discover_spec(source: FeatureSource) -> FeatureSpec:
    """Read the event types, attributes and subscription columns present in the data."""
    event_types = source.event_types()
    valued: list[str] = []
    if source.events is not None and "value" in source.events.columns and event_types:
        ev = source.events
        valued_rows = ev.filter(ev.value.notnull())
        counts = valued_rows.group_by("event_type").aggregate(n=valued_rows.count())
        present = set(source.backend.execute(counts)["event_type"].astype(str))
        valued = [t for t in event_types if t in present]
    subs = source.subscriptions
    return FeatureSpec(
        event_types=tuple(event_types),
        valued_event_types=tuple(valued),
        attribute_columns=tuple(source.attribute_columns),
        numeric_attributes=tuple(source.numeric_attributes),
        has_subscriptions=subs is not None,
        subscription_mrr=subs is not None and "mrr" in subs.columns,
        subscription_plan=subs is not None and "plan" in subs.columns,
    )


def _attach(left: Table, right: Table) -> Table:
    """Left-join per (customer_id, cutoff) without duplicating the keys."""
    joined = left.left_join(right, [left.customer_id == right.customer_id, left.cutoff == right.cutoff])
    return joined.drop("customer_id_right", "cutoff_right")


def _attributes(customers: Table, spec: FeatureSpec) -> Table:
    """Signup time and the spec's attributes as ``attr_*`` columns, so no user name meets a query column.

    An attribute the spec wants but the data lacks (scoring data without a training column) is empty.
    """
    columns = {"_signup_ts": customers.signup_ts if "signup_ts" in customers.columns else NO_TIME}
    for name in spec.attribute_columns:
        numeric = name in spec.numeric_attributes
        if name in customers.columns:
            value = customers[name].cast("float64") if numeric else customers[name].cast("string")
        else:
            value = ibis.null("float64" if numeric else "string")
        columns[f"attr_{name}"] = value
    return customers.select("customer_id", **columns)


def _cutoffs(cutoffs: Sequence[str | pd.Timestamp], settings: Settings, spec: FeatureSpec) -> CutoffTable:
    f = settings.features
    windows = transactions.window_days(f, settings.churn, settings.value)
    if spec.event_types:
        windows |= set(f.engagement_windows_days)
    return cutoff_table(cutoffs, windows, settings.churn.horizon_days)


def population(source: FeatureSource, cuts: CutoffTable, settings: Settings) -> Table:
    """Who is scored at each cutoff: active buyers (inactivity) or active subscribers (subscription).

    ``cuts`` must hold the start of the ``churn.lookback_days`` window (``feature_table`` builds it so).
    """
    if settings.churn.definition == "subscription":
        if source.subscriptions is None:
            raise InsufficientDataError(
                "churn.definition is 'subscription' but the data has no subscriptions table"
            )
        subs = subscriptions.subscription_aggregates(source.subscriptions, cuts.table)
        return subs.filter(subs.sub_n_active > 0).select(*ID_COLUMNS)
    tx = source.transactions
    recent = join_recent(
        tx.filter(tx.amount > 0).select("customer_id", "ts"), cuts.table, "ts", settings.churn.lookback_days
    )
    return recent.select(*ID_COLUMNS).distinct()


def labels(source: FeatureSource, cuts: CutoffTable, settings: Settings) -> Table:
    """(customer_id, cutoff) pairs that did NOT churn in ``[cutoff, cutoff + horizon)``."""
    c = cuts.table
    if settings.churn.definition == "subscription":
        return subscriptions.still_subscribed(source.subscriptions, c)
    tx = source.transactions
    buys = tx.filter(tx.amount > 0).select("customer_id", "ts")
    later = buys.join(c, [buys.ts >= c.cutoff, buys.ts < c.label_end])
    return later.select(*ID_COLUMNS).distinct()


def feature_table(
    source: FeatureSource,
    cutoffs: Sequence[str | pd.Timestamp],
    settings: Settings,
    spec: FeatureSpec,
    with_labels: bool = False,
) -> Table:
    """The feature table as an Ibis expression: one row per customer in the population of each cutoff.

    Args:
        source: tables to read.
        cutoffs: dates to describe customers at.
        settings: windows, churn definition, value window.
        spec: event types, attributes and subscription columns to produce (from training for scoring).
        with_labels: add the ``churned`` label (0/1); the caller must only pass fully labelled cutoffs.

    Returns:
        Columns ``customer_id``, ``cutoff``, ``trailing_spend``, [``churned``], then the features, in
        no particular row order (``to_frame`` sorts by cutoff and customer).
    """
    f, churn, value = settings.features, settings.churn, settings.value
    cuts = _cutoffs(cutoffs, settings, spec)
    tx = source.transactions
    recent = transactions.window_aggregates(tx, cuts.table, f, churn, value)
    if churn.definition == "inactivity":
        # Active buyers are exactly the customers with a purchase in the lookback window.
        t = recent.filter(recent._n_lookback > 0)
    else:
        t = _attach(population(source, cuts, settings), recent)
    t = _attach(t, transactions.history_aggregates(tx, cuts))
    attributes = _attributes(source.customers, spec)
    t = t.left_join(attributes, t.customer_id == attributes.customer_id).drop("customer_id_right")

    columns = transactions.finish_transaction_features(t, f, t._signup_ts)
    for name in spec.attribute_columns:
        value = t[f"attr_{name}"]
        columns[f"attr_{name}"] = value if name in spec.numeric_attributes else value.fill_null("unknown")
    # Purchases and attributes first: RFM scores need only these, so their ranking (a sort per cutoff)
    # runs on a narrow table and the event and subscription aggregates are computed once.
    base = t.select(
        customer_id=t.customer_id,
        cutoff=t.cutoff,
        trailing_spend=t.trailing_spend.fill_null(0.0),
        _n_lookback=t._n_lookback.fill_null(0),
        _spend_lookback=t._spend_lookback.fill_null(0.0),
        **columns,
    )
    scores = segments.rfm_scores(base, frequency="_n_lookback", monetary="_spend_lookback")
    t = base.drop("_n_lookback", "_spend_lookback")
    columns = {}

    if spec.event_types:
        windows = f.engagement_windows_days
        if source.events is not None:
            per_type = engagement.window_aggregates(
                source.events, cuts.table, spec.event_types, spec.valued_event_types, windows
            )
            for table in per_type:
                t = _attach(t, table)
            t = _attach(t, engagement.history_aggregates(source.events, cuts, spec.event_types))
        else:
            t = t.mutate(**_absent_event_columns(spec, windows))
        columns.update(
            engagement.finish_engagement_features(t, spec.event_types, spec.valued_event_types, windows)
        )

    if spec.has_subscriptions:
        if source.subscriptions is not None:
            t = _attach(t, subscriptions.subscription_aggregates(source.subscriptions, cuts.table))
        else:
            t = t.mutate(sub_n_active=ibis.literal(0), sub_n_ended=ibis.literal(0), _sub_first_start=NO_TIME)
        # Columns of the model's spec that this data lacks: no MRR, no plan.
        if "sub_mrr" not in t.columns:
            t = t.mutate(sub_mrr=ibis.null("float64"))
        if "sub_plan" not in t.columns:
            t = t.mutate(sub_plan=ibis.null("string"))
        columns.update(
            subscriptions.finish_subscription_features(t, spec.subscription_mrr, spec.subscription_plan)
        )

    out = t.select(*base.drop("_n_lookback", "_spend_lookback").columns, **columns)
    out = _attach(out, scores)
    if with_labels:
        kept = labels(source, cuts, settings).mutate(_kept=ibis.literal(1))
        out = _attach(out, kept)
        out = out.mutate(churned=(out._kept.isnull()).cast("int8")).drop("_kept")
        out = out.relocate(LABEL, after=VALUE_COLUMN)
    # Back to the tz-aware cutoff of the caller (a lookup in the small cutoff table, not a cast per row).
    stamps = cuts.table.select("cutoff", "cutoff_utc")
    out = out.join(stamps, "cutoff")
    return out.mutate(cutoff=out.cutoff_utc).drop("cutoff_utc")


def _absent_event_columns(spec: FeatureSpec, windows: Sequence[int]) -> dict:
    """Aggregates of a dataset without events, so a model trained with events still gets its columns."""
    columns = {}
    for event_type in spec.event_types:
        slug = engagement.event_slug(event_type)
        for w in windows:
            columns[f"evt_{slug}_count_{w}d"] = ibis.literal(0)
            columns[f"evt_{slug}_active_days_{w}d"] = ibis.literal(0)
        columns[f"_last_{slug}"] = NO_TIME
        if event_type in spec.valued_event_types:
            columns[f"evt_{slug}_value_mean_{max(windows)}d"] = ibis.null("float64")
    if engagement.NPS_EVENT in spec.event_types:
        columns["nps_last"] = ibis.null("float64")
    return columns


def feature_names(frame: pd.DataFrame) -> list[str]:
    """The model input columns of a feature frame (everything but ids, value basis and label)."""
    return [c for c in frame.columns if c not in (*ID_COLUMNS, VALUE_COLUMN, LABEL)]


def is_categorical(name: str, values: pd.Series | None = None) -> bool:
    """Whether a feature column is categorical (text) rather than numeric.

    Args:
        name: the feature column.
        values: the column itself; only needed to tell a numeric attribute (``attr_age``, float) from
            a text one, which the name alone cannot. Without it every attribute counts as categorical.
    """
    if name.startswith("attr_") and values is not None:
        return not pd.api.types.is_numeric_dtype(values.dtype)
    return name in CATEGORICAL_FEATURES or name.startswith("attr_")


def to_frame(source: FeatureSource, expr: Table) -> pd.DataFrame:
    """Execute a feature expression into pandas with stable dtypes (float64 features, text categoricals)."""
    # Through Arrow: ibis's own execute() turns every column holding a null into Python objects, and
    # Arrow sorts the rows faster than pandas (which would move each column separately).
    table = source.backend.to_pyarrow(expr)
    table = table.take(
        pc.sort_indices(table, sort_keys=[("cutoff", "ascending"), ("customer_id", "ascending")])
    )
    # Hand each Arrow column over as it is converted, so the rows exist about once in memory.
    frame = table.to_pandas(split_blocks=True, self_destruct=True)
    del table
    for name in frame.columns:
        if name in (*ID_COLUMNS, LABEL):
            continue
        if frame[name].dtype == object or pd.api.types.is_string_dtype(frame[name].dtype):
            frame[name] = frame[name].astype("str")
        else:
            frame[name] = frame[name].astype("float64")
    if LABEL in frame:
        frame[LABEL] = frame[LABEL].astype("int8")
    frame["cutoff"] = frame["cutoff"].astype("datetime64[us, UTC]")
    return frame


def build_features(
    source: FeatureSource, as_of: str | pd.Timestamp, settings: Settings, spec: FeatureSpec | None = None
) -> pd.DataFrame:
    """Features of the scoring population at one cutoff, ``as_of``.

    Args:
        source: tables to read.
        as_of: the cutoff.
        settings: feature and churn settings.
        spec: feature spec of the model that will score (default: discovered from the data).

    Returns:
        One row per customer in the population, ordered by ``customer_id``.
    """
    spec = spec or discover_spec(source)
    return to_frame(source, feature_table(source, normalize_cutoffs([as_of]), settings, spec))


def build_training_set(
    source: FeatureSource,
    as_of: str | pd.Timestamp,
    settings: Settings,
    spec: FeatureSpec | None = None,
    out_path: Path | None = None,
) -> pd.DataFrame | Path:
    """Stack features and labels for every training cutoff whose label horizon ends by ``as_of``.

    Args:
        source: tables to read.
        as_of: training date; the last cutoff is at most ``as_of - horizon``.
        settings: cutoff spacing, windows, churn definition.
        spec: feature spec (default: discovered from the data).
        out_path: when given, stream the result to this Parquet file instead of returning a frame.

    Returns:
        The training frame (``customer_id``, ``cutoff``, ``trailing_spend``, ``churned``, features), or
        ``out_path`` once written.

    Raises:
        ValueError: the history is too short for even one labelled cutoff.
    """
    as_of_ts = normalize_cutoffs([as_of])[0]
    first = normalize_cutoffs([source.backend.execute(source.transactions.ts.min())])[0]
    cutoffs = training_cutoffs(first, as_of_ts, settings.features, settings.churn)
    if not cutoffs:
        raise InsufficientDataError(
            f"history too short: need {settings.features.min_history_days} days of history plus the "
            f"{settings.churn.horizon_days}-day horizon before as_of {as_of_ts.date()}"
        )
    spec = spec or discover_spec(source)
    expr = feature_table(source, cutoffs, settings, spec, with_labels=True)
    if out_path is None:
        return to_frame(source, expr)
    source.backend.to_parquet(expr, out_path)
    return out_path
