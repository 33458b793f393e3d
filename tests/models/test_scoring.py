"""Batch scoring end to end on generated customers: the ranked list, its reasons, groups and tiers."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from churnguard.core.config import OutreachSettings, Settings, TierSettings
from churnguard.features.build import feature_names
from churnguard.models.playbook import NO_ACTION
from churnguard.models.reasons import explain
from churnguard.models.registry import NoChampionError, load_champion
from churnguard.models.scoring import (
    CONTROL_ACTION,
    assign_groups,
    check_signature,
    control_draw,
    cooldown_customers,
    risk_tiers,
)
from churnguard.models.tracking import configure_tracking
from tests.models import scoring_fixtures
from tests.models.scoring_fixtures import CAPACITY, ScoringWorld

scoring_world, scoring_store = scoring_fixtures.scoring_world, scoring_fixtures.scoring_store

ISSUE_COLUMNS = [
    "customer_id",
    "as_of",
    "churn_probability",
    "rank",
    "percentile",
    "risk_tier",
    "previous_tier",
    "new_this_week",
    "customer_value",
    "value_at_risk",
    "rfm_segment",
    "reason_1",
    "reason_2",
    "reason_3",
    "suggested_action",
    "group",
    "model_name",
    "model_version",
]
REASONS = ["reason_1", "reason_2", "reason_3"]
DAY = pd.Timedelta(days=1)


def test_one_row_per_customer_of_the_population_highest_risk_first(scoring_world: ScoringWorld):
    w = scoring_world
    risk = w.scored.risk_list
    assert list(risk.columns) == ISSUE_COLUMNS
    tx = w.dataset.transactions
    lookback = w.settings.churn.lookback_days * DAY
    active = tx[(tx["amount"] > 0) & (tx["ts"] >= w.dataset.as_of - lookback)]["customer_id"]
    assert risk["customer_id"].is_unique
    assert set(risk["customer_id"]) == set(active)
    p = risk["churn_probability"].to_numpy()
    assert ((p >= 0) & (p <= 1)).all()
    assert (np.diff(p) <= 0).all()
    assert risk["rank"].tolist() == list(range(1, len(risk) + 1))
    assert risk["percentile"].iloc[0] == 100.0
    assert (np.diff(risk["percentile"]) < 0).all() and risk["percentile"].iloc[-1] > 0
    assert (risk["as_of"] == w.dataset.as_of.date()).all()
    assert set(risk["model_name"]) == {w.settings.registry.model_name}
    assert set(risk["model_version"]) == {w.version}


def test_values_and_segments_are_the_customers_own(scoring_world: ScoringWorld):
    w = scoring_world
    risk = w.scored.risk_list
    own = w.features.set_index("customer_id").loc[risk["customer_id"]]
    margin = w.settings.value.margin
    np.testing.assert_allclose(risk["customer_value"], np.clip(own["trailing_spend"], 0, None) * margin)
    np.testing.assert_allclose(risk["value_at_risk"], risk["churn_probability"] * risk["customer_value"])
    assert risk["rfm_segment"].tolist() == own["rfm_segment"].tolist()


def test_probabilities_are_what_the_pyfunc_predicts(scoring_world: ScoringWorld):
    # Scoring enforces the signature on the first rows only and predicts the rest in-process.
    w = scoring_world
    assert len(w.features) > 2_000  # both paths are used
    expected = w.pyfunc.predict(w.features[w.model.features])["churn_probability"].to_numpy()
    got = w.scored.risk_list.set_index("customer_id").loc[w.features["customer_id"], "churn_probability"]
    np.testing.assert_array_equal(got.to_numpy(), expected)


def test_every_critical_and_high_row_has_a_reason_and_an_action(scoring_world: ScoringWorld):
    risk = scoring_world.scored.risk_list
    top = risk[risk["risk_tier"].isin(["critical", "high"])]
    assert len(top) >= 0.15 * (risk["risk_tier"] != "lapsed").sum() - 1
    assert top["reason_1"].map(lambda t: isinstance(t, str) and len(t) > 0).all()
    quiet = {NO_ACTION, "No outreach: keep in regular communication", CONTROL_ACTION}
    callable_rows = top[top["group"] != "control"]
    assert callable_rows["suggested_action"].map(lambda a: isinstance(a, str) and a not in quiet).all()
    assert risk["suggested_action"].notna().all()


def test_control_rows_say_do_not_contact_and_carry_no_action(scoring_world: ScoringWorld):
    # Before, control rows carried "Account manager call ...", which invites someone to call them.
    scored = scoring_world.scored
    risk = scored.risk_list
    control = risk["group"] == "control"
    assert control.sum() > 0
    assert (risk.loc[control, "suggested_action"] == CONTROL_ACTION).all()
    assert not (risk.loc[~control, "suggested_action"] == CONTROL_ACTION).any()
    assert scored.summary["actions"]["control"] == int(control.sum())


def test_reasons_fill_slots_in_order_without_repeating(scoring_world: ScoringWorld):
    risk = scoring_world.scored.risk_list
    assert risk["reason_1"].notna().mean() > 0.95
    for row in risk[REASONS].itertuples(index=False):
        present = [t for t in row if isinstance(t, str)]
        assert list(row)[: len(present)] == present
        assert len(set(present)) == len(present)


def test_no_raw_feature_name_reaches_a_reason(scoring_world: ScoringWorld):
    w = scoring_world
    names = set(feature_names(w.features)) | set(w.features.columns)
    texts = w.scored.risk_list[REASONS].stack().dropna().unique()  # a slot without a reason is empty
    assert len(texts) > 50
    for text in texts:
        assert text not in names
        assert not re.search(r"[A-Za-z0-9]_[A-Za-z0-9]|\b(evt|attr|rfm|sub|nps|email|gap)_", text), text
        assert not any(name in text for name in names if "_" in name), text


def test_reasons_quote_the_customers_own_values(scoring_world: ScoringWorld):
    w = scoring_world
    own = w.features.set_index("customer_id")
    lapse = re.compile(r"No purchase for ([\d,]+) days(?:; usually buys every ([\d,]+))?")
    nps = re.compile(r"Last NPS answer (\d+) \((promoter|passive|detractor)\)")
    checked = 0
    for customer, text in w.scored.risk_list.set_index("customer_id")[REASONS].stack().dropna().items():
        customer = customer[0]
        if match := lapse.fullmatch(text):
            assert int(match[1].replace(",", "")) == round(own.loc[customer, "recency_days"])
            if match[2]:
                assert int(match[2].replace(",", "")) == round(own.loc[customer, "gap_mean_days"])
            checked += 1
        elif match := nps.fullmatch(text):
            assert int(match[1]) == own.loc[customer, "nps_last"]
            checked += 1
    assert checked > 100


def test_outreach_reasons_are_exact_treeshap_the_others_approximate(scoring_world: ScoringWorld):
    w = scoring_world
    risk = w.scored.risk_list
    rows_of = w.features.set_index("customer_id", drop=False)
    for group, approximate in (("outreach", False), ("control", True), ("none", True)):
        ids = risk.loc[risk["group"] == group, "customer_id"]
        rows = rows_of.loc[ids].reset_index(drop=True)
        expected = explain(
            rows, w.model.contributions(rows, approximate=approximate), w.model.parts.feature_spec
        )
        got = risk.loc[risk["group"] == group, REASONS].to_numpy()
        empty = pd.isna(got)  # a slot without a reason: None in the explanations, missing in the list
        assert (empty == pd.isna(expected.texts)).all(), group
        assert (got[~empty] == expected.texts[~empty]).all(), group


def test_exact_reasons_stop_at_the_cap_riskiest_first(scoring_world: ScoringWorld):
    w = scoring_world
    settings = w.settings.model_copy(
        update={"scoring": w.settings.scoring.model_copy(update={"exact_max_rows": 10})}
    )
    risk = w.score(settings).risk_list
    outreach = risk[risk["group"] == "outreach"]
    rows = w.features.set_index("customer_id", drop=False).loc[outreach["customer_id"]].reset_index(drop=True)
    spec = w.model.parts.feature_spec
    exact = explain(rows, w.model.contributions(rows), spec).texts
    approximate = explain(rows, w.model.contributions(rows, approximate=True), spec).texts
    # An empty slot (fewer than three things to say) is None from explain, NaN in the list.
    got = outreach[REASONS].astype(object).where(outreach[REASONS].notna(), None).to_numpy()
    assert (got[:10] == exact[:10]).all()
    assert (got[10:] == approximate[10:]).all()
    assert (exact[10:] != approximate[10:]).any()  # the comparison can tell them apart


def test_outreach_is_the_capacity_by_value_at_risk_and_control_a_random_share(scoring_world: ScoringWorld):
    w = scoring_world
    risk = w.scored.risk_list
    share = w.settings.outreach.control_share
    eligible = risk[risk["risk_tier"].isin(w.settings.outreach.eligible_tiers)]
    eligible = eligible.sort_values(["value_at_risk", "customer_id"], ascending=[False, True])
    picked = eligible["group"] != "none"
    candidates = int(np.flatnonzero(picked.to_numpy())[-1]) + 1
    assert len(eligible) > candidates  # the capacity binds
    assert picked.iloc[:candidates].all()  # the candidates are the top by value at risk, none skipped

    assert (risk["group"] == "outreach").sum() == CAPACITY
    assert eligible["group"].iloc[candidates - 1] == "outreach"  # the walk stops at the last outreach one
    n_control = int((risk["group"] == "control").sum())
    assert abs(n_control - candidates * share) < 4 * math.sqrt(candidates * share * (1 - share))
    # Each customer's own draw decides: control exactly where it falls below the share.
    draws = control_draw(eligible["customer_id"].iloc[:candidates], w.settings.outreach.seed)
    assert ((draws < share) == (eligible["group"].iloc[:candidates] == "control").to_numpy()).all()

    # Random: spread over the candidates, not their top or bottom by value at risk or by probability.
    by_value = np.flatnonzero(eligible["group"].iloc[:candidates].to_numpy() == "control")
    assert by_value.min() < candidates / 4 and by_value.max() > 3 * candidates / 4
    in_candidates = risk[risk["customer_id"].isin(eligible["customer_id"].iloc[:candidates])]
    by_probability = np.flatnonzero(in_candidates["group"].to_numpy() == "control")  # ranked by probability
    assert by_probability.min() < candidates / 4 and by_probability.max() > 3 * candidates / 4


def test_groups_are_the_same_on_a_rerun_and_in_any_row_order(scoring_world: ScoringWorld):
    w = scoring_world
    risk, outreach = w.scored.risk_list, w.settings.outreach
    assert (assign_groups(risk, outreach) == risk["group"].to_numpy()).all()
    shuffled = risk.sample(frac=1, random_state=1).reset_index(drop=True)
    groups = pd.Series(assign_groups(shuffled, outreach), index=shuffled["customer_id"])
    assert groups.loc[risk["customer_id"]].tolist() == risk["group"].tolist()
    again = w.score().risk_list
    pd.testing.assert_frame_equal(again, risk)

    def control(groups: np.ndarray) -> set:
        return set(risk["customer_id"][groups == "control"])

    other_seed = assign_groups(risk, outreach.model_copy(update={"seed": outreach.seed + 1}))
    assert control(other_seed) != control(risk["group"].to_numpy())


def test_a_control_customer_stays_control_in_later_lists(scoring_world: ScoringWorld):
    """Next week's list, with other customers around, never moves a control customer into outreach."""
    w = scoring_world
    risk, outreach = w.scored.risk_list, w.settings.outreach.model_copy(update={"capacity": None})
    first = assign_groups(risk, outreach)
    later = risk.sample(frac=0.7, random_state=3).reset_index(drop=True)  # some left, values moved
    later["value_at_risk"] = later["value_at_risk"] * np.random.default_rng(4).uniform(0.5, 1.5, len(later))
    second = pd.Series(assign_groups(later, outreach), index=later["customer_id"])
    was_control = risk["customer_id"][first == "control"]
    still_listed = second.reindex(was_control).dropna()
    assert len(still_listed) >= 10
    assert set(still_listed) == {"control"}


