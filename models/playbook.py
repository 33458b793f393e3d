"""Suggested retention actions from an ordered playbook the retention team edits in the config file."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from churnguard.config import PlaybookRule

NO_ACTION = "No action: not at risk enough for outreach"


def suggest_actions(
    rules: Sequence[PlaybookRule],
    reason_kinds: Sequence[Sequence[str]],
    segments: pd.Series,
    tiers: pd.Series,
    values: pd.Series,
) -> tuple[np.ndarray, np.ndarray]:
    """Apply rules in order: each customer gets the action of the first rule whose conditions all hold.

    A rule's conditions: any of ``reason_kinds`` among the customer's reasons, segment in ``segments``,
    tier in ``tiers``, value within ``[min_value, max_value]``; an empty list or None means "any".

    Returns:
        The action and the matching rule's name per customer (``NO_ACTION``/"" when none matches).
    """
    n = len(tiers)
    actions = np.full(n, NO_ACTION, dtype=object)
    names = np.full(n, "", dtype=object)
    open_rows = np.ones(n, dtype=bool)
    kind_sets = [set(kinds) for kinds in reason_kinds]
    for rule in rules:
        match = open_rows.copy()
        if rule.reason_kinds:
            wanted = set(rule.reason_kinds)
            match &= np.fromiter((bool(wanted & kinds) for kinds in kind_sets), dtype=bool, count=n)
        if rule.segments:
            match &= segments.isin(rule.segments).to_numpy()
        if rule.tiers:
            match &= tiers.isin(rule.tiers).to_numpy()
        if rule.min_value is not None:
            match &= (values >= rule.min_value).to_numpy()
        if rule.max_value is not None:
            match &= (values <= rule.max_value).to_numpy()
        actions[match] = rule.action
        names[match] = rule.name
        open_rows &= ~match
    return actions, names
