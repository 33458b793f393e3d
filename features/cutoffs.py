"""Cutoff dates: when training looks at customers, and the cutoff table that feature queries read.

One query can describe customers at many cutoffs (joined with the cutoff table) or at one of them
(its values are then literals, so the engine can filter rows before any join or grouping). Either
way the same expressions give the same values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property

import ibis
import pandas as pd
from ibis.expr.types import IntegerValue, Table, TimestampValue, Value

from churnguard.core.config import ChurnSettings, FeatureSettings

DAY = pd.Timedelta(days=1)
MIN_TRAIN_CUTOFFS = 2  # a fold learns from at least two cutoffs: one would be a thin, seasonal sample
SHORTEST_HISTORY_DAYS = 30  # features need some history before the first cutoff


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
    first_ts: pd.Timestamp,
    as_of: pd.Timestamp,
    features: FeatureSettings,
    churn: ChurnSettings,
    every_days: int | None = None,
    min_history_days: int | None = None,
) -> list[pd.Timestamp]:
    """Cutoffs every ``cutoff_every_days``, ending at the last one whose label horizon closes by ``as_of``.

    The schedule is anchored at the end (``as_of - horizon``) so the freshest labelled cutoff is used,
    and starts once ``min_history_days`` of history exist.

    Args:
        first_ts: time of the first transaction.
        as_of: the training date; no label window may pass it.
        features: cutoff spacing, minimum history and optional cap on the number of cutoffs.
        churn: horizon of the label.
        every_days, min_history_days: override the configured spacing and minimum history.

    Returns:
        Cutoffs, oldest first (possibly empty when the history is too short).
    """
    every = every_days or features.cutoff_every_days
    history = features.min_history_days if min_history_days is None else min_history_days
    last = (as_of - churn.horizon_days * DAY).floor("D")
    first_allowed = first_ts.floor("D") + history * DAY
    cutoffs = []
    current = last
    while current >= first_allowed:
        cutoffs.append(current)
        current -= every * DAY
    cutoffs.reverse()
    if features.max_cutoffs:
        cutoffs = cutoffs[-features.max_cutoffs :]
    return cutoffs


@dataclass(frozen=True)
class Fold:
    """One origin of a rolling backtest: a test cutoff and the cutoffs a model may learn from for it.

    Purged: every training cutoff's label window ``[c, c + horizon)`` closes by the test cutoff, so
    no purchase that decides a test label also decides a training label.
    """

    test_cutoff: pd.Timestamp
    train_cutoffs: tuple[pd.Timestamp, ...]


def plan_folds(
    cutoffs: Sequence[pd.Timestamp],
    horizon_days: int,
    n_folds: int,
    min_train_cutoffs: int = MIN_TRAIN_CUTOFFS,
) -> list[Fold]:
    """Rolling-origin folds over labelled cutoffs, oldest first.

    The newest cutoff is the last test cutoff; earlier test cutoffs lie at least one horizon before
    the next one, so the test label windows do not overlap. A test cutoff needs ``min_train_cutoffs``
    purged training cutoffs; fewer than ``n_folds`` folds are returned when the history holds no more.
    """
    horizon = horizon_days * DAY
    ordered = sorted(cutoffs)
    folds: list[Fold] = []
    for test in reversed(ordered):
        if len(folds) == n_folds:
            break
        if folds and folds[-1].test_cutoff - test < horizon:
            continue
        train = tuple(c for c in ordered if c + horizon <= test)
        if len(train) < min_train_cutoffs:
            break  # an older test cutoff has even fewer
        folds.append(Fold(test, train))
    return folds[::-1]


@dataclass(frozen=True)
class CutoffPlan:
    """The labelled cutoffs of a training, the backtest folds over them, and how they were chosen."""

    cutoffs: list[pd.Timestamp]
    folds: list[Fold]
    every_days: int
    min_history_days: int
    notes: tuple[str, ...] = ()
    shortfall: str | None = None  # why no fold fits, and what would make one fit


def _strength(plan: CutoffPlan) -> tuple[int, int]:
    """More folds first, then more training cutoffs behind the newest test cutoff."""
    return len(plan.folds), len(plan.folds[-1].train_cutoffs) if plan.folds else 0


def plan_training(
    first_ts: pd.Timestamp, as_of: pd.Timestamp, features: FeatureSettings, churn: ChurnSettings, n_folds: int
) -> CutoffPlan:
    """Labelled cutoffs and backtest folds; spacing and minimum history adapt to a short history.

    The configured schedule is used when it supports ``n_folds`` folds. Otherwise denser schedules
    are tried (every 14 days with 60 days of history, then every 7 days with 30): a shop with nine
    months of purchases and a 90-day horizon still trains, on fewer folds, with a note saying so.
    When not even one fold fits, ``shortfall`` says how much history (or which setting) is missing.
    """
    configured = (features.cutoff_every_days, features.min_history_days)
    schedules = [configured] + [
        (min(configured[0], every), min(configured[1], history))
        for every, history in ((14, 60), (7, SHORTEST_HISTORY_DAYS))
    ]
    best: CutoffPlan | None = None
    for every, history in dict.fromkeys(schedules):
        # Denser schedules keep the span of the configured cap rather than its count of cutoffs.
        cap = features.max_cutoffs and -(-features.max_cutoffs * configured[0] // every)
        cutoffs = training_cutoffs(
            first_ts, as_of, features.model_copy(update={"max_cutoffs": cap}), churn, every, history
        )
        plan = CutoffPlan(cutoffs, plan_folds(cutoffs, churn.horizon_days, n_folds), every, history)
        if best is None or _strength(plan) > _strength(best):
            best = plan
        if len(plan.folds) == n_folds:
            break
    notes = []
    if (best.every_days, best.min_history_days) != configured:
        notes.append(
            f"history too short for cutoffs every {configured[0]} days after {configured[1]} days: using "
            f"every {best.every_days} days after {best.min_history_days} days"
        )
    if 0 < len(best.folds) < n_folds:
        notes.append(
            f"only {len(best.folds)} of {n_folds} backtest folds fit in the history: the measures rest on "
            f"fewer test cutoffs (each fold needs {churn.horizon_days} days after its training cutoffs)"
        )
    shortfall = None
    if not best.folds:
        needed, found = SHORTEST_HISTORY_DAYS + 2 * churn.horizon_days, (as_of - first_ts).days
        if found < needed:
            shortfall = (
                f"history too short to train and test a model: need at least {needed} days of purchases "
                f"before as_of ({SHORTEST_HISTORY_DAYS} days of history, a {churn.horizon_days}-day "
                f"training label and a {churn.horizon_days}-day test label), found {found} "
                f"(first purchase {first_ts.date()}, as_of {as_of.date()})"
            )
        else:
            shortfall = (
                f"features.max_cutoffs={features.max_cutoffs} keeps too few cutoffs for a backtest fold "
                f"(a test cutoff needs {MIN_TRAIN_CUTOFFS} training cutoffs whose {churn.horizon_days}-day "
                "labels close before it): raise it, or set it to null"
            )
    return replace(best, notes=tuple(notes), shortfall=shortfall)


def since(days: int) -> str:
    """Name of the cutoff-table column holding ``cutoff - days``: the start of a ``days`` window."""
    return f"since_{days}d"


@dataclass(frozen=True)
class CutoffTable:
    """The cutoffs of a run, and which of them one query describes.

    Times inside feature queries are naive UTC (see ``churnguard.features.source``). ``frame`` has one row per
    cutoff: ``cutoff``, ``cutoff_utc`` (the same instant, tz-aware, for the output), its index ``k``,
    ``label_end`` (``cutoff + horizon``) and one ``since_{d}d`` column (``cutoff - d days``) per window
    length, so window tests are plain comparisons rather than date arithmetic per row.

    ``chosen`` are the indices of the cutoffs the query describes. With several, rows are joined with
    :attr:`table` and keyed by ``(customer_id, cutoff)``; with one, :meth:`value` gives its values as
    literals and rows are keyed by ``customer_id`` alone. History buckets always follow every cutoff
    of the run, so tables bucketed once serve each cutoff.
    """

    stamps: tuple[pd.Timestamp, ...]
    frame: pd.DataFrame
    chosen: tuple[int, ...]
    stored: Table | None = None  # the chosen rows of ``frame``, already a table of the backend

    @property
    def single(self) -> bool:
        """Whether the query describes exactly one cutoff, given as literals."""
        return len(self.chosen) == 1 and self.stored is None

    @property
    def keys(self) -> list[str]:
        """Key columns of per-customer rows: ``customer_id``, plus ``cutoff`` when there are several."""
        return ["customer_id"] if self.single else ["customer_id", "cutoff"]

    @cached_property
    def table(self) -> Table:
        """The chosen cutoffs as a table to join rows with."""
        if self.stored is not None:
            return self.stored
        return ibis.memtable(self.chosen_rows())

    def chosen_rows(self) -> pd.DataFrame:
        return self.frame.iloc[list(self.chosen)].reset_index(drop=True)

    def one(self, k: int) -> CutoffTable:
        """The same run, describing only cutoff ``k`` (its values as literals)."""
        return replace(self, chosen=(k,), stored=None)

    def reading(self, stored: Table, k: int) -> CutoffTable:
        """The same run, describing the cutoff(s) in ``stored``, a backend table shaped like ``frame``.

        Queries over it do not change when the table's rows do: one compiled query then serves every
        cutoff (the stored rows must be those of ``chosen``, here cutoff ``k``).
        """
        return replace(self, chosen=(k,), stored=stored)

    def value(self, rows: Table, name: str) -> Value:
        """Column ``name`` of the cutoff table: a literal for one cutoff, else the column of ``rows``
        (rows already joined with :attr:`table`)."""
        if not self.single:
            return rows[name]
        value = self.frame[name].iloc[self.chosen[0]]
        if name == "cutoff_utc":
            return ibis.literal(value, type="timestamp('UTC')")
        if name == "k":
            return ibis.literal(int(value), type="int64")
        return ibis.literal(value, type="timestamp")

    def bucket(self, ts: TimestampValue) -> IntegerValue:
        """Index ``k`` of the first cutoff after ``ts``, or null from the last cutoff on.

        History bucket ``k`` is ``[cutoff k-1, cutoff k)``; bucket 0 holds everything before the first
        cutoff. All-history features aggregate each bucket once and combine buckets ``<= k``, instead
        of rescanning the history for every cutoff.
        """
        if len(self.stamps) == 1:  # one bucket: a plain test, no CASE per row
            return ibis.ifelse(ts < ibis.literal(self.stamps[0], type="timestamp"), 0, ibis.null("int64"))
        branches = [(ts < ibis.literal(stamp, type="timestamp"), k) for k, stamp in enumerate(self.stamps)]
        return ibis.cases(*branches, else_=ibis.null("int64"))

    def first_needed(self, days: int) -> pd.Timestamp:
        """Start of the ``days`` window of the earliest chosen cutoff: such windows read no earlier row."""
        return self.frame[since(days)].iloc[min(self.chosen)]

    @property
    def last_cutoff(self) -> pd.Timestamp:
        return self.frame["cutoff"].iloc[max(self.chosen)]


def cutoff_table(
    cutoffs: Sequence[str | pd.Timestamp], window_days: Iterable[int] = (), horizon_days: int = 0
) -> CutoffTable:
    """The :class:`CutoffTable` of the given cutoffs and window lengths, describing all of them."""
    aware = pd.Series(normalize_cutoffs(cutoffs), dtype="datetime64[us, UTC]")
    naive = aware.dt.tz_localize(None)
    frame = pd.DataFrame({"cutoff": naive, "cutoff_utc": aware, "k": range(len(aware))})
    frame["label_end"] = naive + horizon_days * DAY
    for days in sorted(set(window_days)):
        frame[since(days)] = naive - days * DAY
    return CutoffTable(stamps=tuple(naive), frame=frame, chosen=tuple(range(len(frame))))