def test_a_customer_contacted_yesterday_is_not_in_todays_outreach(scoring_world: ScoringWorld):
    w = scoring_world
    risk, as_of = w.scored.risk_list, w.dataset.as_of
    outreach_ids = risk.loc[risk["group"] == "outreach", "customer_id"]
    control_ids = risk.loc[risk["group"] == "control", "customer_id"]
    yesterday = as_of - pd.Timedelta(days=1)
    contacts = pd.DataFrame(
        {
            "customer_id": [outreach_ids.iloc[0], outreach_ids.iloc[5]],
            "ts": [yesterday, as_of - pd.Timedelta(days=45)],  # the second rested long enough
        }
    )
    picked = pd.Index([control_ids.iloc[0]])  # in the control group of a list last week
    cooldown = cooldown_customers(contacts, picked, as_of, w.settings.outreach.cooldown_days)
    assert set(cooldown) == {outreach_ids.iloc[0], control_ids.iloc[0]}

    groups = pd.Series(assign_groups(risk, w.settings.outreach, cooldown), index=risk["customer_id"])
    assert groups[outreach_ids.iloc[0]] == "cooldown"
    assert groups[control_ids.iloc[0]] == "cooldown"
    assert groups[outreach_ids.iloc[5]] == "outreach"
    # The capacity goes to the next customers: as many contacted as before, one new among them.
    assert (groups == "outreach").sum() == CAPACITY
    assert len(set(groups[groups == "outreach"].index) - set(outreach_ids)) == 1
    assert cooldown_customers(contacts, picked, as_of, 0).empty  # cooldown_days 0: nobody rests


