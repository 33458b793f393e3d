"""Customer value against what winning a customer cost: CLV:CAC per acquisition channel and signup cohort.

The arithmetic is :func:`churnguard.reports.kpis.clv_cac`; here it becomes the tables and notes of the
``clv`` block of ``templates/report.html.j2``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from churnguard.core.config import did_you_mean
from churnguard.reports.kpis import RULE_OF_THUMB
from churnguard.reports.markup import in_currency, num, table

if TYPE_CHECKING:
    from churnguard.reports.content import ReportContent

Section = dict[str, Any]
NO_CAC = "no CAC configured"


def ratio_text(ratio: Any) -> str:
    """``3.24`` -> ``3.2:1``; no ratio -> ``–``."""
    return "–" if ratio is None or pd.isna(ratio) else f"{ratio:.1f}:1"


def ratio_mark(ratio: Any) -> str:
    """The ratio against the 3:1 rule of thumb, in words."""
    if ratio is None or pd.isna(ratio):
        return NO_CAC
    if ratio >= RULE_OF_THUMB:
        return f"✓ {RULE_OF_THUMB:.0f}:1 or better"
    if ratio >= 1:
        return f"below {RULE_OF_THUMB:.0f}:1"
    return "below 1:1: cost more than earned so far"


def clv_section(c: ReportContent) -> Section:
    """CLV:CAC tables per channel and cohort with their notes, or one line on how to configure them."""
    report = c.settings.report
    column, costs = report.acquisition_channel, report.acquisition_cost
    example = "report: {acquisition_cost: {web: 35, app: 22}}"
    if not costs:
        return {
            "missing": "No acquisition costs are configured. Set report.acquisition_cost to what winning one "
            f"customer costs in each channel (for example `{example}`) to set customer value against it."
        }
    if "clv_cac_channel" not in c.tables:
        return {
            "missing": f"The customers table has no column '{column}' (report.acquisition_channel) naming each "
            "customer's acquisition channel, so CLV:CAC cannot be shown. Add that column to the customers "
            "file, or set report.acquisition_channel to the column that holds it."
        }
    channels, cohorts = c.tables["clv_cac_channel"], c.tables["clv_cac_cohort"]
    cash = in_currency(report.currency)
    cohort_basis = "signup" if c.signup_cohorts else "first purchase"
    columns = [
        ("customers", "Customers", num),
        ("clv", "CLV (value per customer to date)", cash),
        ("cac", "CAC", lambda v: NO_CAC if pd.isna(v) else cash(v)),
        ("ratio", "CLV:CAC", ratio_text),
        ("ratio", f"Against {RULE_OF_THUMB:.0f}:1", ratio_mark),
    ]
    notes = []
    uncosted = channels[channels["cac"].isna()]
    if len(uncosted):
        names = ", ".join(
            f"{ch} ({n:,} customer{'s' if n != 1 else ''})"
            for ch, n in zip(uncosted["channel"], uncosted["customers"], strict=True)
        )
        notes.append(
            f"No CAC configured for {names}: add them to report.acquisition_cost to see their ratio. "
            f"They are left out of the table per {cohort_basis} quarter."
        )
    present = list(channels["channel"])
    absent = [name for name in costs if name not in present]
    if absent:
        notes.append(
            "report.acquisition_cost names channels with no customers in the data: "
            + "; ".join(f"{name} ({did_you_mean(name, present).strip() or 'not found'})" for name in absent)
            + f". Check them against the '{column}' column of the customers table."
        )
    costed = channels[channels["cac"].notna()]
    overall = costed["value"].sum() / costed["acquisition_cost"].sum() if len(costed) else None
    return {
        "missing": None,
        "explain": "CLV here is historical customer value: the net revenue each customer has brought since "
        f"joining (refunds subtracted) × margin ({c.settings.value.margin:.0%}), the value per customer of "
        "the cohort table, counted over every customer acquired (one who never bought counts as 0). CAC is what "
        f"winning one customer costs in their channel (report.acquisition_cost, from the '{column}' column). "
        f"CLV:CAC = CLV ÷ CAC; about {RULE_OF_THUMB:.0f}:1 is the usual rule of thumb. Young cohorts have had "
        "less time to buy, so their ratio still grows.",
        "stats": [
            ("CLV:CAC, all customers with a CAC", ratio_text(overall)),
            ("Customers with a CAC", num(costed["customers"].sum())),
            ("Their acquisition cost", cash(costed["acquisition_cost"].sum())),
            ("Their value to date", cash(costed["value"].sum())),
        ],
        "channels": table(channels, [("channel", "Channel", str), *columns]),
        "cohort_title": f"Per {cohort_basis} quarter (customers whose channel has a CAC)",
        "cohorts": table(cohorts, [("cohort", "Cohort", str), *columns]) if len(cohorts) else None,
        "notes": notes,
    }
