"""Retention KPIs of the customer base: pure pandas over the dataset's frames.

Conventions shared by every function here:

- Months are calendar months in UTC. Only months that ended by ``as_of`` are reported: a month
  still running would understate both churn and purchases.
- A purchase is a transaction with a positive amount; refunds (negative amounts) lower revenue but
  are not orders. Lines sharing an ``order_id`` count as one order.
- Rates are percentages (0-100).
- A customer is *active* at time ``t`` under the configured churn definition: ``inactivity`` - at
  least one purchase in ``[t - lookback_days, t)``; ``subscription`` - a subscription that started
  before ``t`` and has not ended before ``t``. The rule itself lives in the feature code
  (``active_customers``); functions here receive it as an :data:`ActiveAt`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from churnguard.core.config import ChurnSettings

NPS_EVENT = "nps_response"
MIN_NPS_RESPONSES = 30  # fewer answers in a month make its NPS too noisy for a headline
YEAR = pd.Timedelta(days=365)


def month_index(ts: pd.Series | pd.Timestamp) -> pd.Series | int:
    """Months since year 0 (``year * 12 + month - 1``): consecutive months differ by one."""
    if isinstance(ts, pd.Timestamp):
        return ts.year * 12 + ts.month - 1
    return ts.dt.year.astype("int64") * 12 + ts.dt.month.astype("int64") - 1


def month_start(index: int) -> pd.Timestamp:
    """Midnight UTC of the first day of a month given by :func:`month_index`."""
    return pd.Timestamp(year=index // 12, month=index % 12 + 1, day=1, tz="UTC")


def month_label(index: int) -> str:
    """``YYYY-MM`` of a month index."""
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def complete_months(as_of: pd.Timestamp, months: int) -> list[int]:
    """The last ``months`` month indices that ended on or before ``as_of``, oldest first."""
    last = month_index(as_of) - 1  # the month holding as_of has not ended yet
    return list(range(last - months + 1, last + 1))


def purchases(transactions: pd.DataFrame) -> pd.DataFrame:
    """Purchase rows (positive amount), one per order when ``order_id`` is present."""
    buys = transactions[transactions["amount"] > 0]
    if "order_id" in buys.columns:
        repeated = buys["order_id"].notna() & buys.duplicated(["customer_id", "order_id"])
        buys = buys[~repeated]
    return buys


# Who is active at each moment: ``(customer_id, cutoff)`` rows. Callers pass the feature code's own
# population rule (``churnguard.features.build.active_customers``), so the report counts exactly the
# customers that training and the risk lists describe.
ActiveAt = Callable[[Sequence[pd.Timestamp]], pd.DataFrame]


def activity(active_at: ActiveAt, moments: Sequence[pd.Timestamp]) -> pd.DataFrame:
    """Whether each customer is active at each moment.

    Returns:
        Boolean frame: one row per customer active at any of the moments, one column per moment.
    """
    pairs = active_at(list(moments))
    present = pd.crosstab(pairs["customer_id"], pairs["cutoff"]) > 0
    return present.reindex(columns=list(moments), fill_value=False).rename_axis(columns=None)


def monthly_churn(
    transactions: pd.DataFrame, as_of: pd.Timestamp, months: int, churn: ChurnSettings, active_at: ActiveAt
) -> pd.DataFrame:
    """Churn and retention rate of each of the last ``months`` complete months.

    A customer is lost during a month when active at its start and not active at its end.
    ``churn_rate = lost / active_at_start * 100``, ``retention_rate = 100 - churn_rate``; e.g. 100
    customers active on 1 July, 10 of them lost by 1 August: churn rate 10%, retention 90%.

    Under ``inactivity``, months starting less than ``lookback_days`` after the first purchase in
    the data are left out: who was active then is not known, so their churn would read too low.

    Returns:
        ``month`` (YYYY-MM), ``active_at_start``, ``lost``, ``active_at_end``, ``churn_rate``,
        ``retention_rate``; oldest month first (possibly fewer than ``months`` rows).
    """
    index = complete_months(as_of, months)
    if churn.definition == "inactivity":
        first = transactions.loc[transactions["amount"] > 0, "ts"].min()
        lookback = pd.Timedelta(days=churn.lookback_days)
        index = [m for m in index if pd.notna(first) and month_start(m) - lookback >= first]
    if not index:
        return pd.DataFrame(
            columns=["month", "active_at_start", "lost", "active_at_end", "churn_rate", "retention_rate"]
        )
    bounds = [month_start(m) for m in [*index, index[-1] + 1]]
    active = activity(active_at, bounds).to_numpy()
    at_start = active[:, :-1].sum(axis=0)
    lost = (active[:, :-1] & ~active[:, 1:]).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(at_start > 0, lost / at_start * 100, np.nan)
    return pd.DataFrame(
        {
            "month": [month_label(m) for m in index],
            "active_at_start": at_start,
            "lost": lost,
            "active_at_end": active[:, 1:].sum(axis=0),
            "churn_rate": rate,
            "retention_rate": 100 - rate,
        }
    )


def cohort_retention(transactions: pd.DataFrame, as_of: pd.Timestamp, months: int) -> pd.DataFrame:
    """Share of each first-purchase cohort that buys again N months later.

    Cohort = the month of a customer's first purchase; only cohorts of the last ``months`` complete
    months. Cell ``mN`` = customers of the cohort with a purchase in month cohort + N, divided by the
    cohort's size, times 100 (``m0`` is 100 by construction). Months not complete yet are empty.

    Returns:
        ``cohort`` (YYYY-MM), ``customers``, then ``m0`` .. ``m{months-1}``.
    """
    index = complete_months(as_of, months)
    buys = purchases(transactions)
    pairs = pd.DataFrame({"customer_id": buys["customer_id"], "month": month_index(buys["ts"])})
    pairs = pairs[pairs["month"] <= index[-1]].drop_duplicates()
    pairs["cohort"] = pairs.groupby("customer_id")["month"].transform("min")
    pairs = pairs[pairs["cohort"] >= index[0]]
    pairs["offset"] = pairs["month"] - pairs["cohort"]
    counts = pairs.groupby(["cohort", "offset"]).size()
    grid = pd.MultiIndex.from_product([index, range(months)], names=["cohort", "offset"])
    counts = counts.reindex(grid, fill_value=0).unstack("offset").to_numpy()
    sizes = counts[:, 0]
    observed = np.arange(months)[None, :] <= (index[-1] - np.asarray(index))[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(observed & (sizes[:, None] > 0), counts / sizes[:, None] * 100, np.nan)
    out = pd.DataFrame(shares, columns=[f"m{k}" for k in range(months)])
    out.insert(0, "customers", sizes)
    out.insert(0, "cohort", [month_label(m) for m in index])
    return out


def customer_totals(transactions: pd.DataFrame) -> pd.DataFrame:
    """Per customer with a purchase: ``first`` purchase time, ``orders`` and net ``revenue`` to date.

    Net revenue is every amount summed, so refunds lower it; customers with refunds only are left out.
    Indexed by ``customer_id``. The one definition behind historical value: revenue x margin.
    """
    buys = purchases(transactions)
    per = pd.DataFrame(
        {
            "first": buys.groupby("customer_id")["ts"].min(),
            "orders": buys.groupby("customer_id").size(),
        }
    )
    per["revenue"] = transactions.groupby("customer_id")["amount"].sum().reindex(per.index).fillna(0.0)
    return per


def cohort_value(transactions: pd.DataFrame, as_of: pd.Timestamp, months: int, margin: float) -> pd.DataFrame:
    """Purchase behaviour to date per first-purchase cohort (last ``months`` complete months), plus all.

    - ``repeat_purchase_rate``: customers with two or more orders / customers * 100;
    - ``average_order_value``: net revenue (refunds subtracted) / orders;
    - ``purchase_frequency``: orders / customers;
    - ``revenue_per_customer``: net revenue / customers;
    - ``historical_value``: revenue per customer * ``margin`` (same basis as the risk list's value).

    The last row, ``all``, covers every customer with a purchase before ``as_of``.
    """
    index = complete_months(as_of, months)
    per = customer_totals(transactions)
    per["cohort"] = month_index(per["first"])
    groups = [(month_label(m), per[per["cohort"] == m]) for m in index] + [("all", per)]
    rows = []
    for name, group in groups:
        n, orders, revenue = len(group), group["orders"].sum(), group["revenue"].sum()
        rows.append(
            {
                "cohort": name,
                "customers": n,
                "orders": int(orders),
                "repeat_purchase_rate": (group["orders"] >= 2).mean() * 100 if n else np.nan,
                "average_order_value": revenue / orders if orders else np.nan,
                "purchase_frequency": orders / n if n else np.nan,
                "revenue_per_customer": revenue / n if n else np.nan,
                "historical_value": revenue / n * margin if n else np.nan,
            }
        )
    return pd.DataFrame(rows)


def revenue_retention(transactions: pd.DataFrame, as_of: pd.Timestamp, active_at: ActiveAt) -> pd.DataFrame:
    """Revenue kept from the customers who were active a year ago.

    Customers active at ``as_of - 365 days``: their net revenue in the 365 days to ``as_of`` divided
    by their net revenue in the 365 days before that, times 100. Above 100 means they spend more now.

    Returns:
        One row: ``year_ago``, ``customers_active_year_ago``, ``still_buying`` (purchased in the last
        365 days), ``revenue_before``, ``revenue_after``, ``revenue_retention``.
    """
    year_ago = as_of - YEAR
    active = activity(active_at, [year_ago])
    base = active.index[active[year_ago]]
    tx = transactions[transactions["customer_id"].isin(base)]
    before = tx[(tx["ts"] >= year_ago - YEAR) & (tx["ts"] < year_ago)]["amount"].sum()
    recent = tx[(tx["ts"] >= year_ago) & (tx["ts"] < as_of)]
    after = recent["amount"].sum()
    return pd.DataFrame(
        {
            "year_ago": [year_ago.date().isoformat()],
            "customers_active_year_ago": [len(base)],
            "still_buying": [recent.loc[recent["amount"] > 0, "customer_id"].nunique()],
            "revenue_before": [float(before)],
            "revenue_after": [float(after)],
            "revenue_retention": [after / before * 100 if before > 0 else np.nan],
        }
    )


def nps_by_month(events: pd.DataFrame | None, as_of: pd.Timestamp, months: int) -> pd.DataFrame:
    """Net Promoter Score of each complete month with answers: % promoters (9-10) - % detractors (0-6).

    Answers are ``nps_response`` events with a ``value``; months without answers are left out.

    Returns:
        ``month``, ``responses``, ``promoters``, ``passives``, ``detractors``, ``nps``.
    """
    columns = ["month", "responses", "promoters", "passives", "detractors", "nps"]
    if events is None or "value" not in events.columns:
        return pd.DataFrame(columns=columns)
    answers = events[(events["event_type"] == NPS_EVENT) & events["value"].notna()]
    index = complete_months(as_of, months)
    month = month_index(answers["ts"])
    answers = answers.assign(month=month)[(month >= index[0]) & (month <= index[-1])]
    score = answers["value"]
    counts = (
        pd.DataFrame(
            {
                "month": answers["month"],
                "promoters": score >= 9,
                "passives": (score >= 7) & (score < 9),
                "detractors": score < 7,
            }
        )
        .groupby("month")[["promoters", "passives", "detractors"]]
        .sum()
    )
    counts["responses"] = counts.sum(axis=1)
    counts["nps"] = (counts["promoters"] - counts["detractors"]) / counts["responses"] * 100
    counts = counts.reset_index()
    counts["month"] = [month_label(m) for m in counts["month"]]
    return counts[columns]


def churn_by(labelled: pd.DataFrame, column: str, order: Sequence[str] | None = None) -> pd.DataFrame:
    """Churn rate within each value of ``column`` of a labelled feature table (one cutoff).

    Returns:
        ``segment``, ``customers``, ``churned``, ``churn_rate`` (churned / customers * 100); highest
        churn rate first, or in ``order`` when given.
    """
    grouped = labelled.groupby(column, observed=True)["churned"].agg(customers="size", churned="sum")
    grouped["churn_rate"] = grouped["churned"] / grouped["customers"] * 100
    grouped.index = grouped.index.astype(str)
    if order is not None:
        grouped = grouped.reindex([o for o in order if o in grouped.index])
    else:
        grouped = grouped.sort_values(["churn_rate", "customers"], ascending=False)
    return grouped.rename_axis("segment").reset_index()


def segment_columns(labelled: pd.DataFrame) -> list[str]:
    """Text columns worth a churn-by-segment breakdown: RFM segment, then customer attributes."""
    text = [c for c in labelled.columns if pd.api.types.is_string_dtype(labelled[c].dtype)]
    return [c for c in ["rfm_segment", *sorted(c for c in text if c.startswith("attr_"))] if c in text]


def segment_churn(labelled: pd.DataFrame) -> pd.DataFrame:
    """:func:`churn_by` for every segment column, stacked with a ``dimension`` column."""
    parts = [
        churn_by(labelled, c).assign(dimension=c.removeprefix("attr_")) for c in segment_columns(labelled)
    ]
    if not parts:
        return pd.DataFrame(columns=["dimension", "segment", "customers", "churned", "churn_rate"])
    out = pd.concat(parts, ignore_index=True)
    return out[["dimension", "segment", "customers", "churned", "churn_rate"]]


# CLV:CAC the business watches: a customer should earn about three times what winning them cost.
RULE_OF_THUMB = 3.0
NOT_RECORDED = "(not recorded)"
UNKNOWN_COHORT = "unknown"


def quarter_label(ts: pd.Series) -> pd.Series:
    """``2025-08-14`` -> ``2025-Q3``; a missing time gives :data:`UNKNOWN_COHORT`."""
    labels = ts.dt.year.astype("Int64").astype(str) + "-Q" + ts.dt.quarter.astype("Int64").astype(str)
    return labels.where(ts.notna(), UNKNOWN_COHORT).astype(object)


def acquired_customers(
    customers: pd.DataFrame, transactions: pd.DataFrame, channel: str, margin: float
) -> pd.DataFrame:
    """Every customer of the customers table with their acquisition channel, signup cohort and value to date.

    Args:
        customers: one row per customer, with ``channel`` and optionally ``signup_ts``.
        transactions: the customers' transactions before ``as_of``.
        channel: the column naming the acquisition channel (``report.acquisition_channel``).
        margin: ``value.margin``, the share of revenue that is value.

    Returns:
        ``customer_id``, ``channel`` (:data:`NOT_RECORDED` when empty), ``cohort`` (quarter of
        ``signup_ts``, else of the first purchase, see :func:`quarter_label`) and ``value``: net revenue
        to date x margin, the historical value of :func:`cohort_value`; 0 for a customer who never bought
        (winning them still cost the CAC).
    """
    totals = customer_totals(transactions)
    ids = customers["customer_id"]
    first = totals["first"].reindex(ids).reset_index(drop=True)
    start = customers["signup_ts"].reset_index(drop=True) if "signup_ts" in customers.columns else first
    named = customers[channel].reset_index(drop=True)
    return pd.DataFrame(
        {
            "customer_id": ids.to_numpy(),
            "channel": named.astype(object).where(named.notna(), NOT_RECORDED).astype(str).to_numpy(),
            "cohort": quarter_label(start.fillna(first)).to_numpy(),
            "value": (totals["revenue"].reindex(ids).fillna(0.0) * margin).to_numpy(),
        }
    )


def clv_cac(acquired: pd.DataFrame, acquisition_cost: dict[str, float], by: str = "channel") -> pd.DataFrame:
    """Customer value against what winning the customers cost, per ``channel`` or per ``cohort``.

    Each customer costs the CAC of their channel (``report.acquisition_cost``). ``clv`` = value to date
    per customer (:func:`acquired_customers`), ``cac`` = acquisition cost per customer, ``ratio`` =
    total value / total acquisition cost (= clv / cac). Per channel, a channel without a configured
    CAC keeps its customers and value with ``cac`` and ``ratio`` empty; grouped by anything else, only
    customers whose channel has a CAC count (a ratio needs a cost).

    Returns:
        ``by``, ``customers``, ``value`` (total), ``acquisition_cost`` (total), ``clv``, ``cac``,
        ``ratio``; channels by customers (most first), other groups in their sorted order.
    """
    frame = acquired.assign(cost=acquired["channel"].map(acquisition_cost).astype(float))
    if by != "channel":
        frame = frame[frame["cost"].notna()]
    grouped = frame.groupby(by, sort=True)
    out = pd.DataFrame(
        {
            "customers": grouped.size(),
            "value": grouped["value"].sum(),
            "acquisition_cost": grouped["cost"].sum(min_count=1),
        }
    )
    out["clv"] = out["value"] / out["customers"]
    out["cac"] = out["acquisition_cost"] / out["customers"]
    out["ratio"] = out["value"] / out["acquisition_cost"]
    out = out.rename_axis(by).reset_index()
    if by == "channel":
        out = out.sort_values(["customers", "channel"], ascending=[False, True], ignore_index=True)
    return out
