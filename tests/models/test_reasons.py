"""Reasons in plain words: a template for every feature, exact wording, one reason per topic."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from churnguard.features.build import FeatureSpec, feature_names
from churnguard.features.catalog import feature_catalog
from churnguard.models.reasons import MAX_REASONS, check_templates, explain, template_for
from tests.models import scoring_fixtures
from tests.models.scoring_fixtures import ACCENTED_REGION, ScoringWorld

scoring_world = scoring_fixtures.scoring_world

RAW_NAME = re.compile(r"[A-Za-z0-9]_[A-Za-z0-9]")


def words(name: str, **values: object) -> str:
    """The reason of feature ``name`` for a customer with these feature values (others missing)."""
    template, _ = template_for(name)
    return template(lambda column: values.get(column, np.nan))


def reference(frame: pd.DataFrame, contributions: pd.DataFrame, spec: FeatureSpec | None) -> np.ndarray:
    """The rule, one row at a time: largest contribution first (ties: earlier column), one per topic."""
    names = [c for c in contributions.columns if c != "bias"]
    resolved = [template_for(n) for n in names]
    catalog = feature_catalog(spec)
    matrix = contributions[names].to_numpy(dtype=float)
    out = np.full((len(frame), MAX_REASONS, 2), None, dtype=object)
    for i in range(len(frame)):
        seen: set[str] = set()
        slot = 0
        for j in sorted(range(len(names)), key=lambda j: (-matrix[i, j], j)):
            if matrix[i, j] <= 0 or slot == MAX_REASONS:
                break
            template, topic = resolved[j]
            if topic in seen:
                continue
            seen.add(topic)
            out[i, slot] = (template(lambda column, i=i: frame[column].iloc[i]), catalog[names[j]].family)
            slot += 1
    return out


def test_every_feature_of_a_real_frame_has_a_readable_template(scoring_world: ScoringWorld):
    frame = scoring_world.features
    names = feature_names(frame)
    assert any(n.startswith("evt_") for n in names) and any(n.startswith("sub_") for n in names)
    assert "attr_region" in names and "attr_age" in names  # a text and a numeric attribute
    check_templates(names)
    rendered = set()
    for name in names:
        template, _ = template_for(name)
        values = {c: frame[c].to_numpy() for c in template.inputs}
        for i in range(0, len(frame), 7):
            text = template(lambda column, i=i, values=values: values[column][i])
            assert text and not RAW_NAME.search(text) and name not in text, (name, text)
            rendered.add(text)
    assert f"Region: {ACCENTED_REGION}" in rendered
    assert "Age unknown" in rendered and any(re.fullmatch(r"Age: \d+", t) for t in rendered)


def test_a_feature_without_a_template_is_named():
    with pytest.raises(KeyError, match="mystery_score"):
        check_templates(["recency_days", "mystery_score", "nps_last"])
    with pytest.raises(KeyError, match="evt_login_median_30d"):
        template_for("evt_login_median_30d")


def test_wording_of_hand_made_values():
    assert (
        words("recency_days", recency_days=142.0, gap_mean_days=30.2)
        == "No purchase for 142 days; usually buys every 30"
    )
    assert words("overdue_ratio", recency_days=142.4, gap_mean_days=30.0) == (
        "No purchase for 142 days; usually buys every 30"
    )
    assert words("recency_days", recency_days=20.0) == "No purchase for 20 days"
    assert words("evt_support_ticket_count_90d", evt_support_ticket_count_90d=3.0) == (
        "3 support tickets in the last 90 days"
    )
    assert words("evt_support_ticket_count_30d", evt_support_ticket_count_30d=1.0) == (
        "1 support ticket in the last 30 days"
    )
    assert words("evt_login_count_30d", evt_login_count_30d=0.0) == "No logins in the last 30 days"
    assert words("nps_last", nps_last=3.0) == "Last NPS answer 3 (detractor)"
    assert words("nps_class", nps_last=9.0) == "Last NPS answer 9 (promoter)"
    assert words("nps_last") == "Never answered the NPS survey"
    assert words("spend_trend_90d", spend_trend_90d=0.4) == "Spend down 60% vs the previous quarter"
    assert words("purchase_trend_90d", purchase_trend_90d=1.5) == "Purchases up 50% vs the previous quarter"
    assert words("spend_trend_90d", spend_trend_90d=1.0) == "Spend unchanged vs the previous quarter"
    assert words("spend_trend_90d") == "No spend in the previous quarter to compare with"
    assert (
        words("spend_total_30d", spend_total_30d=-50.0)
        == "Refunds exceeded purchases by 50 in the last 30 days"
    )
    assert words("sub_mrr", sub_mrr=0.0) == "No active subscription"
    assert words("sub_plan", sub_plan="premium") == "On the premium plan"
    assert words("attr_age", attr_age=34.0) == "Age: 34"
    assert words("attr_loyalty_tier", attr_loyalty_tier="unknown") == "Loyalty tier unknown"
    assert (
        words("evt_page_view_days_since", evt_page_view_days_since=12.0) == "Last page view event 12 days ago"
    )


def test_wording_of_the_purchase_pattern_model():
    assert words("btyd_p_alive", btyd_p_alive=0.352, n_purchases=6.0) == (
        "Only 35% likely to still be an active buyer (purchase pattern model)"
    )
    assert words("btyd_p_alive", btyd_p_alive=0.93, n_purchases=6.0) == (
        "93% likely to still be an active buyer (purchase pattern model)"
    )
    assert words("btyd_p_alive", btyd_p_alive=0.001, n_purchases=6.0) == (
        "Under 1% likely to still be an active buyer (purchase pattern model)"
    )
    # The model counts every one-time buyer as alive: say why instead of "100% likely".
    assert words("btyd_p_alive", btyd_p_alive=1.0, n_purchases=1.0) == (
        "Only one purchase so far: no repeat pattern yet"
    )
    assert words("btyd_p_no_purchase", btyd_p_no_purchase=0.734, n_purchases=3.0) == (
        "73% chance of no purchase in the churn horizon (purchase pattern model)"
    )
    assert words("btyd_p_no_purchase", btyd_p_no_purchase=0.9991, n_purchases=3.0) == (
        "Over 99% chance of no purchase in the churn horizon (purchase pattern model)"
    )
    assert words("btyd_expected_purchases", btyd_expected_purchases=0.43, n_purchases=3.0) == (
        "Expected to make 0.4 purchases in the churn horizon (purchase pattern model)"
    )
    assert words("btyd_expected_purchases", btyd_expected_purchases=1.02, n_purchases=3.0) == (
        "Expected to make 1 purchase in the churn horizon (purchase pattern model)"
    )
    assert words("btyd_expected_purchases", btyd_expected_purchases=0.01, n_purchases=3.0) == (
        "Expected to make almost no purchases in the churn horizon (purchase pattern model)"
    )
    assert words("btyd_p_alive", n_purchases=0.0) == "No purchase yet"
    assert words("btyd_p_no_purchase", n_purchases=4.0) == "Not enough customers to model buying patterns"
    # The model's signals tell the lapse story: one reason with recency and overdue ratio.
    assert {template_for(n)[1] for n in ("recency_days", "btyd_p_alive", "btyd_p_no_purchase")} == {"lapse"}
    catalog = feature_catalog()
    assert catalog["btyd_p_alive"].family == catalog["btyd_p_no_purchase"].family == "recency"
    assert catalog["btyd_expected_purchases"].family == "frequency"


def one_customer(**contributions: float) -> pd.DataFrame:
    return pd.DataFrame([contributions])


VALUES = pd.DataFrame(
    [
        {
            "recency_days": 142.0,
            "gap_mean_days": 30.0,
            "overdue_ratio": 4.7,
            "evt_support_ticket_count_30d": 2.0,
            "evt_support_ticket_count_90d": 3.0,
            "nps_last": 3.0,
            "nps_class": "detractor",
            "spend_trend_90d": 0.4,
            "sub_active": 0.0,
            "sub_plan": "none",
            "n_purchases_90d": 0.0,
            "spend_max_90d": np.nan,
        }
    ]
)


def test_one_reason_per_topic_largest_first():
    contributions = one_customer(
        recency_days=0.9,
        overdue_ratio=0.8,  # lapsing again: skipped
        evt_support_ticket_count_30d=0.5,
        evt_support_ticket_count_90d=0.6,
        nps_class=0.3,
        nps_last=0.35,  # NPS again: skipped
        spend_trend_90d=0.2,
        bias=5.0,
    )
    explained = explain(VALUES, contributions)
    assert explained.texts.tolist() == [
        [
            "No purchase for 142 days; usually buys every 30",
            "3 support tickets in the last 90 days",
            "Last NPS answer 3 (detractor)",
        ]
    ]
    assert explained.kinds.tolist() == [["recency", "service", "nps"]]
    assert list(explained.columns()) == ["reason_1", "reason_2", "reason_3"]


def test_one_subscription_reason_and_one_recent_purchases_reason():
    # "No active subscription" twice, or "No purchase"/"No order" in the same 90 days, says nothing new.
    contributions = one_customer(sub_active=0.5, sub_plan=0.4, n_purchases_90d=0.3, spend_max_90d=0.2)
    assert explain(VALUES, contributions).texts.tolist() == [
        ["No active subscription", "No purchase in the last 90 days", None]
    ]


def test_only_positive_contributions_give_reasons():
    contributions = one_customer(recency_days=-0.4, nps_last=0.0, spend_trend_90d=0.1, bias=2.0)
    explained = explain(VALUES, contributions)
    assert explained.texts.tolist() == [["Spend down 60% vs the previous quarter", None, None]]
    assert explained.kinds.tolist() == [["trend", None, None]]
    nothing = explain(VALUES, one_customer(recency_days=-0.4, nps_last=0.0))
    assert nothing.texts.tolist() == [[None, None, None]]


def test_ties_go_to_the_earlier_column():
    contributions = one_customer(nps_last=0.25, spend_trend_90d=0.25, recency_days=0.25)
    assert explain(VALUES, contributions).texts[0, 0] == "Last NPS answer 3 (detractor)"


def test_no_rows_give_no_reasons():
    explained = explain(VALUES.iloc[:0], one_customer(recency_days=1.0).iloc[:0])
    assert explained.texts.shape == (0, MAX_REASONS)


def test_vectorised_reasons_equal_the_row_by_row_rule_on_real_contributions(scoring_world: ScoringWorld):
    w = scoring_world
    frame = w.features.iloc[:600].reset_index(drop=True)
    spec = w.model.parts.feature_spec
    for approximate in (False, True):
        contributions = w.model.contributions(frame, approximate=approximate)
        explained = explain(frame, contributions, spec, batch_rows=250)  # several batches
        expected = reference(frame, contributions, spec)
        assert (explained.texts == expected[:, :, 0]).all()
        assert (explained.kinds == expected[:, :, 1]).all()
