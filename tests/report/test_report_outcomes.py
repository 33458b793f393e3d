""" "Did it work?" and CLV:CAC on the generated sample: a hand-written outcomes.parquet of two past lists
(one closed, one partial), a latest list whose summary.json says drift = alert, and CAC per channel."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnguard.core.config import Settings
from churnguard.core.data.dataset import Dataset
from churnguard.models.outcomes import EFFECT_COLUMNS
from churnguard.reports import kpis, outcomes_view
from churnguard.reports.build import ReportResult, build_report
from churnguard.reports.content import ReportContent, compute_content
from tests.report.conftest import CHAMPION, CURRENCY, synthetic_risk_list, write_risk_list

NAN = np.nan
METHOD = "95% intervals: Newcombe's hybrid score interval for the difference of churn rates"
COSTS = {
    "web": 30.0,
    "app": 20.0,
    "tv": 50.0,
}  # tv: no such channel in the sample; store, marketplace: no CAC
DRIFT = {
    "status": "alert",
    "score_psi": 0.312,
    "max_feature_psi": 0.871,
    "thresholds": {"watch": 0.1, "alert": 0.25},
    "top": [
        {
            "feature": "purchases_90d",
            "description": "Purchases in the last 90 days",
            "psi": 0.871,
            "importance": 0.31,
            "carrying": True,
            "missing_share": 0.0,
            "reference_missing_share": 0.0,
            "unseen_share": 0.0,
        },
        {
            "feature": "attr_region",
            "description": "Region",
            "psi": 0.04,
            "importance": None,  # a profile from before importance was recorded
            "carrying": None,
            "missing_share": 0.02,
            "reference_missing_share": 0.01,
            "unseen_share": 0.015,
        },
    ],
    "note": None,
}
EFFECT_KEYS = EFFECT_COLUMNS[: EFFECT_COLUMNS.index("roi_high") + 1]  # the numeric ones


def row(head: dict, kind: str, name: str, customers: int, churned: int, predicted: float, **extra) -> dict:
    """One outcome row of the agreed schema; effect columns empty unless given."""
    out = {
        **head,
        "slice_kind": kind,
        "slice": name,
        "customers": customers,
        "churned": churned,
        "realised_churn_rate": churned / customers,
        "predicted_churn_rate": predicted,
        "value": customers * 150.0,
        "roc_auc": NAN,
        "pr_auc": NAN,
        "lift_at_10": NAN,
        **dict.fromkeys(EFFECT_KEYS, NAN),
        "conclusive": None,
        "needed_per_group": NAN,
        "randomised": None,
        "interval_method": None,
    }
    out.update(extra)
    return out


def effect(values: list[float], conclusive: bool, needed: float, randomised: bool) -> dict:
    return {
        **dict(zip(EFFECT_KEYS, values, strict=True)),
        "conclusive": conclusive,
        "needed_per_group": needed,
        "randomised": randomised,
        "interval_method": METHOD,
    }


def outcome_rows() -> pd.DataFrame:
    closed = {
        "list_as_of": date(2026, 6, 30),
        "measured_as_of": date(2026, 10, 31),
        "status": "closed",
        "days_observed": 90,
        "horizon_days": 90,
        "model_name": "churnguard-churn",
        "model_version": "2",
    }
    rows = [
        row(closed, "all", "all", 1800, 540, 0.28, roc_auc=0.781, pr_auc=0.52, lift_at_10=2.4),
        row(closed, "tier", "critical", 90, 60, 0.71),
        row(closed, "tier", "high", 180, 90, 0.52),
        row(closed, "tier", "medium", 450, 150, 0.30),
        row(closed, "tier", "low", 1080, 240, 0.20),
        *[row(closed, "decile", str(d), 180, 180 - 15 * d, 0.9 - 0.08 * d) for d in range(1, 11)],
        # Outreach 40 of 135 left (29.6%), control 8 of 15 (53.3%): +23.7 pts, interval 1.2 to 45.1 pts.
        row(
            closed,
            "group",
            "outreach",
            135,
            40,
            0.6,
            **effect(
                [0.237, 0.012, 0.451, 0.444, 0.05, 0.70, 32.0, 6400.0, 675.0, 8.48, 0.2, 16.1],
                True,
                NAN,
                True,
            ),
        ),
        row(closed, "group", "control", 15, 8, 0.6),
        row(closed, "group", "none", 1650, 492, 0.25),
        # Contacted (reached) 25 of 100 left: not randomised; interval -2.0 to 55.0 pts, not conclusive.
        row(
            closed,
            "contacted",
            "contacted",
            100,
            25,
            0.6,
            **effect(
                [0.283, -0.02, 0.55, 0.53, -0.1, 0.8, 28.3, 5660.0, 500.0, 10.3, -0.5, 21.0], False, 96, False
            ),
        ),
    ]
    partial = {
        **closed,
        "list_as_of": date(2026, 9, 30),
        "status": "partial",
        "days_observed": 31,
        "model_version": "3",
    }
    rows += [
        row(partial, "all", "all", 1850, 150, 0.29, roc_auc=0.702, pr_auc=0.31, lift_at_10=1.9),
        row(partial, "tier", "critical", 92, 20, 0.70),
        row(
            partial,
            "group",
            "outreach",
            140,
            12,
            0.6,
            **effect(
                [0.05, -0.10, 0.20, 0.4, -1.0, 0.9, 7.0, 1400.0, 700.0, 1.0, -2.0, 4.0], False, 1200, True
            ),
        ),
        row(partial, "group", "control", 16, 2, 0.6),
    ]
    return pd.DataFrame(rows)


def page_text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#39;", "'").replace("&amp;", "&")


def settings_with_costs() -> Settings:
    return Settings(report={"currency": CURRENCY, "acquisition_cost": COSTS}, outreach={"capacity": 200})


def write_measured(dataset: Dataset, risk_dir: Path, outcomes_dir: Path) -> None:
    """A risk list whose summary.json says drift = alert in ``risk_dir``, outcomes.parquet in ``outcomes_dir``."""
    ids = dataset.customers["customer_id"].to_numpy()
    folder = write_risk_list(synthetic_risk_list(ids, "2026-10-31"), risk_dir, "2026-10-31").parent
    summary = json.loads((folder / "summary.json").read_text())
    (folder / "summary.json").write_text(json.dumps({**summary, "drift": DRIFT}), encoding="utf-8")
    outcome_rows().to_parquet(outcomes_dir / "outcomes.parquet")


@pytest.fixture(scope="module")
def measured(sample_dataset: Dataset, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(risk list folder, outcomes folder) as :func:`write_measured` fills them."""
    risk_dir, outcomes_dir = tmp_path_factory.mktemp("risk_lists"), tmp_path_factory.mktemp("outcomes")
    write_measured(sample_dataset, risk_dir, outcomes_dir)
    return risk_dir, outcomes_dir


