"""Plain-words reasons a caller can act on: "No purchase for 95 days; usually buys every 30".

Each feature tells part of a story about what the customer did, and each story has a kind that the
playbook reads (:mod:`churnguard.models.reason_stories` holds the stories and their words): the lapse (recency against the customer's own rhythm: recency, gaps, overdue ratio,
the BTYD model's outputs and the RFM recency score and segment), buying less than in the window before
(``trend``: purchase counts, spend, trends, RFM frequency and monetary scores), refunds
(``monetary``), one story per event type (``engagement``, ``service``), the NPS answer and the
subscription. Model outputs and RFM scores are never quoted: their contributions count towards the
behaviour behind them. Who the customer is (attributes, tenure) is context: it never makes a reason.

A customer's reasons are the kinds whose features add up to the most risk, three at most, each worded
by the story of its largest contribution among the stories with something to say about this customer:
a promoter's NPS answer, buying that did not fall or logins that did not drop say nothing, and the
kind's next story (or the next kind) speaks instead. The choice and the wording are vectorised: a
template renders each distinct combination of values once, not once per customer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnguard.core.config import REASON_KINDS
from churnguard.features.build import FeatureSpec
from churnguard.models.reason_stories import (
    CONTEXT,
    Template,
    check_templates,
    story_of,
    story_template,
    template_for,
)

__all__ = ["KINDS", "MAX_REASONS", "Explanations", "check_templates", "explain", "template_for"]

BIAS = "bias"
MAX_REASONS = 3
KINDS = REASON_KINDS  # what a reason can be about; playbook rules are checked against the same kinds


@dataclass
class Explanations:
    """Per customer (row) and reason slot: the reason text and its kind (see ``KINDS``).

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
    """Up to three reasons per row, each of a different kind, from the row's contributions.

    A kind's weight is the risk its features add, the sum of their positive contributions (context
    features belong to no kind). Kinds are taken by weight (ties: the kind whose first feature comes
    first), each worded by the story of its largest positive contribution among the stories that speak
    for the row (ties: the earlier column); a kind with no such contribution is skipped.

    Args:
        frame: the customers' feature values (same row order as ``contributions``).
        contributions: per-feature contributions (``bias`` column ignored).
        spec: the model's feature spec; the wording reads the feature names alone, so it may be None.
        batch_rows: rows chosen at a time (bounds memory).

    Returns:
        Up to three reasons per customer, each of a different kind.
    """
    names = [c for c in contributions.columns if c != BIAS]
    stories = [story_of(name) for name in names]
    templates = {story: story_template(story, names) for story, kind in stories if kind is not CONTEXT}
    kinds = list(dict.fromkeys(kind for _, kind in stories if kind is not CONTEXT))
    n = len(contributions)
    columns: dict[str, np.ndarray] = {}

    def values(column: str) -> np.ndarray:
        if column not in columns:
            array = frame[column].to_numpy() if column in frame else np.full(n, np.nan)
            columns[column] = array + 0.0 if array.dtype.kind == "f" else array  # -0.0 reads as 0
        return columns[column]

    speaks = {story: t.speaks(_inputs(t, values, slice(None)), n) for story, t in templates.items()}
    member = np.zeros((len(names), len(kinds)))
    for j, (_, kind) in enumerate(stories):
        if kind is not CONTEXT:
            member[j, kinds.index(kind)] = 1.0
    groups = [np.flatnonzero(member[:, k]) for k in range(len(kinds))]
    never = np.zeros(n, dtype=bool)
    voices = [speaks[story] if kind is not CONTEXT else never for story, kind in stories]
    positions = contributions.columns.get_indexer(names)
    chosen = np.full((n, MAX_REASONS), -1, dtype=np.int64)
    for start in range(0, n, batch_rows):
        block = contributions.iloc[start : start + batch_rows, positions].to_numpy(dtype=float)
        rows = slice(start, start + len(block))
        voiced = np.column_stack([voice[rows] for voice in voices]) if names else np.zeros_like(block, bool)
        chosen[rows] = _choose(block, voiced, member, groups)

    texts = np.full((n, MAX_REASONS), None, dtype=object)
    out_kinds = np.full((n, MAX_REASONS), None, dtype=object)
    order = list(templates)
    story_index = {story: i for i, story in enumerate(order)}
    story_of_column = np.array([story_index.get(s, -1) for s, _ in stories] + [-1])  # -1: no reason
    kind_of_column = np.array([k for _, k in stories] + [None], dtype=object)
    for slot in range(MAX_REASONS):
        picked = story_of_column[chosen[:, slot]]
        out_kinds[:, slot] = kind_of_column[chosen[:, slot]]
        by_story = np.argsort(picked, kind="stable")
        found, starts = np.unique(picked[by_story], return_index=True)
        for i, rows in zip(found, np.split(by_story, starts[1:]) if n else [], strict=True):
            if i < 0:
                continue
            template = templates[order[i]]
            texts[rows, slot] = _render(template, _inputs(template, values, rows))
    return Explanations(texts=texts, kinds=out_kinds)


def _inputs(
    template: Template, values: Callable[[str], np.ndarray], rows: slice | np.ndarray
) -> list[np.ndarray]:
    """The template's input columns at ``rows``, rounded when its words only show whole numbers."""
    inputs = [values(c)[rows] for c in template.inputs]
    return [np.rint(c) + 0.0 if template.whole and c.dtype.kind == "f" else c for c in inputs]  # never -0


def _choose(
    block: np.ndarray, voiced: np.ndarray, member: np.ndarray, groups: list[np.ndarray]
) -> np.ndarray:
    """Column of each row's 1st, 2nd, 3rd reason (-1: none): the lead feature of the heaviest kinds.

    Args:
        block: contributions, rows by features.
        voiced: whether each feature's story speaks for each row.
        member: features by kinds, 1 where a feature belongs to a kind.
        groups: the feature columns of each kind.
    """
    n, rows = len(block), np.arange(len(block))
    weight = np.clip(block, 0, None) @ member  # the risk a kind's features add
    lead = np.full((n, len(groups)), -1, dtype=np.int64)
    spoken = np.where(voiced & (block > 0), block, -np.inf)
    for k, cols in enumerate(groups):
        arg = spoken[:, cols].argmax(axis=1)  # first maximum: the earliest column wins a tie
        lead[:, k] = np.where(np.isfinite(spoken[rows, cols[arg]]), cols[arg], -1)
    weight[lead < 0] = -np.inf
    chosen = np.full((n, MAX_REASONS), -1, dtype=np.int64)
    for slot in range(min(MAX_REASONS, len(groups))):
        k = weight.argmax(axis=1)  # first maximum: the earlier kind wins a tie
        found = np.isfinite(weight[rows, k])
        chosen[found, slot] = lead[rows, k][found]
        weight[rows, k] = -np.inf
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
