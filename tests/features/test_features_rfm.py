"""RFM quintile scores and every named segment rule, on populations of five hand-made customers.

With five customers and distinct values, percent ranks are 0, .25, .5, .75, 1 and the scores
``min(5, floor(5 * rank) + 1)`` are 1..5: each customer's R, F and M score is its rank.
"""

from __future__ import annotations

import pandas as pd

CUTOFF = pd.Timestamp("2024-07-01", tz="UTC")
RECENCY_DAYS = {5: 10, 4: 20, 3: 30, 2: 40, 1: 50}  # R score -> days since the last purchase


def history(customer_id: int, r: int, f: int, m: int) -> list[tuple]:
    """``f`` purchases, a week apart, the last one ``RECENCY_DAYS[r]`` ago, spending ``100 * m`` in all."""
    last = CUTOFF - pd.Timedelta(days=RECENCY_DAYS[r])
    return [(customer_id, str(last - pd.Timedelta(days=7 * i)), 100.0 * m / f) for i in range(f)]


def rows(scores: dict[int, tuple[int, int, int]]) -> list[tuple]:
    return [row for cid, (r, f, m) in scores.items() for row in history(cid, r, f, m)]


def test_scores_and_segments_champions_cant_lose_loyal_new_hibernating(features):
    scores = {
        1: (5, 5, 4),  # R >= 4 and F >= 4: Champions
        2: (1, 4, 5),  # R <= 2, F >= 4, M >= 4: Can't lose them
        3: (3, 3, 3),  # R >= 3 and F >= 3: Loyal
        4: (4, 1, 2),  # R >= 4, first purchase 20 days ago (tenure <= 90): New
        5: (2, 2, 1),  # R = 2, F <= 2: Hibernating
    }
    f = features(transactions=rows(scores))
    for cid, (r, freq, m) in scores.items():
        assert tuple(f.loc[cid, ["rfm_r", "rfm_f", "rfm_m"]]) == (r, freq, m), cid
    assert f["rfm_segment"].to_dict() == {
        1: "Champions",
        2: "Can't lose them",
        3: "Loyal",
        4: "New",
        5: "Hibernating",
    }


def test_segments_potential_at_risk_lost(features):
    scores = {
        1: (5, 1, 2),  # R >= 4 but signed up long ago (tenure > 90): Potential
        2: (1, 2, 3),  # R = 1, F <= 2: Lost
        3: (2, 4, 1),  # R <= 2, F >= 4 but M = 1 (not Can't lose them): At risk
        4: (3, 5, 4),  # Loyal
        5: (4, 3, 5),  # Loyal (R >= 3, F >= 3 but not F >= 4)
    }
    f = features(transactions=rows(scores), customers=[(1, "2023-01-01")])
    assert f["rfm_segment"].to_dict() == {1: "Potential", 2: "Lost", 3: "At risk", 4: "Loyal", 5: "Loyal"}


def test_at_risk_with_three_purchases(features):
    scores = {1: (1, 3, 1), 2: (2, 1, 2), 3: (3, 2, 3), 4: (4, 4, 4), 5: (5, 5, 5)}
    f = features(transactions=rows(scores), customers=[(c, "2023-01-01") for c in scores])
    assert f["rfm_segment"].to_dict() == {
        1: "At risk",  # R = 1, F = 3
        2: "Hibernating",  # R = 2, F = 1
        3: "Potential",  # R = 3, F = 2
        4: "Champions",
        5: "Champions",
    }


def test_ties_share_a_score(features):
    # Customers 1 and 2 are identical; 3 bought longer ago, less often, for less.
    f = features(transactions=[*history(1, 5, 2, 2), *history(2, 5, 2, 2), *history(3, 1, 1, 1)])
    # percent ranks: 3 -> 0 (score 1); 1 and 2 share rank 1/2 -> floor(2.5) + 1 = 3.
    assert f["rfm_r"].to_dict() == {1: 3.0, 2: 3.0, 3: 1.0}
    assert f["rfm_f"].to_dict() == {1: 3.0, 2: 3.0, 3: 1.0}
    assert f["rfm_m"].to_dict() == {1: 3.0, 2: 3.0, 3: 1.0}


def test_frequency_and_monetary_scores_use_the_lookback_window(features):
    # Customer 1 bought 10 times (1000 in all) but more than 365 days ago, and once recently for 1:
    # in the lookback window that is 1 purchase / 1, below customer 2's 2 purchases / 20.
    old = [(1, str(CUTOFF - pd.Timedelta(days=400 + i)), 100.0) for i in range(10)]
    f = features(
        transactions=[*old, (1, "2024-06-01", 1.0), (2, "2024-06-01", 10.0), (2, "2024-06-02", 10.0)]
    )
    assert f.loc[1, "n_purchases"] == 11.0
    assert (f.loc[1, "rfm_f"], f.loc[2, "rfm_f"]) == (1.0, 5.0)
    assert (f.loc[1, "rfm_m"], f.loc[2, "rfm_m"]) == (1.0, 5.0)