def test_without_capacity_every_eligible_customer_is_a_candidate(scoring_world: ScoringWorld):
    risk = scoring_world.scored.risk_list
    groups = assign_groups(risk, OutreachSettings())
    eligible = risk["risk_tier"].isin(["critical", "high"]).to_numpy()
    n = int(eligible.sum())
    assert (groups[~eligible] == "none").all()
    assert (groups[eligible] != "none").all()
    assert abs((groups == "control").sum() - 0.1 * n) < 4 * math.sqrt(n * 0.09)


def test_zero_capacity_contacts_nobody(scoring_world: ScoringWorld):
    risk = scoring_world.scored.risk_list
    groups = assign_groups(risk, OutreachSettings(capacity=0))
    assert set(groups) == {"none"}


def test_features_lacking_a_model_input_are_refused(scoring_world: ScoringWorld):
    w = scoring_world
    short = w.features.drop(columns="recency_days")
    with pytest.raises(ValueError, match=r"lack 1 input.*recency_days"):
        check_signature(w.pyfunc, short)
    with pytest.raises(ValueError, match="recency_days"):
        w.score(features=short)


def test_an_empty_population_gives_an_empty_list(scoring_world: ScoringWorld):
    scored = scoring_world.score(features=scoring_world.features.iloc[:0])
    assert list(scored.risk_list.columns) == ISSUE_COLUMNS
    assert scored.risk_list.empty
    assert scored.summary["customers"] == 0
    assert scored.summary["total_value_at_risk"] == 0


