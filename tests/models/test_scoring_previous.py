"""Each list says what changed since the previous one in its folder: the tier then, and who is new at risk."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd

from churnguard.features.build import build_features
from churnguard.models.compare import PreviousList, compare_tiers, previous_risk_list
from churnguard.models.scoring import ScoredList, score_customers, write_risk_list
from tests.models import scoring_fixtures
from tests.models.scoring_fixtures import ScoringWorld

scoring_world = scoring_fixtures.scoring_world

WEEK = pd.Timedelta(days=7)
AT_RISK = {"critical", "high"}


def score_at(w: ScoringWorld, as_of: pd.Timestamp, lists) -> ScoredList:
    """The list of ``as_of`` by the world's model, compared with the lists already in ``lists``."""
    features = build_features(w.source, as_of, w.settings, w.model.parts.feature_spec)
    return score_customers(
        features,
        w.pyfunc,
        w.model,
        w.settings,
        w.settings.registry.model_name,
        w.version,
        as_of,
        w.dataset.fingerprint,
        previous=previous_risk_list(lists, as_of),
    )


def test_a_list_compares_with_the_newest_earlier_list_in_its_folder(scoring_world: ScoringWorld, tmp_path):
    w = scoring_world
    lists, this_week = tmp_path / "risk_lists", w.dataset.as_of
    last_week = score_at(w, this_week - WEEK, lists)
    write_risk_list(last_week, lists, this_week - WEEK)
    # Neither an older list, nor a later one, nor a re-run of this week's date is "the previous list".
    decoy = last_week.risk_list.assign(risk_tier="low")
    for when in (this_week - 2 * WEEK, this_week, this_week + WEEK):
        write_risk_list(ScoredList(decoy, last_week.summary), lists, when)

    scored = score_at(w, this_week, lists)
    folder = write_risk_list(scored, lists, this_week)
    risk = pd.read_parquet(folder / "risk_list.parquet")

    before = last_week.risk_list.set_index("customer_id")["risk_tier"]
    expected = before.reindex(risk["customer_id"])
    assert expected.isna().any() and expected.notna().any()  # some customers are new to the list
    assert risk["previous_tier"].fillna("absent").tolist() == expected.fillna("absent").tolist()
    new = risk["risk_tier"].isin(AT_RISK) & ~expected.isin(AT_RISK).to_numpy()
    assert risk["new_this_week"].tolist() == new.tolist()
    assert 0 < new.sum() < risk["risk_tier"].isin(AT_RISK).sum()  # most at-risk customers were already
    # A critical customer who was high last week is not news; one who was medium, or absent, is.
    assert not risk.loc[risk["previous_tier"].isin(AT_RISK), "new_this_week"].any()

    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert summary["new_at_risk"] == int(new.sum())
    assert summary["previous_as_of"] == str((this_week - WEEK).date())
    csv = pd.read_csv(folder / "risk_list.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    absent = risk["previous_tier"].isna().to_numpy()
    assert (csv.loc[absent, "previous_tier"] == "").all()
    assert set(csv["new_this_week"]) == {"True", "False"}


def test_the_first_list_has_no_previous_tiers_and_everyone_at_risk_is_new(scoring_world: ScoringWorld):
    scored = scoring_world.scored
    risk = scored.risk_list
    assert risk["previous_tier"].isna().all()
    assert risk["new_this_week"].tolist() == risk["risk_tier"].isin(AT_RISK).tolist()
    assert scored.summary["previous_as_of"] is None
    assert scored.summary["new_at_risk"] == risk["risk_tier"].isin(AT_RISK).sum()


def test_compare_tiers_by_hand(tmp_path):
    previous = PreviousList(date(2026, 1, 1), pd.Series(["high", "medium", "lapsed"], index=[1, 2, 3]))
    ids = pd.Series([1, 2, 3, 4, 5])
    tiers = pd.Series(["critical", "high", "high", "critical", "lapsed"])
    before, new = compare_tiers(ids, tiers, previous)
    assert before.tolist() == ["high", "medium", "lapsed", None, None]
    assert new.tolist() == [False, True, True, True, False]
    assert previous_risk_list(tmp_path / "nothing here", pd.Timestamp("2026-01-08", tz="UTC")) is None
    (tmp_path / "as_of=2026-13-45").mkdir()  # not a date: ignored
    (tmp_path / "as_of=2026-01-01").mkdir()  # no list inside: ignored
    assert previous_risk_list(tmp_path, pd.Timestamp("2026-01-08", tz="UTC")) is None
    no_list = compare_tiers(ids, tiers, None)
    assert no_list[0].tolist() == [None] * 5
    assert no_list[1].tolist() == [True, True, True, True, False]
    assert np.asarray(no_list[1]).dtype == bool
