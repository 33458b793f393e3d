"""RFM, rhythm and trend features from a few hand-made transactions, at the cutoff 2024-07-01.

Day counts used below (to 2024-07-01 00:00 UTC): 2024-06-01 is 30 days before, 2024-05-01 61,
2024-04-02 90, 2024-04-01 91, 2024-03-01 122, 2024-02-01 151, 2024-01-03 180, 2024-01-01 182,
2023-12-01 213, 2023-07-02 365.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest


def test_recency_counts_and_spend_overall(features):
    # Customer 1 buys 10, 20, 30 and gets a 5 refund; spend is net, mean and max are over purchases.
    f = features(
        transactions=[
            (1, "2024-01-01", 10.0),
            (1, "2024-02-01", 20.0),
            (1, "2024-03-01", 30.0),
            (1, "2024-03-05", -5.0),
        ]
    )
    row = f.loc[1]
    assert row["recency_days"] == 122.0  # last purchase 2024-03-01; the later refund is not a purchase
    assert row["n_purchases"] == 3.0
    assert row["spend_total"] == 55.0  # 10 + 20 + 30 - 5
    assert row["spend_mean"] == 20.0  # (10 + 20 + 30) / 3
    assert row["spend_max"] == 30.0
    assert row["refund_share"] == pytest.approx(1 / 3)  # one refund per three purchases


def test_recency_is_fractional_days(features):
    f = features(transactions=[(1, "2024-06-01 12:00:00", 10.0)])
    assert f.loc[1, "recency_days"] == 29.5


def test_tenure_from_signup_or_first_purchase(features):
    f = features(
        transactions=[
            (1, "2024-01-01", 10.0),  # signed up 2023-12-01, before the first purchase: 213 days
            (2, "2024-04-01", 10.0),  # signed up after the first purchase: tenure from 2024-04-01, 91 days
            (3, "2024-04-01", 10.0),  # no signup date: from the first purchase, 91 days
            (4, "2024-04-01", 10.0),  # not in the customers file at all: 91 days
        ],
        customers=[(1, "2023-12-01"), (2, "2024-05-01"), (3, None)],
    )
    assert f["tenure_days"].to_dict() == {1: 213.0, 2: 91.0, 3: 91.0, 4: 91.0}


def test_signup_at_or_after_the_cutoff_is_not_known(features):
    # Data loaded later than the cutoff: the signup on the cutoff day must not set tenure.
    f = features(
        data_as_of="2025-01-01",
        transactions=[(1, "2024-04-01", 10.0), (2, "2024-04-01", 10.0)],
        customers=[(1, "2024-07-01"), (2, "2024-03-01")],
    )
    assert f.loc[1, "tenure_days"] == 91.0  # from the first purchase
    assert f.loc[2, "tenure_days"] == 122.0  # from signup 2024-03-01


def test_window_edges(features):
    # A purchase exactly w days before the cutoff is inside the w-day window; one at the cutoff is outside.
    f = features(
        data_as_of="2025-01-01",
        transactions=[
            (1, "2023-07-01 12:00:00", 32.0),  # 365.5 days before: only in the all-history columns
            (1, "2023-07-02", 16.0),  # exactly 365 days before: in the 365-day window
            (1, "2024-04-02", 2.0),  # exactly 90 days before: in 90, 180, 365
            (1, "2024-05-31 23:59:59", 4.0),  # just over 30 days: in 90, 180, 365
            (1, "2024-06-01", 8.0),  # exactly 30 days: in every window
            (1, "2024-06-15", -3.0),  # a refund in every window: lowers spend, not counts or mean
            (1, "2024-07-01", 1000.0),  # at the cutoff: in nothing
        ],
    )
    row = f.loc[1]
    expected = {
        # window: (purchases, net spend, mean purchase, max purchase)
        30: (1, 8 - 3, 8, 8),
        90: (3, 2 + 4 + 8 - 3, 14 / 3, 8),
        180: (3, 2 + 4 + 8 - 3, 14 / 3, 8),
        365: (4, 16 + 2 + 4 + 8 - 3, 30 / 4, 16),
    }
    for w, (n, total, mean, top) in expected.items():
        assert row[f"n_purchases_{w}d"] == n, w
        assert row[f"spend_total_{w}d"] == total, w
        assert row[f"spend_mean_{w}d"] == pytest.approx(mean), w
        assert row[f"spend_max_{w}d"] == top, w
    assert row["n_purchases"] == 5  # 32, 16, 2, 4, 8
    assert row["spend_total"] == 32 + 16 + 2 + 4 + 8 - 3
    assert row["spend_max"] == 32
    assert row["recency_days"] == 30.0  # the purchase at the cutoff is not seen


def test_empty_windows_give_zero_counts_and_null_means(features):
    # Customer 1 last bought 122 days ago: nothing in the 30- and 90-day windows.
    f = features(transactions=[(1, "2024-03-01", 10.0)])
    row = f.loc[1]
    for w in (30, 90):
        assert row[f"n_purchases_{w}d"] == 0.0
        assert row[f"spend_total_{w}d"] == 0.0
        assert math.isnan(row[f"spend_mean_{w}d"])
        assert math.isnan(row[f"spend_max_{w}d"])
    assert row["n_purchases_180d"] == 1.0


def test_gaps_and_overdue_ratio(features):
    f = features(
        transactions=[
            # Customer 1: gaps of 31 and 29 days; the refund in between is not a purchase.
            (1, "2024-01-01", 10.0),
            (1, "2024-02-01", 10.0),
            (1, "2024-02-10", -5.0),
            (1, "2024-03-01", 10.0),
            # Customer 2: one gap of 30 days (2024-05-02 -> 2024-06-01).
            (2, "2024-05-02", 10.0),
            (2, "2024-06-01", 10.0),
            # Customer 3: one purchase, no gap.
            (3, "2024-06-01", 10.0),
            # Customer 4: two purchases the same moment: one gap of 0 days.
            (4, "2024-06-01", 10.0),
            (4, "2024-06-01", 20.0),
        ]
    )
    assert f.loc[1, "gap_mean_days"] == 30.0
    assert f.loc[1, "gap_std_days"] == pytest.approx(math.sqrt(2))  # sample std of (31, 29)
    assert f.loc[1, "overdue_ratio"] == pytest.approx(122 / 30)  # recency 122 over the usual 30-day gap
    assert f.loc[2, "gap_mean_days"] == 30.0
    assert math.isnan(f.loc[2, "gap_std_days"])  # one gap has no spread
    assert f.loc[2, "overdue_ratio"] == 1.0  # 30 days since the last purchase, usual gap 30
    for column in ("gap_mean_days", "gap_std_days", "overdue_ratio"):
        assert math.isnan(f.loc[3, column]), column
    assert f.loc[4, "gap_mean_days"] == 0.0
    assert math.isnan(f.loc[4, "overdue_ratio"])  # no usual gap to be overdue against


def test_gap_std_of_equal_gaps_is_zero(features):
    f = features(
        transactions=[(1, d, 10.0) for d in ("2024-03-02", "2024-04-01", "2024-05-01", "2024-05-31")]
    )
    assert f.loc[1, "gap_mean_days"] == 30.0
    assert f.loc[1, "gap_std_days"] == 0.0


def test_trends_compare_last_90_days_with_the_90_before(features):
    # Recent window [2024-04-02, 2024-07-01), previous [2024-01-03, 2024-04-02).
    f = features(
        transactions=[
            # Customer 1: previous 2 purchases / 20 spend, recent 1 purchase / 30 spend.
            (1, "2024-01-02", 99.0),  # 181 days before: in neither window
            (1, "2024-01-03", 10.0),  # exactly 180 days: previous
            (1, "2024-04-01", 10.0),  # 91 days: previous
            (1, "2024-04-02", 30.0),  # exactly 90 days: recent
            # Customer 2: bought only recently: no previous period to compare with.
            (2, "2024-06-01", 10.0),
            # Customer 3: bought only in the previous period: trends 0.
            (3, "2024-03-01", 10.0),
            # Customer 4: a refund makes the previous net spend 0: spend trend undefined.
            (4, "2024-03-01", 10.0),
            (4, "2024-03-02", -10.0),
            (4, "2024-06-01", 10.0),
        ]
    )
    assert f.loc[1, "purchase_trend_90d"] == 0.5
    assert f.loc[1, "spend_trend_90d"] == 1.5
    assert math.isnan(f.loc[2, "purchase_trend_90d"])
    assert math.isnan(f.loc[2, "spend_trend_90d"])
    assert f.loc[3, "purchase_trend_90d"] == 0.0
    assert f.loc[3, "spend_trend_90d"] == 0.0
    assert f.loc[4, "purchase_trend_90d"] == 1.0
    assert math.isnan(f.loc[4, "spend_trend_90d"])


def test_trend_length_comes_from_config(features, settings):
    config = settings.model_copy(update={"features": settings.features.model_copy(update={"trend_days": 30})})
    # Recent [2024-06-01, 2024-07-01), previous [2024-05-02, 2024-06-01).
    f = features(
        config=config,
        transactions=[(1, "2024-05-02", 10.0), (1, "2024-05-20", 10.0), (1, "2024-06-01", 10.0)],
    )
    assert f.loc[1, "purchase_trend_30d"] == 0.5
    assert "purchase_trend_90d" not in f.columns


def test_windows_come_from_config(features, settings):
    config = settings.model_copy(
        update={"features": settings.features.model_copy(update={"windows_days": [7, 60]})}
    )
    f = features(config=config, transactions=[(1, "2024-06-24", 10.0), (1, "2024-05-02", 5.0)])
    assert f.loc[1, "n_purchases_7d"] == 1.0  # 2024-06-24 is exactly 7 days before
    assert f.loc[1, "spend_total_60d"] == 15.0  # 2024-05-02 is exactly 60 days before
    assert "n_purchases_30d" not in f.columns


def test_refund_share_without_refunds_is_zero(features):
    f = features(transactions=[(1, "2024-06-01", 10.0)])
    assert f.loc[1, "refund_share"] == 0.0


def test_cutoff_before_any_purchase_gives_an_empty_table(make_source, settings):
    from churnguard.features.build import build_features

    source = make_source(as_of="2025-01-01", transactions=[(1, "2024-06-01", 10.0)])
    frame = build_features(source, "2024-01-01", settings)
    assert frame.empty
    assert {"customer_id", "cutoff", "recency_days", "rfm_segment"} <= set(frame.columns)


def test_dtypes_are_stable(features):
    f = features(transactions=[(1, "2024-06-01", 10.0)])
    assert f["cutoff"].dtype == "datetime64[us, UTC]"
    assert f["cutoff"].iloc[0] == pd.Timestamp("2024-07-01", tz="UTC")
    numeric = f.drop(columns=["cutoff", "rfm_segment", "nps_class"], errors="ignore")
    assert (numeric.dtypes == "float64").all()
