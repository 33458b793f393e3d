"""The report's words agree with each other and with the risk list: the two churn rates side by side,
the list's own contacted count, money in the configured currency, model-health tiles in plain words."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import ValidationError

from churnguard.core.config import Settings
from churnguard.reports import definitions, health, outreach, sections
from churnguard.reports.content import ReportContent
from churnguard.reports.markup import money, pct
from tests.report.conftest import CURRENCY, LIST_CAPACITY

# The champion metrics of a real `churn pipeline` run on 5,000 generated customers.
LOGGED = {
    "roc_auc": 0.8462,
    "pr_auc": 0.8168,
    "log_loss": 0.4812,
    "brier": 0.1594,
    "ece": 0.05535,
    "lift_at_5": 2.4114,
    "lift_at_10": 2.3884,
    "lift_at_20": 2.1401,
    "capture_at_5": 0.1207,
    "capture_at_10": 0.2389,
    "capture_at_20": 0.4278,
    "precision_at_capacity": 0.986,
    "expected_profit": 6549.25,
    "churn_rate": 0.4129,
    "mean_probability": 0.3689,
    "log_loss_uncalibrated": 0.4747,
    "best_contact_count": 1022.0,
}


def page_text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#39;", "'")


def test_money_carries_the_currency() -> None:
    assert money(1234.4, "EUR") == "1,234 EUR"
    assert money(-1234.4, "€") == "-€1,234"
    assert money(-0.2, "EUR") == "0 EUR"  # no negative zero
    assert money(5, "", 2) == "5.00"
    assert money(None, "EUR") == "–"


def test_currency_setting() -> None:
    assert Settings().report.currency == ""
    assert Settings(report={"currency": " € "}).report.currency == "€"
    with pytest.raises(ValidationError):
        Settings(report={"currency": "EURO-DOLLAR"})


def test_every_money_value_of_the_page_is_in_the_configured_currency(sample_report, listed_content) -> None:
    text = page_text(sample_report.html_path.read_text(encoding="utf-8"))
    headline = sample_report.headline
    assert money(headline["value_at_risk"], CURRENCY) in text
    assert f"{money(headline['value_at_risk_high'], CURRENCY)} in critical + high tiers" in text
    assert f"| Value at risk | {money(headline['value_at_risk'], CURRENCY)} |" in sample_report.markdown
    assert "amounts in EUR (report.currency)" in text
    c = listed_content
    risk = sections.risk_section(c)
    assert all(row[-1].endswith(" EUR") for row in risk["tiers"]["rows"] + risk["groups"]["rows"])
    assert all(" EUR" in line for line in risk["plan"])
    for label, value in sections.cohort_section(c)["stats"] + sections.revenue_section(c)["stats"]:
        if "value" in label.lower() or "revenue," in label.lower():
            assert value.endswith(" EUR"), label
    tiles = {t["label"]: t for t in sections.model_section(c)["tiles"]}
    assert tiles["Outreach profit in the test periods"]["value"] == "6,549 EUR"


def test_the_two_churn_rates_stand_side_by_side(listed_content: ReportContent) -> None:
    c = listed_content
    defs = definitions.churn_definitions(c)
    assert defs["table"]["head"] == ["", "Monthly churn rate", "90-day churn rate"]
    rows = {row[0]: row[1:] for row in defs["table"]["rows"]}
    assert list(rows) == ["Value", "Shown in", "Customers", "Counted as churned", "Period"]
    last = c.tables["monthly_churn"].iloc[-1]
    customers, churned = c.labelled_counts
    assert rows["Value"] == [
        f"{pct(c.headline['churn_rate'])} in Sep 2026",
        f"{pct(c.overall_churn_at_cutoff)} from 2026-08-02",
    ]
    assert rows["Customers"] == [
        f"the {last['active_at_start']:,} active on 2026-09-01 (a purchase in the 365 days before)",
        f"the {customers:,} active on 2026-08-02 (a purchase in the 365 days before)",
    ]
    assert rows["Counted as churned"] == [
        f"{last['lost']:,} no longer active on 2026-10-01: no purchase in the 365 days before it",
        f"{churned:,} with no purchase in the 90 days after",
    ]
    assert rows["Period"] == ["one calendar month", "90 days, the latest fully observed by the report date"]
    assert defs["why"].startswith("Why both are true")
    # The 90-day counts are the segment tables' own.
    rfm = c.tables["churn_by_segment"].query("dimension == 'rfm_segment'")
    assert (rfm["customers"].sum(), rfm["churned"].sum()) == (customers, churned)
    assert "not the monthly churn rate of the headline" in sections.segment_section(c)["intro"]

    subscription = definitions.churn_definitions(
        replace(c, settings=Settings(churn={"definition": "subscription"}))
    )
    rows = {row[0]: row[1:] for row in subscription["table"]["rows"]}
    assert rows["Counted as churned"][1].endswith("with no running subscription 90 days later")


def test_the_page_explains_both_churn_rates(sample_report) -> None:
    text = page_text(sample_report.html_path.read_text(encoding="utf-8"))
    assert "Two churn rates" in text and "Monthly churn rate · Sep 2026" in text
    assert "90-day churn rate by last NPS answer" in text


def test_the_plan_states_the_lists_own_contacted_count(sample_report, sample_risk_lists: Path) -> None:
    groups = json.loads((sample_risk_lists / "as_of=2026-10-31" / "summary.json").read_text())["groups"]
    text = page_text(sample_report.html_path.read_text(encoding="utf-8"))
    said = re.search(
        r"The list contacts ([\d,]+) customers \(capacity ([\d,]+); outreach.capacity is 200 now\)", text
    )
    assert said, "the plan does not state the list's contacted count"
    assert int(said.group(1).replace(",", "")) == int(said.group(2).replace(",", "")) == groups["outreach"]
    assert groups["outreach"] == LIST_CAPACITY
    assert f"Another {groups['control']:,} are held out as a control group" in text


def test_the_plan_puts_the_profit_peak_next_to_the_list(listed_content: ReportContent) -> None:
    c = listed_content
    p = c.risk.profit
    plan = outreach.outreach_plan(c)
    assert plan[0].startswith(f"The list contacts {p['contacted']:,} customers (capacity {p['contacted']:,}")
    assert (
        f"Expected profit of the {p['contacted']:,} contacts: {money(p['contacted_profit'], CURRENCY)}"
        in plan[0]
    )
    best = p["best_contact_count"]
    assert best != p["contacted"]
    assert f"Expected profit would peak at {best:,} contacts ({money(p['best_profit'], CURRENCY)})" in plan[1]

    def advice(**change) -> str:
        return outreach.outreach_plan(replace(c, risk=replace(c.risk, profit={**p, **change})))[1]

    more = advice(contacted=100, best_contact_count=900, best_tiers=["critical", "high", "medium"])
    assert more.endswith(
        "raise outreach.capacity to 900 and add medium to outreach.eligible_tiers to contact "
        "every customer expected to be worth the cost."
    )
    assert "lower outreach.capacity to 80." in advice(contacted=100, best_contact_count=80)
    assert advice(contacted=100, best_contact_count=100) == "That is also where expected profit peaks."


def test_model_tiles_are_plain_words() -> None:
    tiles = health.model_tiles(LOGGED, Settings(report={"currency": "€"}))
    assert len(tiles) == len(LOGGED)
    raw = {key.replace("_", " ") for key in LOGGED}
    for tile in tiles:
        assert "_" not in tile["label"] and tile["label"].lower() not in raw, tile
        assert tile["note"].endswith("."), tile
    shown = {t["label"]: t["value"] for t in tiles}
    assert shown["Calibration error"] == "5.5 points"
    assert shown["Lift in the top 5%"] == "2.4x"
    assert shown["Churners in the top 5%"] == "12.1%"
    assert shown["Customers contacted per test period"] == "1,022"  # a count, without decimals
    assert shown["Actual 90-day churn in the test data"] == "41.3%"
    assert shown["Hit rate of the top 10%"] == "98.6%"
    assert shown["Outreach profit in the test periods"] == "€6,549"
    assert next(t for t in tiles if t["label"] == "Lift in the top 5%")["note"] == (
        "The 5% of customers ranked riskiest churn 2.4 times as often as the average customer."
    )
    assert [t["label"] for t in tiles][:2] == [
        "Actual 90-day churn in the test data",
        "Average predicted churn",
    ]


def test_a_measure_that_could_not_be_measured_says_so() -> None:
    (tile,) = health.model_tiles({"roc_auc": float("nan")}, Settings())
    assert tile["value"] == "–" and tile["note"].startswith("Not measurable on the test data.")


def test_the_model_section_shows_tiles(listed_content: ReportContent) -> None:
    tiles = sections.model_section(listed_content)["tiles"]
    assert {t["label"] for t in tiles} >= {
        "Calibration error",
        "Lift in the top 5%",
        "Customers contacted per test period",
    }
    assert not any(t["label"] in {"ece", "lift at 5", "best contact count"} for t in tiles)
