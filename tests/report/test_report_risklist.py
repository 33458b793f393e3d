"""Risk-list KPIs on hand-made lists, and finding the list of a report date."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from churnguard.core.config import OutreachSettings
from churnguard.reports import risklist


def small_list() -> pd.DataFrame:
    # value_at_risk = probability * value: 50, 5, 8 -> ranked 1, 3, 2 (by value at risk).
    return pd.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "churn_probability": [0.5, 0.1, 0.8],
            "customer_value": [100.0, 50.0, 10.0],
            "value_at_risk": [50.0, 5.0, 8.0],
            "rank": [1, 3, 2],
            "risk_tier": ["critical", "low", "high"],
            "reason_1": [
                "No purchase for 142 days; usually buys every 30",
                "Spend down 60% vs previous quarter",
                "No purchase for 95 days; usually buys every 12",
            ],
            "reason_2": [
                "3 support tickets in the last 90 days",
                None,
                "1 support tickets in the last 90 days",
            ],
            "reason_3": [None, None, "Last NPS answer 3 (detractor)"],
            "group": ["outreach", "none", "control"],
        }
    )


def test_tier_summary() -> None:
    out = risklist.tier_summary(small_list()).set_index("tier")
    # Fixed tier order, the empty medium tier shown with zeros.
    assert out.index.tolist() == ["critical", "high", "medium", "low"]
    assert out["customers"].tolist() == [1, 1, 0, 1]
    assert out["value_at_risk"].tolist() == [50.0, 8.0, 0.0, 5.0]
    assert out.loc["critical", "share"] == pytest.approx(100 / 3)


def test_top_reasons_count_templates_not_numbers() -> None:
    out = risklist.top_reasons(small_list()).set_index("reason")
    # Customers 1 and 3 share the recency template (both as main reason) and the ticket template.
    assert out.loc["No purchase for N days; usually buys every N", ["customers", "main_reason"]].tolist() == [
        2,
        2,
    ]
    assert out.loc["N support tickets in the last N days", ["customers", "main_reason"]].tolist() == [2, 0]
    assert out.loc["Spend down N% vs previous quarter", "customers"] == 1
    assert out.loc["Last NPS answer N (detractor)", "share"] == pytest.approx(100 / 3)
    assert out.index[0] == "N support tickets in the last N days"  # ties: alphabetical


def test_outreach_groups() -> None:
    out = risklist.outreach_groups(small_list())
    assert out.to_dict("records") == [
        {"group": "outreach", "customers": 1, "value_at_risk": 50.0},
        {"group": "control", "customers": 1, "value_at_risk": 8.0},
        {"group": "none", "customers": 1, "value_at_risk": 5.0},
    ]


def test_expected_profit_follows_the_outreach_order_and_counts_the_lists_own_groups() -> None:
    # By value at risk: customers 1, 3, 2. Cost 3, save rate 0.5:
    # gains 0.5*50 - 3 = 22, 0.5*8 - 3 = 1, 0.5*5 - 3 = -0.5 -> curve 0, 22, 23, 22.5: best 2 contacts, 23.
    outreach = OutreachSettings(cost_per_contact=3.0, save_rate=0.5, capacity=1)
    summary, curve = risklist.expected_profit(small_list(), outreach)
    assert (summary["best_contact_count"], summary["best_profit"]) == (2, 23.0)
    assert summary["best_tiers"] == ["critical", "high"]
    assert summary["contact_all_profit"] == 22.5
    assert curve["expected_profit"].tolist() == [0.0, 22.0, 23.0, 22.5]
    # The list's own plan: customer 1 contacted (gain 22), customer 3 held out; both eligible tiers used up.
    assert (summary["contacted"], summary["control"], summary["contacted_profit"]) == (1, 1, 22.0)
    assert (summary["eligible"], summary["capped"]) == (2, False)


def test_a_list_ranked_by_probability_is_still_contacted_by_value_at_risk() -> None:
    # Ranks follow probability (3, 1, 2) but outreach, and so the curve, goes by value at risk: 1, 3, 2.
    frame = small_list().assign(rank=[2, 3, 1])
    _, curve = risklist.expected_profit(frame, OutreachSettings(cost_per_contact=3.0, save_rate=0.5))
    assert curve["expected_profit"].tolist() == [0.0, 22.0, 23.0, 22.5]


def test_find_risk_list(tmp_path: Path) -> None:
    for day in ("2026-09-30", "2026-10-31", "2026-11-30"):
        (tmp_path / f"as_of={day}").mkdir()
        (tmp_path / f"as_of={day}" / "risk_list.parquet").write_bytes(b"")
    (tmp_path / "as_of=2026-10-15").mkdir()  # an unfinished folder without a list
    (tmp_path / ".as_of=2026-10-20.tmp").mkdir()
    assert risklist.find_risk_list(tmp_path, date(2026, 10, 31)).parent.name == "as_of=2026-10-31"
    assert risklist.find_risk_list(tmp_path, date(2026, 10, 20)).parent.name == "as_of=2026-09-30"
    assert risklist.find_risk_list(tmp_path, date(2026, 9, 1)) is None
    assert risklist.find_risk_list(tmp_path / "missing", date(2026, 9, 1)) is None
