"""RFM quintile scores and named segments, ranked within each cutoff's population.

Scores run 1 (worst) to 5 (best): R from recency (recent is better), F from purchases and M from net
spend in the activity lookback window. Ties share a score (percent rank), so results are
deterministic. The segment is the first rule that matches:

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


def _quintile(order: ibis.Value, by: list[ibis.Value]) -> ibis.Value:
    rank = ibis.percent_rank().over(group_by=by or None, order_by=order)
    return ibis.least(ibis.literal(5), (rank * 5).floor().cast("int64") + 1)


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
    narrow = t.select(*keys, "recency_days", "tenure_days", frequency, monetary)
    by = [narrow[k] for k in keys if k != "customer_id"]
    scored = narrow.mutate(
        rfm_r=_quintile(ibis.desc(narrow.recency_days.fill_null(_NEVER)), by),
        rfm_f=_quintile(narrow[frequency], by),
        rfm_m=_quintile(narrow[monetary], by),
    )
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
