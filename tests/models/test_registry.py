"""Registry: every model becomes a challenger; only a better one (or a forced one) becomes champion."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from churnguard.core.config import PromotionSettings, RegistrySettings
from churnguard.core.data.dataset import load_dataset
from churnguard.features.build import build_training_set
from churnguard.features.source import source_from_dataset
from churnguard.models.registry import (
    CHALLENGER,
    CHAMPION,
    NoChampionError,
    champion_info,
    load_champion,
    primary_score,
    register_and_promote,
)
from churnguard.models.tracking import configure_tracking, log_training_run
from churnguard.models.train import train_churn_model

NAME = "churnguard-churn"


@pytest.fixture(scope="module")
def story(runs, trained, weak, sample):
    """Register, in order: the weak model, the good one, the weak one again, the good one with a
    minimum gain it cannot reach (the last two logged as new runs: retrainings that came out the
    same). Returns each decision by name."""
    settings = runs.settings
    strict = settings.model_copy(update={"promotion": PromotionSettings(min_gain=0.05)})
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        client = configure_tracking(settings)
        as_of, fingerprint = sample.dataset.as_of, sample.dataset.fingerprint
        steps = [
            ("first", runs.weak, weak, settings),
            ("better", runs.good, trained, settings),
            ("worse", log_training_run(weak, settings, as_of, fingerprint), weak, settings),
            ("small gain", log_training_run(trained, settings, as_of, fingerprint), trained, strict),
        ]
        return {
            name: register_and_promote(client, config, run.model_uri, run.run_id, *result.evaluation)
            for name, run, result, config in steps
        }


@pytest.fixture(scope="module")
def champion(story, runs):
    """The champion loaded by alias, the way scoring loads it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        configure_tracking(runs.settings)
        return mlflow.pyfunc.load_model(f"models:/{NAME}@{CHAMPION}")


def test_the_first_model_becomes_champion(story, weak):
    first = story["first"]
    assert (first.version, first.promoted, first.champion_version) == ("1", True, None)
    assert "first model" in first.reason
    assert first.challenger_score == pytest.approx(weak.metrics["test_pr_auc"])


def test_a_better_model_is_promoted(story, trained, weak):
    better = story["better"]
    assert (better.version, better.promoted, better.champion_version) == ("2", True, "1")
    assert better.challenger_score == pytest.approx(trained.metrics["test_pr_auc"])
    # Both were backtested on the same test cutoffs, after the data the champion was fitted on ended:
    # their fold means decide.
    assert better.champion_score == pytest.approx(weak.metrics["test_pr_auc"])
    assert better.compared_on.startswith("backtest means over the same test cutoffs")
    assert better.challenger_score > better.champion_score
    assert "beats champion v1" in better.reason


def test_a_worse_model_is_refused(story):
    worse = story["worse"]
    assert (worse.version, worse.promoted, worse.champion_version) == ("3", False, "2")
    assert worse.challenger_score < worse.champion_score
    assert "does not beat champion v2" in worse.reason


def test_a_gain_below_the_minimum_is_refused(story):
    small = story["small gain"]
    assert (small.version, small.promoted) == ("4", False)
    assert small.challenger_score == pytest.approx(small.champion_score)
    assert "min gain 0.05" in small.reason


def test_aliases_follow_the_decisions(story, tracking):
    assert str(tracking.get_model_version_by_alias(NAME, CHAMPION).version) == "2"
    assert str(tracking.get_model_version_by_alias(NAME, CHALLENGER).version) == "4"


def test_the_decision_and_both_scores_are_tags_on_the_version(story, tracking, runs):
    refused = tracking.get_model_version(NAME, "3").tags
    decision = story["worse"]
    retrained_run = tracking.get_run(refused["run_id"])
    assert refused["promotion_decision"] == "not promoted"
    assert refused["promotion_reason"] == decision.reason
    assert refused["promotion_metric"] == "pr_auc"
    assert float(refused["challenger_pr_auc"]) == pytest.approx(decision.challenger_score, abs=1e-6)
    assert float(refused["champion_pr_auc"]) == pytest.approx(decision.champion_score, abs=1e-6)
    assert refused["compared_with_version"] == "2"
    assert refused["run_id"] != runs.weak.run_id and retrained_run.info.status == "FINISHED"

    first = tracking.get_model_version(NAME, "1").tags
    assert first["promotion_decision"] == "promoted"
    assert "champion_pr_auc" not in first


