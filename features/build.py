"""Build the point-in-time feature table (and labels) for one or many cutoffs.

One expression, :func:`feature_table`, serves training (many cutoffs, with labels) and scoring (one
cutoff, ``as_of``): there is no second implementation. Every feature at cutoff ``c`` uses only rows
with a time strictly before ``c``; labels use ``[c, c + horizon)``. :func:`write_feature_table` runs
the same expression one cutoff at a time over shared, precomputed inputs, streaming into Parquet.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from ibis.expr.types import Table

from churnguard.core.config import Settings
from churnguard.core.errors import InsufficientDataError
from churnguard.features.assemble import feature_expr, labels, population, prepare, run_cutoffs
from churnguard.features.cutoffs import CutoffPlan, cutoff_table, normalize_cutoffs, plan_training
from churnguard.features.output import frame_by_cutoffs, tables_by_cutoff, to_frame, write_parquet
from churnguard.features.source import FeatureSource
from churnguard.features.spec import (
    CATEGORICAL_FEATURES,
    ID_COLUMNS,
    LABEL,
    VALUE_COLUMN,
    FeatureSpec,
    discover_spec,
    feature_names,
    is_categorical,
)

__all__ = [
    "CATEGORICAL_FEATURES",
    "ID_COLUMNS",
    "LABEL",
    "VALUE_COLUMN",
    "FeatureSpec",
    "active_customers",
    "build_features",
    "build_training_set",
    "discover_spec",
    "feature_names",
    "feature_table",
    "frame_by_cutoffs",
    "is_categorical",
    "retained_customers",
    "to_frame",
    "write_feature_table",
]


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
        no particular row order (``to_frame`` sorts by cutoff and customer). In place of the BTYD
        columns the expression holds their private inputs (``_btyd_*``): the BG/NBD fit behind them
        is numpy, so ``to_frame`` and :func:`write_feature_table` finish them per cutoff.
    """
    cuts = run_cutoffs(cutoffs, settings, spec)
    return feature_expr(prepare(source, cuts, settings, spec), cuts, settings, spec, with_labels)


def active_customers(
    source: FeatureSource, moments: Sequence[str | pd.Timestamp], settings: Settings
) -> pd.DataFrame:
    """Who is active at each moment under ``churn.definition``: the population a feature table describes.

    The one definition of an active customer: training and scoring describe these customers, and the
    report's churn and retention rates count them (``inactivity``: a purchase in the ``lookback_days``
    before the moment; ``subscription``: a subscription that started before it and had not ended).

    Returns:
        ``customer_id`` and ``cutoff`` (tz-aware UTC), one row per active customer and moment.
    """
    stamps = normalize_cutoffs(moments)
    cuts = cutoff_table(stamps, [settings.churn.lookback_days])
    rows = source.backend.execute(population(source, cuts, settings))
    if cuts.single:
        return rows.assign(cutoff=stamps[0])[["customer_id", "cutoff"]]
    return rows.assign(cutoff=pd.to_datetime(rows["cutoff"]).dt.tz_localize("UTC"))[["customer_id", "cutoff"]]


def retained_customers(
    source: FeatureSource, cutoff: str | pd.Timestamp, settings: Settings, known_until: str | pd.Timestamp
) -> tuple[pd.Index, int]:
    """Who did not churn after ``cutoff``, as far as the data shows by ``known_until``: the realised label.

    The training label's own definition (a purchase, or a subscription still running) over
    ``[cutoff, cutoff + horizon)``, cut short at ``known_until`` while the horizon is still open: then a
    customer without a purchase yet may still buy, so only the retained ones are final.

    Returns:
        The ``customer_id`` of every retained customer (of any population: the caller picks its own), and
        the days observed (``churn.horizon_days`` once the horizon has closed).
    """
    start = normalize_cutoffs([cutoff])[0]
    end = normalize_cutoffs([known_until])[0]
    days = int(min(settings.churn.horizon_days, max((end - start) // pd.Timedelta(days=1), 0)))
    cuts = cutoff_table([start], horizon_days=days)
    kept = source.backend.execute(labels(source, cuts, settings).select("customer_id"))
    return pd.Index(kept["customer_id"].unique()), days


def write_feature_table(
    source: FeatureSource,
    cutoffs: Sequence[str | pd.Timestamp],
    settings: Settings,
    spec: FeatureSpec,
    out_path: Path,
    with_labels: bool = False,
) -> int:
    """Write :func:`feature_table` to one Parquet file, computing and writing one cutoff at a time.

    The same rows as the expression, in cutoff order; memory follows one cutoff rather than all.

    Returns:
        Rows written.
    """
    tables = tables_by_cutoff(source, cutoffs, settings, spec, with_labels)
    return write_parquet(tables, out_path, overlap=not source.staged)


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
    return frame_by_cutoffs(source, normalize_cutoffs([as_of]), settings, spec)


def training_plan(source: FeatureSource, as_of: str | pd.Timestamp, settings: Settings) -> CutoffPlan:
    """The labelled cutoffs of a training before ``as_of`` and its backtest folds (see ``plan_training``)."""
    first_ts = source.backend.execute(source.transactions.ts.min())
    if first_ts is None or pd.isna(first_ts):
        raise InsufficientDataError("no transactions before as_of: nothing to learn from")
    as_of_ts, first = normalize_cutoffs([as_of])[0], normalize_cutoffs([first_ts])[0]
    return plan_training(first, as_of_ts, settings.features, settings.churn, settings.training.backtest_folds)


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
        out_path: when given, stream the result to this Parquet file (one cutoff at a time) instead of
            returning a frame.

    Returns:
        The training frame (``customer_id``, ``cutoff``, ``trailing_spend``, ``churned``, features), or
        ``out_path`` once written.

    Raises:
        InsufficientDataError: the history is too short for one labelled cutoff.
    """
    plan = training_plan(source, as_of, settings)
    if not plan.cutoffs:
        raise InsufficientDataError(
            plan.shortfall
            or f"history too short: no labelled cutoff before as_of {pd.Timestamp(as_of).date()}"
        )
    cutoffs = plan.cutoffs
    spec = spec or discover_spec(source)
    if out_path is None:
        return frame_by_cutoffs(source, cutoffs, settings, spec, with_labels=True)
    write_feature_table(source, cutoffs, settings, spec, out_path, with_labels=True)
    return out_path
