"""Did it work? What past risk lists predicted against what happened, and what outreach kept.

Reads ``outcomes.parquet`` (written by ``churn outcomes``: one row per list and slice, rates and
effects as fractions) and turns it into the plain values the ``outcomes`` block of
``templates/report.html.j2`` shows, with the drift of the latest list (:mod:`.drift_view`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from churnguard.core.config import ALL_TIERS
from churnguard.reports import charts
from churnguard.reports.drift_view import drift_view
from churnguard.reports.markup import chart, in_currency, num, share, table

if TYPE_CHECKING:
    from churnguard.reports.content import ReportContent

OUTCOMES_FILE = "outcomes.parquet"
HOW_TO_MEASURE = "churn outcomes --data DIR --risk-lists DIR --out DIR"
Section = dict[str, Any]


def read_outcomes(folder: Path) -> pd.DataFrame | None:
    """``folder/outcomes.parquet`` with its dates as ``YYYY-MM-DD`` text, or ``None`` when absent or empty."""
    path = Path(folder) / OUTCOMES_FILE
    if not path.is_file():
        return None
    frame = pd.read_parquet(path)
    if frame.empty:
        return None
    for column in ("list_as_of", "measured_as_of"):
        frame[column] = [pd.Timestamp(v).date().isoformat() for v in frame[column]]
    return frame


def _points(value: Any) -> str:
    """A difference of two fractions in percentage points, signed."""
    return "–" if _missing(value) else f"{float(value) * 100:+.1f} pts"


def _return(value: Any) -> str:
    """A return on money spent (a fraction) as a signed percentage: 8.48 -> ``+848%``."""
    return "–" if _missing(value) else f"{float(value) * 100:+,.0f}%"


def _missing(value: Any) -> bool:
    return value is None or bool(pd.isna(value))


def _status(row: pd.Series) -> str:
    if row["status"] == "closed":
        return "Closed"
    return f"Partial: {int(row['days_observed']):,} of {int(row['horizon_days']):,} days"


def _model(row: pd.Series) -> str:
    name, version = row.get("model_name"), row.get("model_version")
    return f"{name or 'model'} v{version}" if not _missing(version) and str(version) else str(name or "–")


def _effect_text(row: pd.Series | None) -> str:
    if row is None or _missing(row.get("effect")):
        return "–"
    return f"{_points(row['effect'])} ({_points(row['effect_low'])} to {_points(row['effect_high'])})"


def _row(rows: pd.DataFrame, kind: str, name: str) -> pd.Series | None:
    found = rows[(rows["slice_kind"] == kind) & (rows["slice"] == name)]
    return found.iloc[0] if len(found) else None


def _latest_measurement(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Each list's rows of its latest measurement only."""
    latest = outcomes.groupby("list_as_of")["measured_as_of"].transform("max")
    return outcomes[outcomes["measured_as_of"] == latest]


def history_table(outcomes: pd.DataFrame) -> dict:
    """Every measured list, newest first: status, model, ranking, predicted vs realised churn, effect."""
    rows = []
    for _, rows_of_list in sorted(outcomes.groupby("list_as_of"), key=lambda g: g[0], reverse=True):
        overall = _row(rows_of_list, "all", "all")
        if overall is not None:
            effect = _effect_text(_row(rows_of_list, "group", "outreach"))
            rows.append(
                {**overall.to_dict(), "status": _status(overall), "model": _model(overall), "effect": effect}
            )
    return table(
        pd.DataFrame(rows),
        [
            ("list_as_of", "List of", str),
            ("status", "Status", str),
            ("model", "Model", str),
            ("roc_auc", "ROC AUC", lambda v: num(v, 3)),
            ("predicted_churn_rate", "Predicted churn", share),
            ("realised_churn_rate", "Realised churn", share),
            ("effect", "Outreach effect (95% interval)", str),
        ],
    )


