"""Training/scoring parity: a customer scored at a date gets exactly the features training saw then."""

from __future__ import annotations

import pandas as pd

from churnguard.features.build import LABEL, build_features
from tests.models import scoring_fixtures
from tests.models.scoring_fixtures import ScoringWorld

scoring_world = scoring_fixtures.scoring_world


def pairs(w: ScoringWorld):
    """(cutoff, features built for scoring at it, the training set's rows of it) for every cutoff."""
    frame = w.training_set
    for cutoff in sorted(frame["cutoff"].unique()):
        scored = build_features(w.source, cutoff, w.settings, w.model.parts.feature_spec)
        trained = frame[frame["cutoff"] == cutoff].drop(columns=LABEL).reset_index(drop=True)
        assert len(scored) > 1_000
        yield cutoff, scored, trained


def test_scoring_features_equal_the_training_rows_of_the_same_cutoff(scoring_world: ScoringWorld):
    # Exact, not approximate: money, gaps and event values are summed as integers (features/timeutil.py
    # fixed_point), so the order in which DuckDB adds rows cannot change a bit, nor flip an RFM score.
    for _, scored, trained in pairs(scoring_world):
        pd.testing.assert_frame_equal(scored, trained, check_exact=True)


def test_the_scoring_frame_has_the_training_columns_and_the_model_its_spec(scoring_world: ScoringWorld):
    w = scoring_world
    assert w.model.parts.feature_spec == w.spec
    assert list(w.features.columns) == [c for c in w.training_set.columns if c != LABEL]
    assert "attr_age" in w.model.features and w.features["attr_age"].dtype == "float64"
    assert (w.features["cutoff"] == w.dataset.as_of).all()
