"""Build the retention report: compute the content, render one HTML file, write the folder atomically.

``build_report`` is the one entry point for the CLI and the ``retention-report`` flow; it returns
paths and a small headline dict, never frames, so a flow can pass it between tasks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from churnguard.core.atomic import folder_lock, replace_folder
from churnguard.core.config import Settings
from churnguard.core.data.dataset import Dataset
from churnguard.reports.content import ReportContent, compute_content
from churnguard.reports.html import headline_cards, render_html


@dataclass
class ReportResult:
    """What :func:`build_report` wrote: the folder, ``report.html``, the CSV tables, the headline."""

    folder: Path
    html_path: Path
    csv_paths: dict[str, Path]
    headline: dict[str, Any]
    markdown: str


def markdown_summary(content: ReportContent, html_path: Path) -> str:
    """Headline numbers as markdown, for a Prefect artifact."""
    lines = [
        f"# Retention report, as of {content.headline['as_of']}",
        "",
        "| KPI | Value | |",
        "|---|---:|---|",
    ]
    cards = headline_cards(content.headline, content.settings.report.currency)
    lines += [f"| {label} | {value} | {note} |" for label, value, note, _ in cards]
    lines += ["", f"Report: `{html_path}`"]
    return "\n".join(lines) + "\n"


def build_report(
    dataset: Dataset,
    settings: Settings,
    out_dir: Path,
    risk_list_dir: Path | None = None,
    champion: dict | None = None,
    outcomes_dir: Path | None = None,
) -> ReportResult:
    """Compute the retention KPIs and write ``out_dir/as_of=YYYY-MM-DD/`` (report.html + CSV tables).

    Args:
        dataset: validated data as of the report date.
        settings: churn definition, report months, outreach economics, margin.
        out_dir: reports folder; the dated folder inside it is replaced atomically.
        risk_list_dir: where risk lists live (default ``settings.paths.risk_lists``); the list for
            ``as_of``, or the latest one before it, is used.
        champion: ``{"model_name", "version", "trained_at", "as_of", "metrics": {...}}`` or ``None``.
        outcomes_dir: where ``churn outcomes`` wrote ``outcomes.parquet`` (default
            ``settings.paths.outcomes``); without one, "Did it work?" says how to measure past lists.

    Returns:
        Paths written, headline numbers and a markdown summary.
    """
    content = compute_content(dataset, settings, risk_list_dir, champion, outcomes_dir)
    folder = Path(out_dir) / f"as_of={content.headline['as_of']}"
    names = sorted(content.tables)

    def fill(tmp: Path) -> None:
        (tmp / "report.html").write_text(render_html(content), encoding="utf-8")
        for name in names:
            content.tables[name].to_csv(tmp / f"{name}.csv", index=False)
        summary = {
            "headline": content.headline,
            "currency": content.settings.report.currency,
            "fingerprint": content.fingerprint,
            "generated_at": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
        }
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")

    with folder_lock(folder):  # two reports for one date take turns
        replace_folder(folder, fill)
    html_path = folder / "report.html"
    return ReportResult(
        folder=folder,
        html_path=html_path,
        csv_paths={name: folder / f"{name}.csv" for name in names},
        headline=content.headline,
        markdown=markdown_summary(content, html_path),
    )
