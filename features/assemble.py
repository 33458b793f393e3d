"""The feature expression: population, labels and every feature family joined per customer and cutoff.

:func:`prepare` gathers what the feature expression reads for a run's cutoffs: transactions in cents
and coded events (the rows windows need), and per-bucket history partials. They are expressions; a
caller describing cutoffs one at a time can have the backend keep them (``FeatureSource.keep``) so
each cutoff reuses them. :func:`feature_expr` then describes the chosen cutoffs of a run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import ibis
from ibis.expr.types import Table

from churnguard.core.config import Settings
from churnguard.core.errors import InsufficientDataError
from churnguard.features import btyd_features, engagement, segments, subscriptions, transactions
from churnguard.features.cutoffs import CutoffTable, cutoff_table
from churnguard.features.source import FeatureSource
from churnguard.features.spec import LABEL, VALUE_COLUMN, FeatureSpec
from churnguard.features.timeutil import NO_TIME, join_recent


@dataclass(frozen=True)
class Inputs:
    """What the feature expression reads for the cutoffs of one run."""

    source: FeatureSource
    tx_window: Table  # transactions in cents that some cutoff's windows need
    tx_history: Table  # purchase partials per (customer_id, history bucket)
    ev_window: Table | None  # coded events that some cutoff's windows need
    ev_history: Table | None  # last-event partials per (customer_id, history bucket)
    kept_tables: bool = False  # the tables above are temporary tables of the backend

    def kept(self) -> Inputs:
        """The same inputs with the shared tables computed once and kept by the backend."""
        keep = self.source.keep
        return replace(
            self,
            tx_window=keep(self.tx_window),
            tx_history=keep(self.tx_history),
            ev_window=keep(self.ev_window) if self.ev_window is not None else None,
            ev_history=keep(self.ev_history) if self.ev_history is not None else None,
            kept_tables=True,
        )

    def release(self) -> None:
        """Drop the tables :meth:`kept` made."""
        if self.kept_tables:
            for table in (self.tx_window, self.tx_history, self.ev_window, self.ev_history):
                if table is not None:
                    self.source.drop(table)


def run_cutoffs(cutoffs: Sequence, settings: Settings, spec: FeatureSpec) -> CutoffTable:
    """The cutoff table of a run, with the starts of every window the features use."""
    f = settings.features
    windows = transactions.window_days(f, settings.churn, settings.value)
    if spec.event_types:
        windows |= set(f.engagement_windows_days)
    return cutoff_table(cutoffs, windows, settings.churn.horizon_days)


def prepare(source: FeatureSource, cuts: CutoffTable, settings: Settings, spec: FeatureSpec) -> Inputs:
    """The rows and partials :func:`feature_expr` reads for the cutoffs of ``cuts``."""
    f = settings.features

    def needed(rows: Table, days: int) -> Table:
        first, last = (ibis.literal(t, type="timestamp") for t in (cuts.first_needed(days), cuts.last_cutoff))
        return rows.filter(rows.ts >= first, rows.ts < last)

    longest = transactions.longest_window(f, settings.churn, settings.value)
    tx_window = needed(transactions.in_cents(source.transactions), longest)
    tx_history = transactions.history_partials(source.transactions, cuts)
    ev_window = ev_history = None
    if spec.event_types and source.events is not None:
        # Two scans of the events rather than one shared one: sharing would hold every event in memory.
        ev = engagement.coded(source.events, spec.event_types)
        ev_window = engagement.with_previous_same_day(needed(ev, max(f.engagement_windows_days)))
        ev_history = engagement.history_partials(
            engagement.coded(source.events, spec.event_types), cuts, spec.event_types
        )
    return Inputs(source, tx_window, tx_history, ev_window, ev_history)


def _attach(left: Table, right: Table, keys: list[str]) -> Table:
    """Left-join on the key columns without duplicating them.

    The columns are selected by name rather than dropped afterwards, so a table attached to several
    others stays one subquery the engine computes once.
    """
    joined = left.left_join(right, [left[k] == right[k] for k in keys])
    return joined.select(
        *(joined[c] for c in left.columns), *(joined[c] for c in right.columns if c not in keys)
    )


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


def population(source: FeatureSource, cuts: CutoffTable, settings: Settings) -> Table:
    """Who is scored at each cutoff: active buyers (inactivity) or active subscribers (subscription).

    ``cuts`` must hold the start of the ``churn.lookback_days`` window (``run_cutoffs`` builds it so).
    """
    if settings.churn.definition == "subscription":
        if source.subscriptions is None:
            raise InsufficientDataError(
                "churn.definition is 'subscription' but the data has no subscriptions table"
            )
        subs = subscriptions.subscription_aggregates(source.subscriptions, cuts)
        return subs.filter(subs.sub_n_active > 0).select(*cuts.keys)
    tx = source.transactions
    buys = tx.filter(tx.amount > 0).select("customer_id", "ts")
    return join_recent(buys, cuts, "ts", settings.churn.lookback_days).select(*cuts.keys).distinct()


def labels(source: FeatureSource, cuts: CutoffTable, settings: Settings) -> Table:
    """Customers (and cutoffs) that did NOT churn in ``[cutoff, cutoff + horizon)``."""
    if settings.churn.definition == "subscription":
        return subscriptions.still_subscribed(source.subscriptions, cuts)
    tx = source.transactions
    buys = tx.filter(tx.amount > 0).select("customer_id", "ts")
    if not cuts.single:
        c = cuts.table
        buys = buys.join(c, [buys.ts >= c.cutoff, buys.ts < c.label_end])
    else:
        buys = buys.filter(buys.ts >= cuts.value(buys, "cutoff"), buys.ts < cuts.value(buys, "label_end"))
    return buys.select(*cuts.keys).distinct()


Stage = Callable[[Table, str], Table]


def unstaged(table: Table, name: str) -> Table:
    """A :data:`Stage` that keeps the whole feature table one query."""
    return table


def feature_expr(
    inputs: Inputs,
    cuts: CutoffTable,
    settings: Settings,
    spec: FeatureSpec,
    with_labels: bool = False,
    stage: Stage = unstaged,
) -> Table:
    """The feature table of the chosen cutoffs of ``cuts`` (see ``build.feature_table``).

    ``stage(table, name)`` receives each family's aggregates (transaction windows and history, event
    windows and history, subscriptions, labels) before they are joined; a caller may have the backend
    compute and keep each one (``output.Stages``), so no query holds every family's hash tables at once.
    """
    f, churn, value = settings.features, settings.churn, settings.value
    source, keys = inputs.source, cuts.keys
    recent = stage(transactions.window_aggregates(inputs.tx_window, cuts, f, churn, value), "tx_window")
    if churn.definition == "inactivity":
        # Active buyers are exactly the customers with a purchase in the lookback window.
        t = recent.filter(recent._n_lookback > 0)
    else:
        t = _attach(population(source, cuts, settings), recent, keys)
    t = _attach(t, stage(transactions.history_aggregates(inputs.tx_history, cuts), "tx_history"), keys)
    attributes = _attributes(source.customers, spec)
    t = _attach(t, attributes, ["customer_id"])

    columns = transactions.finish_transaction_features(t, cuts, f, t._signup_ts)
    # Inputs of the BTYD columns, which the model fit (numpy) finishes as the table leaves the engine.
    columns.update(btyd_features.btyd_inputs(t, cuts, churn.horizon_days))
    for name in spec.attribute_columns:
        value = t[f"attr_{name}"]
        columns[f"attr_{name}"] = value if name in spec.numeric_attributes else value.fill_null("unknown")
    # Purchases and attributes first: RFM scores need only these, so their ranking (a sort per cutoff)
    # carries fewer columns and the event and subscription aggregates are computed once.
    base = t.select(
        *keys,
        trailing_spend=t.trailing_spend.fill_null(0.0),
        _n_lookback=t._n_lookback.fill_null(0),
        _spend_lookback=t._spend_lookback.fill_null(0.0),
        **columns,
    )
    base = stage(base, "purchases")
    scores = segments.rfm_scores(base, frequency="_n_lookback", monetary="_spend_lookback", keys=keys)
    scores = stage(scores, "rfm")
    t = base.drop("_n_lookback", "_spend_lookback")
    feature_columns = [c for c in t.columns if c not in keys]

    windows = f.engagement_windows_days
    if spec.event_types:
        if inputs.ev_window is not None:
            ev = engagement.window_aggregates(
                inputs.ev_window, cuts, spec.event_types, spec.valued_event_types, windows
            )
            t = _attach(t, stage(ev, "ev_window"), keys)
            last = engagement.history_aggregates(inputs.ev_history, cuts, spec.event_types)
            t = _attach(t, stage(last, "ev_history"), keys)
        else:
            t = t.mutate(**_absent_event_columns(spec, windows))
    if spec.has_subscriptions:
        if source.subscriptions is not None:
            subs = subscriptions.subscription_aggregates(source.subscriptions, cuts)
            t = _attach(t, stage(subs, "subscriptions"), keys)
        else:
            t = t.mutate(sub_n_active=ibis.literal(0), sub_n_ended=ibis.literal(0), _sub_first_start=NO_TIME)
        # Columns of the model's spec that this data lacks: no MRR, no plan.
        if "sub_mrr" not in t.columns:
            t = t.mutate(sub_mrr=ibis.null("float64"))
        if "sub_plan" not in t.columns:
            t = t.mutate(sub_plan=ibis.null("string"))

    columns = {}
    if spec.event_types:
        columns.update(
            engagement.finish_engagement_features(t, cuts, spec.event_types, spec.valued_event_types, windows)
        )
    if spec.has_subscriptions:
        columns.update(
            subscriptions.finish_subscription_features(t, cuts, spec.subscription_mrr, spec.subscription_plan)
        )
    out = _attach(t.select(*keys, *feature_columns, **columns), scores, keys)
    if with_labels:
        kept = stage(labels(source, cuts, settings), "labels").mutate(_kept=ibis.literal(1))
        out = _attach(out, kept, keys)
        # Through int32: PostgreSQL casts a boolean to integer only.
        out = out.mutate(churned=out._kept.isnull().cast("int32").cast("int8")).drop("_kept")
        out = out.relocate(LABEL, after=VALUE_COLUMN)
    return _with_output_cutoff(out, cuts)


def _with_output_cutoff(out: Table, cuts: CutoffTable) -> Table:
    """``cutoff`` as the caller's tz-aware instant, second after ``customer_id``."""
    if cuts.single:
        out = out.mutate(cutoff=cuts.value(out, "cutoff_utc"))
    else:
        # A lookup in the small cutoff table, not a cast per row.
        stamps = cuts.table.select("cutoff", "cutoff_utc")
        out = out.join(stamps, "cutoff")
        out = out.mutate(cutoff=out.cutoff_utc).drop("cutoff_utc")
    return out.relocate("cutoff", after="customer_id")


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
