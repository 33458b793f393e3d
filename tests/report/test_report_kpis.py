"""Each retention KPI on a few hand-made rows; the expected numbers are worked out in the comments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnguard.core.config import ChurnSettings
from churnguard.reports import kpis

NAN = np.nan


def stamp(day: str) -> pd.Timestamp:
    return pd.Timestamp(day, tz="UTC")


def test_complete_months_end_before_as_of() -> None:
    # as_of 2026-10-31: October has not ended, so September is the last month.
    assert [kpis.month_label(m) for m in kpis.complete_months(stamp("2026-10-31"), 3)] == [
        "2026-07",
        "2026-08",
        "2026-09",
    ]
    # as_of exactly 1 November 00:00: October has ended.
    assert kpis.month_label(kpis.complete_months(stamp("2026-11-01"), 1)[0]) == "2026-10"
    assert kpis.month_label(kpis.complete_months(stamp("2026-01-15"), 2)[0]) == "2025-11"


def test_monthly_churn_100_active_10_lost_is_10_percent(transactions, active_at) -> None:
    # Lookback 30 days. All 100 customers bought on 1 May (history) and 10 June; 90 of them buy again
    # on 20 July. Customer 999 buys for the first time on 5 July.
    # Active on 1 July = bought in [1 June, 1 July): all 100 (10 June).
    # Active on 1 August = bought in [2 July, 1 August): the 90 and customer 999 = 91.
    # Lost in July = active on 1 July and not on 1 August = 10 -> churn 10 / 100 * 100 = 10%.
    rows = [(c, "2026-05-01", 20.0) for c in range(100)] + [(c, "2026-06-10", 20.0) for c in range(100)]
    rows += [(c, "2026-07-20", 20.0) for c in range(90)] + [(999, "2026-07-05", 20.0)]
    churn = ChurnSettings(definition="inactivity", lookback_days=30)
    frame = transactions(*rows)
    out = kpis.monthly_churn(frame, stamp("2026-08-01"), 1, churn, active_at(frame, churn))
    assert out.to_dict("records") == [
        {
            "month": "2026-07",
            "active_at_start": 100,
            "lost": 10,
            "active_at_end": 91,
            "churn_rate": 10.0,
            "retention_rate": 90.0,
        }
    ]


def test_monthly_churn_refunds_do_not_keep_a_customer_active(transactions, active_at) -> None:
    # Customer 1's only July transaction is a refund: not a purchase, so they are lost in July.
    rows = [
        (1, "2026-05-01", 20.0),
        (1, "2026-06-10", 20.0),
        (1, "2026-07-15", -20.0),
        (2, "2026-05-01", 20.0),
        (2, "2026-06-10", 20.0),
        (2, "2026-07-15", 20.0),
    ]
    churn = ChurnSettings(definition="inactivity", lookback_days=30)
    frame = transactions(*rows)
    out = kpis.monthly_churn(frame, stamp("2026-08-01"), 1, churn, active_at(frame, churn))
    assert (out.loc[0, "lost"], out.loc[0, "churn_rate"]) == (1, 50.0)


def test_monthly_churn_leaves_out_months_without_enough_history(transactions, active_at) -> None:
    # First purchase 1 May, lookback 30 days. May starts 30 days after 1 April < 1 May: dropped;
    # June: 1 June - 30 days = 2 May >= 1 May: kept; July: kept.
    rows = [(1, "2026-05-01", 20.0), (1, "2026-06-15", 20.0), (1, "2026-07-15", 20.0)]
    churn = ChurnSettings(definition="inactivity", lookback_days=30)
    frame = transactions(*rows)
    out = kpis.monthly_churn(frame, stamp("2026-08-01"), 3, churn, active_at(frame, churn))
    assert out["month"].tolist() == ["2026-06", "2026-07"]
    # Active 1 June ([2 May, 1 June): 1 May is outside) = 0 -> no rate; active 1 July = 1, kept.
    assert np.isnan(out.loc[0, "churn_rate"]) and out.loc[1, "churn_rate"] == 0.0


def test_monthly_churn_subscription_definition(transactions, active_at) -> None:
    # A: active throughout. B: ends 10 July. C: starts 5 July (new). D: ended 20 June (gone before July).
    # Active 1 July = A, B -> 2; lost in July = B -> 50%; active 1 August = A, C -> 2.
    subs = pd.DataFrame(
        {
            "customer_id": ["A", "B", "C", "D"],
            "start_ts": pd.to_datetime(["2025-01-01", "2025-03-01", "2026-07-05", "2025-01-01"], utc=True),
            "end_ts": pd.to_datetime([None, "2026-07-10", None, "2026-06-20"], utc=True),
        }
    )
    churn = ChurnSettings(definition="subscription")
    buys = transactions(("A", "2025-01-01", 10.0))
    out = kpis.monthly_churn(buys, stamp("2026-08-01"), 1, churn, active_at(buys, churn, subs))
    assert out.loc[0, ["active_at_start", "lost", "active_at_end", "churn_rate"]].tolist() == [2, 1, 2, 50.0]
    with pytest.raises(ValueError, match="no subscriptions table"):
        kpis.monthly_churn(buys, stamp("2026-08-01"), 1, churn, active_at(buys, churn))


@pytest.fixture
def cohort_rows(transactions) -> pd.DataFrame:
    return transactions(
        ("a", "2026-01-05", 10.0),
        ("a", "2026-02-03", 10.0),
        ("a", "2026-03-10", 10.0),
        ("b", "2026-01-20", 10.0),
        ("b", "2026-03-02", 10.0),
        ("c", "2026-01-25", 10.0),
        ("d", "2026-01-31", 10.0),
        ("d", "2026-02-10", -10.0),  # a refund is not a purchase
        ("e", "2026-02-14", 10.0),
        ("e", "2026-02-20", 10.0),
        ("e", "2026-03-01", 10.0),
        ("f", "2026-02-01", 10.0),
        ("g", "2025-12-02", 10.0),
        ("g", "2026-02-02", 10.0),  # December cohort: before the window
        ("h", "2026-03-31", 10.0),
    )


def test_cohort_retention_matrix(cohort_rows) -> None:
    # as_of 1 April, 3 months: cohorts January, February, March.
    # January = a, b, c, d (4). Bought in February: a -> m1 = 1/4 = 25%. In March: a, b -> m2 = 50%.
    # February = e, f (2). Bought in March: e -> m1 = 50%; April has not ended -> m2 empty.
    # March = h (1); m1, m2 empty.
    out = kpis.cohort_retention(cohort_rows, stamp("2026-04-01"), 3)
    expected = pd.DataFrame(
        {
            "cohort": ["2026-01", "2026-02", "2026-03"],
            "customers": [4, 2, 1],
            "m0": [100.0, 100.0, 100.0],
            "m1": [25.0, 50.0, NAN],
            "m2": [50.0, NAN, NAN],
        }
    )
    pd.testing.assert_frame_equal(out, expected, check_dtype=False)


def test_cohort_value(cohort_rows) -> None:
    # January: orders a 3, b 2, c 1, d 1 = 7; repeat buyers a, b -> 2/4 = 50%;
    # net revenue 30 + 20 + 10 + (10 - 10) = 60 -> AOV 60/7, 7/4 orders per customer,
    # 15 revenue per customer, value 15 * 0.5 = 7.5.
    # February: e 3 orders (30), f 1 (10): repeat 50%, AOV 40/4 = 10, frequency 2, revenue 20, value 10.
    out = kpis.cohort_value(cohort_rows, stamp("2026-04-01"), 3, margin=0.5).set_index("cohort")
    assert out.loc["2026-01"].to_dict() == pytest.approx(
        {
            "customers": 4,
            "orders": 7,
            "repeat_purchase_rate": 50.0,
            "average_order_value": 60 / 7,
            "purchase_frequency": 1.75,
            "revenue_per_customer": 15.0,
            "historical_value": 7.5,
        }
    )
    assert out.loc["2026-02", ["average_order_value", "purchase_frequency", "historical_value"]].tolist() == [
        10.0,
        2.0,
        10.0,
    ]
    # all: 8 customers; orders 7 + 4 + g 2 + h 1 = 14; revenue 60 + 40 + 20 + 10 = 130 -> 16.25 each.
    assert out.loc["all", ["customers", "orders", "revenue_per_customer"]].tolist() == [8, 14, 16.25]


def test_lines_of_one_order_count_once(transactions) -> None:
    frame = transactions(("a", "2026-01-05", 10.0), ("a", "2026-01-05", 5.0), ("a", "2026-02-01", 8.0))
    frame["order_id"] = [1, 1, 2]
    assert len(kpis.purchases(frame)) == 2


def test_revenue_retention(transactions, active_at) -> None:
    # as_of 2026-01-01 -> a year ago 2025-01-01; active then = bought in [2024-01-02, 2025-01-01).
    # a: 100 then, 150 - 30 refund after. b: 200 then, nothing after. c: new in 2025. d: too old.
    # Revenue before 100 + 200 = 300, after 120 -> 40%; still buying: a.
    rows = transactions(
        ("a", "2024-06-01", 100.0),
        ("a", "2025-03-01", 150.0),
        ("a", "2025-04-01", -30.0),
        ("b", "2024-12-01", 200.0),
        ("c", "2025-02-01", 80.0),
        ("d", "2023-06-01", 50.0),
    )
    out = kpis.revenue_retention(rows, stamp("2026-01-01"), active_at(rows, ChurnSettings()))
    assert out.iloc[0].to_dict() == {
        "year_ago": "2025-01-01",
        "customers_active_year_ago": 2,
        "still_buying": 1,
        "revenue_before": 300.0,
        "revenue_after": 120.0,
        "revenue_retention": 40.0,
    }


def test_nps_by_month() -> None:
    # July: 10, 9 promoters; 8 passive; 3, 6 detractors -> (2 - 2) / 5 = 0.
    # August: 10, 10 promoters; 7 passive; 0 detractor -> (2 - 1) / 4 * 100 = 25.
    # A login with a value and an NPS event without one are ignored; June is outside the 2 months.
    rows = [("2026-07-02", "nps_response", v) for v in (10, 9, 8, 3, 6)]
    rows += [("2026-08-09", "nps_response", v) for v in (10, 10, 7, 0)]
    rows += [
        ("2026-08-09", "login", 9.0),
        ("2026-08-10", "nps_response", None),
        ("2026-06-01", "nps_response", 0),
    ]
    events = pd.DataFrame(
        {
            "customer_id": range(len(rows)),
            "ts": pd.to_datetime([r[0] for r in rows], utc=True),
            "event_type": [r[1] for r in rows],
            "value": [r[2] for r in rows],
        }
    )
    out = kpis.nps_by_month(events, stamp("2026-09-01"), 2)
    assert out.to_dict("records") == [
        {"month": "2026-07", "responses": 5, "promoters": 2, "passives": 1, "detractors": 2, "nps": 0.0},
        {"month": "2026-08", "responses": 4, "promoters": 2, "passives": 1, "detractors": 1, "nps": 25.0},
    ]
    assert kpis.nps_by_month(None, stamp("2026-09-01"), 2).empty


def test_churn_by_segment() -> None:
    # Champions: 3 customers, 1 churned -> 33.3%. Lost: 1 of 1 -> 100%. Highest rate first.
    # Region north: 2 of 2 -> 100%; south: 0 of 2 -> 0%. The numeric attribute is not a segment.
    labelled = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4],
            "churned": [1, 0, 0, 1],
            "rfm_segment": pd.Series(["Champions", "Champions", "Champions", "Lost"], dtype="str"),
            "attr_region": pd.Series(["north", "south", "south", "north"], dtype="str"),
            "attr_age": [30.0, 40.0, 50.0, 60.0],
        }
    )
    out = kpis.churn_by(labelled, "rfm_segment")
    assert out["segment"].tolist() == ["Lost", "Champions"]
    assert out["churn_rate"].tolist() == pytest.approx([100.0, 100 / 3])
    stacked = kpis.segment_churn(labelled)
    assert stacked["dimension"].unique().tolist() == ["rfm_segment", "region"]
    region = stacked[stacked["dimension"] == "region"].set_index("segment")["churn_rate"]
    assert region.to_dict() == {"north": 100.0, "south": 0.0}
    ordered = kpis.churn_by(labelled, "rfm_segment", order=["Champions", "Loyal", "Lost"])
    assert ordered["segment"].tolist() == ["Champions", "Lost"]