def shown_list(outcomes: pd.DataFrame) -> str:
    """The date of the newest closed list, else of the newest (partial) one."""
    closed = outcomes.loc[outcomes["status"] == "closed", "list_as_of"]
    return str(closed.max() if len(closed) else outcomes["list_as_of"].max())


def _comparison(row: pd.Series, control: pd.Series, currency: str, treated: str) -> Section:
    """Churn of ``treated`` (outreach or contacted) against control, its interval, verdict and money."""
    cash = in_currency(currency)
    effect, low, high = row["effect"], row["effect_low"], row["effect_high"]
    tiles = [
        {
            "label": f"Churn, {treated}",
            "value": share(row["realised_churn_rate"]),
            "note": f"{int(row['churned']):,} of {int(row['customers']):,} customers left",
        },
        {
            "label": "Churn, control group (not contacted)",
            "value": share(control["realised_churn_rate"]),
            "note": f"{int(control['churned']):,} of {int(control['customers']):,} customers left",
        },
        {
            "label": "Difference (control − " + treated + ")",
            "value": _points(effect),
            "note": f"95% interval {_points(low)} to {_points(high)}; above zero: fewer left than in control",
        },
        {
            "label": "Save rate",
            "value": share(row["save_rate"]),
            "note": f"share of would-be leavers kept; 95% interval {share(row['save_rate_low'])} to "
            f"{share(row['save_rate_high'])}",
        },
    ]
    conclusive = not _missing(row.get("conclusive")) and bool(row["conclusive"])
    if conclusive and effect > 0:
        verdict = "Conclusive: the interval lies above zero, so outreach kept customers who would have left."
    elif conclusive:
        verdict = "Conclusive: the interval lies below zero, so customers contacted left more often than the control group."
    else:
        needed = row.get("needed_per_group")
        verdict = "Not conclusive: too few customers to tell, the interval includes zero (no effect)."
        if not _missing(needed):
            verdict = (
                f"Not conclusive: too few customers to tell; about {math.ceil(float(needed)):,} per group would "
                f"be needed to tell an effect this size from none (this list: {int(row['customers']):,} "
                f"{treated}, {int(control['customers']):,} control)."
            )
    roi = row["roi"]
    money = [
        {
            "label": "Contact cost",
            "value": cash(row["contact_cost"]),
            "note": f"{int(row['customers']):,} contacts",
        },
        {
            "label": "Value retained",
            "value": cash(row["retained_value"]),
            "note": f"about {num(row['saved_customers'])} customers kept × their mean customer value",
        },
        {
            "label": "Net",
            "value": cash(row["retained_value"] - row["contact_cost"]),
            "note": "value retained − contact cost",
        },
        {
            "label": "Return on outreach money",
            "value": _return(roi),
            "note": "(value retained − contact cost) ÷ contact cost; 95% interval "
            f"{_return(row['roi_low'])} to {_return(row['roi_high'])}",
        },
    ]
    method = row.get("interval_method")
    return {
        "tiles": tiles,
        "verdict": verdict,
        "conclusive": conclusive,
        "tone": ("good" if effect > 0 else "bad") if conclusive else "open",
        "method": str(method) if not _missing(method) and str(method) else "95% intervals.",
        "money": money,
    }


