"""Reasons a caller can act on: what changed, one reason per kind, no model outputs or attributes."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from churnguard.core.config import REASON_KINDS
from churnguard.features.build import feature_names
from churnguard.models.reasons import KINDS, MAX_REASONS, check_templates, explain, template_for
from tests.models import scoring_fixtures
from tests.models.scoring_fixtures import ACCENTED_REGION, ScoringWorld

scoring_world = scoring_fixtures.scoring_world

RAW_NAME = re.compile(r"[A-Za-z0-9]_[A-Za-z0-9]")
REASONS = [f"reason_{slot + 1}" for slot in range(MAX_REASONS)]
LAPSE = re.compile(
    r"(?:No purchase for ([\d,]+) days?|Last purchase today); usually buys (?:every ([\d,]+)|again within a day)"
)
# What a reason must never say: a segment name, a model's probability, a rhythm without what changed.
NEVER = re.compile(
    r"RFM|segment|purchase pattern model|% chance|% likely|expected to make|between purchases|"
    r"gaps vary|^Usually|^Customer for",
    re.IGNORECASE,
)


def words(name: str, **values: object) -> str | None:
    """The reason of feature ``name`` for a customer with these feature values (others missing)."""
    template, _ = template_for(name, NAMES)
    return template(lambda column: values.get(column, np.nan))


NAMES = (  # the model features the hand-made cases assume (default windows)
    "n_purchases_90d",
    "n_purchases_180d",
    "spend_total_90d",
    "spend_total_180d",
    "purchase_trend_90d",
    "spend_trend_90d",
    "evt_login_count_30d",
    "evt_login_count_90d",
    "evt_support_ticket_count_90d",
    "evt_support_ticket_value_mean_90d",
)


def reference(frame: pd.DataFrame, contributions: pd.DataFrame) -> np.ndarray:
    """The rule, one row at a time: kinds by the sum of their positive contributions, each worded by
    its largest positive contribution whose story speaks (ties: the earlier kind, the earlier column)."""
    names = [c for c in contributions.columns if c != "bias"]
    resolved = [template_for(n, names) for n in names]
    kinds = list(dict.fromkeys(k for _, k in resolved if k is not None))
    matrix = contributions[names].to_numpy(dtype=float)
    out = np.full((len(frame), MAX_REASONS, 2), None, dtype=object)
    for i in range(len(frame)):

        def row(column: str, i: int = i) -> object:
            return frame[column].iloc[i] if column in frame else np.nan

        said = [t(row) if k is not None and matrix[i, j] > 0 else None for j, (t, k) in enumerate(resolved)]
        weight = {
            k: sum(max(matrix[i, j], 0) for j, (_, kj) in enumerate(resolved) if kj == k) for k in kinds
        }
        lead = {}
        for k in kinds:
            spoken = [j for j, (_, kj) in enumerate(resolved) if kj == k and said[j] is not None]
            if spoken:
                lead[k] = max(spoken, key=lambda j: (matrix[i, j], -j))
        ranked = sorted(lead, key=lambda k: (-weight[k], kinds.index(k)))
        for slot, k in enumerate(ranked[:MAX_REASONS]):
            out[i, slot] = (said[lead[k]], k)
    return out


def test_every_feature_of_a_real_frame_has_a_readable_template(scoring_world: ScoringWorld):
    frame = scoring_world.features
    names = feature_names(frame)
    assert any(n.startswith("evt_") for n in names) and any(n.startswith("sub_") for n in names)
    assert "attr_region" in names and "attr_age" in names  # a text and a numeric attribute
    check_templates(names)
    rendered, silent = set(), 0
    for name in names:
        template, kind = template_for(name, names)
        assert kind in (*KINDS, None), name
        values = {
            c: frame[c].to_numpy() if c in frame else np.full(len(frame), np.nan) for c in template.inputs
        }
        for i in range(0, len(frame), 7):
            text = template(lambda column, i=i, values=values: values[column][i])
            if text is None:
                silent += 1
                continue
            assert text and not RAW_NAME.search(text) and name not in text and "nan" not in text, (name, text)
            rendered.add(text)
    assert silent > 0  # stories with nothing to say about a customer say nothing
    # Attributes keep their words (the review notebook shows them) but never become a reason.
    assert f"Region: {ACCENTED_REGION}" in rendered
    assert template_for("attr_region")[1] is None and template_for("tenure_days")[1] is None


def test_a_feature_without_a_template_is_named():
    with pytest.raises(KeyError, match="mystery_score"):
        check_templates(["recency_days", "mystery_score", "nps_last"])
    with pytest.raises(KeyError, match="evt_login_median_30d"):
        template_for("evt_login_median_30d")


def test_reason_kinds_are_ones_a_playbook_can_name():
    assert set(KINDS) <= set(REASON_KINDS)


def test_the_lapse_is_recency_against_the_customers_own_rhythm():
    overdue = {"recency_days": 95.2, "gap_mean_days": 30.4}
    # Every lapse feature, the purchase pattern model's outputs and the RFM scores alike, says the same.
    for name in ("recency_days", "overdue_ratio", "gap_mean_days", "gap_std_days", "btyd_p_no_purchase"):
        assert words(name, **overdue) == "No purchase for 95 days; usually buys every 30", name
    for name in ("btyd_p_alive", "btyd_expected_purchases", "rfm_r", "rfm_segment"):
        assert words(name, **overdue) == "No purchase for 95 days; usually buys every 30", name
        assert template_for(name)[1] == "recency"
    assert words("recency_days", recency_days=40.0) == "Only one purchase, 40 days ago; no repeat yet"
    assert words("recency_days", recency_days=0.2) == "Only one purchase, today; no repeat yet"
    assert words("recency_days") == "No purchase yet"
    assert words("recency_days", recency_days=12.0, gap_mean_days=0.3) == (
        "No purchase for 12 days; usually buys again within a day"
    )
    # Within the usual gap: a reason for a customer who buys rarely, not for a regular one on schedule.
    assert words("gap_mean_days", recency_days=20.0, gap_mean_days=120.0) == (
        "No purchase for 20 days; usually buys every 120"
    )
    assert words("gap_std_days", recency_days=0.3, gap_mean_days=45.0) == (
        "Last purchase today; usually buys every 45"
    )
    assert words("gap_mean_days", recency_days=20.0, gap_mean_days=25.0) is None


def test_buying_less_compares_the_last_window_with_the_one_before():
    before = {
        "n_purchases_90d": 2.0,
        "n_purchases_180d": 7.0,
        "spend_total_90d": 90.4,
        "spend_total_180d": 410.0,
    }
    expected = "Purchases down from 5 to 2 and spend from 320 to 90 (last 90 days vs the 90 before)"
    for name in ("n_purchases_90d", "spend_max_365d", "spend_trend_90d", "n_purchases", "rfm_f", "rfm_m"):
        assert words(name, **before) == expected, name
        assert template_for(name, NAMES)[1] == "trend"
    assert words("spend_total_90d", **{**before, "n_purchases_180d": 4.0}) == (
        "Spend down from 320 to 90 (last 90 days vs the 90 before)"
    )
    refunds = {**before, "spend_total_90d": -20.0, "spend_total_180d": 300.0}
    assert words("spend_total_90d", **refunds) == (
        "Purchases down from 5 to 2 and spend from 320 to -20 net of refunds (last 90 days vs the 90 before)"
    )
    # Buying that held up says nothing; a spend 5% lower is not "down".
    assert words("n_purchases_90d", **{**before, "n_purchases_180d": 4.0, "spend_total_180d": 180.0}) is None
    assert words("spend_total_90d", n_purchases_90d=2.0, n_purchases_180d=4.0, spend_total_90d=95.0) is None
    # Without the double window, the trend ratios tell the window before.
    ratios = template_for("spend_trend_30d", ["n_purchases_30d", "spend_total_30d", "purchase_trend_30d"])[0]
    values = {
        "n_purchases_30d": 1.0,
        "purchase_trend_30d": 0.25,
        "spend_total_30d": 50.0,
        "spend_trend_30d": 0.5,
    }
    assert ratios(lambda c: values.get(c, np.nan)) == (
        "Purchases down from 4 to 1 and spend from 100 to 50 (last 30 days vs the 30 before)"
    )


def test_engagement_says_what_dropped():
    none = {"evt_login_count_30d": 0.0, "evt_login_count_90d": 0.0}
    assert words("evt_login_days_since", **none, evt_login_days_since=120.4) == "No login for 120 days"
    assert words(
        "evt_login_count_30d", evt_login_count_30d=0.0, evt_login_count_90d=6.0, evt_login_days_since=45.0
    ) == ("No login for 45 days, after 6 in the 60 days before")
    assert words(
        "evt_login_count_90d", evt_login_count_30d=1.0, evt_login_count_90d=9.0, evt_login_days_since=3.0
    ) == ("1 login in the last 30 days, down from 8 in the 60 days before")
    assert words("evt_login_days_since", **none) == "No logins ever"
    # As many logins a month as before: nothing to say.
    steady = {"evt_login_count_30d": 2.0, "evt_login_count_90d": 6.0, "evt_login_days_since": 3.0}
    assert words("evt_login_days_since", **steady) is None
    assert template_for("email_click_rate_30d", ["evt_email_click_count_30d"])[1] == "engagement"


def test_service_nps_refunds_and_subscription_words():
    ticket = {"evt_support_ticket_count_90d": 1.0, "evt_support_ticket_days_since": 12.0}
    assert words("evt_support_ticket_days_since", **ticket) == "1 support ticket 12 days ago"
    assert words(
        "evt_support_ticket_value_mean_90d",
        evt_support_ticket_count_90d=3.0,
        evt_support_ticket_days_since=5.0,
        evt_support_ticket_value_mean_90d=40.2,
    ) == ("3 support tickets in the last 90 days, latest 5 days ago; took 40 hours to resolve on average")
    assert words("evt_complaint_days_since", evt_complaint_days_since=200.0) == "Last complaint 200 days ago"
    assert words("evt_complaint_days_since", evt_complaint_days_since=400.0) is None  # over a year ago
    assert words("evt_support_ticket_count_90d", evt_support_ticket_count_90d=0.0) is None  # never
    assert template_for("evt_complaint_count_30d")[1] == "service"

    assert words("nps_last", nps_last=3.0) == "Last NPS answer 3 (detractor)"
    assert words("nps_class", nps_last=7.0) == "Last NPS answer 7 (passive)"
    assert words("evt_nps_response_days_since", nps_last=6.0) == "Last NPS answer 6 (detractor)"
    assert words("nps_last", nps_last=9.0) is None and words("nps_last") is None

    assert words("refund_share", refund_share=0.17) == "17% of orders refunded"
    assert words("refund_share", refund_share=0.0) is None
    assert template_for("refund_share")[1] == "monetary"

    assert (
        words("sub_active", sub_active=0.0, sub_n_ended=1.0)
        == "Cancelled their subscription; none active now"
    )
    assert words("sub_n_ended", sub_active=1.0, sub_n_ended=2.0, sub_plan="premium") == (
        "Cancelled 2 subscriptions before; still subscribed on the premium plan"
    )
    # Subscribed, or never subscribed, without a cancellation: nothing changed.
    assert words("sub_plan", sub_active=1.0, sub_n_ended=0.0, sub_age_days=30.0, sub_plan="basic") is None
    assert words("sub_active", sub_active=0.0, sub_n_ended=0.0) is None


def one_customer(**contributions: float) -> pd.DataFrame:
    """These contributions first (kinds tie in column order), every other feature of ``VALUES`` at 0."""
    return pd.DataFrame([{**contributions, **{c: 0.0 for c in VALUES if c not in contributions}}])


VALUES = pd.DataFrame(
    [
        {
            "recency_days": 142.0,
            "gap_mean_days": 30.0,
            "overdue_ratio": 4.7,
            "btyd_p_no_purchase": 0.91,
            "rfm_segment": "At risk",
            "evt_support_ticket_count_30d": 2.0,
            "evt_support_ticket_count_90d": 3.0,
            "evt_support_ticket_days_since": 4.0,
            "evt_login_count_30d": 0.0,
            "evt_login_count_90d": 0.0,
            "evt_login_days_since": 130.0,
            "nps_last": 3.0,
            "nps_class": "detractor",
            "n_purchases_90d": 0.0,
            "n_purchases_180d": 3.0,
            "spend_total_90d": 0.0,
            "spend_total_180d": 150.0,
            "spend_trend_90d": 0.0,
            "attr_channel": "app",
            "attr_loyalty_tier": "standard",
            "tenure_days": 800.0,
            "sub_active": 0.0,
            "sub_n_ended": 0.0,
        }
    ]
)


def test_one_reason_per_kind_by_the_risk_its_features_add():
    contributions = one_customer(
        btyd_p_no_purchase=0.5,
        recency_days=0.3,  # the lapse again: one reason, weighing 0.5 + 0.3 + 0.1
        rfm_segment=0.1,
        evt_support_ticket_count_30d=0.6,
        evt_support_ticket_count_90d=0.2,  # one service reason, weighing 0.8
        evt_login_days_since=0.45,
        nps_last=0.4,
        spend_trend_90d=0.05,
        bias=5.0,
    )
    explained = explain(VALUES, contributions)
    assert explained.texts.tolist() == [
        [
            "No purchase for 142 days; usually buys every 30",
            "3 support tickets in the last 90 days, latest 4 days ago",
            "No login for 130 days",
        ]
    ]
    assert explained.kinds.tolist() == [["recency", "service", "engagement"]]
    assert list(explained.columns()) == ["reason_1", "reason_2", "reason_3"]


def test_an_overdue_customer_hears_the_lapse_not_the_model_probability():
    # The purchase pattern model alone points at the lapse: say the behaviour behind it.
    explained = explain(VALUES, one_customer(btyd_p_no_purchase=0.9, bias=1.0))
    assert explained.texts.tolist() == [["No purchase for 142 days; usually buys every 30", None, None]]
    assert explained.kinds.tolist() == [["recency", None, None]]


def test_attributes_and_tenure_are_skipped_for_the_next_behaviour():
    contributions = one_customer(
        attr_channel=0.9, attr_loyalty_tier=0.8, tenure_days=0.7, n_purchases_90d=0.1
    )
    explained = explain(VALUES, contributions)
    assert explained.texts.tolist() == [
        ["Purchases down from 3 to 0 and spend from 150 to 0 (last 90 days vs the 90 before)", None, None]
    ]
    assert explained.kinds.tolist() == [["trend", None, None]]
    assert explain(VALUES, one_customer(attr_channel=0.9)).texts.tolist() == [[None, None, None]]


def test_a_silent_story_gives_way_to_the_next_one_of_its_kind():
    # A promoter who logs in as often as before; no email data at all.
    steady = VALUES.assign(
        nps_last=10.0, evt_login_count_30d=2.0, evt_login_count_90d=6.0, evt_login_days_since=3.0
    )
    contributions = one_customer(
        nps_last=0.9,  # a promoter: nothing to say, nor any other NPS story
        sub_active=0.8,  # never subscribed: nothing to say
        evt_login_days_since=0.7,  # logins did not drop: the email story speaks for engagement
        evt_email_open_days_since=0.2,
    )
    explained = explain(steady, contributions)
    assert explained.texts.tolist() == [["No email opens ever", None, None]]
    assert explained.kinds.tolist() == [["engagement", None, None]]


def test_only_positive_contributions_give_reasons():
    contributions = one_customer(recency_days=-0.4, nps_last=0.0, spend_trend_90d=0.1, bias=2.0)
    explained = explain(VALUES, contributions)
    assert explained.texts.tolist() == [
        ["Purchases down from 3 to 0 and spend from 150 to 0 (last 90 days vs the 90 before)", None, None]
    ]
    nothing = explain(VALUES, one_customer(recency_days=-0.4, nps_last=0.0))
    assert nothing.texts.tolist() == [[None, None, None]]


def test_ties_go_to_the_earlier_kind():
    contributions = one_customer(nps_last=0.25, spend_trend_90d=0.25, recency_days=0.25)
    assert explain(VALUES, contributions).texts[0, 0] == "Last NPS answer 3 (detractor)"


def test_no_rows_give_no_reasons():
    explained = explain(VALUES.iloc[:0], one_customer(recency_days=1.0).iloc[:0])
    assert explained.texts.shape == (0, MAX_REASONS)


def test_vectorised_reasons_equal_the_row_by_row_rule_on_real_contributions(scoring_world: ScoringWorld):
    w = scoring_world
    frame = w.features.iloc[:400].reset_index(drop=True)
    spec = w.model.parts.feature_spec
    for approximate in (False, True):
        contributions = w.model.contributions(frame, approximate=approximate)
        explained = explain(frame, contributions, spec, batch_rows=150)  # several batches
        expected = reference(frame, contributions)
        assert (explained.texts == expected[:, :, 0]).all()
        assert (explained.kinds == expected[:, :, 1]).all()


def test_real_reasons_name_no_segment_model_output_rhythm_alone_or_attribute(scoring_world: ScoringWorld):
    w = scoring_world
    texts = pd.unique(w.scored.risk_list[REASONS].stack().dropna())
    assert len(texts) > 100
    labels = [a.replace("_", " ") for a in w.model.parts.feature_spec.attribute_columns]
    assert "region" in labels and "channel" in labels
    attribute = re.compile(rf"\b({'|'.join(map(re.escape, labels))})\b", re.IGNORECASE)
    for text in texts:
        assert not NEVER.search(text), text
        assert not attribute.search(text), text
        if "usually buys" in text:  # a rhythm only next to what changed
            assert LAPSE.fullmatch(text), text
    assert w.scored.risk_list["reason_1"].notna().mean() > 0.95


def test_the_reasons_of_a_customer_are_of_different_kinds(scoring_world: ScoringWorld):
    w = scoring_world
    frame = w.features
    explained = explain(frame, w.model.contributions(frame, approximate=True), w.model.parts.feature_spec)
    seen = set()
    for kinds in explained.kinds.tolist():
        present = [k for k in kinds if k is not None]
        assert len(set(present)) == len(present), kinds
        seen.update(present)
    assert seen <= set(KINDS)
    assert {"recency", "trend", "engagement", "service"} <= seen


def test_overdue_customers_get_their_lapse_with_both_numbers(scoring_world: ScoringWorld):
    w = scoring_world
    frame = w.features
    explained = explain(frame, w.model.contributions(frame, approximate=True), w.model.parts.feature_spec)
    recency, gap = np.rint(frame["recency_days"].to_numpy()), np.rint(frame["gap_mean_days"].to_numpy())
    overdue = recency > gap  # false where there is no gap (one purchase)
    checked = 0
    for i in np.flatnonzero(overdue):
        slots = [s for s in range(MAX_REASONS) if explained.kinds[i, s] == "recency"]
        if slots:
            text = explained.texts[i, slots[0]]
            usual = f"every {gap[i]:,.0f}" if gap[i] > 0 else "again within a day"  # several buys a day
            assert text == f"No purchase for {recency[i]:,.0f} days; usually buys {usual}", text
            checked += 1
    assert checked > 100
    # The lapse is the first reason of most overdue customers at high risk.
    risky = overdue & (w.model.predict(None, frame)["churn_probability"].to_numpy() > 0.5)
    assert (explained.kinds[risky, 0] == "recency").mean() > 0.5
