"""The flows end to end on a real Prefect test server, a real SQLite MLflow store and real files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from churnguard.core.config import load_settings
from churnguard.core.data.validate import DataValidationError
from churnguard.models.registry import NoChampionError
from churnguard.pipelines.build_features import build_features_flow
from churnguard.pipelines.churn_pipeline import churn_pipeline
from churnguard.pipelines.report import report_flow
from churnguard.pipelines.score import score_flow
from churnguard.pipelines.train import train_flow

pytestmark = pytest.mark.usefixtures("prefect_server")


def test_pipeline_trains_scores_and_reports_then_reuses_the_champion(shop: Path, project: Path) -> None:
    first = churn_pipeline(data_dir=str(shop), output_dir="output")

    assert first["training"]["promoted"] and first["training"]["version"] == "1"
    risk_dir = Path(first["risk_list"])
    assert risk_dir == (project / "output/risk_lists/as_of=2026-10-31").resolve()
    risk = pd.read_parquet(risk_dir / "risk_list.parquet")
    assert risk["rank"].tolist() == list(range(1, len(risk) + 1))
    assert risk["churn_probability"].is_monotonic_decreasing
    assert (risk["group"] == "outreach").sum() == 100  # capacity from churnguard.yaml
    summary = json.loads((risk_dir / "summary.json").read_text())
    assert summary["model_version"] == "1" and summary["customers"] == len(risk)
    report = Path(first["report"])
    assert report.is_file() and "Churn rate" in report.read_text(encoding="utf-8")

    settings = load_settings()
    client = MlflowClient(settings.tracking.resolved_uri())
    run = client.get_run(first["training"]["run_id"])
    assert run.data.tags["as_of"] == "2026-10-31"
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert "plots/roc.png" in plots and "plots/gains_lift.png" in plots
    reports = client.list_artifacts(run.info.run_id, "reports")
    assert [a.path for a in reports] == ["reports/as_of=2026-10-31"]  # the report went to the champion's run

    second = churn_pipeline(data_dir=str(shop), output_dir="output")
    assert second["training"] is None  # a champion exists: score and report only
    assert len(mlflow.search_runs(experiment_names=["churnguard"])) == 1


def test_train_flow_keeps_a_challenger_that_is_not_better_enough_and_promote_forces_it(
    shop: Path, project: Path
) -> None:
    first = train_flow(data_dir=str(shop))
    assert first["promoted"]
    # No PR AUC can gain 0.5 over a useful champion: the new version must stay challenger.
    (project / "strict.yaml").write_text(
        "training: {n_trials: 1, max_rounds: 60}\nfeatures: {max_cutoffs: 5}\npromotion: {min_gain: 0.5}\n",
        encoding="utf-8",
    )
    strict = train_flow(data_dir=str(shop), config_file="strict.yaml")
    assert not strict["promoted"] and strict["version"] == "2"
    assert "does not beat champion v1" in strict["decision"]
    forced = train_flow(data_dir=str(shop), config_file="strict.yaml", promote=True)
    assert forced["promoted"] and "forced" in forced["decision"]
    client = MlflowClient(load_settings().tracking.resolved_uri())
    assert str(client.get_model_version_by_alias("churnguard-churn", "champion").version) == "3"
    assert client.get_model_version("churnguard-churn", "2").tags["promotion_decision"] == "not promoted"


def test_score_without_a_champion_is_bad_input(shop: Path, project: Path) -> None:
    with pytest.raises(NoChampionError, match="train a model first: churn train"):
        score_flow(data_dir=str(shop))
    assert not (project / "output").exists()


def test_bad_data_stops_before_any_output(shop: Path, project: Path) -> None:
    broken = project / "broken"
    shutil.copytree(shop, broken)
    tx = pd.read_parquet(broken / "transactions.parquet")
    tx.loc[3, "amount"] = float("nan")
    tx.to_parquet(broken / "transactions.parquet")
    with pytest.raises(DataValidationError, match="amount"):
        report_flow(data_dir=str(broken))
    assert not (project / "output").exists()


def test_build_features_flow_writes_one_cutoff(shop: Path, project: Path) -> None:
    result = build_features_flow(data_dir=str(shop), out_file="features.parquet", as_of="2026-06-01")
    frame = pd.read_parquet(project / "features.parquet")
    assert len(frame) == result["customers"] > 0
    assert frame["cutoff"].dt.date.unique().tolist() == [pd.Timestamp("2026-06-01").date()]
    assert frame["customer_id"].is_unique
