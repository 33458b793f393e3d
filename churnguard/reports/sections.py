"""The report's sections as data: each function turns the computed content into the plain values
(formatted text, tables, charts) its block in ``templates/report.html.j2`` shows.

No markup here: the template holds it and escapes every value, so a section can be tested by
looking at its dict.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from churnguard.models.metrics import describe_measure
from churnguard.reports import charts, kpis
from churnguard.reports.content import ReportContent
from churnguard.reports.markup import chart, month_name, num, pct, table, when

GROUP_NAMES = {"outreach": "Outreach", "control": "Control (not contacted)", "none": "Not selected"}
Section = dict[str, Any]


def _active_rule(c: ReportContent) -> str:
    churn = c.settings.churn
    if churn.definition == "subscription":
        return (
            "a customer is active at a moment when they hold a subscription that has started and not ended."
        )
    return f"a customer is active at a moment when they bought at least once in the {churn.lookback_days} days before it."


def churn_section(c: ReportContent) -> Section:
    monthly = c.tables["monthly_churn"]
    lookback, months = c.settings.churn.lookback_days, c.settings.report.months
    section: Section = {
        "definition": c.settings.churn.definition,
        "active_rule": _active_rule(c),
        "chart": None,
        "no_history": f"Not enough history yet: a month is shown once {lookback} days of purchases "
        "before its start are in the data.",
    }
    if monthly.empty:
        return section
    section["chart"] = chart(charts.churn_retention_chart(monthly), "Churn and retention rate per month")
    section["shown_note"] = (
        f"{len(monthly)} of {months} months shown: earlier months start less than {lookback} days after the "
        "first purchase in the data, so who was active then is not known."
        if len(monthly) < months
        else None
    )
    section["table"] = table(
        monthly.iloc[::-1],
        [
            ("month", "Month", month_name),
            ("active_at_start", "Active at start", num),
            ("lost", "Lost", num),
            ("active_at_end", "Active at end", num),
            ("churn_rate", "Churn rate", pct),
            ("retention_rate", "Retention rate", pct),
        ],
    )
    return section


def cohort_section(c: ReportContent) -> Section:
    cohorts, values = c.tables["cohort_retention"], c.tables["cohort_value"]
    everyone = values.iloc[-1]
    return {
        "explain": "Customers are grouped by the month of their first purchase. Each cell is the share of the "
        "group that bought in the month N months later; read a row left to right to see a cohort age. "
        f"Figures below cover all customers to date; value = net revenue × margin ({c.settings.value.margin:.0%}).",
        "stats": [
            ("Repeat purchase rate", pct(everyone["repeat_purchase_rate"])),
            ("Average order value", num(everyone["average_order_value"], 2)),
            ("Orders per customer", num(everyone["purchase_frequency"], 2)),
            ("Historical value per customer", num(everyone["historical_value"], 2)),
        ],
        "chart": chart(charts.cohort_heatmap(cohorts), "Cohort retention heatmap")
        if cohorts["customers"].sum() > 0
        else None,
        "table": table(
            values,
            [
                ("cohort", "Cohort", str),
                ("customers", "Customers", num),
                ("orders", "Orders", num),
                ("repeat_purchase_rate", "Repeat purchase rate", pct),
                ("average_order_value", "Avg order value", lambda v: num(v, 2)),
                ("purchase_frequency", "Orders / customer", lambda v: num(v, 2)),
                ("revenue_per_customer", "Revenue / customer", lambda v: num(v, 2)),
                ("historical_value", "Value / customer", lambda v: num(v, 2)),
            ],
        ),
    }


def revenue_section(c: ReportContent) -> Section:
    r = c.tables["revenue_retention"].iloc[0]
    return {
        "stats": [
            ("Revenue retention", pct(r["revenue_retention"])),
            (f"Active on {r['year_ago']}", num(r["customers_active_year_ago"])),
            ("Of whom still buying", num(r["still_buying"])),
            ("Their revenue, prior 12 months", num(r["revenue_before"])),
            ("Their revenue, last 12 months", num(r["revenue_after"])),
        ],
        "explain": "Net revenue in the last 365 days from the customers who were active a year ago, divided "
        "by their net revenue in the 365 days before that. Above 100% the customers kept spend more than "
        "they did.",
    }


def _cutoff_text(c: ReportContent) -> str:
    return (
        f"customers active on {c.labelled_cutoff.date()}, churned within {c.settings.churn.horizon_days} days"
    )


def _churn_table(frame, title: str, css: str = "") -> dict:
    columns = [
        ("segment", title, str),
        ("customers", "Customers", num),
        ("churned", "Churned", num),
        ("churn_rate", "Churn rate", pct),
    ]
    if "dimension" in frame.columns:
        columns.insert(0, ("dimension", "Dimension", str))
    return table(frame, columns, css)


def nps_section(c: ReportContent) -> Section:
    nps = c.tables["nps_by_month"]
    if nps.empty:
        return {"chart": None}
    by_class = c.tables.get("churn_by_nps_class")
    return {
        "chart": chart(charts.nps_chart(nps, kpis.MIN_NPS_RESPONSES), "NPS per month"),
        "cutoff_text": _cutoff_text(c),
        "by_class": _churn_table(by_class, "NPS class", "narrow") if by_class is not None else None,
    }


def segment_section(c: ReportContent) -> Section:
    if "churn_by_segment" not in c.tables:
        return {"table": None, "notes": c.notes}
    segments = c.tables["churn_by_segment"]
    return {
        "intro": f"The last fully observed period: {_cutoff_text(c)} (overall "
        f"{pct(c.overall_churn_at_cutoff)}). RFM segments follow the feature rules.",
        "chart": chart(charts.segment_chart(segments, c.overall_churn_at_cutoff), "Churn rate by segment"),
        "table": _churn_table(segments, "Segment"),
    }


def risk_section(c: ReportContent) -> Section:
    risk = c.risk
    if risk is None:
        return {
            "missing": f"No risk list dated on or before {c.headline['as_of']} was found: "
            "run `churn score` to produce one."
        }
    used = "" if risk.as_of == c.headline["as_of"] else " (the latest one before the report date)"
    p = risk.profit
    plan = (
        f"Ordered by {p['ordered_by'].replace('_', ' ')}, contacting the top {p['best_contact_count']:,} of "
        f"{p['list_size']:,} customers maximises expected profit at {num(p['best_profit'])} (cost "
        f"{num(p['cost_per_contact'], 2)} per contact, {p['save_rate']:.0%} of contacted churners kept). "
        f"Contacting everyone would give {num(p['contact_all_profit'])}."
    )
    if "profit_at_capacity" in p:
        plan += f" At the team's capacity of {p['capacity']:,} contacts: {num(p['profit_at_capacity'])}."
    return {
        "missing": None,
        "intro": f"Risk list of {risk.as_of}{used}, scored by {risk.model or 'an unnamed model'}.",
        "tier_chart": chart(charts.value_at_risk_chart(risk.tiers), "Value at risk per tier"),
        "tiers": table(
            risk.tiers,
            [
                ("tier", "Tier", str.capitalize),
                ("customers", "Customers", num),
                ("share", "Share", pct),
                ("mean_probability", "Mean probability", lambda v: num(v, 2)),
                ("value_at_risk", "Value at risk", num),
            ],
        ),
        "plan": plan,
        "profit_chart": chart(charts.profit_chart(risk.curve, p), "Expected profit curve"),
        "groups": table(
            risk.groups,
            [
                ("group", "Group", lambda g: GROUP_NAMES.get(g, g)),
                ("customers", "Customers", num),
                ("value_at_risk", "Value at risk", num),
            ],
            "narrow",
        ),
        "reasons": table(
            risk.reasons,
            [
                ("reason", "Reason (N = the customer's number)", str),
                ("customers", "Customers", num),
                ("main_reason", "As main reason", num),
                ("share", "Share of list", pct),
            ],
        ),
    }


def model_section(c: ReportContent) -> Section:
    champion = c.champion
    if not champion:
        return {"missing": "No model is registered yet: run `churn train` first."}
    metrics = champion.get("metrics") or {}
    return {
        "missing": None,
        "intro": f"Champion {champion.get('model_name', '?')} v{champion.get('version', '?')}, trained "
        f"{when(champion.get('trained_at'))} on data as of {when(champion.get('as_of'))}. Its test metrics:",
        "stats": [describe_measure(k, v) for k, v in metrics.items() if isinstance(v, int | float)],
    }


def about_section(c: ReportContent) -> Section:
    churn = c.settings.churn
    return {
        "rows": [
            ("Report date (as_of)", c.headline["as_of"]),
            ("Data fingerprint", c.fingerprint),
            (
                "Churn definition",
                f"{churn.definition}; lookback {churn.lookback_days} days, horizon {churn.horizon_days} days",
            ),
            ("Months", f"{c.settings.report.months} calendar months (UTC) that ended by the report date"),
            ("Purchases", "transactions with a positive amount; refunds lower revenue"),
            ("Files", "report.html, summary.json and one CSV per table: " + ", ".join(sorted(c.tables))),
        ]
    }


# (anchor, navigation label, heading, data), in page order; the template has a block per anchor.
SECTIONS: list[tuple[str, str, str, Callable[[ReportContent], Section]]] = [
    ("churn", "Churn", "Churn and retention", churn_section),
    ("cohorts", "Cohorts", "Cohorts and customer value", cohort_section),
    ("revenue", "Revenue", "Revenue retention", revenue_section),
    ("nps", "NPS", "Customer satisfaction (NPS)", nps_section),
    ("segments", "Segments", "Churn by segment", segment_section),
    ("risk", "At risk", "Who is at risk now", risk_section),
    ("model", "Model", "Model health", model_section),
    ("about", "About", "About this report", about_section),
]
