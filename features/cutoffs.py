"""Cutoff dates: when training looks at customers, and the tables that let one query serve many cutoffs."""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import pandas as pd
from ibis.expr.types import Table

from churnguard.config import ChurnSettings, FeatureSettings

DAY = pd.Timedelta(days=1)
# Before any real data: the lower edge of the first cutoff's history bucket.
_BEGINNING = pd.Timestamp("1900-01-01", tz="UTC")


def normalize_cutoffs(cutoffs: Sequence[str | pd.Timestamp]) -> list[pd.Timestamp]:
    """Sorted, unique, tz-aware UTC cutoffs."""
    stamps = {
        pd.Timestamp(c).tz_localize("UTC")
        if pd.Timestamp(c).tzinfo is None
        else pd.Timestamp(c).tz_convert("UTC")
        for c in cutoffs
    }
    if not stamps:
        raise ValueError("at least one cutoff is needed")
    return sorted(stamps)


def training_cutoffs(
    first_ts: pd.Timestamp, as_of: pd.Timestamp, features: FeatureSettings, churn: ChurnSettings
) -> list[pd.Timestamp]:
    """Cutoffs every ``cutoff_every_days``, ending at the last one whose label horizon closes by ``as_of``.

    The schedule is anchored at the end (``as_of - horizon``) so the freshest labelled cutoff is used,
    and starts once ``min_history_days`` of history exist.

    Args:
        first_ts: time of the first transaction.
        as_of: the training date; no label window may pass it.
        features: cutoff spacing, minimum history and optional cap on the number of cutoffs.
        churn: horizon of the label.

    Returns:
        Cutoffs, oldest first (possibly empty when the history is too short).
    """
    last = (as_of - churn.horizon_days * DAY).floor("D")
    first_allowed = first_ts.floor("D") + features.min_history_days * DAY
    cutoffs = []
    current = last
    while current >= first_allowed:
        cutoffs.append(current)
        current -= features.cutoff_every_days * DAY
    cutoffs.reverse()
    if features.max_cutoffs:
        cutoffs = cutoffs[-features.max_cutoffs :]
    return cutoffs


def cutoff_table(cutoffs: Sequence[pd.Timestamp]) -> Table:
    """One row per cutoff: ``cutoff``, its index ``k`` and ``prev_cutoff`` (the previous one, or the beginning).

    ``[prev_cutoff, cutoff)`` is the history bucket first seen by cutoff ``k``; cumulative features
    aggregate each bucket once and combine buckets ``<= k``, instead of rescanning history per cutoff.
    """
    stamps = normalize_cutoffs(cutoffs)
    frame = pd.DataFrame(
        {
            "cutoff": pd.Series(stamps, dtype="datetime64[us, UTC]"),
            "k": range(len(stamps)),
            "prev_cutoff": pd.Series([_BEGINNING, *stamps[:-1]], dtype="datetime64[us, UTC]"),
        }
    )
    return ibis.memtable(frame)
