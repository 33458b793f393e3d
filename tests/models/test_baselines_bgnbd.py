"""The BG/NBD baseline: a textbook buy-till-you-die model's P(no purchase in the horizon) as churn score."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from churnguard.features.btyd_features import BTYD_COLUMNS
from churnguard.models.baselines import bgnbd_scores, recency_scores


def test_bgnbd_scores_rank_real_churners_first(sample):
    # The generated customers drop out by a hazard process, not by BG/NBD: the model is only a baseline.
    frame = sample.frame
    assert frame["cutoff"].nunique() >= 4
    for cutoff, rows in frame.groupby("cutoff"):
        scores = bgnbd_scores(rows)
        assert scores.shape == (len(rows),) and np.isfinite(scores).all()
        assert ((scores >= 0) & (scores <= 1)).all()
        auc = roc_auc_score(rows["churned"], scores)
        assert auc > 0.75, (cutoff, auc)
        assert auc > roc_auc_score(rows["churned"], recency_scores(rows)), cutoff  # beats days since purchase


def test_without_the_feature_column_it_fits_from_the_frame(sample):
    rows = sample.frame[sample.frame["cutoff"] == sample.frame["cutoff"].max()]
    from_column = bgnbd_scores(rows)
    refitted = bgnbd_scores(
        rows.drop(columns=list(BTYD_COLUMNS)), horizon_days=sample.settings.churn.horizon_days
    )
    # The same customers and the same model; t_x from minute-rounded gaps differs by seconds at most.
    np.testing.assert_allclose(refitted, from_column, atol=1e-4)
    # Several cutoffs at once: each is fitted on its own rows.
    several = sample.frame.drop(columns=list(BTYD_COLUMNS))
    together = bgnbd_scores(several, horizon_days=sample.settings.churn.horizon_days)
    last = (several["cutoff"] == several["cutoff"].max()).to_numpy()
    np.testing.assert_allclose(together[last], refitted, rtol=0, atol=0)


def test_missing_scores_get_a_neutral_value():
    frame = pd.DataFrame({"btyd_p_no_purchase": [0.2, np.nan, 0.6, np.nan]})
    assert bgnbd_scores(frame).tolist() == [0.2, 0.4, 0.6, 0.4]
    assert bgnbd_scores(pd.DataFrame({"btyd_p_no_purchase": [np.nan, np.nan]})).tolist() == [0.5, 0.5]
    # Too few customers to fit from the frame's own columns: everyone is neutral.
    few = pd.DataFrame({"n_purchases": [3.0, 1.0, 0.0], "gap_mean_days": [10.0, np.nan, np.nan]})
    few["recency_days"] = [5.0, 40.0, np.nan]
    assert bgnbd_scores(few).tolist() == [0.5, 0.5, 0.5]
