"""Customers already gone are tier ``lapsed``, kept apart: critical and high are people a call can still keep."""

from __future__ import annotations

import math

import numpy as np
import pytest

from churnguard.core.config import ConfigError, OutreachSettings, Settings, TierSettings, load_settings
from churnguard.models.playbook import suggest_actions
from churnguard.models.scoring import lapse_threshold, lapsed_customers, risk_tiers
from tests.models import scoring_fixtures
from tests.models.scoring_fixtures import ScoringWorld

scoring_world = scoring_fixtures.scoring_world

WIN_BACK = "Win-back offer by e-mail"


def recency(w: ScoringWorld):
    """Days since the last purchase of each listed customer, in list order."""
    return (
        w.features.set_index("customer_id").loc[w.scored.risk_list["customer_id"], "recency_days"].to_numpy()
    )


def test_critical_and_high_hold_no_customer_past_the_lapse_threshold(scoring_world: ScoringWorld):
    # Before, 99% of the critical tier had bought nothing for a whole horizon: already churned.
    w = scoring_world
    risk, days = w.scored.risk_list, recency(w)
    horizon = w.settings.churn.horizon_days
    at_risk = risk["risk_tier"].isin(["critical", "high"]).to_numpy()
    assert at_risk.sum() > 0
    assert (days[at_risk] <= horizon).all()
    lapsed = (risk["risk_tier"] == "lapsed").to_numpy()
    assert (lapsed == (days > horizon)).all()
    assert 0.1 * len(risk) < lapsed.sum() < 0.6 * len(risk)
    # Shares of the ranked tiers are shares of the customers still reachable.
    ranked = int((~lapsed).sum())
    counts = risk["risk_tier"].value_counts()
    assert counts["critical"] == math.floor(0.05 * ranked)
    assert counts["critical"] + counts["high"] == math.floor(0.15 * ranked)
    # The rank is still the model's: probability order over everyone, lapsed customers included.
    assert risk["rank"].tolist() == list(range(1, len(risk) + 1))
    assert (np.diff(risk["churn_probability"]) <= 0).all()


def test_the_summary_counts_the_lapsed_tier(scoring_world: ScoringWorld):
    w = scoring_world
    risk, summary = w.scored.risk_list, w.scored.summary
    lapsed = risk[risk["risk_tier"] == "lapsed"]
    assert list(summary["tiers"]) == ["critical", "high", "medium", "low", "lapsed"]
    assert summary["tiers"]["lapsed"]["customers"] == len(lapsed) > 0
    assert summary["tiers"]["lapsed"]["value_at_risk"] == pytest.approx(
        lapsed["value_at_risk"].sum(), abs=0.006
    )
    assert sum(t["customers"] for t in summary["tiers"].values()) == len(risk)
    assert summary["lapsed_after_days"] == w.settings.churn.horizon_days


def test_lapsed_customers_get_a_win_back_action_and_no_outreach(scoring_world: ScoringWorld):
    w = scoring_world
    risk = w.scored.risk_list
    lapsed = risk["risk_tier"] == "lapsed"
    assert (risk.loc[lapsed, "group"] == "none").all()
    assert (risk.loc[lapsed, "suggested_action"] == WIN_BACK).all()
    assert not (risk.loc[~lapsed, "suggested_action"] == WIN_BACK).any()
    assert w.scored.summary["actions"]["lapsed win-back"] == lapsed.sum()

    # Listed in outreach.eligible_tiers, they compete for the capacity by value at risk like anyone else.
    settings = w.settings.model_copy(
        update={"outreach": OutreachSettings(eligible_tiers=["critical", "high", "lapsed"])}
    )
    groups = w.score(settings).risk_list.set_index("customer_id")["group"]
    assert (groups.loc[risk.loc[lapsed, "customer_id"]] != "none").all()


