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

from churnguard.core.config import RISK_TIERS, OutreachSettings
from churnguard.models.compare import list_folder, risk_list_dates
from churnguard.models.metrics import best_contact_count, profit_curve

GROUPS = ("outreach", "control", "none")
REASON_COLUMNS = ("reason_1", "reason_2", "reason_3")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
CURVE_POINTS = 400


def find_risk_list(risk_list_dir: Path, as_of: date) -> Path | None:
    """The risk list for ``as_of``, else the latest one dated before it, else ``None``."""
    dates = [day for day in risk_list_dates(risk_list_dir) if day <= as_of]
    return list_folder(risk_list_dir, pd.Timestamp(dates[-1])) / "risk_list.parquet" if dates else None


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


def expected_profit(risk_list: pd.DataFrame, outreach: OutreachSettings) -> tuple[dict, pd.DataFrame]:
    """What the list's outreach is expected to earn, and what contacting the top k would.

    A contact costs ``cost_per_contact`` and earns ``save_rate * churn_probability * customer_value``
    (:func:`churnguard.models.metrics.profit_curve` with the probability as outcome). The top k are
    taken as the list takes its outreach: highest value at risk first, then lowest customer id.

    Returns:
        A summary and the curve (``contacts``, ``expected_profit``) thinned to about
        :data:`CURVE_POINTS` points. The summary holds the list's own plan - ``contacted`` and
        ``control`` (rows of each group), ``contacted_profit``, ``eligible`` (customers of
        ``eligible_tiers``), ``capped`` (fewer selected than eligible: a capacity limited the list) -
        and the curve's ``best_contact_count``, ``best_profit``, ``best_tiers`` (tiers of those best
        customers), ``contact_all_profit``, ``list_size``.
    """
    ordered = risk_list.sort_values(["value_at_risk", "customer_id"], ascending=[False, True], kind="stable")
    p, value = ordered["churn_probability"].to_numpy(), ordered["customer_value"].to_numpy()
    cost, save_rate = outreach.cost_per_contact, outreach.save_rate
    curve = profit_curve(p, value, ordered["value_at_risk"].to_numpy(), cost, save_rate)
    best_k, best = best_contact_count(curve)
    n = len(curve) - 1
    group = ordered["group"].to_numpy() if "group" in ordered.columns else np.full(n, "none")
    contacted, control = group == "outreach", group == "control"
    eligible = int(ordered["risk_tier"].isin(outreach.eligible_tiers).sum())
    best_tiers = set(ordered["risk_tier"].iloc[:best_k])
    summary = {
        "list_size": n,
        "contacted": int(contacted.sum()),
        "control": int(control.sum()),
        "contacted_profit": float((save_rate * p * value - cost)[contacted].sum()),
        "eligible": eligible,
        "eligible_tiers": list(outreach.eligible_tiers),
        "capped": int(contacted.sum() + control.sum()) < eligible,
        "best_contact_count": best_k,
        "best_profit": best,
        "best_tiers": [t for t in RISK_TIERS if t in best_tiers] + sorted(best_tiers - set(RISK_TIERS)),
        "contact_all_profit": float(curve[-1]),
        "cost_per_contact": cost,
        "save_rate": save_rate,
    }
    keep = {0, n, best_k, int(contacted.sum()), *np.linspace(0, n, CURVE_POINTS).round().astype(int).tolist()}
    ks = np.array(sorted(keep))
    return summary, pd.DataFrame({"contacts": ks, "expected_profit": curve[ks]})
