"""`churn outcomes` as a retention team uses it: a list made months ago, outreach with a known effect
planted in the customers' future by the generator, and the measured effect against the control group.

Everything is real: generated data, the pipeline trained and scored as of the past date by the `churn`
command (seeing only the data before it), the generator's planted save effect on that list's outreach
group, and `churn outcomes` on the whole data, logging to the model's MLflow run.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import yaml

from churnguard.core.data.generate import generate_sample
from churnguard.core.data.plant import read_planted_save
from tests.pipelines.conftest import FAST_CONFIG
from tests.pipelines.test_cli import churn

pytestmark = pytest.mark.slow

CUSTOMERS, SEED, END = 6_000, 11, "2026-10-31"
LIST_DATE = "2026-07-01"  # its 90-day horizon closed on 2026-09-29, a month before the data's end
LATER_DATE = "2026-10-01"  # a list whose horizon is still open: 30 of 90 days observed
PLANTED = 0.3
CONFIG = {
    **FAST_CONFIG,
    # A half-and-half split of three tiers: groups large enough to measure a 30% save rate.
    "outreach": {"control_share": 0.5, "eligible_tiers": ["critical", "high", "medium"]},
}


@pytest.fixture(scope="module")
def past_list(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose model was trained, and whose list was scored, as of LIST_DATE (and LATER_DATE)."""
    project = tmp_path_factory.mktemp("outcomes-project")
    (project / "churnguard.yaml").write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    generate_sample(project / "data", CUSTOMERS, seed=SEED, end=END)
    trained = churn("pipeline", "--data", "data", "--as-of", LIST_DATE, cwd=project, timeout=900)
    assert trained.returncode == 0, trained.stdout + trained.stderr
    later = churn("score", "--data", "data", "--as-of", LATER_DATE, cwd=project, timeout=600)
    assert later.returncode == 0, later.stdout + later.stderr
    return project


def planted_world(past_list: Path, name: str, share: float) -> tuple[Path, dict]:
    """The same customers' data with ``share`` of the list's would-be churners kept by outreach."""
    folder = past_list / name
    plant = read_planted_save(past_list / "output" / "risk_lists" / f"as_of={LIST_DATE}", share, seed=1)
    summary = generate_sample(folder, CUSTOMERS, seed=SEED, end=END, plant=plant)
    return folder, summary.planted


