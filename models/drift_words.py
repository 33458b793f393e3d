"""The words of a drift measurement: a terminal line, the figures behind a status, and why it is lower.

``churnguard.models.drift`` measures; this module only says what the measurement (a ``summary.json``
``drift`` entry) means, for the terminal, the Prefect log and artifact.
"""

from __future__ import annotations

from collections.abc import Callable

from churnguard.core.config import DriftSettings


def why_lower(measured: list[dict], status: str, unweighted: str, settings: DriftSettings) -> str:
    """One sentence: the features that reached ``unweighted``'s threshold without raising the status to it.

    E.g. ``evt_nps_response_days_since (PSI 0.87) moved a lot but carries little of the model (2% of
    its importance): watch, not alert.``
    """
    level = settings.alert if unweighted == "alert" else settings.watch
    moved = [m for m in measured if m["psi"] >= level]
    ignored = [m for m in moved if m["feature"] in settings.ignore]
    light = [m for m in moved if m["feature"] not in settings.ignore and m["carrying"] is False]
    clauses = []
    if len(light) == 1:
        m = light[0]
        clauses.append(
            f"{m['feature']} (PSI {m['psi']:.2f}) moved a lot but carries little of the model "
            f"({_percent(m['importance'])} of its importance)"
        )
    elif light:
        named = _names(light, lambda m: f"PSI {m['psi']:.2f}, {_percent(m['importance'])} of the importance")
        clauses.append(f"{named} moved a lot but carry little of the model")
    if ignored:
        one = len(ignored) == 1
        named = _names(ignored, lambda m: f"PSI {m['psi']:.2f}")
        verb, cycle = ("is", "it cycles") if one else ("are", "they cycle")
        clauses.append(f"{named} moved but {verb} in scoring.drift.ignore ({cycle} by design)")
    return f"{'; '.join(clauses)}: {status}, not {unweighted}."


def _names(rows: list[dict], figures: Callable[[dict], str], most: int = 3) -> str:
    """``a (figures), b (figures) and c (figures)``; beyond ``most`` rows, ``and N more``."""
    named = [f"{m['feature']} ({figures(m)})" for m in rows[:most]]
    if len(rows) > most:
        named.append(f"{len(rows) - most} more")
    return named[0] if len(named) == 1 else f"{', '.join(named[:-1])} and {named[-1]}"


def _percent(share: float) -> str:
    return "under 1%" if share < 0.005 else f"{share:.0%}"


def drift_line(drift: dict) -> str:
    """One line for the terminal, e.g. ``Drift: ok (score PSI 0.02, largest feature PSI 0.04)``."""
    status = drift["status"]
    if status == "unknown":
        return f"Drift: unknown ({drift['note']})"
    if status == "ok":
        line = f"Drift: ok ({drift_details(drift)})"
    else:
        line = f"Drift {'ALERT' if status == 'alert' else 'watch'}: {drift_details(drift)}"
    return f"{line}. {drift['note']}" if drift.get("note") else line


def drift_details(drift: dict) -> str:
    """The figures behind a known status; watch and alert name the features at or above the watch threshold."""
    figures = f"score PSI {_two(drift['score_psi'])}, largest feature PSI {_two(drift['max_feature_psi'])}"
    if drift["status"] == "ok":
        return figures
    moved = [t for t in drift["top"] if t["psi"] >= drift["thresholds"]["watch"]]
    named = ", ".join(f"{t['feature']} ({t['psi']:.2f})" for t in moved) or "none, the score itself"
    return f"{figures}; features moved most: {named}"


def _two(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"
