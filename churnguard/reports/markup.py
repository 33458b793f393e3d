"""HTML building blocks and number formats of the report: escaped text, tables, embedded images."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from html import escape
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


def num(value: Any, digits: int = 0) -> str:
    return "–" if value is None or pd.isna(value) else f"{value:,.{digits}f}"


def img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{escape(alt)}">'


def table(frame: pd.DataFrame, columns: Sequence[Column], css: str = "") -> str:
    head = "".join(f"<th>{escape(title)}</th>" for _, title, _ in columns)
    rows = []
    for record in frame.to_dict("records"):
        cells = "".join(f"<td>{escape(fmt(record[key]))}</td>" for key, _, fmt in columns)
        rows.append(f"<tr>{cells}</tr>")
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def details(summary: str, body: str) -> str:
    return f"<details><summary>{escape(summary)}</summary>{body}</details>"


def section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{escape(title)}</h2>{body}</section>'


def p(text: str) -> str:
    return f"<p>{escape(text)}</p>"


def stats(items: Sequence[tuple[str, str]]) -> str:
    cells = "".join(f'<div class="stat"><span>{escape(k)}</span><b>{escape(v)}</b></div>' for k, v in items)
    return f'<div class="stats">{cells}</div>'


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