def build_outcomes_report(dataset: Dataset, risk_dir: Path, outcomes_dir: Path, out: Path) -> ReportResult:
    """The sample report with measured past lists, drift and CLV:CAC: what the browser test opens too."""
    return build_report(dataset, settings_with_costs(), out, risk_dir, CHAMPION, outcomes_dir=outcomes_dir)


@pytest.fixture(scope="module")
def outcomes_report(sample_dataset, measured, tmp_path_factory) -> ReportResult:
    return build_outcomes_report(sample_dataset, *measured, tmp_path_factory.mktemp("reports"))


@pytest.fixture(scope="module")
def text(outcomes_report: ReportResult) -> str:
    return page_text(outcomes_report.html_path.read_text(encoding="utf-8"))


def test_measured_lists_with_partial_marking(text: str) -> None:
    assert "Did it work?" in text
    # The history table: both lists, newest first, the partial one with its days.
    history = text[text.index("Measured lists") :]
    assert history.index("2026-09-30") < history.index("2026-06-30")
    assert "Partial: 31 of 90 days" in history and "Closed" in history
    assert "Partial lists are still inside their horizon" in history
    assert "churnguard-churn v3" in history and "0.702" in history
    # The newest closed list is the one shown in detail.
    assert "Risk list of 2026-06-30" in text and "Risk list of 2026-09-30" not in text


def test_predicted_against_realised_by_tier(outcomes_report: ReportResult, text: str) -> None:
    # Critical: 60 of 90 left = 66.7% realised against 71.0% predicted.
    assert re.search(r"Critical 90 71\.0% 66\.7% 60", text)
    assert "540 left: 30.0% against 28.0% predicted" in text
    assert "ROC AUC 0.781" in text and "lift in the riskiest 10% 2.4x" in text
    html = outcomes_report.html_path.read_text(encoding="utf-8")
    assert 'alt="Predicted and realised churn per tier"' in html


