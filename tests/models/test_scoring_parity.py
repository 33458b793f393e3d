"""Training/scoring parity: a customer scored at a date gets exactly the features training saw then."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.build import LABEL, build_features
from tests.models import scoring_fixtures
from tests.models.scoring_fixtures import ScoringWorld

scoring_world = scoring_fixtures.scoring_world
RFM = ["rfm_r", "rfm_f", "rfm_m", "rfm_segment"]


def pairs(w: ScoringWorld):
    """(cutoff, features built for scoring at it, the training set's rows of it) for every cutoff."""
    frame = w.training_set
    for cutoff in sorted(frame["cutoff"].unique()):
        scored = build_features(w.source, cutoff, w.settings, w.model.parts.feature_spec)
        trained = frame[frame["cutoff"] == cutoff].drop(columns=LABEL).reset_index(drop=True)
        assert len(scored) > 1_000
        yield cutoff, scored, trained


@pytest.mark.xfail(
    strict=True,
    reason="features bug: DuckDB sums doubles in plan-dependent order, so spend, gap and value "
    "features differ in the last bits between one- and many-cutoff queries (and between two runs), "
    "and RFM quintiles can flip on near-ties",
)
def test_scoring_features_equal_the_training_rows_of_the_same_cutoff(scoring_world: ScoringWorld):
    for _, scored, trained in pairs(scoring_world):
        pd.testing.assert_frame_equal(scored, trained, check_exact=True)


def test_scoring_features_equal_the_training_rows_up_to_float_rounding(scoring_world: ScoringWorld):
    # What holds today despite the bug above: same customers, same columns and types, text and
    # counts identical, numbers within 1e-12 relative, and RFM scores for all but a few near-ties.
    for cutoff, scored, trained in pairs(scoring_world):
        assert list(scored.columns) == list(trained.columns)
        assert scored.dtypes.equals(trained.dtypes)
        assert scored["customer_id"].tolist() == trained["customer_id"].tolist()
        for column in scored.columns.drop(RFM):
            left, right = scored[column], trained[column]
            if left.dtype == "float64":
                np.testing.assert_allclose(left, right, rtol=1e-12, atol=0, equal_nan=True, err_msg=column)
            else:
                assert left.equals(right), (cutoff, column)
        flipped = (scored[RFM] != trained[RFM]).any(axis=1).mean()
        assert flipped < 0.005, (cutoff, flipped)


def test_the_scoring_frame_has_the_training_columns_and_the_model_its_spec(scoring_world: ScoringWorld):
    w = scoring_world
    assert w.model.parts.feature_spec == w.spec
    assert list(w.features.columns) == [c for c in w.training_set.columns if c != LABEL]
    assert "attr_age" in w.model.features and w.features["attr_age"].dtype == "float64"
    assert (w.features["cutoff"] == w.dataset.as_of).all()
