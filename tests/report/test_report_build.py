"""The report builder end to end on generated data, and its atomic folder swap."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from churnguard.core.atomic import replace_folder
from churnguard.core.config import Settings
from churnguard.features.build import build_features
from churnguard.features.source import source_from_dataset
from churnguard.reports import content, kpis, sections
from churnguard.reports.build import ReportResult, build_report
from churnguard.reports.html import render_html
from tests.report.conftest import CHAMPION


def test_replace_folder_swaps_in_the_new_content(tmp_path: Path) -> None:
    target = tmp_path / "as_of=2026-10-31"
    target.mkdir()
    (target / "old.txt").write_text("old")
    replace_folder(target, lambda tmp: (tmp / "new.txt").write_text("new"))
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["as_of=2026-10-31"]  # nothing left beside it


def test_failure_mid_build_leaves_the_previous_folder_untouched(tmp_path: Path) -> None:
    target = tmp_path / "as_of=2026-10-31"
    target.mkdir()
    (target / "report.html").write_text("previous report")

    def half_written(tmp: Path) -> None:
        (tmp / "report.html").write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        replace_folder(target, half_written)
    assert (target / "report.html").read_text() == "previous report"
    assert [p.name for p in tmp_path.iterdir()] == ["as_of=2026-10-31"]


def test_report_files_and_headline(sample_report) -> None:
    folder = sample_report.folder
    assert folder.name == "as_of=2026-10-31"
    assert sample_report.html_path == folder / "report.html"
    expected = {
        "monthly_churn",
        "cohort_retention",
        "cohort_value",
        "revenue_retention",
        "nps_by_month",
        "churn_by_segment",
        "churn_by_nps_class",
        "risk_tiers",
        "top_reasons",
        "outreach_groups",
        "profit_curve",
    }
    assert set(sample_report.csv_paths) == expected
    assert all(path.is_file() for path in sample_report.csv_paths.values())

    monthly = pd.read_csv(sample_report.csv_paths["monthly_churn"])
    assert len(monthly) == 23  # 36 months of data; the first month lacks 365 days of history
    last = monthly.iloc[-1]
    headline = sample_report.headline
    assert (headline["month"], headline["churn_rate"]) == ("2026-09", pytest.approx(last["churn_rate"]))
    assert last["churn_rate"] == pytest.approx(last["lost"] / last["active_at_start"] * 100)
    assert headline["retention_rate"] == pytest.approx(100 - headline["churn_rate"])
    tiers = pd.read_csv(sample_report.csv_paths["risk_tiers"])
    assert headline["value_at_risk"] == pytest.approx(tiers["value_at_risk"].sum())
    assert headline["risk_list_as_of"] == "2026-10-31"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["headline"] == headline
    assert "| Monthly churn rate · Sep 2026 |" in sample_report.markdown


def test_report_is_one_self_contained_file(sample_report) -> None:
    page = sample_report.html_path.read_text(encoding="utf-8")
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["'](https?:|//)""", page)
    assert "@import" not in page and "url(" not in page
    assert page.count('src="data:image/png;base64,') == 6  # churn, cohorts, NPS, segments, tiers, profit
    assert "100 customers active at the start of July, 10 of them lost" in page
    assert "churnguard-churn v3" in page and "Ranking quality (ROC AUC)" in page


@pytest.fixture(scope="module")
def bare_report(sample_dataset, tmp_path_factory: pytest.TempPathFactory) -> ReportResult:
    """The sample report without a risk list or a champion."""
    base = tmp_path_factory.mktemp("bare")
    return build_report(sample_dataset, Settings(), base / "reports", base / "no_lists", None)


def test_without_risk_list_or_champion_the_sections_say_so(bare_report) -> None:
    page = bare_report.html_path.read_text(encoding="utf-8")
    assert "No risk list dated on or before 2026-10-31 was found" in page
    assert "No model is registered yet" in page
    assert bare_report.headline["value_at_risk"] is None
    assert "risk_tiers" not in bare_report.csv_paths


