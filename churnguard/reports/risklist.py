"""What the latest risk list says: value at risk per tier, common reasons, outreach plan and its profit.

Pure pandas over a risk list frame in the scoring format (``customer_id``, ``churn_probability``,
``rank``, ``risk_tier``, ``customer_value``, ``value_at_risk``, ``reason_1..3``, ``group`` ...).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from churnguard.core.config import RISK_TIERS
from churnguard.models.metrics import best_contact_count, profit_curve

GROUPS = ("outreach", "control", "none")
REASON_COLUMNS = ("reason_1", "reason_2", "reason_3")
_FOLDER = re.compile(r"^as_of=(\d{4}-\d{2}-\d{2})$")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
CURVE_POINTS = 400


def find_risk_list(risk_list_dir: Path, as_of: date) -> Path | None:
    """The risk list for ``as_of``, else the latest one dated before it, else ``None``.

    Looks for ``risk_list_dir/as_of=YYYY-MM-DD/risk_list.parquet``.
    """
    if not risk_list_dir.is_dir():
        return None
    dated = []
    for folder in risk_list_dir.iterdir():
        match = _FOLDER.match(folder.name)
        if match and (folder / "risk_list.parquet").is_file():
            day = date.fromisoformat(match.group(1))
            if day <= as_of:
                dated.append((day, folder / "risk_list.parquet"))
    return max(dated)[1] if dated else None


def tier_summary(risk_list: pd.DataFrame) -> pd.DataFrame:
    """Customers and value at risk per tier, most urgent tier first.

    Returns:
        ``tier``, ``customers``, ``share`` (% of the list), ``mean_probability``, ``customer_value``,
        ``value_at_risk`` (sums over the tier).
    """
    grouped = risk_list.groupby("risk_tier", observed=True).agg(
        customers=("customer_id", "size"),
        mean_probability=("churn_probability", "mean"),
        customer_value=("customer_value", "sum"),
        value_at_risk=("value_at_risk", "sum"),
    )
    order = [*RISK_TIERS, *sorted(set(grouped.index) - set(RISK_TIERS))]
    grouped = grouped.reindex(order)
    grouped["customers"] = grouped["customers"].fillna(0).astype("int64")
    grouped[["customer_value", "value_at_risk"]] = grouped[["customer_value", "value_at_risk"]].fillna(0.0)
    grouped.insert(1, "share", grouped["customers"] / max(len(risk_list), 1) * 100)
    return grouped.rename_axis("tier").reset_index()


def reason_kind(reason: str) -> str:
    """A reason with its numbers replaced by ``N``, so reasons of one template count together."""
    return _NUMBER.sub("N", reason.strip())


def top_reasons(risk_list: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The most frequent reasons across the list (numbers generalised, see :func:`reason_kind`).

    Returns:
        ``reason``, ``customers`` (with it among their reasons), ``main_reason`` (as ``reason_1``),
        ``share`` (% of the list with it); most frequent first, at most ``n`` rows.
    """
    present = [c for c in REASON_COLUMNS if c in risk_list.columns]
    long = risk_list[["customer_id", *present]].melt("customer_id", var_name="slot", value_name="reason")
    long = long[long["reason"].notna() & (long["reason"].astype(str).str.strip() != "")]
    long = long.assign(reason=long["reason"].astype(str).map(reason_kind))
    customers = long.drop_duplicates(["customer_id", "reason"]).groupby("reason").size()
    main = long[long["slot"] == "reason_1"].groupby("reason").size()
    out = pd.DataFrame({"customers": customers, "main_reason": main.reindex(customers.index, fill_value=0)})
    out["share"] = out["customers"] / max(len(risk_list), 1) * 100
    out = out.rename_axis("reason").reset_index()
    return out.sort_values(["customers", "reason"], ascending=[False, True]).head(n).reset_index(drop=True)


def outreach_groups(risk_list: pd.DataFrame) -> pd.DataFrame:
    """Planned outreach: ``group`` (outreach / control / none), ``customers``, ``value_at_risk``."""
    grouped = risk_list.groupby("group", observed=True).agg(
        customers=("customer_id", "size"), value_at_risk=("value_at_risk", "sum")
    )
    order = [*GROUPS, *sorted(set(grouped.index) - set(GROUPS))]
    grouped = grouped.reindex(order).fillna(0)
    grouped["customers"] = grouped["customers"].astype("int64")
    return grouped.rename_axis("group").reset_index()


def list_order(risk_list: pd.DataFrame) -> str:
    """The column the list is ranked by: ``value_at_risk`` when ranks follow it, else ``churn_probability``."""
    ranked = risk_list.sort_values("rank")["value_at_risk"].to_numpy()
    return "value_at_risk" if np.all(np.diff(ranked) <= 1e-9) else "churn_probability"


def expected_profit(
    risk_list: pd.DataFrame, cost_per_contact: float, save_rate: float, capacity: int | None = None
) -> tuple[dict, pd.DataFrame]:
    """Expected profit of contacting the top k of the list, in the list's own order.

    Uses :func:`churnguard.models.metrics.profit_curve` with the churn probability as outcome: contacting a
    customer costs ``cost_per_contact`` and earns ``save_rate * churn_probability * customer_value``.

    Returns:
        A summary (``ordered_by``, ``list_size``, ``best_contact_count``, ``best_profit``,
        ``profit_at_capacity`` when ``capacity`` is set, ``contact_all_profit``) and the curve
        (``contacts``, ``expected_profit``) thinned to about :data:`CURVE_POINTS` points.
    """
    ordered_by = list_order(risk_list)
    curve = profit_curve(
        risk_list["churn_probability"].to_numpy(),
        risk_list["customer_value"].to_numpy(),
        risk_list[ordered_by].to_numpy(),
        cost_per_contact,
        save_rate,
    )
    best_k, best = best_contact_count(curve)
    n = len(curve) - 1
    summary = {
        "ordered_by": ordered_by,
        "list_size": n,
        "best_contact_count": best_k,
        "best_profit": best,
        "contact_all_profit": float(curve[-1]),
        "cost_per_contact": cost_per_contact,
        "save_rate": save_rate,
    }
    keep = {0, n, best_k, *np.linspace(0, n, CURVE_POINTS).round().astype(int).tolist()}
    if capacity is not None:
        summary["capacity"] = capacity
        summary["profit_at_capacity"] = float(curve[min(capacity, n)])
        keep.add(min(capacity, n))
    ks = np.array(sorted(keep))
    return summary, pd.DataFrame({"contacts": ks, "expected_profit": curve[ks]})
