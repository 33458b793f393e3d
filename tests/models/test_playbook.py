"""The playbook: ordered rules on reasons, segment, tier and value; the first match names the action."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnguard.core.config import ConfigError, PlaybookRule, Settings, load_settings
from churnguard.models.playbook import NO_ACTION, suggest_actions


def apply(rules, kinds, segments, tiers, values):
    actions, names = suggest_actions(rules, kinds, pd.Series(segments), pd.Series(tiers), pd.Series(values))
    return actions.tolist(), names.tolist()


def test_first_matching_rule_wins():
    rules = [
        PlaybookRule(name="service", action="call", reason_kinds=["service"], tiers=["critical"]),
        PlaybookRule(name="critical", action="offer", tiers=["critical"]),
        PlaybookRule(name="rest", action="email"),
    ]
    kinds = [["service", "recency"], ["recency"], ["service"]]
    actions, names = apply(rules, kinds, ["Lost"] * 3, ["critical", "critical", "low"], [10.0] * 3)
    assert actions == ["call", "offer", "email"]
    assert names == ["service", "critical", "rest"]
    reordered = [rules[1], rules[0], rules[2]]
    assert apply(reordered, kinds, ["Lost"] * 3, ["critical", "critical", "low"], [10.0] * 3)[0] == [
        "offer",
        "offer",
        "email",
    ]


def test_each_condition_and_inclusive_value_bounds():
    rules = [
        PlaybookRule(name="big", action="A", min_value=100.0),
        PlaybookRule(name="small", action="B", max_value=10.0, segments=["Lost"]),
        PlaybookRule(name="nps", action="C", reason_kinds=["nps", "service"]),
    ]
    kinds = [[], [], ["nps"], [], ["engagement"]]
    segments = ["Lost", "Lost", "Loyal", "Loyal", "Lost"]
    values = [100.0, 10.0, 50.0, 5.0, 50.0]
    actions, names = apply(rules, kinds, segments, ["low"] * 5, values)
    assert actions == ["A", "B", "C", NO_ACTION, NO_ACTION]
    assert names == ["big", "small", "nps", "", ""]


def test_kinds_as_the_explanations_array_with_empty_slots():
    rules = [PlaybookRule(name="lapsing", action="win back", reason_kinds=["recency"])]
    kinds = np.array([["nps", None, None], [None, None, None], ["trend", "recency", None]], dtype=object)
    actions, _ = apply(rules, kinds, ["Lost"] * 3, ["high"] * 3, [1.0] * 3)
    assert actions == ["win back" if i == 2 else NO_ACTION for i in range(3)]


def test_default_playbook_routes_the_issue_examples():
    rules = Settings().scoring.playbook
    cases = [  # kinds, segment, tier, value -> rule
        (["service", "recency"], "Loyal", "critical", 500.0, "service recovery"),
        (["recency"], "Champions", "high", 500.0, "vip save"),
        (["nps"], "Loyal", "medium", 500.0, "detractor"),
        (["trend", "engagement"], "At risk", "high", 20.0, "lapsing buyer"),
        (["engagement"], "At risk", "medium", 20.0, "disengaged"),
        (["subscription"], "Lost", "high", 5.0, "low value"),
        (["service"], "Lost", "low", 900.0, "low risk"),
    ]
    kinds, segments, tiers, values, expected = (list(column) for column in zip(*cases, strict=True))
    actions, names = apply(rules, kinds, segments, tiers, values)
    assert names == expected
    assert actions[1] == "Account manager call with a VIP retention offer"
    assert actions[-1] == "No outreach: keep in regular communication"


def test_a_playbook_from_the_config_file(tmp_path):
    config = tmp_path / "churnguard.yaml"
    config.write_text(
        """
scoring:
  playbook:
    - name: unhappy big spenders
      action: "Rückruf durch die Filialleitung"
      reason_kinds: [service, nps]
      min_value: 200
    - name: everyone at risk
      action: Newsletter mit Gutschein
      tiers: [critical, high]
    - name: the rest
      action: Keine Ansprache
""",
        encoding="utf-8",
    )
    rules = load_settings(config).scoring.playbook
    assert [r.name for r in rules] == ["unhappy big spenders", "everyone at risk", "the rest"]
    kinds = [["nps"], ["nps"], ["recency"], ["recency"]]
    actions, _ = apply(
        rules, kinds, ["Lost"] * 4, ["high", "high", "critical", "low"], [250.0, 150.0, 900.0, 900.0]
    )
    assert actions == [
        "Rückruf durch die Filialleitung",
        "Newsletter mit Gutschein",
        "Newsletter mit Gutschein",
        "Keine Ansprache",
    ]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            "{name: a, action: b, reason_kinds: [servce]}",
            "unknown reason kind 'servce': did you mean 'service'?",
        ),
        ("{name: a, action: b, tiers: [critcal]}", "unknown tier 'critcal': did you mean 'critical'?"),
        ("{name: a, action: b, segments: [Loyl]}", "unknown segment 'Loyl': did you mean 'Loyal'?"),
    ],
)
def test_a_misspelt_kind_tier_or_segment_is_a_config_error(tmp_path, rule, message):
    # Accepted before: every customer, the outreach group included, got "No action".
    config = tmp_path / "churnguard.yaml"
    config.write_text(
        f"scoring:\n  playbook:\n    - {rule}\n    - {{name: rest, action: c}}\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError) as error:
        load_settings(config)
    assert message in str(error.value) and "churnguard.yaml" in str(error.value)


def test_a_playbook_without_a_catch_all_is_refused(tmp_path):
    config = tmp_path / "churnguard.yaml"
    config.write_text(
        "scoring:\n  playbook:\n    - {name: big, action: Call, min_value: 100, tiers: [critical]}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="must end with a rule without conditions"):
        load_settings(config)


def test_a_misspelt_eligible_tier_is_a_config_error(monkeypatch):
    monkeypatch.setenv("CHURNGUARD_OUTREACH__ELIGIBLE_TIERS", '["critical", "hihg"]')
    with pytest.raises(ConfigError, match="unknown tier 'hihg': did you mean 'high'"):
        load_settings(None)


def test_a_misspelt_rule_key_is_a_config_error(tmp_path):
    config = tmp_path / "churnguard.yaml"
    config.write_text("scoring:\n  playbook:\n    - name: x\n      action: y\n      tier: [high]\n")
    with pytest.raises(ConfigError, match="tier"):
        load_settings(config)


def test_kinds_for_another_number_of_customers_are_refused():
    with pytest.raises(ValueError, match="2 customers"):
        apply([PlaybookRule(name="a", action="b")], [["nps"], []], ["Lost"], ["low"], [1.0])
