"""Cutoff dates: when training looks at customers, and the table that lets one query serve many cutoffs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import ibis
import pandas as pd
from ibis.expr.types import IntegerValue, Table, TimestampValue

from churnguard.config import ChurnSettings, FeatureSettings

DAY = pd.Timedelta(days=1)


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


def since(days: int) -> str:
    """Name of the cutoff-table column holding ``cutoff - days``: the start of a ``days`` window."""
    return f"since_{days}d"


@dataclass(frozen=True)
class CutoffTable:
    """The cutoffs of one query, as values and as a table that rows are joined with.

    Times inside feature queries are naive UTC (see ``features.source``). The table has one row per
    cutoff: ``cutoff``, ``cutoff_utc`` (the same instant, tz-aware, for the output), its index ``k``,
    ``label_end`` (``cutoff + horizon``) and one ``since_{d}d`` column (``cutoff - d days``) per window
    length, so window tests are plain comparisons rather than date arithmetic per row.
    """

    stamps: tuple[pd.Timestamp, ...]
    table: Table

    def bucket(self, ts: TimestampValue) -> IntegerValue:
        """Index ``k`` of the first cutoff after ``ts``, or null from the last cutoff on.

        History bucket ``k`` is ``[cutoff k-1, cutoff k)``; bucket 0 holds everything before the first
        cutoff. Cumulative features aggregate each bucket once and combine buckets ``<= k``, instead
        of rescanning the history for every cutoff.
        """
        branches = [(ts < ibis.literal(stamp, type="timestamp"), k) for k, stamp in enumerate(self.stamps)]
        return ibis.cases(*branches, else_=ibis.null("int64"))


def cutoff_table(
    cutoffs: Sequence[str | pd.Timestamp], window_days: Iterable[int] = (), horizon_days: int = 0
) -> CutoffTable:
    """The cutoff table of :class:`CutoffTable` for the given cutoffs and window lengths."""
    aware = pd.Series(normalize_cutoffs(cutoffs), dtype="datetime64[us, UTC]")
    naive = aware.dt.tz_localize(None)
    frame = pd.DataFrame({"cutoff": naive, "cutoff_utc": aware, "k": range(len(aware))})
    frame["label_end"] = naive + horizon_days * DAY
    for days in sorted(set(window_days)):
        frame[since(days)] = naive - days * DAY
    return CutoffTable(stamps=tuple(naive), table=ibis.memtable(frame))
