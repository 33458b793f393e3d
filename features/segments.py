"""RFM quintile scores and named segments, ranked within each cutoff's population.

Scores run 1 (worst) to 5 (best): R from recency (recent is better), F from purchases and M from net
spend in the activity lookback window. Ties share a score (percent rank), so results are
deterministic.

The percent rank is counted, not asked of a window function: ``PERCENT_RANK() OVER (ORDER BY ...)``
without a partition (one cutoff, as in scoring) makes Spark move every row to one task. Counting rows
per distinct value and summing those counts in value order needs the window only over the distinct
values (a few hundred for recency and purchases), and gives percent_rank's own double,
(rows ranked before) / (rows - 1), on every engine. The segment is the first rule that matches:

| segment          | rule                          |
|------------------|-------------------------------|
| Champions        | R >= 4 and F >= 4             |
| Can't lose them  | R <= 2 and F >= 4 and M >= 4  |
| Loyal            | R >= 3 and F >= 3             |
| New              | R >= 4 and tenure <= 90 days  |
| Potential        | R >= 3                        |
| At risk          | R <= 2 and F >= 3             |
| Hibernating      | R = 2                         |
| Lost             | otherwise (R = 1, F <= 2)     |
"""

from __future__ import annotations

import ibis
from ibis.expr.types import Table

from churnguard.core.config import RFM_SEGMENTS

SEGMENTS = RFM_SEGMENTS
NEW_CUSTOMER_DAYS = 90
_NEVER = 1e9  # recency of a customer who never bought: ranks below everyone


def _quintile(t: Table, value: str, by: list[str]) -> Table:
    """``t``'s ``by`` and ``value`` columns with ``_score``: the quintile of ``value`` (ascending, nulls
    last) within each ``by`` group, 1 + floor(5 x percent rank), at most 5."""
    counts = t.group_by([*by, value]).aggregate(_value_rows=ibis._.count())
    # Rows up to this value's own (values are distinct here): a running sum.
    window = ibis.window(
        group_by=[counts[k] for k in by] or None, order_by=counts[value], preceding=None, following=0
    )
    before = (
        counts._value_rows.sum().over(window) - counts._value_rows
    )  # rows with a value ranked strictly before
    total = counts._value_rows.sum().over(ibis.window(group_by=[counts[k] for k in by] or None))
    rank = ibis.ifelse(total > 1, before.cast("float64") / (total - 1).cast("float64"), 0.0)
    score = ibis.least(ibis.literal(5), (rank * 5).floor().cast("int64") + 1)
    return counts.select(*by, value, _score=score)


def _scored(t: Table, value: str, by: list[str], name: str) -> Table:
    """``t`` with ``name``: the quintile score of its ``value`` column (see :func:`_quintile`)."""
    scores = _quintile(t, value, by).rename({name: "_score"})
    on = [*by, value]
    joined = t.left_join(scores, [t[k].identical_to(scores[k]) for k in on])  # null values score too
    return joined.select(*t.columns, name)


def rfm_scores(t: Table, frequency: str, monetary: str, keys: list[str]) -> Table:
    """``rfm_r``, ``rfm_f``, ``rfm_m`` scores and ``rfm_segment`` per row of a feature table.

    Only the few columns the ranks need are carried through the window sorts.

    Args:
        t: feature rows with the ``keys``, ``recency_days``, ``tenure_days`` and the two columns below.
        frequency: column with the purchase count of the lookback window.
        monetary: column with the net spend of the lookback window.
        keys: ``customer_id``, and ``cutoff`` when the rows describe several cutoffs (ranks are
            within each cutoff).
    """
    narrow = t.select(
        *keys,
        "tenure_days",
        frequency,
        monetary,
        # Recent is better: rank the negated days ascending (negation is exact in double precision).
        _recency_order=-(t.recency_days.fill_null(_NEVER)),
    )
    by = [k for k in keys if k != "customer_id"]
    scored = _scored(narrow, "_recency_order", by, "rfm_r")
    scored = _scored(scored, frequency, by, "rfm_f")
    scored = _scored(scored, monetary, by, "rfm_m")
    r, f, m = scored.rfm_r, scored.rfm_f, scored.rfm_m
    segment = ibis.cases(
        ((r >= 4) & (f >= 4), "Champions"),
        ((r <= 2) & (f >= 4) & (m >= 4), "Can't lose them"),
        ((r >= 3) & (f >= 3), "Loyal"),
        ((r >= 4) & (scored.tenure_days <= NEW_CUSTOMER_DAYS), "New"),
        (r >= 3, "Potential"),
        ((r <= 2) & (f >= 3), "At risk"),
        (r == 2, "Hibernating"),
        else_="Lost",
    )
    return scored.select(
        *keys,
        rfm_r=r.cast("float64"),
        rfm_f=f.cast("float64"),
        rfm_m=m.cast("float64"),
        rfm_segment=segment,
    )
