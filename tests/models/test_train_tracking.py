"""Tracking: one MLflow run per training, with everything needed to trust and compare it."""

from __future__ import annotations

import json
import re

import mlflow
import pytest

from churnguard.models.search import SEARCH_SPACE

HEADLINE_METRICS = [
    "test_roc_auc",
    "test_pr_auc",
    "test_log_loss",
    "test_brier",
    "test_ece",
    *(f"test_{kind}_at_{pct}" for kind in ("lift", "capture") for pct in (5, 10, 20)),
    "test_precision_at_capacity",
    "test_expected_profit",
    "valid_pr_auc",
    "recency_test_pr_auc",
    "logistic_test_pr_auc",
    "gain_over_recency_pr_auc",
    "gain_over_logistic_pr_auc",
]
PLOTS = {
    "plots/roc.png",
    "plots/precision_recall.png",
    "plots/calibration.png",
    "plots/gains_lift.png",
    "plots/score_distribution.png",
    "plots/feature_importance_shap.png",
}


@pytest.fixture
def good_run(runs, tracking):
    return tracking.get_run(runs.good.run_id)


def test_params_hold_config_cutoffs_search_space_and_choice(good_run, trained, sample):
    params = good_run.data.params
    assert params["churn.horizon_days"] == "90"
    assert params["training.n_trials"] == "2"
    assert params["features.max_cutoffs"] == "8"
    assert params["outreach.cost_per_contact"] == "5.0"
    assert params["backtest.test_cutoffs"] == ", ".join(str(c.date()) for c in trained.backtest.test_cutoffs)
    assert params["cutoffs.train_last"] == str(trained.refit_cutoffs[-1].date())
    assert params["cutoffs.train_count"] == str(len(trained.refit_cutoffs))
    assert good_run.data.tags["training_cutoff_last"] == str(trained.refit_cutoffs[-1].date())
    assert json.loads(params["search_space"]) == json.loads(json.dumps(SEARCH_SPACE))
    best = trained.backtest.best
    assert params["best.max_depth"] == str(best.params["max_depth"])
    assert params["best.trees"] == str(trained.backtest.n_trees)
    assert params["calibration.method"] in {"platt", "isotonic"}


def test_metrics_are_the_measured_ones(good_run, trained):
    logged = good_run.data.metrics
    for name in HEADLINE_METRICS:
        assert logged[name] == pytest.approx(trained.metrics[name]), name
    assert logged["test_auc_region_North"] == pytest.approx(trained.segment_auc["region=North"])


def test_tags_name_the_data_code_and_churn_definition(good_run, sample):
    tags = good_run.data.tags
    assert tags["as_of"] == str(sample.dataset.as_of.date())
    assert tags["data_fingerprint"] == sample.dataset.fingerprint
    assert re.fullmatch(r"[0-9a-f]{40}|unknown", tags["git_commit"])
    assert tags["churn_definition"] == "inactivity"
    assert tags["horizon_days"] == "90"


def test_runs_are_named_apart_and_the_experiment_opens_on_them(runs, tracking, sample, trained, weak):
    # Before, every run was "train as_of=2026-10-31" and the UI opened on GenAI traces.
    names = [tracking.get_run(r.run_id).info.run_name for r in (runs.good, runs.weak)]
    as_of = str(sample.dataset.as_of.date())
    for name, result in zip(names, (trained, weak), strict=True):
        assert re.fullmatch(
            rf"{as_of} PR AUC {result.metrics['test_pr_auc']:.3f} inactivity 90d \(\d\d-\d\d \d\d:\d\d UTC\)",
            name,
        ), name
    assert names[0] != names[1]
    experiment = tracking.get_experiment(tracking.get_run(runs.good.run_id).info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"


def test_training_and_test_sets_are_logged_as_datasets(good_run, trained):
    inputs = {}
    for item in good_run.inputs.dataset_inputs:
        context = {tag.key: tag.value for tag in item.tags}["mlflow.data.context"]
        inputs[context] = item.dataset
    assert set(inputs) == {"training", "testing"}
    rows = json.loads(inputs["testing"].profile)["num_rows"]
    assert rows == len(trained.evaluation[0])
    assert json.loads(inputs["training"].profile)["num_rows"] == trained.refit_rows


def test_plots_and_the_fold_table_are_artifacts(good_run, tracking, trained):
    run_id = good_run.info.run_id
    folders = {f"plots/fold_{c.date()}" for c in trained.backtest.test_cutoffs}
    logged = {a.path for a in tracking.list_artifacts(run_id, "plots")}
    assert logged == PLOTS | folders
    assert all(a.file_size > 10_000 for a in tracking.list_artifacts(run_id, "plots") if not a.is_dir)
    for folder in folders:
        assert len(tracking.list_artifacts(run_id, folder)) == 5
    table = mlflow.artifacts.load_text(f"runs:/{run_id}/backtest/folds.csv")
    assert table.splitlines()[0].startswith("fold,train_cutoffs") and "\nmean," in table and "\nsd," in table


def test_the_logged_signature_requires_every_feature(runs, tracking, trained):
    info = mlflow.models.get_model_info(runs.good.model_uri)
    columns = info.signature.inputs.inputs
    assert [c.name for c in columns] == trained.parts.preprocessor.features
    assert all(c.required for c in columns)


def test_a_second_run_with_another_setting_is_comparable_column_by_column(runs, tracking):
    good = tracking.get_run(runs.good.run_id)
    frame = mlflow.search_runs(experiment_ids=[good.info.experiment_id], order_by=["start_time ASC"])
    frame = frame[frame["run_id"].isin([runs.good.run_id, runs.weak.run_id])]  # other tests log more

    assert frame["run_id"].tolist() == [runs.good.run_id, runs.weak.run_id]
    assert frame["params.training.max_rounds"].tolist() == ["150", "10"]
    metric_columns = [f"metrics.{name}" for name in HEADLINE_METRICS]
    assert frame[metric_columns].notna().all().all()
    weak = tracking.get_run(runs.weak.run_id)
    for kind in ("metrics", "params", "tags"):
        assert set(getattr(good.data, kind)) == set(getattr(weak.data, kind)), kind
