"""The report's sections, each a function of the computed content returning an HTML fragment."""

from __future__ import annotations

from html import escape

from churnguard.reports import charts, kpis
from churnguard.reports import markup as m
from churnguard.reports.content import ReportContent
from churnguard.reports.markup import Column, month_name, num, pct

GROUP_NAMES = {"outreach": "Outreach", "control": "Control (not contacted)", "none": "Not selected"}


def _active_rule(c: ReportContent) -> str:
    churn = c.settings.churn
    if churn.definition == "subscription":
        return (
            "a customer is active at a moment when they hold a subscription that has started and not ended."
        )
    return f"a customer is active at a moment when they bought at least once in the {churn.lookback_days} days before it."


def churn_section(c: ReportContent) -> str:
    monthly = c.tables["monthly_churn"]
    formula = (
        '<div class="formula"><strong>Churn rate</strong> = customers lost during the month ÷ customers active '
        "at its start × 100. <strong>Retention rate</strong> = 100 − churn rate.<br>"
        "Example: 100 customers active at the start of July, 10 of them lost by the end of July → "
        "churn rate 10 ÷ 100 × 100 = <strong>10%</strong>, retention rate 90%.<br>"
        f"Definition used ({escape(c.settings.churn.definition)}): {escape(_active_rule(c))} A customer is lost "
        "during a month when active at its start and not active at its end.</div>"
    )
    table = m.table(
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
    months = c.settings.report.months
    if monthly.empty:
        return m.section(
            "churn",
            "Churn and retention",
            formula
            + m.p(
                f"Not enough history yet: a month is shown once {c.settings.churn.lookback_days} days of purchases "
                "before its start are in the data."
            ),
        )
    body = formula + m.img(charts.churn_retention_chart(monthly), "Churn and retention rate per month")
    if len(monthly) < months:
        body += m.p(
            f"{len(monthly)} of {months} months shown: earlier months start less than "
            f"{c.settings.churn.lookback_days} days after the first purchase in the data, so who was "
            "active then is not known."
        )
    return m.section("churn", "Churn and retention", body + m.details("Monthly figures", table))


def cohort_section(c: ReportContent) -> str:
    cohorts, values = c.tables["cohort_retention"], c.tables["cohort_value"]
    everyone = values.iloc[-1]
    stats = m.stats(
        [
            ("Repeat purchase rate", pct(everyone["repeat_purchase_rate"])),
            ("Average order value", num(everyone["average_order_value"], 2)),
            ("Orders per customer", num(everyone["purchase_frequency"], 2)),
            ("Historical value per customer", num(everyone["historical_value"], 2)),
        ]
    )
    explain = m.p(
        "Customers are grouped by the month of their first purchase. Each cell is the share of the group that "
        "bought in the month N months later; read a row left to right to see a cohort age. Figures below cover "
        f"all customers to date; value = net revenue × margin ({c.settings.value.margin:.0%})."
    )
    table = m.table(
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
    )
    body = explain + stats
    if cohorts["customers"].sum() > 0:
        body += m.img(charts.cohort_heatmap(cohorts), "Cohort retention heatmap")
    return m.section("cohorts", "Cohorts and customer value", body + m.details("Value per cohort", table))


def revenue_section(c: ReportContent) -> str:
    r = c.tables["revenue_retention"].iloc[0]
    body = m.stats(
        [
            ("Revenue retention", pct(r["revenue_retention"])),
            (f"Active on {r['year_ago']}", num(r["customers_active_year_ago"])),
            ("Of whom still buying", num(r["still_buying"])),
            ("Their revenue, prior 12 months", num(r["revenue_before"])),
            ("Their revenue, last 12 months", num(r["revenue_after"])),
        ]
    ) + m.p(
        "Net revenue in the last 365 days from the customers who were active a year ago, divided by their "
        "net revenue in the 365 days before that. Above 100% the customers kept spend more than they did."
    )
    return m.section("revenue", "Revenue retention", body)


def nps_section(c: ReportContent) -> str:
    nps = c.tables["nps_by_month"]
    if nps.empty:
        return m.section("nps", "Customer satisfaction (NPS)", m.p("The data holds no NPS answers."))
    body = m.p("NPS = % promoters (answers 9–10) − % detractors (0–6); months without answers are left out.")
    body += m.img(charts.nps_chart(nps, kpis.MIN_NPS_RESPONSES), "NPS per month")
    if "churn_by_nps_class" in c.tables:
        body += f"<h3>Churn by last NPS answer ({escape(_cutoff_text(c))})</h3>"
        body += m.table(c.tables["churn_by_nps_class"], _churn_columns("NPS class"), "narrow")
    return m.section("nps", "Customer satisfaction (NPS)", body)


def _cutoff_text(c: ReportContent) -> str:
    return (
        f"customers active on {c.labelled_cutoff.date()}, churned within {c.settings.churn.horizon_days} days"
    )


def _churn_columns(title: str) -> list[Column]:
    return [
        ("segment", title, str),
        ("customers", "Customers", num),
        ("churned", "Churned", num),
        ("churn_rate", "Churn rate", pct),
    ]


def segment_section(c: ReportContent) -> str:
    if "churn_by_segment" not in c.tables:
        return m.section("segments", "Churn by segment", "".join(m.p(n) for n in c.notes))
    segments = c.tables["churn_by_segment"]
    body = m.p(
        f"The last fully observed period: {_cutoff_text(c)} (overall "
        f"{pct(c.overall_churn_at_cutoff)}). RFM segments follow the feature rules."
    )
    body += m.img(charts.segment_chart(segments, c.overall_churn_at_cutoff), "Churn rate by segment")
    columns = [("dimension", "Dimension", str), *_churn_columns("Segment")]
    return m.section(
        "segments", "Churn by segment", body + m.details("Segment table", m.table(segments, columns))
    )


def risk_section(c: ReportContent) -> str:
    risk = c.risk
    if risk is None:
        return m.section(
            "risk",
            "Who is at risk now",
            m.p(
                f"No risk list dated on or before {c.headline['as_of']} was found: "
                "run `churn score` to produce one."
            ),
        )
    used = "" if risk.as_of == c.headline["as_of"] else " (the latest one before the report date)"
    body = m.p(f"Risk list of {risk.as_of}{used}, scored by {risk.model or 'an unnamed model'}.")
    tiers = m.table(
        risk.tiers,
        [
            ("tier", "Tier", str.capitalize),
            ("customers", "Customers", num),
            ("share", "Share", pct),
            ("mean_probability", "Mean probability", lambda v: num(v, 2)),
            ("value_at_risk", "Value at risk", num),
        ],
    )
    body += f'<div class="pair"><div>{m.img(charts.value_at_risk_chart(risk.tiers), "Value at risk per tier")}</div>'
    body += f"<div>{tiers}</div></div>"
    p = risk.profit
    plan = (
        f"Ordered by {p['ordered_by'].replace('_', ' ')}, contacting the top {p['best_contact_count']:,} of "
        f"{p['list_size']:,} customers maximises expected profit at {num(p['best_profit'])} (cost "
        f"{num(p['cost_per_contact'], 2)} per contact, {p['save_rate']:.0%} of contacted churners kept). "
        f"Contacting everyone would give {num(p['contact_all_profit'])}."
    )
    if "profit_at_capacity" in p:
        plan += f" At the team's capacity of {p['capacity']:,} contacts: {num(p['profit_at_capacity'])}."
    groups = m.table(
        risk.groups,
        [
            ("group", "Group", lambda g: GROUP_NAMES.get(g, g)),
            ("customers", "Customers", num),
            ("value_at_risk", "Value at risk", num),
        ],
        "narrow",
    )
    body += "<h3>Outreach plan</h3>" + m.p(plan)
    body += (
        f'<div class="pair"><div>{m.img(charts.profit_chart(risk.curve, p), "Expected profit curve")}</div>'
    )
    body += f"<div>{groups}{m.p('Control customers are not contacted, so the save rate can be measured.')}</div></div>"
    reasons = m.table(
        risk.reasons,
        [
            ("reason", "Reason (N = the customer's number)", str),
            ("customers", "Customers", num),
            ("main_reason", "As main reason", num),
            ("share", "Share of list", pct),
        ],
    )
    body += "<h3>Most common reasons</h3>" + reasons
    return m.section("risk", "Who is at risk now", body)


def model_section(c: ReportContent) -> str:
    champion = c.champion
    if not champion:
        return m.section("model", "Model health", m.p("No model is registered yet: run `churn train` first."))
    metrics = champion.get("metrics") or {}
    intro = m.p(
        f"Champion {champion.get('model_name', '?')} v{champion.get('version', '?')}, trained "
        f"{m.when(champion.get('trained_at'))} on data as of {m.when(champion.get('as_of'))}. "
        "Its test metrics:"
    )
    labels = {
        "roc_auc": "ROC AUC",
        "pr_auc": "PR AUC",
        "lift_at_10": "Lift in top 10%",
        "brier": "Brier score",
    }
    items = [
        (labels.get(k, k.replace("_", " ")), num(v, 3))
        for k, v in metrics.items()
        if isinstance(v, int | float)
    ]
    return m.section(
        "model", "Model health", intro + (m.stats(items) if items else m.p("No metrics recorded."))
    )


def about_section(c: ReportContent) -> str:
    churn = c.settings.churn
    rows = [
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
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return m.section("about", "About this report", f'<table class="about">{body}</table>')


# (anchor, navigation label, renderer), in page order.
SECTIONS = [
    ("churn", "Churn", churn_section),
    ("cohorts", "Cohorts", cohort_section),
    ("revenue", "Revenue", revenue_section),
    ("nps", "NPS", nps_section),
    ("segments", "Segments", segment_section),
    ("risk", "At risk", risk_section),
    ("model", "Model", model_section),
    ("about", "About", about_section),
]