def test_a_longer_threshold_or_none_puts_fewer_customers_apart(scoring_world: ScoringWorld):
    w = scoring_world
    base = (w.scored.risk_list["risk_tier"] == "lapsed").sum()

    def lapsed_with(days: int) -> int:
        scoring = w.settings.scoring.model_copy(update={"lapsed_after_days": days})
        scored = w.score(w.settings.model_copy(update={"scoring": scoring}))
        return int((scored.risk_list["risk_tier"] == "lapsed").sum())

    assert 0 < lapsed_with(180) < base
    assert lapsed_with(0) == 0


def test_tiers_leave_lapsed_customers_out_of_the_shares():
    p = np.linspace(0.99, 0.01, 24)
    lapsed = np.zeros(24, dtype=bool)
    lapsed[[0, 1, 5, 23]] = True  # the two riskiest, one in the middle, the safest
    tiers = risk_tiers(p, TierSettings(), lapsed)
    assert tiers[lapsed].tolist() == ["lapsed"] * 4
    # 20 ranked customers: 1 critical (5%), 2 high (15%), 5 medium (40%), 12 low.
    assert tiers[~lapsed].tolist() == ["critical"] + ["high"] * 2 + ["medium"] * 5 + ["low"] * 12
    by_probability = risk_tiers(
        p, TierSettings(by="probability", critical=0.85, high=0.5, medium=0.2), lapsed
    )
    assert by_probability[:4].tolist() == ["lapsed", "lapsed", "critical", "critical"]
    assert (
        risk_tiers(p, TierSettings()).tolist() == risk_tiers(p, TierSettings(), np.zeros(24, bool)).tolist()
    )


def test_lapsed_means_a_last_purchase_longer_ago_than_the_threshold():
    days = np.array([10.0, 90.0, 90.5, np.nan, 400.0])
    assert lapsed_customers(days, 90).tolist() == [
        False,
        False,
        True,
        False,
        True,
    ]  # never bought: not lapsed
    assert lapsed_customers(days, None).tolist() == [False] * 5


@pytest.mark.parametrize(
    ("churn", "scoring", "threshold"),
    [
        ({}, {}, 90),  # a whole horizon without a purchase: churned by the inactivity definition
        ({"horizon_days": 60}, {}, 60),
        ({}, {"lapsed_after_days": 120}, 120),
        ({}, {"lapsed_after_days": 0}, None),  # turned off
        ({"definition": "subscription"}, {}, None),  # every scored customer still subscribes
        ({"definition": "subscription"}, {"lapsed_after_days": 180}, 180),
    ],
)
def test_the_lapse_threshold_follows_the_churn_definition(churn, scoring, threshold):
    assert lapse_threshold(Settings(churn=churn, scoring=scoring)) == threshold


def test_lapsed_is_a_tier_the_config_can_name(tmp_path):
    config = tmp_path / "churnguard.yaml"
    config.write_text(
        "outreach:\n  eligible_tiers: [critical, high, lapsed]\nscoring:\n  lapsed_after_days: 120\n"
        "  playbook:\n    - {name: back, action: Call, tiers: [lapsed]}\n    - {name: rest, action: Mail}\n",
        encoding="utf-8",
    )
    settings = load_settings(config)
    assert settings.outreach.eligible_tiers == ["critical", "high", "lapsed"]
    assert settings.scoring.lapsed_after_days == 120
    config.write_text("outreach:\n  eligible_tiers: [lapsd]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown tier 'lapsd': did you mean 'lapsed'"):
        load_settings(config)
    config.write_text("scoring:\n  lapsed_after_days: -1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="lapsed_after_days"):
        load_settings(config)


def test_the_default_playbook_wins_lapsed_customers_back_whatever_their_reasons():
    rules = Settings().scoring.playbook
    kinds = [["service"], ["nps"], ["recency"], [], ["service"]]
    actions, names = suggest_actions(
        rules, kinds, ["Lost", "Loyal", "Lost", "Champions", "Lost"], ["lapsed"] * 4 + ["high"], [500.0] * 5
    )
    assert names.tolist() == ["lapsed win-back"] * 4 + ["service recovery"]
    assert actions[0] == WIN_BACK