def list_detail(rows: pd.DataFrame, currency: str) -> Section:
    """What one measured list predicted, what happened, and what its outreach did."""
    overall = _row(rows, "all", "all")
    if overall is None:
        overall = rows.iloc[0]
    tiers = rows[rows["slice_kind"] == "tier"].copy()
    order = {t: i for i, t in enumerate(ALL_TIERS)}
    tiers = tiers.sort_values("slice", key=lambda s: s.map(lambda t: order.get(t, len(order))))
    deciles = rows[rows["slice_kind"] == "decile"].copy()
    deciles = deciles.sort_values("slice", key=lambda s: s.astype(int))
    partial = None
    if overall["status"] != "closed":
        partial = (
            f"Partial: {int(overall['days_observed']):,} of {int(overall['horizon_days']):,} days of the horizon "
            "observed. The horizon is not over, so churn is counted so far and will still rise: read these "
            "figures as provisional."
        )
    intro = (
        f"Scored by {_model(overall)}; outcomes measured with data as of {overall['measured_as_of']}. "
        f"Of the {int(overall['customers']):,} customers the list did not contact, "
        f"{int(overall['churned']):,} left: {share(overall['realised_churn_rate'])} against "
        f"{share(overall['predicted_churn_rate'])} predicted. Ranking on what really happened: ROC AUC "
        f"{num(overall['roc_auc'], 3)}, PR AUC {num(overall['pr_auc'], 3)}, lift in the riskiest 10% "
        + ("–" if _missing(overall["lift_at_10"]) else f"{overall['lift_at_10']:.1f}x")
        + ". Tiers and deciles also count only the customers not contacted: outreach changes what happens."
    )
    slices = [
        ("slice", "Tier", str.capitalize),
        ("customers", "Customers", num),
        ("predicted_churn_rate", "Predicted churn", share),
        ("realised_churn_rate", "Realised churn", share),
        ("churned", "Left", num),
    ]
    detail: Section = {
        "title": f"Risk list of {overall['list_as_of']}",
        "partial": partial,
        "intro": intro,
        "tier_chart": chart(charts.outcome_tiers_chart(tiers), "Predicted and realised churn per tier")
        if len(tiers)
        else None,
        "tiers": table(tiers, slices) if len(tiers) else None,
        "deciles": table(deciles, [("slice", "Decile (1 = riskiest)", str), *slices[1:]])
        if len(deciles)
        else None,
        "experiment": None,
        "no_experiment": None,
        "contacted": None,
    }
    outreach, control = _row(rows, "group", "outreach"), _row(rows, "group", "control")
    if outreach is None or control is None or _missing(outreach.get("effect")):
        detail["no_experiment"] = (
            "The list held out no control group"
            if control is None
            else "The list contacted nobody"
            if outreach is None
            else "No effect was computed for this list"
        ) + ", so what outreach did cannot be measured."
        return detail
    detail["experiment"] = _comparison(outreach, control, currency, "outreach group")
    contacted = _row(rows, "contacted", "contacted")
    if contacted is not None and not _missing(contacted.get("effect")):
        detail["contacted"] = _comparison(contacted, control, currency, "contacted")
    return detail


def outcomes_section(c: ReportContent) -> Section:
    """The "Did it work?" section: measured lists, the newest closed one in detail, and drift."""
    section: Section = {
        "intro": "Each risk list predicts who will leave within its horizon. Once the horizon has passed, "
        "`churn outcomes` counts who really left: how right the predictions were, and whether contacting "
        "customers kept any of them (the outreach group against the control group, held out at random).",
        "missing": None,
        "history": None,
        "history_note": None,
        "shown": None,
        "drift": drift_view(c),
    }
    if c.outcomes is None:
        section["missing"] = (
            f"No risk list has been measured yet (no {OUTCOMES_FILE} in {c.outcomes_dir}). Once a list's "
            f"horizon ({c.settings.churn.horizon_days} days) has passed, run `{HOW_TO_MEASURE}` to compare it "
            "with what happened; a list still inside its horizon is measured as partial."
        )
        return section
    outcomes = _latest_measurement(c.outcomes)
    section["history"] = history_table(outcomes)
    if (outcomes["status"] != "closed").any():
        section["history_note"] = (
            "Partial lists are still inside their horizon: their realised churn is counted so far and will "
            "still rise, so it reads low against the prediction until the horizon is over."
        )
    day = shown_list(outcomes)
    section["shown"] = list_detail(outcomes[outcomes["list_as_of"] == day], c.settings.report.currency)
    return section