def test_outreach_against_control_with_its_interval(text: str) -> None:
    assert "Outreach against control (randomised)" in text
    assert "+23.7 pts" in text and "95% interval +1.2 pts to +45.1 pts" in text
    assert "29.6%" in text and "53.3%" in text  # the two churn rates
    assert "Conclusive: the interval lies above zero" in text
    assert METHOD in text
    # Money: contact cost against value retained, and the return with its interval.
    assert "675 EUR" in text and "6,400 EUR" in text and "5,725 EUR" in text
    assert "+848%" in text and "95% interval +20% to +1,610%" in text


def test_contacted_comparison_is_labelled_not_randomised(text: str) -> None:
    heading = "Contacted customers against control: not randomised, may be biased"
    assert heading in text
    contacted = text[text.index(heading) :]
    assert "not decided by chance" in contacted
    assert "+28.3 pts" in contacted and "95% interval -2.0 pts to +55.0 pts" in contacted
    assert "too few customers to tell; about 96 per group would be needed" in contacted


def test_drift_alert_with_its_top_feature(outcomes_report: ReportResult, text: str) -> None:
    html = outcomes_report.html_path.read_text(encoding="utf-8")
    assert '<span class="status alert">Alert</span>' in html
    drift = text[text.index("Drift: is the data still like the training data?") :]
    assert "The data has moved far from what the model was trained on (PSI of 0.25 or more)" in drift
    assert "Score PSI 0.312" in drift
    assert "Purchases in the last 90 days purchases_90d 0.871 31.0%" in drift
    assert "Region attr_region 0.040 – 2.0% 1.0% 1.5%" in drift


def test_clv_cac_ratios_on_the_page(
    sample_dataset: Dataset, outcomes_report: ReportResult, text: str
) -> None:
    # The same figures from the CSV the report wrote, and worked out here from the definition.
    channels = pd.read_csv(outcomes_report.csv_paths["clv_cac_channel"]).set_index("channel")
    margin = Settings().value.margin
    acquired = kpis.acquired_customers(
        sample_dataset.customers, sample_dataset.transactions, "channel", margin
    )
    web = acquired[acquired["channel"] == "web"]
    assert channels.loc["web", "ratio"] == pytest.approx(web["value"].sum() / (30.0 * len(web)))
    ratio = f"{channels.loc['web', 'ratio']:.1f}:1"
    assert re.search(rf"web {len(web):,} [\d,]+ EUR 30 EUR {re.escape(ratio)}", text)
    assert "Customer value against acquisition cost (CLV:CAC)" in text
    assert "No CAC configured for" in text and "store" in text and "marketplace" in text
    assert "tv (not found)" in text
    assert "Per signup quarter" in text


def test_partial_list_shown_when_none_is_closed() -> None:
    rows = outcome_rows()
    partial = rows[rows["list_as_of"] == date(2026, 9, 30)].copy()
    partial["list_as_of"] = partial["list_as_of"].astype(str)
    partial["measured_as_of"] = partial["measured_as_of"].astype(str)
    assert outcomes_view.shown_list(partial) == "2026-09-30"
    detail = outcomes_view.list_detail(partial, CURRENCY)
    assert detail["partial"].startswith("Partial: 31 of 90 days of the horizon observed")
    assert detail["contacted"] is None and detail["experiment"]["tone"] == "open"
    assert "about 1,200 per group would be needed" in detail["experiment"]["verdict"]


def test_no_outcomes_says_how_to_measure(listed_content: ReportContent, tmp_path: Path) -> None:
    section = outcomes_view.outcomes_section(replace(listed_content, outcomes=None, outcomes_dir=tmp_path))
    assert "No risk list has been measured yet" in section["missing"]
    assert "churn outcomes --data DIR --risk-lists DIR --out DIR" in section["missing"]
    assert section["history"] is None
    # The sample list was scored without drift checks: said so, not left blank.
    assert "Drift was not measured for the list of 2026-10-31" in section["drift"]["missing"]


def test_no_outcomes_on_the_page(sample_dataset, sample_risk_lists, tmp_path: Path) -> None:
    content = compute_content(
        sample_dataset, Settings(), sample_risk_lists, None, outcomes_dir=tmp_path / "none"
    )
    assert content.outcomes is None
    from churnguard.reports.html import render_html

    text = page_text(render_html(content))
    assert "No risk list has been measured yet" in text and "`churn outcomes --data DIR" in text
    assert "No acquisition costs are configured" in text
