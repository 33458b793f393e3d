"""Render the report as one self-contained HTML page from ``templates/report.html.j2``.

Inline CSS and charts as base64 PNG data URIs: no scripts, fonts or other files are referenced, so
the page opens offline and can be mailed.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from churnguard.reports import sections
from churnguard.reports.content import ReportContent
from churnguard.reports.markup import money, month_name, num, pct


def headline_cards(h: dict[str, Any], currency: str = "") -> list[tuple[str, str, str, str]]:
    """``(label, value, note, tone)`` of each headline card; tone is ``good``, ``bad`` or ``""``.

    Money is shown in ``currency`` (``report.currency``; empty: plain numbers).
    """
    month = month_name(h["month"]) or "no complete month"
    change, tone, note = h["churn_rate_change"], "", "no earlier month to compare"
    if change is not None:
        tone = "bad" if change > 0.05 else "good" if change < -0.05 else ""
        note = f"{'▲' if change > 0 else '▼' if change < 0 else '='} {abs(change):.1f} pts vs previous month"
    var = h["value_at_risk"]
    cards = [
        (f"Monthly churn rate · {month}", pct(h["churn_rate"]), note, tone),
        (f"Monthly retention · {month}", pct(h["retention_rate"]), "100 − monthly churn rate", ""),
        ("Active customers", num(h["active_customers"]), f"as of {h['as_of']}", ""),
        (
            "Value at risk",
            money(var, currency),
            f"{money(h['value_at_risk_high'], currency)} in critical + high tiers"
            if var is not None
            else "no risk list yet",
            "",
        ),
        (
            f"NPS · {month_name(h['nps_month'])}" if h["nps"] is not None else "NPS",
            f"{h['nps']:+.0f}" if h["nps"] is not None else "–",
            f"{h['nps_responses']:,} answers" if h["nps"] is not None else "no NPS answers",
            "",
        ),
    ]
    return cards


@cache
def _environment() -> Environment:
    # StrictUndefined: a section dict missing a key the template reads is an error, not a blank.
    return Environment(
        loader=PackageLoader("churnguard.reports", "templates"),
        autoescape=select_autoescape(["j2", "html"]),
        undefined=StrictUndefined,
    )


def page_data(c: ReportContent) -> dict[str, Any]:
    """Everything the template shows: the headline cards and each section's data, in page order."""
    return {
        "as_of": c.headline["as_of"],
        "definition": c.settings.churn.definition,
        "cards": [
            {"label": label, "value": value, "note": note, "tone": tone}
            for label, value, note, tone in headline_cards(c.headline, c.settings.report.currency)
        ],
        "sections": [
            {"anchor": anchor, "label": label, "title": title, "data": data(c)}
            for anchor, label, title, data in sections.SECTIONS
        ],
    }


def render_html(c: ReportContent) -> str:
    """The whole page as a string."""
    return _environment().get_template("report.html.j2").render(**page_data(c))
