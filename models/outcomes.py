"""What became of past risk lists: realised churn against the prediction, and what outreach saved.

For a list made at ``as_of``, the realised label is the training label's own definition over the
horizon after ``as_of`` (``churnguard.features.build.retained_customers``). Two kinds of rows come out:

- **How right the list was** (slices ``all``, ``tier``, ``decile``): realised against predicted churn,
  ROC AUC, PR AUC and lift, on the customers the list did not act on. The outreach group (contacted,
  so its churn is no longer the model's to predict) and the cooldown group (contacted just before) are
  left out; everyone else, the control group included, kept the future the model predicted.
- **What outreach did** (slices ``group`` and ``contacted``): churn of each group, and on the
  outreach row the effect against the randomly held-out control group with its interval
  (``churnguard.models.effects``), the customers and value retained, the contact cost and the return.
  With a contacts table, the ``contacted`` row compares outreach customers really contacted with the
  control group: not randomised (who was reached is not chance), so labelled as such.

A list whose horizon is still open is measured as ``partial``: customers without a purchase yet may
still buy, so its churn rates are upper bounds and its effect a first look.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from churnguard.core.atomic import write_file_atomically
from churnguard.core.config import ALL_TIERS, Settings
from churnguard.models.compare import list_folder, risk_list_dates
from churnguard.models.effects import INTERVAL_METHOD, churn_effect
from churnguard.models.metrics import auc_or_nan, lift_and_capture, pr_auc_or_nan

# The groups a list can put a customer in; the first two are contacted or were just contacted.
TREATED_GROUPS = ("outreach", "cooldown")
GROUPS = ("outreach", "control", "cooldown", "none")
LIST_COLUMNS = ["customer_id", "churn_probability", "risk_tier", "group", "customer_value"]
EFFECT_COLUMNS = [
    "effect",
    "effect_low",
    "effect_high",
    "save_rate",
    "save_rate_low",
    "save_rate_high",
    "saved_customers",
    "retained_value",
    "contact_cost",
    "roi",
    "roi_low",
    "roi_high",
    "conclusive",
    "needed_per_group",
    "randomised",
    "interval_method",
]
COLUMNS = [
    "list_as_of",
    "measured_as_of",
    "status",
    "days_observed",
    "horizon_days",
    "model_name",
    "model_version",
    "slice_kind",
    "slice",
    "customers",
    "churned",
    "realised_churn_rate",
    "predicted_churn_rate",
    "value",
    "roc_auc",
    "pr_auc",
    "lift_at_10",
    *EFFECT_COLUMNS,
]


@dataclass(frozen=True)
class PastList:
    """A risk list on disk and what its summary says about how it was made."""

    as_of: date
    folder: Path
    model_name: str
    model_version: str
    horizon_days: int
    churn_definition: str

    def read(self) -> pd.DataFrame:
        return pd.read_parquet(self.folder / "risk_list.parquet", columns=LIST_COLUMNS)

    def churn_settings(self, settings: Settings) -> Settings:
        """``settings`` with the churn definition and horizon the list was made for: its promise."""
        churn = settings.churn.model_copy(
            update={"horizon_days": self.horizon_days, "definition": self.churn_definition}
        )
        return settings.model_copy(update={"churn": churn})


def past_lists(risk_lists: Path, measured_as_of: pd.Timestamp, settings: Settings) -> list[PastList]:
    """The lists in ``risk_lists`` made before ``measured_as_of`` (those after it have no outcome yet).

    A list whose summary does not say its horizon or churn definition is measured with ``settings``'.
    """
    found = []
    for day in risk_list_dates(risk_lists):
        if day >= measured_as_of.date():
            continue
        folder = list_folder(risk_lists, pd.Timestamp(day))
        summary_path = folder / "summary.json"
        summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else {}
        found.append(
            PastList(
                as_of=day,
                folder=folder,
                model_name=str(summary.get("model_name", "")),
                model_version=str(summary.get("model_version", "")),
                horizon_days=int(summary.get("horizon_days") or settings.churn.horizon_days),
                churn_definition=str(summary.get("churn_definition") or settings.churn.definition),
            )
        )
    return found


def measure_list(
    risk: pd.DataFrame,
    retained: pd.Index,
    days_observed: int,
    past: PastList,
    measured_as_of: pd.Timestamp,
    settings: Settings,
    contacted: pd.Index | None = None,
) -> pd.DataFrame:
    """The outcome rows of one list (columns :data:`COLUMNS`).

    Args:
        risk: the list's rows (:data:`LIST_COLUMNS`).
        retained: customers who did not churn in the observed part of the horizon.
        days_observed: days of the horizon the data covers (the whole horizon: the list is ``closed``).
        past: the list's date, model and horizon.
        measured_as_of: the data's date.
        settings: the outreach cost and planned save rate.
        contacted: customers with a contact in the contacts table during the horizon, if there is one.
    """
    risk = risk.reset_index(drop=True)
    churned = ~risk["customer_id"].isin(retained).to_numpy()
    closed = days_observed >= past.horizon_days
    head = {
        "list_as_of": past.as_of,
        "measured_as_of": measured_as_of.date(),
        "status": "closed" if closed else "partial",
        "days_observed": days_observed,
        "horizon_days": past.horizon_days,
        "model_name": past.model_name,
        "model_version": past.model_version,
    }
    rows = []
    untreated = ~risk["group"].isin(TREATED_GROUPS).to_numpy()
    y, p = churned[untreated].astype(int), risk["churn_probability"].to_numpy(dtype=float)[untreated]
    rows.append({"slice_kind": "all", "slice": "all", **_rates(risk[untreated], churned[untreated])})
    rows[-1].update(
        roc_auc=auc_or_nan(y, p), pr_auc=pr_auc_or_nan(y, p), lift_at_10=lift_and_capture(y, p, 0.1)[0]
    )
    for tier in ALL_TIERS:
        in_tier = untreated & (risk["risk_tier"] == tier).to_numpy()
        if in_tier.any():
            rows.append({"slice_kind": "tier", "slice": tier, **_rates(risk[in_tier], churned[in_tier])})
    # Deciles of the whole list's ranking (1 = the riskiest tenth), counted on the untreated customers.
    rank = np.argsort(np.argsort(-risk["churn_probability"].to_numpy(), kind="stable"), kind="stable")
    decile = rank * 10 // max(len(risk), 1) + 1
    for d in range(1, 11):
        in_decile = untreated & (decile == d)
        if in_decile.any():
            rows.append(
                {"slice_kind": "decile", "slice": str(d), **_rates(risk[in_decile], churned[in_decile])}
            )
    control = (risk["group"] == "control").to_numpy()
    for group in GROUPS:
        members = (risk["group"] == group).to_numpy()
        if not members.any():
            continue
        row = {"slice_kind": "group", "slice": group, **_rates(risk[members], churned[members])}
        if group == "outreach" and control.any():
            row.update(_effect(risk[members], churned[members], churned[control], settings, randomised=True))
        rows.append(row)
    if contacted is not None:
        reached = (risk["group"] == "outreach").to_numpy() & risk["customer_id"].isin(contacted).to_numpy()
        if reached.any():
            row = {"slice_kind": "contacted", "slice": "contacted", **_rates(risk[reached], churned[reached])}
            if control.any():
                row.update(
                    _effect(risk[reached], churned[reached], churned[control], settings, randomised=False)
                )
            rows.append(row)
    frame = pd.DataFrame([{**head, **row} for row in rows])
    return frame.reindex(columns=COLUMNS)


def _rates(rows: pd.DataFrame, churned: np.ndarray) -> dict:
    return {
        "customers": len(rows),
        "churned": int(churned.sum()),
        "realised_churn_rate": float(churned.mean()) if len(rows) else math.nan,
        "predicted_churn_rate": float(rows["churn_probability"].mean()) if len(rows) else math.nan,
        "value": float(rows["customer_value"].sum()),
    }


def _effect(
    treated: pd.DataFrame,
    treated_churned: np.ndarray,
    control_churned: np.ndarray,
    settings: Settings,
    randomised: bool,
) -> dict:
    """The effect of outreach on ``treated`` against the control group, in customers and in money.

    Retained value is the customers kept (effect x group size) times the group's mean customer value
    (a year of margin, as the list values customers); the return is what that brings per unit spent on
    contacts, with the effect's interval carried through (it is linear in the effect).
    """
    found = churn_effect(
        int(treated_churned.sum()),
        len(treated),
        int(control_churned.sum()),
        len(control_churned),
        settings.outreach.save_rate,
    )
    n = len(treated)
    mean_value = float(treated["customer_value"].mean())
    cost = n * settings.outreach.cost_per_contact

    def roi(effect: float) -> float:
        return (effect * n * mean_value - cost) / cost if cost > 0 else math.nan

    return {
        "effect": found.effect,
        "effect_low": found.effect_low,
        "effect_high": found.effect_high,
        "save_rate": found.save_rate,
        "save_rate_low": found.save_rate_low,
        "save_rate_high": found.save_rate_high,
        "saved_customers": found.effect * n,
        "retained_value": found.effect * n * mean_value,
        "contact_cost": cost,
        "roi": roi(found.effect),
        "roi_low": roi(found.effect_low),
        "roi_high": roi(found.effect_high),
        "conclusive": found.conclusive,
        "needed_per_group": found.needed_per_group,
        "randomised": randomised,
        "interval_method": INTERVAL_METHOD,
    }


def slices_by_list(rows: list[dict]) -> dict[str, dict[str, dict]]:
    """Outcome rows (as records) grouped by list date, then by slice name, in the order given."""
    grouped: dict[str, dict[str, dict]] = {}
    for row in rows:
        grouped.setdefault(str(row["list_as_of"]), {})[row["slice"]] = row
    return grouped


def write_outcomes(outcomes: pd.DataFrame, out_dir: Path) -> Path:
    """``outcomes.parquet`` (full precision) and ``outcomes.csv`` (UTF-8 with BOM), each atomically."""
    out_dir = Path(out_dir)
    write_file_atomically(out_dir / "outcomes.parquet", lambda tmp: outcomes.to_parquet(tmp, index=False))
    readable = outcomes.round(4)
    write_file_atomically(
        out_dir / "outcomes.csv", lambda tmp: readable.to_csv(tmp, index=False, encoding="utf-8-sig")
    )
    return out_dir / "outcomes.parquet"


def realised_metrics(outcomes: pd.DataFrame) -> dict[str, float]:
    """The figures of one closed list worth a series in MLflow: realised ranking, calibration and effect."""
    overall = outcomes[outcomes["slice_kind"] == "all"].iloc[0]
    figures = {
        "realised_roc_auc": overall["roc_auc"],
        "realised_pr_auc": overall["pr_auc"],
        "realised_lift_at_10": overall["lift_at_10"],
        "realised_churn_rate": overall["realised_churn_rate"],
        "realised_predicted_churn_rate": overall["predicted_churn_rate"],
    }
    outreach = outcomes[(outcomes["slice_kind"] == "group") & (outcomes["slice"] == "outreach")]
    if len(outreach) and pd.notna(outreach["effect"].iloc[0]):
        figures["realised_outreach_effect"] = outreach["effect"].iloc[0]
        figures["realised_save_rate"] = outreach["save_rate"].iloc[0]
    return {k: float(v) for k, v in figures.items() if pd.notna(v)}


def log_realised(client, past: PastList, figures: dict[str, float]) -> str | None:
    """Add a closed list's realised figures to the MLflow run of the model version that made it.

    Each figure is a metric series stepped by the list's date (days since 1970-01-01, timestamped with
    it), so a model's decay in production shows up in MLflow's charts beside its backtest. Measuring the
    same list again adds nothing twice. Returns the run id, or ``None`` when the list names no registered
    version (scored from a plain run URI).
    """
    from mlflow.entities import Metric
    from mlflow.exceptions import MlflowException

    if not past.model_name or not past.model_version.isdigit():
        return None
    try:
        run_id = client.get_model_version(past.model_name, past.model_version).run_id
    except MlflowException:  # the version was deleted since: nothing to attach the figures to
        return None
    step = (past.as_of - date(1970, 1, 1)).days
    stamp = int(pd.Timestamp(past.as_of, tz="UTC").timestamp() * 1000)
    new = [
        Metric(key, value, stamp, step)
        for key, value in figures.items()
        if not any(m.step == step for m in client.get_metric_history(run_id, key))
    ]
    if new:
        client.log_batch(run_id, metrics=new)
    return run_id