def test_tiers_by_rank_share():
    p = np.linspace(0.99, 0.01, 20)
    expected = ["critical"] + ["high"] * 2 + ["medium"] * 5 + ["low"] * 12
    assert risk_tiers(p, TierSettings()).tolist() == expected
    shuffle = np.random.default_rng(0).permutation(20)
    assert risk_tiers(p[shuffle], TierSettings()).tolist() == [expected[i] for i in shuffle]
    assert risk_tiers(p, TierSettings(critical=0.1, high=0.1, medium=0.5)).tolist() == (
        ["critical"] * 2 + ["medium"] * 8 + ["low"] * 10
    )


def test_tiers_by_probability():
    tiers = TierSettings(by="probability", critical=0.8, high=0.5, medium=0.2)
    p = np.array([0.9, 0.8, 0.79, 0.5, 0.2, 0.19, 0.0])
    expected = ["critical", "critical", "high", "high", "medium", "low", "low"]
    assert risk_tiers(p, tiers).tolist() == expected


def test_tier_cut_points_must_be_ordered():
    with pytest.raises(ValidationError, match="must fall"):
        TierSettings(by="probability", critical=0.2, high=0.5, medium=0.1)
    with pytest.raises(ValidationError, match="must grow"):
        TierSettings(critical=0.3, high=0.15, medium=0.4)


def test_no_champion_says_to_train_a_model_first(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    settings = Settings(tracking={"home": str(tmp_path / "empty_store")})
    client = configure_tracking(settings)
    with pytest.raises(NoChampionError, match="train a model first: churn train"):
        load_champion(settings, client)


def test_the_champion_loads_from_the_store(scoring_world: ScoringWorld, scoring_store):
    w = scoring_world
    version, _, model = load_champion(w.settings, scoring_store)
    assert str(version.version) == w.version
    assert model.features == w.model.features
