"""Suggested retention actions from an ordered playbook the retention team edits in the config file."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from churnguard.core.config import PlaybookRule

NO_ACTION = "No action: not at risk enough for outreach"


def suggest_actions(
    rules: Sequence[PlaybookRule],
    reason_kinds: np.ndarray | Sequence[Sequence[str | None]],
    segments: pd.Series | np.ndarray,
    tiers: pd.Series | np.ndarray,
    values: pd.Series | np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Apply rules in order: each customer gets the action of the first rule whose conditions all hold.

    A rule's conditions: any of ``reason_kinds`` among the customer's reasons, segment in ``segments``,
    tier in ``tiers``, value within ``[min_value, max_value]``; an empty list or None means "any".

    Args:
        rules: the playbook, in order.
        reason_kinds: per customer, the kinds of their reasons: a 2-D array with None in empty slots
            (``Explanations.kinds``) or one list per customer.
        segments: RFM segment per customer.
        tiers: risk tier per customer.
        values: customer value per customer.

    Returns:
        The action and the matching rule's name per customer (``NO_ACTION``/"" when none matches).
    """
    n = len(tiers)
    kinds = _kind_columns(reason_kinds, n)
    segments, tiers = (
        pd.Series(np.asarray(segments, dtype=object)),
        pd.Series(np.asarray(tiers, dtype=object)),
    )
    values = np.asarray(values, dtype=float)
    actions = np.full(n, NO_ACTION, dtype=object)
    names = np.full(n, "", dtype=object)
    open_rows = np.ones(n, dtype=bool)
    for rule in rules:
        match = open_rows.copy()
        if rule.reason_kinds:
            match &= kinds.isin(rule.reason_kinds).any(axis=1).to_numpy()
        if rule.segments:
            match &= segments.isin(rule.segments).to_numpy()
        if rule.tiers:
            match &= tiers.isin(rule.tiers).to_numpy()
        if rule.min_value is not None:
            match &= values >= rule.min_value
        if rule.max_value is not None:
            match &= values <= rule.max_value
        actions[match] = rule.action
        names[match] = rule.name
        open_rows &= ~match
    return actions, names


def _kind_columns(reason_kinds: np.ndarray | Sequence[Sequence[str | None]], n: int) -> pd.DataFrame:
    """One column per reason slot (None where a customer has fewer reasons)."""
    if isinstance(reason_kinds, np.ndarray) and reason_kinds.ndim == 2:
        return pd.DataFrame(reason_kinds)
    rows = [list(kinds) for kinds in reason_kinds]
    if len(rows) != n:
        raise ValueError(f"reason kinds for {len(rows)} customers, but {n} tiers")
    width = max((len(r) for r in rows), default=0)
    return pd.DataFrame([r + [None] * (width - len(r)) for r in rows], columns=range(width))
