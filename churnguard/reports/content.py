"""Compute everything the report shows for one ``as_of``: KPI tables, the risk list summary, the headline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from churnguard.core.config import RISK_TIERS, Settings
from churnguard.core.data.dataset import Dataset
from churnguard.features.build import active_customers, discover_spec, frame_by_cutoffs
from churnguard.features.source import FeatureSource, source_from_dataset
from churnguard.reports import drift_view, kpis, outcomes_view, risklist

DAY = pd.Timedelta(days=1)


@dataclass
class RiskSection:
    """The risk list the report read and what it says."""

    path: Path
    as_of: str
    tiers: pd.DataFrame
    reasons: pd.DataFrame
    groups: pd.DataFrame
    profit: dict[str, Any]
    curve: pd.DataFrame
    model: str | None
    drift: dict | None = None  # the list's summary.json "drift"; None: not measured for this list


@dataclass
class ReportContent:
    """Everything the HTML shows; tables are the CSV files too."""

    as_of: pd.Timestamp
    fingerprint: str
    settings: Settings
    tables: dict[str, pd.DataFrame]
    headline: dict[str, Any]
    labelled_cutoff: pd.Timestamp
    overall_churn_at_cutoff: float | None
    labelled_counts: tuple[int, int] | None  # (customers active at the cutoff, of whom churned)
    risk: RiskSection | None
    champion: dict | None
    notes: list[str] = field(default_factory=list)
    outcomes: pd.DataFrame | None = None  # outcomes.parquet of past lists; None: none measured yet
    outcomes_dir: Path | None = None
    signup_cohorts: bool = True  # CLV:CAC cohorts by signup quarter (else by first-purchase quarter)


def labelled_customers(
    dataset: Dataset, settings: Settings, source: FeatureSource
) -> tuple[pd.DataFrame | None, pd.Timestamp]:
    """Features and churn labels at the last fully observed cutoff, ``as_of - horizon`` (whole day).

    Returns ``(None, cutoff)`` when the data has no purchase before that cutoff.
    """
    cutoff = (dataset.as_of - settings.churn.horizon_days * DAY).floor("D")
    if dataset.transactions["ts"].min() >= cutoff:
        return None, cutoff
    frame = frame_by_cutoffs(source, [cutoff], settings, discover_spec(source), with_labels=True)
    return (frame if len(frame) else None), cutoff


def read_risk_section(path: Path, settings: Settings) -> RiskSection:
    """Summarise one risk list file."""
    frame = pd.read_parquet(path)
    profit, curve = risklist.expected_profit(frame, settings.outreach)
    model = None
    if len(frame) and {"model_name", "model_version"} <= set(frame.columns):
        model = f"{frame['model_name'].iloc[0]} v{frame['model_version'].iloc[0]}"
    return RiskSection(
        path=path,
        as_of=path.parent.name.removeprefix("as_of="),
        tiers=risklist.tier_summary(frame),
        reasons=risklist.top_reasons(frame),
        groups=risklist.outreach_groups(frame),
        profit=profit,
        curve=curve,
        model=model,
        drift=drift_view.read_drift(path.parent / "summary.json"),
    )


def compute_content(
    dataset: Dataset,
    settings: Settings,
    risk_list_dir: Path | None = None,
    champion: dict | None = None,
    outcomes_dir: Path | None = None,
) -> ReportContent:
    """Every KPI of the report for ``dataset.as_of``; see :mod:`churnguard.reports.kpis`.

    ``outcomes_dir`` (default ``settings.paths.outcomes``) holds ``outcomes.parquet`` of past lists.
    """
    source = source_from_dataset(dataset, settings.features)
    try:
        content = _content(dataset, settings, source, risk_list_dir, champion)
    finally:
        source.backend.disconnect()
    content.outcomes_dir = Path(outcomes_dir or settings.paths.outcomes)
    content.outcomes = outcomes_view.read_outcomes(content.outcomes_dir)
    acquired = acquired_customers(dataset, settings)
    if acquired is not None:
        costs = settings.report.acquisition_cost
        content.tables["clv_cac_channel"] = kpis.clv_cac(acquired, costs, "channel")
        content.tables["clv_cac_cohort"] = kpis.clv_cac(acquired, costs, "cohort")
        content.signup_cohorts = "signup_ts" in dataset.customers.columns
    return content


def acquired_customers(dataset: Dataset, settings: Settings) -> pd.DataFrame | None:
    """:func:`kpis.acquired_customers` of the data, or ``None`` without CAC or without a channel column.

    The channel is read from the customers table, else from the columns kept for the risk list
    (``scoring.carry_columns``) when screening left it out of the model's attributes.
    """
    column = settings.report.acquisition_channel
    if not settings.report.acquisition_cost:
        return None
    customers = dataset.customers
    if column not in customers.columns:
        carry = dataset.carry
        if carry is None or column not in carry.columns:
            return None
        customers = customers.merge(carry[["customer_id", column]], on="customer_id", how="left")
    return kpis.acquired_customers(customers, dataset.transactions, column, settings.value.margin)


def _content(
    dataset: Dataset,
    settings: Settings,
    source: FeatureSource,
    risk_list_dir: Path | None,
    champion: dict | None,
) -> ReportContent:
    as_of, churn, months = dataset.as_of, settings.churn, settings.report.months
    tx = dataset.transactions

    def active_at(moments: Sequence[pd.Timestamp]) -> pd.DataFrame:
        return active_customers(source, moments, settings)

    tables = {
        "monthly_churn": kpis.monthly_churn(tx, as_of, months, churn, active_at),
        "cohort_retention": kpis.cohort_retention(tx, as_of, months),
        "cohort_value": kpis.cohort_value(tx, as_of, months, settings.value.margin),
        "revenue_retention": kpis.revenue_retention(tx, as_of, active_at),
        "nps_by_month": kpis.nps_by_month(dataset.events, as_of, months),
    }
    notes = []
    labelled, cutoff = labelled_customers(dataset, settings, source)
    overall, counts = None, None
    if labelled is None:
        notes.append(f"No customers were active on {cutoff.date()}: churn by segment is not available yet.")
    else:
        overall = float(labelled["churned"].mean() * 100)
        counts = (len(labelled), int(labelled["churned"].sum()))
        tables["churn_by_segment"] = kpis.segment_churn(labelled)
        if "nps_class" in labelled.columns:
            order = ["promoter", "passive", "detractor", "none"]
            tables["churn_by_nps_class"] = kpis.churn_by(labelled, "nps_class", order)

    found = risklist.find_risk_list(Path(risk_list_dir or settings.paths.risk_lists), as_of.date())
    risk = read_risk_section(found, settings) if found else None
    if risk is not None:
        tables.update(
            risk_tiers=risk.tiers,
            top_reasons=risk.reasons,
            outreach_groups=risk.groups,
            profit_curve=risk.curve,
        )
    active_now = len(active_at([as_of]))
    return ReportContent(
        as_of=as_of,
        fingerprint=dataset.fingerprint,
        settings=settings,
        tables=tables,
        headline=headline_numbers(as_of, tables, int(active_now), risk),
        labelled_cutoff=cutoff,
        overall_churn_at_cutoff=overall,
        labelled_counts=counts,
        risk=risk,
        champion=champion,
        notes=notes,
    )


def headline_numbers(
    as_of: pd.Timestamp, tables: dict[str, pd.DataFrame], active_now: int, risk: RiskSection | None
) -> dict[str, Any]:
    """The numbers of the headline band, JSON-ready (``None`` when unknown)."""
    monthly = tables["monthly_churn"]
    last = monthly.iloc[-1] if len(monthly) else None
    previous = monthly.iloc[-2] if len(monthly) > 1 else None
    nps = tables["nps_by_month"]
    enough = nps[nps["responses"] >= kpis.MIN_NPS_RESPONSES]
    latest = (enough if len(enough) else nps).iloc[-1] if len(nps) else None
    revenue = tables["revenue_retention"].iloc[0]
    out: dict[str, Any] = {
        "as_of": as_of.date().isoformat(),
        "month": last["month"] if last is not None else None,
        "churn_rate": _number(last["churn_rate"]) if last is not None else None,
        "churn_rate_change": None,
        "retention_rate": _number(last["retention_rate"]) if last is not None else None,
        "active_customers": active_now,
        "value_at_risk": None,
        "value_at_risk_high": None,
        "risk_list_as_of": None,
        "nps": _number(latest["nps"]) if latest is not None else None,
        "nps_month": latest["month"] if latest is not None else None,
        "nps_responses": int(latest["responses"]) if latest is not None else None,
        "revenue_retention": _number(revenue["revenue_retention"]),
    }
    if previous is not None:
        out["churn_rate_change"] = _number(last["churn_rate"] - previous["churn_rate"])
    if risk is not None:
        tiers = risk.tiers.set_index("tier")["value_at_risk"]
        out["value_at_risk"] = float(tiers.sum())
        out["value_at_risk_high"] = float(tiers.reindex(RISK_TIERS[:2]).fillna(0).sum())
        out["risk_list_as_of"] = risk.as_of
    return out


def _number(value: Any) -> float | None:
    return None if pd.isna(value) else float(value)
