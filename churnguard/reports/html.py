"""Render the report as one self-contained HTML page: inline CSS, charts as base64 PNG data URIs.

No scripts, fonts or other files are referenced, so the page opens offline and can be mailed.
"""

from __future__ import annotations

from html import escape
from typing import Any

from churnguard.reports import sections
from churnguard.reports.content import ReportContent
from churnguard.reports.markup import month_name, num, pct


def headline_cards(h: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """``(label, value, note, tone)`` of each headline card; tone is ``good``, ``bad`` or ``""``."""
    month = month_name(h["month"]) or "no complete month"
    change, tone, note = h["churn_rate_change"], "", "no earlier month to compare"
    if change is not None:
        tone = "bad" if change > 0.05 else "good" if change < -0.05 else ""
        note = f"{'▲' if change > 0 else '▼' if change < 0 else '='} {abs(change):.1f} pts vs previous month"
    var = h["value_at_risk"]
    cards = [
        (f"Churn rate · {month}", pct(h["churn_rate"]), note, tone),
        (f"Retention · {month}", pct(h["retention_rate"]), "100 − churn rate", ""),
        ("Active customers", num(h["active_customers"]), f"as of {h['as_of']}", ""),
        (
            "Value at risk",
            num(var) if var is not None else "–",
            f"{num(h['value_at_risk_high'])} in critical + high tiers"
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


def render_html(c: ReportContent) -> str:
    """The whole page as a string."""
    cards = "".join(
        f'<div class="card {tone}"><span>{escape(label)}</span><b>{escape(value)}</b><small>{escape(note)}</small></div>'
        for label, value, note, tone in headline_cards(c.headline)
    )
    nav = "".join(f'<a href="#{anchor}">{escape(label)}</a>' for anchor, label, _ in sections.SECTIONS)
    body = "".join(render(c) for _, _, render in sections.SECTIONS)
    title = f"Retention report · {c.headline['as_of']}"
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
        f"<style>{CSS}</style></head><body><header><div><h1>Retention report</h1>"
        f"<p>Data as of {escape(c.headline['as_of'])} · churn definition: {escape(c.settings.churn.definition)}"
        f"</p></div><nav>{nav}</nav></header><main>"
        f'<div class="headline">{cards}</div>{body}</main></body></html>'
    )


CSS = """
*{box-sizing:border-box}body{margin:0;background:#f5f7fa;color:#1f2933;
font:14px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header{background:#102a43;color:#fff;padding:18px 32px;display:flex;justify-content:space-between;
align-items:flex-end;flex-wrap:wrap;gap:12px}
header h1{margin:0;font-size:22px;font-weight:600}header p{margin:2px 0 0;color:#bcccdc;font-size:13px}
nav a{color:#d9e2ec;text-decoration:none;margin-left:16px;font-size:13px}nav a:hover{color:#fff}
main{max-width:1120px;margin:0 auto;padding:24px 32px 48px}
.headline{display:grid;grid-template-columns:repeat(5,1fr);gap:14px;margin-bottom:24px}
.card{background:#fff;border-radius:8px;padding:14px 16px;box-shadow:0 1px 3px rgba(16,42,67,.12);
border-top:4px solid #2563eb}
.card span{display:block;font-size:12px;color:#616e7c;text-transform:uppercase;letter-spacing:.04em}
.card b{display:block;font-size:30px;font-weight:650;margin:4px 0 2px}
.card small{color:#616e7c;font-size:12px}.card.bad small{color:#b91c1c}.card.good small{color:#15803d}
section{background:#fff;border-radius:8px;padding:20px 24px;margin-bottom:20px;
box-shadow:0 1px 3px rgba(16,42,67,.12)}
h2{margin:0 0 10px;font-size:18px;font-weight:600}h3{font-size:14px;margin:18px 0 8px}
p{margin:6px 0 12px;color:#3e4c59}img{max-width:100%;height:auto;display:block;margin:8px 0}
.formula{background:#f0f4f8;border-left:4px solid #2563eb;padding:10px 14px;margin:4px 0 12px;
border-radius:4px;color:#243b53}
table{border-collapse:collapse;width:100%;font-size:13px;margin:6px 0 10px}
th{text-align:left;color:#616e7c;font-weight:600;border-bottom:2px solid #d9e2ec;padding:6px 8px}
td{padding:5px 8px;border-bottom:1px solid #eef2f7}td:not(:first-child),th:not(:first-child){text-align:right}
tbody tr:nth-child(even){background:#fafbfc}table.narrow{width:auto;min-width:50%}
table.about th{width:220px;border-bottom:1px solid #eef2f7}table.about td{text-align:left}
details{margin-top:8px}summary{cursor:pointer;color:#2563eb;font-size:13px}
.stats{display:flex;flex-wrap:wrap;gap:12px;margin:8px 0 12px}
.stat{background:#f0f4f8;border-radius:6px;padding:8px 14px;flex:1 1 0;min-width:150px}
.stat span{display:block;font-size:12px;color:#616e7c}.stat b{font-size:18px;font-weight:600}
.pair{display:grid;grid-template-columns:1.2fr 1fr;gap:20px;align-items:center}
@media (max-width:900px){.headline{grid-template-columns:repeat(2,1fr)}.pair{grid-template-columns:1fr}}
"""
