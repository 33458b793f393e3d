"""What the report's churn figures count, in words: the churn definition's phrases and the two churn
rates side by side.

The report shows two churn rates that are both true: the monthly rate of the headline (customers who
stop being active during a calendar month) and the horizon rate of the segments, the model and the
risk list (customers active at a cutoff who churn by the model's label within ``horizon_days``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from churnguard.reports.content import ReportContent
from churnguard.reports.markup import month_name, num, pct


def active_rule(c: ReportContent) -> str:
    """Who counts as active, as a sentence."""
    churn = c.settings.churn
    if churn.definition == "subscription":
        return (
            "a customer is active at a moment when they hold a subscription that has started and not ended."
        )
    return f"a customer is active at a moment when they bought at least once in the {churn.lookback_days} days before it."


def active_short(c: ReportContent) -> str:
    """Who counts as active, in brackets after a count: ``a purchase in the 365 days before``."""
    churn = c.settings.churn
    if churn.definition == "subscription":
        return "holding a running subscription"
    return f"a purchase in the {churn.lookback_days} days before"


def churned_after(c: ReportContent) -> str:
    """What churning within the horizon means, after "customers with": the model's label."""
    horizon = c.settings.churn.horizon_days
    if c.settings.churn.definition == "subscription":
        return f"no running subscription {horizon} days later"
    return f"no purchase in the {horizon} days after"


def churned_from_now(c: ReportContent) -> str:
    """What a churn probability is the chance of: ``no purchase in the next 90 days``."""
    horizon = c.settings.churn.horizon_days
    if c.settings.churn.definition == "subscription":
        return f"no running subscription {horizon} days from now"
    return f"no purchase in the next {horizon} days"


def horizon_rate(c: ReportContent) -> str:
    """Name of the churn rate the model predicts and the segment tables show, e.g. ``90-day churn rate``."""
    return f"{c.settings.churn.horizon_days}-day churn rate"


def churn_definitions(c: ReportContent) -> dict[str, Any]:
    """The report's two churn rates side by side: what each counts, over which period, of which customers.

    The monthly rate (headline) counts customers who stop being active during one calendar month; the
    horizon rate (segments, model, risk list) counts customers active at ``as_of - horizon`` who
    churned within the horizon by the model's label.
    """
    churn, monthly, horizon = c.settings.churn, c.tables["monthly_churn"], c.settings.churn.horizon_days
    cutoff = c.labelled_cutoff.date().isoformat()
    monthly_column = ["–", "headline; churn and retention chart and table", "–", "–", "one calendar month"]
    if len(monthly):
        last = monthly.iloc[-1]
        start = pd.Timestamp(f"{last['month']}-01")
        end = (start + pd.offsets.MonthBegin(1)).date().isoformat()
        gone = (
            "no running subscription"
            if churn.definition == "subscription"
            else f"no purchase in the {churn.lookback_days} days before it"
        )
        monthly_column[0] = f"{pct(last['churn_rate'])} in {month_name(last['month'])}"
        monthly_column[2] = f"the {num(last['active_at_start'])} active on {start.date()} ({active_short(c)})"
        monthly_column[3] = f"{num(last['lost'])} no longer active on {end}: {gone}"
    horizon_column = [
        "–",
        "churn by segment and NPS class; what the model predicts and the risk list ranks by",
        f"no customer was active on {cutoff}",
        "–",
        f"{horizon} days, the latest fully observed by the report date",
    ]
    if c.labelled_counts is not None:
        customers, churned = c.labelled_counts
        horizon_column[0] = f"{pct(c.overall_churn_at_cutoff)} from {cutoff}"
        horizon_column[2] = f"the {num(customers)} active on {cutoff} ({active_short(c)})"
        horizon_column[3] = f"{num(churned)} with {churned_after(c)}"
    rows = ["Value", "Shown in", "Customers", "Counted as churned", "Period"]
    if churn.definition == "subscription":
        why = (
            f"Why both are true: both count customers whose subscriptions have all ended; the {horizon}-day rate covers "
            f"{horizon} days instead of one month, on the customers of an earlier date, so it is higher."
        )
    else:
        why = (
            f"Why both are true: a customer counts in the monthly rate once {churn.lookback_days} days have "
            f"passed without a purchase, and only in the month that happens; the {horizon}-day rate counts "
            f"everyone who paused buying for {horizon} days, many of whom buy again later. The first "
            "measures customers gone for good, the second the early warning the model is trained on."
        )
    return {
        "table": {
            "head": ["", "Monthly churn rate", horizon_rate(c).capitalize()],
            "rows": [list(r) for r in zip(rows, monthly_column, horizon_column, strict=True)],
            "css": "defs",
        },
        "why": why,
    }