def test_an_older_risk_list_is_used_and_named(sample_dataset, tmp_path: Path, risk_list) -> None:
    folder = tmp_path / "lists" / "as_of=2026-09-30"
    folder.mkdir(parents=True)
    risk_list(sample_dataset.customers["customer_id"].to_numpy()[:300], "2026-09-30").to_parquet(
        folder / "risk_list.parquet"
    )
    result = build_report(sample_dataset, Settings(), tmp_path / "reports", tmp_path / "lists")
    page = result.html_path.read_text(encoding="utf-8")
    assert "Risk list of 2026-09-30 (the latest one before the report date)" in page
    assert result.headline["risk_list_as_of"] == "2026-09-30"


def test_failed_build_keeps_the_previous_report(
    sample_dataset, bare_report, tmp_path: Path, monkeypatch
) -> None:
    reports = tmp_path / "reports"
    previous = reports / bare_report.folder.name
    shutil.copytree(bare_report.folder, previous)
    before = {p.name: p.read_bytes() for p in previous.iterdir()}

    real_to_csv, written = pd.DataFrame.to_csv, []

    def fails_on_third_table(frame, path, *args, **kwargs):
        if len(written) == 2:  # report.html and two tables are already in the new folder
            raise OSError("disk full")
        written.append(path)
        return real_to_csv(frame, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", fails_on_third_table)
    with pytest.raises(OSError, match="disk full"):
        build_report(sample_dataset, Settings(), reports, tmp_path / "no_lists")
    assert {p.name: p.read_bytes() for p in previous.iterdir()} == before
    assert [p.name for p in reports.iterdir()] == [previous.name]  # no temporary folder left


def test_labelled_cutoff_is_as_of_minus_horizon(sample_dataset) -> None:
    source = source_from_dataset(sample_dataset, Settings().features)
    labelled, cutoff = content.labelled_customers(sample_dataset, Settings(), source)
    assert cutoff == pd.Timestamp("2026-08-02", tz="UTC")  # 2026-10-31 - 90 days
    assert labelled is not None and set(labelled["churned"].unique()) <= {0, 1}


@pytest.mark.parametrize("definition", ["inactivity", "subscription"])
def test_the_reports_active_customers_are_the_populations_the_features_describe(
    sample_dataset, definition: str, tmp_path: Path
) -> None:
    settings = Settings(churn={"definition": definition})
    computed = content.compute_content(sample_dataset, settings, tmp_path / "no_lists")
    source = source_from_dataset(sample_dataset, settings.features)
    as_of = sample_dataset.as_of
    last_month = kpis.complete_months(as_of, 1)[0]
    for moment, reported in (
        (kpis.month_start(last_month), computed.tables["monthly_churn"]["active_at_start"].iloc[-1]),
        (kpis.month_start(last_month + 1), computed.tables["monthly_churn"]["active_at_end"].iloc[-1]),
        (as_of, computed.headline["active_customers"]),
    ):
        assert reported == len(build_features(source, moment, settings)) > 0, (definition, moment)


@pytest.fixture(scope="module")
def sample_content(sample_dataset, tmp_path_factory: pytest.TempPathFactory) -> content.ReportContent:
    return content.compute_content(sample_dataset, Settings(), tmp_path_factory.mktemp("no_lists"), CHAMPION)


def test_sections_are_data_the_template_shows(sample_content) -> None:
    churn = sections.churn_section(sample_content)
    monthly = sample_content.tables["monthly_churn"]
    assert churn["table"]["head"][:2] == ["Month", "Active at start"]
    assert len(churn["table"]["rows"]) == len(monthly)
    assert churn["table"]["rows"][0][0] == "Sep 2026"  # newest month first
    assert churn["table"]["rows"][0][1] == f"{monthly['active_at_start'].iloc[-1]:,}"
    tiles = {t["label"]: t["value"] for t in sections.model_section(sample_content)["tiles"]}
    assert tiles["Ranking quality (ROC AUC)"] == "0.812"
    assert sections.risk_section(sample_content)["missing"].startswith("No risk list dated on or before")


def test_the_template_escapes_every_value(sample_content) -> None:
    hostile = "<script>alert('x')</script>"
    tables = dict(sample_content.tables)
    tables["churn_by_segment"] = tables["churn_by_segment"].assign(segment=hostile)
    page = render_html(replace(sample_content, tables=tables))
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
