"""Drift of the latest risk list: how far the scored customers have moved from the model's training data.

Reads the ``drift`` entry scoring writes into a list's ``summary.json`` (population stability index of
the score and of each feature, shares as fractions) and turns it into the plain values of the drift
part of the ``outcomes`` block of ``templates/report.html.j2``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from churnguard.reports.markup import num, share, table

if TYPE_CHECKING:
    from churnguard.reports.content import ReportContent

Section = dict[str, Any]
DRIFT_WORDS = {
    "ok": ("OK", "The customers scored look like the data the model was trained on."),
    "watch": (
        "Watch",
        "Some inputs have moved away from the training data (PSI of {watch} or more): the model may start "
        "to lose accuracy; keep an eye on the features below.",
    ),
    "alert": (
        "Alert",
        "The data has moved far from what the model was trained on (PSI of {alert} or more): check the "
        "features below before trusting the scores, and consider retraining.",
    ),
    "unknown": ("Unknown", "Drift could not be measured for this list."),
}


def read_drift(summary_path: Path) -> dict | None:
    """The ``drift`` entry of a risk list's ``summary.json``; ``None`` when the list has none."""
    try:
        summary = json.loads(Path(summary_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    drift = summary.get("drift") if isinstance(summary, dict) else None
    return drift if isinstance(drift, dict) else None


def drift_view(c: ReportContent) -> Section:
    """Drift status of the latest risk list: coloured status, score PSI, the most drifting features."""
    if c.risk is None:
        return {"missing": "No risk list was found, so there is no drift measurement to show."}
    drift = c.risk.drift
    if drift is None:
        return {
            "missing": f"Drift was not measured for the list of {c.risk.as_of}: it was scored before drift "
            "checks were added. The next scoring run measures it."
        }
    settings = c.settings.scoring.drift
    thresholds = {"watch": settings.watch, "alert": settings.alert, **(drift.get("thresholds") or {})}
    status = drift.get("status") if drift.get("status") in DRIFT_WORDS else "unknown"
    label, words = DRIFT_WORDS[status]
    top = pd.DataFrame(drift.get("top") or [])
    top = top.reindex(
        columns=[
            "feature",
            "description",
            "psi",
            "importance",
            "missing_share",
            "reference_missing_share",
            "unseen_share",
        ]
    )
    return {
        "missing": None,
        "status": status,
        "label": label,
        "text": words.format(**thresholds) + f" (risk list of {c.risk.as_of})",
        "stats": [
            ("Score PSI", num(drift.get("score_psi"), 3)),
            ("Largest feature PSI", num(drift.get("max_feature_psi"), 3)),
        ],
        "explain": "Population stability index (PSI): how far a distribution has moved from training, 0 = "
        f"unchanged. Below {thresholds['watch']} stable, {thresholds['watch']} to {thresholds['alert']} worth "
        f"watching, {thresholds['alert']} or more a real shift. The score PSI compares the churn probabilities.",
        "top": table(
            top,
            [
                ("description", "Feature", lambda v: str(v) if not pd.isna(v) else "–"),
                ("feature", "Name", str),
                ("psi", "PSI", lambda v: num(v, 3)),
                # How much the model leans on it: a shift in a feature it barely uses cannot raise an alert.
                ("importance", "Share of the model", share),
                ("missing_share", "Missing now", share),
                ("reference_missing_share", "Missing in training", share),
                ("unseen_share", "Unseen categories", share),
            ],
        )
        if len(top)
        else None,
        "note": drift.get("note"),
    }
