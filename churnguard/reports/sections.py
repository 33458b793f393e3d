"""The report's sections as data: each function turns the computed content into the plain values
(formatted text, tables, charts) its block in ``templates/report.html.j2`` shows.

No markup here: the template holds it and escapes every value, so a section can be tested by
looking at its dict.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from churnguard.reports import charts, definitions, health, kpis, outreach
from churnguard.reports.acquisition import clv_section
from churnguard.reports.content import ReportContent
from churnguard.reports.markup import chart, in_currency, month_name, num, pct, table, when
from churnguard.reports.outcomes_view import outcomes_section

GROUP_NAMES = {
    "outreach": "Outreach",
    "control": "Control (not contacted)",
    "cooldown": "Cooldown (contacted recently)",
    "none": "Not selected",
}
Section = dict[str, Any]


def churn_section(c: ReportContent) -> Section:
    monthly = c.tables["monthly_churn"]
    lookback, months = c.settings.churn.lookback_days, c.settings.report.months
    section: Section = {
        "definitions": definitions.churn_definitions(c),
        "definition": c.settings.churn.definition,
        "active_rule": definitions.active_rule(c),
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
    cash = in_currency(c.settings.report.currency, 2)
    return {
        "explain": "Customers are grouped by the month of their first purchase. Each cell is the share of the "
        "group that bought in the month N months later; read a row left to right to see a cohort age. "
        f"Figures below cover all customers to date; value = net revenue × margin ({c.settings.value.margin:.0%}).",
        "stats": [
            ("Repeat purchase rate", pct(everyone["repeat_purchase_rate"])),
            ("Average order value", cash(everyone["average_order_value"])),
            ("Orders per customer", num(everyone["purchase_frequency"], 2)),
            ("Historical value per customer", cash(everyone["historical_value"])),
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
                ("average_order_value", "Avg order value", cash),
                ("purchase_frequency", "Orders / customer", lambda v: num(v, 2)),
                ("revenue_per_customer", "Revenue / customer", cash),
                ("historical_value", "Value / customer", cash),
            ],
        ),
    }


def revenue_section(c: ReportContent) -> Section:
    r = c.tables["revenue_retention"].iloc[0]
    cash = in_currency(c.settings.report.currency)
    return {
        "stats": [
            ("Revenue retention", pct(r["revenue_retention"])),
            (f"Active on {r['year_ago']}", num(r["customers_active_year_ago"])),
            ("Of whom still buying", num(r["still_buying"])),
            ("Their revenue, prior 12 months", cash(r["revenue_before"])),
            ("Their revenue, last 12 months", cash(r["revenue_after"])),
        ],
        "explain": "Net revenue in the last 365 days from the customers who were active a year ago, divided "
        "by their net revenue in the 365 days before that. Above 100% the customers kept spend more than "
        "they did.",
    }


def _cutoff_text(c: ReportContent) -> str:
    return f"customers active on {c.labelled_cutoff.date()}; churned = {definitions.churned_after(c)}"


def _churn_table(frame, title: str, rate: str, css: str = "") -> dict:
    columns = [
        ("segment", title, str),
        ("customers", "Customers", num),
        ("churned", "Churned", num),
        ("churn_rate", rate.capitalize(), pct),
    ]
    if "dimension" in frame.columns:
        columns.insert(0, ("dimension", "Dimension", charts.dimension_title))
    return table(frame, columns, css)


def nps_section(c: ReportContent) -> Section:
    nps = c.tables["nps_by_month"]
    if nps.empty:
        return {"chart": None}
    by_class = c.tables.get("churn_by_nps_class")
    return {
        "chart": chart(charts.nps_chart(nps, kpis.MIN_NPS_RESPONSES), "NPS per month"),
        "rate": definitions.horizon_rate(c).capitalize(),
        "cutoff_text": _cutoff_text(c),
        "by_class": _churn_table(by_class, "NPS class", definitions.horizon_rate(c), "narrow")
        if by_class is not None
        else None,
    }


def segment_section(c: ReportContent) -> Section:
    if "churn_by_segment" not in c.tables:
        return {"table": None, "notes": c.notes}
    segments = c.tables["churn_by_segment"]
    customers, _ = c.labelled_counts or (0, 0)
    rate = definitions.horizon_rate(c)
    return {
        "intro": f"{rate.capitalize()}: of the {num(customers)} customers active on {c.labelled_cutoff.date()}, "
        f"{pct(c.overall_churn_at_cutoff)} had {definitions.churned_after(c)} (the latest period fully observed by the "
        "report date). This is the churn the model predicts, not the monthly churn rate of the headline: "
        "see the two churn rates under Churn and retention. RFM segments follow the feature rules.",
        "chart": chart(
            charts.segment_chart(segments, c.overall_churn_at_cutoff, rate.capitalize()),
            f"{rate.capitalize()} by segment",
        ),
        "table": _churn_table(segments, "Segment", rate),
    }


def risk_section(c: ReportContent) -> Section:
    risk = c.risk
    if risk is None:
        return {
            "missing": f"No risk list dated on or before {c.headline['as_of']} was found: "
            "run `churn score` to produce one."
        }
    used = "" if risk.as_of == c.headline["as_of"] else " (the latest one before the report date)"
    value, currency, cash = (
        c.settings.value,
        c.settings.report.currency,
        in_currency(c.settings.report.currency),
    )
    return {
        "missing": None,
        "intro": f"Risk list of {risk.as_of}{used}, scored by {risk.model or 'an unnamed model'}. Churn "
        f"probability: the model's chance of {definitions.churned_from_now(c)}, the {definitions.horizon_rate(c)}'s definition. "
        f"Customer value: {value.margin:.0%} of the customer's spend in the last {value.window_days} days. "
        "Value at risk = churn probability × customer value.",
        "tier_chart": chart(charts.value_at_risk_chart(risk.tiers, currency), "Value at risk per tier"),
        "tiers": table(
            risk.tiers,
            [
                ("tier", "Tier", str.capitalize),
                ("customers", "Customers", num),
                ("share", "Share", pct),
                ("mean_probability", "Mean churn probability", lambda v: pct(v * 100)),
                ("value_at_risk", "Value at risk", cash),
            ],
        ),
        "plan": outreach.outreach_plan(c),
        "profit_chart": chart(
            charts.profit_chart(risk.curve, risk.profit, currency), "Expected profit curve"
        ),
        "groups": table(
            risk.groups,
            [
                ("group", "Group", lambda g: GROUP_NAMES.get(g, g)),
                ("customers", "Customers", num),
                ("value_at_risk", "Value at risk", cash),
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
    return {
        "missing": None,
        "intro": f"Champion {champion.get('model_name', '?')} v{champion.get('version', '?')}, trained "
        f"{when(champion.get('trained_at'))} on data as of {when(champion.get('as_of'))}. How it did on the "
        "test periods of its back-test (customers it had not learned from, means over the periods):",
        "tiles": health.model_tiles(champion.get("metrics") or {}, c.settings),
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
            (
                "Money",
                f"amounts in {c.settings.report.currency} (report.currency)"
                if c.settings.report.currency
                else "amounts in the data's currency; set report.currency (e.g. EUR or €) to show it",
            ),
            ("Files", "report.html, summary.json and one CSV per table: " + ", ".join(sorted(c.tables))),
        ]
    }


# (anchor, navigation label, heading, data), in page order; the template has a block per anchor.
SECTIONS: list[tuple[str, str, str, Callable[[ReportContent], Section]]] = [
    ("churn", "Churn", "Churn and retention", churn_section),
    ("cohorts", "Cohorts", "Cohorts and customer value", cohort_section),
    ("revenue", "Revenue", "Revenue retention", revenue_section),
    ("clv", "CLV:CAC", "Customer value against acquisition cost (CLV:CAC)", clv_section),
    ("nps", "NPS", "Customer satisfaction (NPS)", nps_section),
    ("segments", "Segments", "Churn by segment", segment_section),
    ("risk", "At risk", "Who is at risk now", risk_section),
    ("outcomes", "Did it work?", "Did it work?", outcomes_section),
    ("model", "Model", "Model health", model_section),
    ("about", "About", "About this report", about_section),
]
