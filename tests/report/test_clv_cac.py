"""CLV:CAC on five hand-made customers; the expected numbers are worked out in the comments."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from churnguard.core.config import Settings
from churnguard.reports import acquisition, kpis
from churnguard.reports.content import ReportContent
from tests.report.conftest import CURRENCY, utc

COSTS = {"web": 20.0, "app": 25.0, "tv": 40.0}
MARGIN = 0.5


@pytest.fixture
def customers() -> pd.DataFrame:
    # Signup quarters: 1 and 5 in 2025-Q1, 2 and 3 in 2025-Q2, 4 in 2025-Q2 (store: no CAC).
    return pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 5],
            "signup_ts": utc(["2025-01-10", "2025-04-20", "2025-04-05", "2025-05-01", "2025-01-31"]),
            "channel": ["web", "web", "app", "store", "app"],
        }
    )


@pytest.fixture
def tx(transactions) -> pd.DataFrame:
    # Net revenue: 1 = 100 + 50 - 30 (refund) = 120; 2 = 80; 3 = 200; 4 = 60; 5 never bought = 0.
    # Value = revenue x margin 0.5: 1 = 60, 2 = 40, 3 = 100, 4 = 30, 5 = 0.
    return transactions(
        (1, "2025-01-10", 100.0),
        (1, "2025-03-01", 50.0),
        (1, "2025-03-05", -30.0),
        (2, "2025-04-20", 80.0),
        (3, "2025-04-06", 200.0),
        (4, "2025-05-02", 60.0),
    )


def test_acquired_customers_value_and_cohort(customers, tx) -> None:
    acquired = kpis.acquired_customers(customers, tx, "channel", MARGIN).set_index("customer_id")
    assert acquired["value"].to_dict() == {1: 60.0, 2: 40.0, 3: 100.0, 4: 30.0, 5: 0.0}
    assert acquired["cohort"].to_dict() == {
        1: "2025-Q1",
        2: "2025-Q2",
        3: "2025-Q2",
        4: "2025-Q2",
        5: "2025-Q1",
    }
    assert acquired.loc[4, "channel"] == "store"


def test_clv_cac_per_channel(customers, tx) -> None:
    acquired = kpis.acquired_customers(customers, tx, "channel", MARGIN)
    out = kpis.clv_cac(acquired, COSTS, "channel")
    # Most customers first, ties by name: app (2), web (2), store (1); tv has no customers: no row.
    assert list(out["channel"]) == ["app", "web", "store"]
    out = out.set_index("channel")
    # web: customers 1 and 2, value 60 + 40 = 100, CLV 50, CAC 20 -> 2.5:1.
    assert out.loc["web", ["customers", "value", "clv", "cac", "ratio"]].tolist() == [
        2,
        100.0,
        50.0,
        20.0,
        2.5,
    ]
    # app: customers 3 and 5, value 100 + 0 = 100, CLV 50, CAC 25 -> 2.0:1 (the non-buyer still cost 25).
    assert out.loc["app", ["customers", "value", "clv", "cac", "ratio"]].tolist() == [
        2,
        100.0,
        50.0,
        25.0,
        2.0,
    ]
    # store: no CAC configured -> value kept, no cost and no ratio.
    assert out.loc["store", "clv"] == 30.0
    assert np.isnan(out.loc["store", "cac"]) and np.isnan(out.loc["store", "ratio"])


def test_clv_cac_per_cohort_counts_only_customers_with_a_cac(customers, tx) -> None:
    acquired = kpis.acquired_customers(customers, tx, "channel", MARGIN)
    out = kpis.clv_cac(acquired, COSTS, "cohort").set_index("cohort")
    # 2025-Q1: 1 (web: 60, cost 20) and 5 (app: 0, cost 25): 60 / 45 = 1.333:1, CLV 30, CAC 22.5.
    q1 = out.loc["2025-Q1"]
    assert (q1["customers"], q1["clv"], q1["cac"]) == (2, 30.0, 22.5)
    assert q1["ratio"] == pytest.approx(60 / 45)
    # 2025-Q2: 2 (web: 40, 20) and 3 (app: 100, 25); store customer 4 has no CAC and is left out.
    q2 = out.loc["2025-Q2"]
    assert (q2["customers"], q2["value"], q2["acquisition_cost"]) == (2, 140.0, 45.0)
    assert q2["ratio"] == pytest.approx(140 / 45)


def test_cohort_falls_back_to_the_first_purchase(customers, tx) -> None:
    no_signup = customers.drop(columns="signup_ts")
    acquired = kpis.acquired_customers(no_signup, tx, "channel", MARGIN).set_index("customer_id")
    # First purchases: 1 on 2025-01-10 (Q1), 2 on 2025-04-20 (Q2); 5 never bought: unknown.
    assert acquired["cohort"].to_dict() == {
        1: "2025-Q1",
        2: "2025-Q2",
        3: "2025-Q2",
        4: "2025-Q2",
        5: "unknown",
    }


def test_value_is_the_cohort_tables_historical_value(customers, tx) -> None:
    # Among the customers who bought (1-4), the mean value equals cohort_value's "all" historical value:
    # (120 + 80 + 200 + 60) / 4 x 0.5 = 57.5. One definition of customer value.
    acquired = kpis.acquired_customers(customers, tx, "channel", MARGIN)
    buyers = acquired[acquired["customer_id"] != 5]
    everyone = kpis.cohort_value(tx, pd.Timestamp("2025-07-01", tz="UTC"), 3, MARGIN).iloc[-1]
    assert buyers["value"].mean() == pytest.approx(everyone["historical_value"]) == pytest.approx(57.5)


def test_ratio_against_the_rule_of_thumb() -> None:
    assert acquisition.ratio_text(3.24) == "3.2:1"
    assert acquisition.ratio_mark(3.0) == "✓ 3:1 or better"
    assert acquisition.ratio_mark(2.99) == "below 3:1"
    assert acquisition.ratio_mark(0.5) == "below 1:1: cost more than earned so far"
    assert acquisition.ratio_text(None) == "–"
    assert acquisition.ratio_mark(np.nan) == "no CAC configured"


def content_with(
    base: ReportContent, customers: pd.DataFrame, tx: pd.DataFrame, costs: dict
) -> ReportContent:
    settings = Settings(report={"currency": CURRENCY, "acquisition_cost": costs}, value={"margin": MARGIN})
    acquired = kpis.acquired_customers(customers, tx, "channel", MARGIN)
    tables = {
        "clv_cac_channel": kpis.clv_cac(acquired, costs, "channel"),
        "clv_cac_cohort": kpis.clv_cac(acquired, costs, "cohort"),
    }
    return replace(base, settings=settings, tables=tables)


def test_section_names_missing_channels_both_ways(listed_content, customers, tx) -> None:
    section = acquisition.clv_section(content_with(listed_content, customers, tx, COSTS))
    assert section["missing"] is None
    rows = {row[0]: row for row in section["channels"]["rows"]}
    assert rows["web"][1:] == ["2", "50 EUR", "20 EUR", "2.5:1", "below 3:1"]
    assert rows["store"][3:] == ["no CAC configured", "–", "no CAC configured"]
    assert "No CAC configured for store (1 customer)" in section["notes"][0]
    assert "tv (not found)" in section["notes"][1]
    # All customers with a CAC: value 60 + 40 + 100 + 0 = 200 over cost 20 + 20 + 25 + 25 = 90 -> 2.2:1.
    assert dict(section["stats"])["CLV:CAC, all customers with a CAC"] == "2.2:1"
    assert [row[0] for row in section["cohorts"]["rows"]] == ["2025-Q1", "2025-Q2"]


def test_misspelt_channel_gets_a_suggestion(listed_content, customers, tx) -> None:
    section = acquisition.clv_section(content_with(listed_content, customers, tx, {"web": 20.0, "ap": 25.0}))
    assert "ap (did you mean 'app'?)" in section["notes"][-1]


def test_no_table_without_costs_or_without_the_column(listed_content) -> None:
    # The sample report configures no acquisition_cost: one line on how to.
    assert "clv_cac_channel" not in listed_content.tables
    section = acquisition.clv_section(listed_content)
    assert "Set report.acquisition_cost" in section["missing"]
    # Costs configured, but the data has no channel column: say which column is missing.
    settings = Settings(report={"acquisition_cost": {"web": 20.0}, "acquisition_channel": "source"})
    section = acquisition.clv_section(replace(listed_content, settings=settings))
    assert "no column 'source' (report.acquisition_channel)" in section["missing"]