def test_force_promotes_a_worse_model(runs, trained, weak, tracking):
    settings = runs.settings.model_copy(update={"registry": RegistrySettings(model_name="churnguard-forced")})
    register_and_promote(tracking, settings, runs.good.model_uri, runs.good.run_id, *trained.evaluation)
    forced = register_and_promote(
        tracking, settings, runs.weak.model_uri, runs.weak.run_id, *weak.evaluation, force=True
    )
    assert forced.promoted and "forced" in forced.reason
    assert forced.challenger_score < forced.champion_score
    assert str(tracking.get_model_version_by_alias("churnguard-forced", CHAMPION).version) == "2"
    assert tracking.get_model_version("churnguard-forced", "2").tags["promotion_decision"] == "promoted"


def test_the_champion_loads_by_alias_and_returns_calibrated_probabilities(champion, trained):
    test = trained.backtest.folds[-1].test
    out = champion.predict(test[trained.parts.preprocessor.features])

    assert list(out.columns) == ["churn_probability", "raw_score"]
    p = out["churn_probability"].to_numpy()
    assert np.all((p >= 0) & (p <= 1))
    expected = trained.model.predict(None, test)["churn_probability"].to_numpy()
    np.testing.assert_allclose(p, expected, rtol=1e-6)
    # Calibrated, not the raw booster output: class weights push raw scores above the churn rate.
    assert abs(p.mean() - trained.metrics["test_churn_rate"]) < abs(
        out["raw_score"].mean() - trained.metrics["test_churn_rate"]
    )


@pytest.mark.parametrize(
    "break_input",
    [
        lambda frame: frame.drop(columns="recency_days"),
        lambda frame: frame.drop(columns="attr_region"),
        lambda frame: frame.assign(recency_days="long ago"),
    ],
    ids=["numeric column missing", "categorical column missing", "text in a numeric column"],
)
def test_the_signature_is_enforced(champion, trained, break_input):
    features = trained.evaluation[0][trained.parts.preprocessor.features].head(20)
    with pytest.raises(MlflowException):
        champion.predict(break_input(features))


def test_load_champion_and_champion_info(story, runs, tracking, trained, sample):
    version, _, model = load_champion(runs.settings, tracking)
    assert str(version.version) == "2"
    assert model.features == trained.parts.preprocessor.features

    info = champion_info(runs.settings, tracking)
    assert (info["version"], info["run_id"]) == ("2", runs.good.run_id)
    assert info["as_of"] == str(sample.dataset.as_of.date())
    assert info["metrics"]["pr_auc"] == pytest.approx(trained.metrics["test_pr_auc"])


def test_no_champion_is_a_clear_error(runs, tracking):
    settings = runs.settings.model_copy(update={"registry": RegistrySettings(model_name="nobody")})
    with pytest.raises(NoChampionError, match=r"no model has the 'champion' alias.*churn train"):
        load_champion(settings, tracking)
    assert champion_info(settings, tracking) is None


def test_promotion_never_scores_a_model_on_its_own_training_labels(sample, trained, runs, tracking):
    """A champion fitted on data up to 60 days before the challenger's as_of: the two are compared only
    on the challenger's test cutoffs after the champion's last training cutoff, never on earlier ones."""
    settings = runs.settings.model_copy(update={"registry": RegistrySettings(model_name="churnguard-unseen")})
    older_as_of = sample.dataset.as_of - pd.Timedelta(days=60)
    known = load_dataset(sample.data_dir, settings.data, as_of=older_as_of)
    source = source_from_dataset(known, settings.features)
    frame = build_training_set(source, older_as_of, settings, sample.spec)
    older = train_churn_model(frame, settings, sample.spec)
    mlflow.set_experiment("promotion-on-unseen-cutoffs")  # beside, not among, the compared runs
    older_run = log_training_run(older, settings, older_as_of, known.fingerprint, frame)
    register_and_promote(tracking, settings, older_run.model_uri, older_run.run_id, *older.evaluation)

    evaluation, probabilities = trained.evaluation
    decision = register_and_promote(
        tracking, settings, runs.good.model_uri, runs.good.run_id, evaluation, probabilities
    )
    seen_until = older.refit_cutoffs[-1]
    unseen = sorted(c for c in trained.backtest.test_cutoffs if c > seen_until)
    seen = [c for c in trained.backtest.test_cutoffs if c <= seen_until]
    assert unseen and seen  # the case under test: some of the challenger's test cutoffs the champion saw
    assert decision.compared_on.startswith(f"test cutoffs {', '.join(str(c.date()) for c in unseen)},")
    assert not any(str(c.date()) in decision.compared_on.split(",")[0] for c in seen)
    rows = evaluation["cutoff"] > seen_until
    assert decision.challenger_score == pytest.approx(
        primary_score(evaluation[rows], probabilities[rows.to_numpy()], settings)
    )
    tags = tracking.get_model_version("churnguard-unseen", decision.version).tags
    assert tags["promotion_compared_on"] == decision.compared_on
