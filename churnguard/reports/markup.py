"""Number formats of the report, and its tables and charts as plain data for the template."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

Column = tuple[str, str, Callable[[Any], str]]
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def month_name(month: str | None) -> str:
    """``2026-09`` -> ``Sep 2026``."""
    if not month:
        return ""
    year, number = month.split("-")
    return f"{_MONTHS[int(number) - 1]} {year}"


def pct(value: Any, digits: int = 1) -> str:
    return "–" if value is None or pd.isna(value) else f"{value:.{digits}f}%"


def share(value: Any, digits: int = 1) -> str:
    """A fraction (0-1) as a percentage: ``0.237`` -> ``23.7%``."""
    return "–" if value is None or pd.isna(value) else f"{float(value) * 100:.{digits}f}%"


def num(value: Any, digits: int = 0) -> str:
    return "–" if value is None or pd.isna(value) else f"{value:,.{digits}f}"


def money(value: Any, currency: str = "", digits: int = 0) -> str:
    """An amount with ``report.currency``: a code after it (``1,234 EUR``), a symbol before (``-€1,234``)."""
    if value is None or pd.isna(value):
        return "–"
    amount = f"{abs(value):,.{digits}f}"
    sign = "-" if value < 0 and amount.strip("0.,") else ""
    if not currency:
        return sign + amount
    return f"{sign}{amount} {currency}" if currency.isalpha() else f"{sign}{currency}{amount}"


def in_currency(currency: str, digits: int = 0) -> Callable[[Any], str]:
    """:func:`money` with ``currency`` and ``digits`` fixed: a format for a table column."""
    return lambda value: money(value, currency, digits)


def chart(png: bytes, alt: str) -> dict[str, str]:
    """A chart for the template: PNG bytes as base64 (embedded as a data URI) and its alt text."""
    return {"data": base64.b64encode(png).decode("ascii"), "alt": alt}


def table(frame: pd.DataFrame, columns: Sequence[Column], css: str = "") -> dict[str, Any]:
    """A table for the template: column titles and rows of formatted cells, one per ``(key, title, format)``."""
    return {
        "head": [title for _, title, _ in columns],
        "rows": [[fmt(record[key]) for key, _, fmt in columns] for record in frame.to_dict("records")],
        "css": css,
    }


def when(value: Any) -> str:
    """A date or time as ``YYYY-MM-DD`` or ``YYYY-MM-DD HH:MM UTC``; text that is neither as given."""
    if value is None:
        return "–"
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        return str(value)
    stamp = stamp.tz_convert("UTC") if stamp.tzinfo else stamp
    if stamp == stamp.normalize():
        return stamp.date().isoformat()
    return stamp.strftime("%Y-%m-%d %H:%M") + (" UTC" if stamp.tzinfo else "")
