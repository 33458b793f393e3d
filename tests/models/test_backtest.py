"""The rolling-origin backtest: purged folds, choices made off the test cutoffs, a refit on the newest labels."""

from __future__ import annotations

import pandas as pd
import pytest

from churnguard.core.config import Settings
from churnguard.core.data.dataset import load_dataset
from churnguard.core.data.generate import generate_sample
from churnguard.core.errors import InsufficientDataError
from churnguard.features.build import (
    LABEL,
    build_training_set,
    discover_spec,
    feature_table,
    to_frame,
    training_plan,
)
from churnguard.features.cutoffs import plan_folds, plan_training
from churnguard.features.source import source_from_dataset
from churnguard.models.backtest import held_out
from churnguard.models.train import train_churn_model

DAY = pd.Timedelta(days=1)
START = pd.Timestamp("2025-01-01", tz="UTC")


def monthly(n: int) -> list[pd.Timestamp]:
    return [START + k * 30 * DAY for k in range(n)]


def test_folds_are_purged_a_horizon_apart_and_newest_last():
    folds = plan_folds(monthly(12), horizon_days=90, n_folds=3)
    assert [f.test_cutoff for f in folds] == [monthly(12)[k] for k in (5, 8, 11)]
    for fold in folds:
        assert fold.train_cutoffs and all(c + 90 * DAY <= fold.test_cutoff for c in fold.train_cutoffs)
        assert fold.train_cutoffs == tuple(c for c in monthly(12) if c + 90 * DAY <= fold.test_cutoff)


def test_fewer_folds_when_the_history_holds_no_more():
    # Cutoff 6 tests with cutoffs 0-3 behind it; the next one a horizon earlier (3) has only cutoff 0.
    folds = plan_folds(monthly(7), horizon_days=90, n_folds=3)
    assert [(f.test_cutoff, len(f.train_cutoffs)) for f in folds] == [(monthly(7)[6], 4)]
    assert plan_folds(monthly(3), horizon_days=90, n_folds=3) == []


def test_short_histories_adapt_the_schedule_and_say_so():
    settings = Settings()
    first = pd.Timestamp("2024-01-01", tz="UTC")
    nine_months = plan_training(first, first + 270 * DAY, settings.features, settings.churn, n_folds=3)
    assert nine_months.every_days == 7 and len(nine_months.folds) == 1
    assert any("only 1 of 3 backtest folds" in note for note in nine_months.notes)
    three_years = plan_training(first, first + 1095 * DAY, settings.features, settings.churn, n_folds=3)
    assert (three_years.every_days, len(three_years.folds), three_years.notes) == (30, 3, ())
    too_short = plan_training(first, first + 200 * DAY, settings.features, settings.churn, n_folds=3)
    assert too_short.folds == []
    assert "need at least 210 days of purchases" in too_short.shortfall and "found 200" in too_short.shortfall
    capped = settings.features.model_copy(update={"max_cutoffs": 3})
    assert (
        "features.max_cutoffs=3"
        in plan_training(first, first + 1095 * DAY, capped, settings.churn, 3).shortfall
    )


def test_training_without_a_fold_says_what_is_missing(sample):
    frame = sample.frame[sample.frame["cutoff"] >= sorted(sample.frame["cutoff"].unique())[-3]]
    with pytest.raises(InsufficientDataError, match=r"no backtest fold: 3 labelled cutoff\(s\)"):
        train_churn_model(frame, sample.settings, sample.spec)


def test_held_out_customers_are_a_stable_fifth_and_keep_all_their_rows():
    ids = pd.Series(list(range(5_000)) * 2)
    mask = held_out(ids)
    assert 0.17 < mask.mean() < 0.23
    assert (mask[:5_000] == mask[5_000:]).all()  # the same customer, held out at every cutoff


def test_every_fold_is_purged_and_scored_only_by_models_that_never_saw_it(sample, trained):
    horizon = sample.settings.churn.horizon_days * DAY
    cutoffs = sorted(sample.frame["cutoff"].unique())
    assert len(trained.backtest.folds) >= 2
    for fold in trained.backtest.folds:
        assert all(c + horizon <= fold.fold.test_cutoff for c in fold.fold.train_cutoffs)
        assert set(fold.test["cutoff"]) == {fold.fold.test_cutoff}
        assert 0.5 < fold.metrics["roc_auc"] <= 1
    assert trained.backtest.folds[-1].fold.test_cutoff == cutoffs[-1]
    # The production model was refitted on every labelled cutoff, the newest included.
    assert trained.refit_cutoffs == [pd.Timestamp(c) for c in cutoffs]
    assert trained.refit_rows == len(sample.frame)


def test_fold_training_rows_can_be_rebuilt_from_data_known_at_the_test_cutoff(sample, trained):
    """The strongest form of 'no test label in training': hide everything from a fold's test cutoff on,
    rebuild its training cutoffs' features and labels, and get the very same rows."""
    fold = trained.backtest.folds[-1].fold
    known = load_dataset(sample.data_dir, sample.settings.data, as_of=fold.test_cutoff)
    source = source_from_dataset(known, sample.settings.features)
    rebuilt = to_frame(
        source,
        feature_table(source, list(fold.train_cutoffs), sample.settings, sample.spec, with_labels=True),
    )
    key = ["cutoff", "customer_id"]
    expected = sample.frame[sample.frame["cutoff"].isin(fold.train_cutoffs)]
    pd.testing.assert_frame_equal(
        rebuilt.sort_values(key).reset_index(drop=True), expected.sort_values(key).reset_index(drop=True)
    )


def test_reported_measures_are_fold_means_with_their_spread(trained):
    folds = trained.backtest.folds
    for key in ("roc_auc", "pr_auc", "brier", "ece", "lift_at_10", "capture_at_10", "expected_profit"):
        values = [f.metrics[key] for f in folds]
        assert trained.metrics[f"test_{key}"] == pytest.approx(sum(values) / len(values))
        assert trained.metrics[f"fold1_{key}"] == pytest.approx(values[0])
    assert trained.metrics["test_roc_auc_sd"] >= 0
    table = trained.backtest.table()
    assert table["fold"].tolist()[-2:] == ["mean", "sd"]
    assert len(table) == len(folds) + 2


def test_nine_months_of_history_trains_with_the_defaults(tmp_path):
    generate_sample(tmp_path, n_customers=2_000, seed=11, years=0.75)
    settings = Settings(training={"n_trials": 1, "max_rounds": 60})
    dataset = load_dataset(tmp_path, settings.data)
    source = source_from_dataset(dataset, settings.features)
    plan = training_plan(source, dataset.as_of, settings)
    assert plan.every_days < settings.features.cutoff_every_days and plan.notes
    spec = discover_spec(source)
    result = train_churn_model(build_training_set(source, dataset.as_of, settings, spec), settings, spec)
    assert len(result.backtest.folds) == len(plan.folds) >= 1
    assert result.refit_cutoffs[-1] == plan.cutoffs[-1]
    assert result.metrics["test_roc_auc"] > 0.6
    assert set(result.evaluation[0][LABEL].unique()) == {0, 1}