def measure(project: Path, data: Path, out: str) -> tuple[pd.DataFrame, str]:
    result = churn("outcomes", "--data", str(data), "--out", out, cwd=project, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return pd.read_parquet(project / out / "outcomes.parquet"), result.stdout


def row(outcomes: pd.DataFrame, day: str, slice_: str) -> pd.Series:
    rows = outcomes[(outcomes["list_as_of"].astype(str) == day) & (outcomes["slice"] == slice_)]
    assert len(rows) == 1, (day, slice_)
    return rows.iloc[0]


def test_the_planted_save_effect_is_recovered_within_its_interval(past_list: Path):
    data, planted = planted_world(past_list, "data-saved", PLANTED)
    outcomes, printed = measure(past_list, data, "outcomes-saved")

    outreach, control = row(outcomes, LIST_DATE, "outreach"), row(outcomes, LIST_DATE, "control")
    assert outreach["status"] == "closed" and outreach["days_observed"] == 90
    assert outreach["customers"] == planted["outreach"] and control["customers"] == planted["control"]
    # The effect planted in this very sample: the saved customers, as a share of the outreach group.
    true_effect = planted["saved"] / planted["outreach"]
    assert planted["saved"] > 50, planted
    assert outreach["effect_low"] <= true_effect <= outreach["effect_high"]
    assert outreach["save_rate_low"] <= PLANTED <= outreach["save_rate_high"]
    assert outreach["conclusive"] and outreach["effect_low"] > 0 and outreach["randomised"]
    assert outreach["contact_cost"] == pytest.approx(planted["outreach"] * 5.0)
    assert outreach["retained_value"] == pytest.approx(
        outreach["effect"] * outreach["customers"] * outreach["value"] / outreach["customers"]
    )
    # Every outreach customer was contacted (the generator's contacts table): not randomised, so labelled.
    contacted = row(outcomes, LIST_DATE, "contacted")
    assert contacted["customers"] == planted["outreach"] and not contacted["randomised"]

    # How right the list was, on the customers outreach did not touch.
    overall = row(outcomes, LIST_DATE, "all")
    listed = pd.read_parquet(past_list / "output" / "risk_lists" / f"as_of={LIST_DATE}" / "risk_list.parquet")
    assert overall["customers"] == (~listed["group"].isin(["outreach", "cooldown"])).sum()
    assert 0.75 < overall["roc_auc"] < 1 and overall["lift_at_10"] > 1.5
    tiers = outcomes[(outcomes["list_as_of"].astype(str) == LIST_DATE) & (outcomes["slice_kind"] == "tier")]
    critical, low = tiers.set_index("slice").loc["critical"], tiers.set_index("slice").loc["low"]
    assert critical["realised_churn_rate"] > low["realised_churn_rate"]
    assert abs(overall["predicted_churn_rate"] - overall["realised_churn_rate"]) < 0.05

    # The later list is measured as far as the data goes, and marked so.
    partial = row(outcomes, LATER_DATE, "all")
    assert partial["status"] == "partial" and partial["days_observed"] == 30
    assert f"List of {LATER_DATE} (partial: 30 of 90 days so far)" in printed
    assert "Outreach vs control" in printed and "95% interval" in printed
    assert (
        (past_list / "outcomes-saved" / "outcomes.csv")
        .read_text(encoding="utf-8-sig")
        .startswith("list_as_of")
    )

    # The realised figures of the closed list went to the MLflow run of the model that made it.
    with sqlite3.connect(past_list / ".churnguard" / "mlflow.db") as db:
        logged = db.execute(
            "SELECT m.key, m.value, m.step FROM metrics m JOIN model_versions v ON v.run_id = m.run_uuid "
            "WHERE v.version = 1 AND m.key LIKE 'realised_%'"
        ).fetchall()
    by_key = {key: (value, step) for key, value, step in logged}
    days = (pd.Timestamp(LIST_DATE) - pd.Timestamp("1970-01-01")).days
    assert by_key["realised_roc_auc"] == (pytest.approx(overall["roc_auc"]), days)
    assert by_key["realised_save_rate"][0] == pytest.approx(outreach["save_rate"])
    assert len(logged) == len(by_key)  # once per figure and list

    # Measuring again adds nothing twice to MLflow and rewrites the same outcomes.
    again, _ = measure(past_list, data, "outcomes-saved")
    pd.testing.assert_frame_equal(again, outcomes)
    with sqlite3.connect(past_list / ".churnguard" / "mlflow.db") as db:
        count = db.execute("SELECT count(*) FROM metrics WHERE key LIKE 'realised_%'").fetchone()[0]
    assert count == len(logged)


def test_no_effect_is_found_when_none_was_planted(past_list: Path):
    data, planted = planted_world(past_list, "data-no-effect", 0.0)
    assert planted["saved"] == 0
    outcomes, printed = measure(past_list, data, "outcomes-none")
    outreach = row(outcomes, LIST_DATE, "outreach")
    assert outreach["effect_low"] <= 0 <= outreach["effect_high"]
    assert not outreach["conclusive"]
    assert outreach["needed_per_group"] > outreach["customers"] or outreach["effect"] <= 0
    assert "too few customers to tell" in printed


def test_a_project_without_past_lists_has_nothing_to_measure(tmp_path: Path, past_list: Path):
    shutil.copytree(past_list / "data", tmp_path / "data")
    (tmp_path / "churnguard.yaml").write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    result = churn("outcomes", "--data", "data", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "nothing to measure yet" in result.stdout
    assert not (tmp_path / "output" / "outcomes").exists()
