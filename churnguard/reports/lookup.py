"""One customer at a glance: their row on the risk list, their tiers on earlier lists, their history.

For the retention team's "why is this customer on my list?": ``churn lookup --customer-id ID``.
Reads the lists already written (no model is loaded) and, given the data, that customer's rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from churnguard.core.data.dataset import Dataset
from churnguard.core.errors import BadInputError
from churnguard.features.engagement import NPS_EVENT
from churnguard.models.compare import list_folder, risk_list_dates

RECENT_DAYS = 90  # events: the last 90 days against the 90 before, as the features compare them


@dataclass
class CustomerLookup:
    customer_id: str
    list_path: Path | None  # the list the row comes from (the newest up to as_of)
    row: dict | None  # that list's row for the customer, None when not on it
    list_size: int = 0
    earlier: list[tuple[str, str, float]] = field(default_factory=list)  # (as_of, tier, probability)
    history: list[tuple[str, str]] = field(default_factory=list)  # (what, value) from the data


def find_on_lists(risk_lists: Path, customer_id: str, as_of: date | None = None) -> CustomerLookup:
    """The customer's row on the newest list up to ``as_of`` and their tier on every list before it."""
    dates = [day for day in risk_list_dates(risk_lists) if as_of is None or day <= as_of]
    if not dates:
        raise BadInputError(
            f"no risk list in {risk_lists}"
            + (f" dated {as_of} or earlier" if as_of else "")
            + ": score first with churn score --data DIR (or pass --risk-lists)"
        )
    *earlier, newest = dates
    path = list_folder(risk_lists, pd.Timestamp(newest)) / "risk_list.parquet"
    frame = pd.read_parquet(path)
    match = frame[frame["customer_id"].astype(str) == customer_id]
    found = CustomerLookup(
        customer_id=customer_id,
        list_path=path,
        row=match.iloc[0].to_dict() if len(match) else None,
        list_size=len(frame),
    )
    for when in earlier:
        frame = pd.read_parquet(
            list_folder(risk_lists, pd.Timestamp(when)) / "risk_list.parquet",
            columns=["customer_id", "risk_tier", "churn_probability"],
        )
        match = frame[frame["customer_id"].astype(str) == customer_id]
        if len(match):
            row = match.iloc[0]
            found.earlier.append((str(when), str(row["risk_tier"]), float(row["churn_probability"])))
    return found


def history_summary(dataset: Dataset, customer_id: str) -> list[tuple[str, str]]:
    """What the data says about one customer up to the data's as_of, in plain words."""
    as_of = dataset.as_of
    facts: list[tuple[str, str]] = []
    orders = _rows(dataset.transactions, customer_id).sort_values("ts")
    customer = _rows(dataset.customers, customer_id)
    if orders.empty and customer.empty:
        return []
    if "signup_ts" in customer and customer["signup_ts"].notna().any():
        facts.append(("Customer since", _day(customer["signup_ts"].iloc[0], as_of)))
    if orders.empty:
        facts.append(("Purchases", "none"))
    else:
        # Purchases are positive amounts, as in the features; refunds are told apart.
        purchases = orders[orders["amount"] > 0]
        refunds = orders[orders["amount"] < 0]
        year = orders[orders["ts"] >= as_of - pd.Timedelta(days=365)]
        if len(purchases):
            facts.append(("First purchase", _day(purchases["ts"].iloc[0], as_of)))
            facts.append(("Last purchase", _day(purchases["ts"].iloc[-1], as_of)))
        facts.append(
            (
                "Purchases",
                f"{len(purchases):,} in all, {int((year['amount'] > 0).sum()):,} in the last 365 days",
            )
        )
        if len(refunds):
            facts.append(("Refunds", f"{len(refunds):,}, the last {_day(refunds['ts'].iloc[-1], as_of)}"))
        facts.append(("Spend in the last 365 days", f"{year['amount'].sum():,.2f} (refunds deducted)"))
        if len(purchases) >= 2:  # the mean gap, as the features and reasons measure the rhythm
            gaps = purchases["ts"].diff().dropna().dt.total_seconds() / 86_400
            facts.append(("Usual gap between purchases", f"{gaps.mean():,.0f} days (mean of {len(gaps):,})"))
    if dataset.events is not None:
        facts += _event_facts(_rows(dataset.events, customer_id), as_of)
    if dataset.subscriptions is not None:
        facts += _subscription_facts(_rows(dataset.subscriptions, customer_id), as_of)
    return facts


def _rows(table: pd.DataFrame, customer_id: str) -> pd.DataFrame:
    return table[table["customer_id"].astype(str) == customer_id]


def _day(ts: pd.Timestamp, as_of: pd.Timestamp) -> str:
    # Fractional days rounded as the reasons round them, so both say the same number.
    return f"{ts.date()} ({(as_of - ts).total_seconds() / 86_400:,.0f} days before {as_of.date()})"


def _event_facts(events: pd.DataFrame, as_of: pd.Timestamp) -> list[tuple[str, str]]:
    recent = as_of - pd.Timedelta(days=RECENT_DAYS)
    before = recent - pd.Timedelta(days=RECENT_DAYS)
    facts = []
    for kind, rows in events.groupby("event_type", sort=True):
        now = int((rows["ts"] >= recent).sum())
        then = int(((rows["ts"] >= before) & (rows["ts"] < recent)).sum())
        text = f"{now:,} in the last {RECENT_DAYS} days ({then:,} in the {RECENT_DAYS} before), last {_day(rows['ts'].max(), as_of)}"
        if kind == NPS_EVENT and rows["value"].notna().any():
            text += f", last answer {rows.sort_values('ts')['value'].dropna().iloc[-1]:g}"
        facts.append((str(kind).replace("_", " ").capitalize(), text))
    return facts


def _subscription_facts(subscriptions: pd.DataFrame, as_of: pd.Timestamp) -> list[tuple[str, str]]:
    facts = []
    for _, sub in subscriptions.sort_values("start_ts").iterrows():
        plan = f"{sub['plan']} " if "plan" in sub and pd.notna(sub.get("plan")) else ""
        ended = (
            f"ended {_day(sub['end_ts'], as_of)}"
            if pd.notna(sub["end_ts"]) and sub["end_ts"] <= as_of
            else "active"
        )
        facts.append((f"Subscription {plan}".strip(), f"since {sub['start_ts'].date()}, {ended}"))
    return facts
