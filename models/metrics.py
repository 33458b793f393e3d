"""Measures a retention team acts on: ranking, calibration, lift and capture, and money.

All functions are pure numpy over arrays of labels (1 = churned), scores/probabilities and values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

TOP_SHARES = (0.05, 0.10, 0.20)


# Measure key -> (plain words for a data engineer or a retention lead, how to show a value).
def ranking_order(scores: np.ndarray) -> np.ndarray:
    """Indices from highest to lowest score; ties keep input order so results are reproducible."""
    return np.argsort(-np.asarray(scores, dtype=float), kind="stable")


def lift_and_capture(y: np.ndarray, scores: np.ndarray, share: float) -> tuple[float, float]:
    """Lift (churn rate in the top ``share`` / overall rate) and capture (share of all churners found).

    Args:
        y: 1 for churned, 0 otherwise.
        scores: higher means more likely to churn.
        share: fraction of the list contacted, e.g. 0.1 for the top 10%.
    """
    y = np.asarray(y, dtype=float)
    k = max(1, round(len(y) * share))
    top = y[ranking_order(scores)[:k]]
    base = y.mean()
    if base == 0:
        return float("nan"), float("nan")
    return float(top.mean() / base), float(top.sum() / y.sum())


def precision_at(y: np.ndarray, scores: np.ndarray, k: int) -> float:
    """Share of churners among the ``k`` highest-scored customers."""
    k = int(min(max(k, 1), len(y)))
    return float(np.asarray(y, dtype=float)[ranking_order(scores)[:k]].mean())


def expected_calibration_error(y: np.ndarray, probabilities: np.ndarray, bins: int = 10) -> float:
    """Weighted mean gap between predicted and observed churn rate over equal-width probability bins."""
    y = np.asarray(y, dtype=float)
    p = np.clip(np.asarray(probabilities, dtype=float), 0, 1)
    which = np.minimum((p * bins).astype(int), bins - 1)
    error = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            error += inside.mean() * abs(p[inside].mean() - y[inside].mean())
    return float(error)


def calibration_table(y: np.ndarray, probabilities: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Per equal-width bin: customers, mean predicted probability, observed churn rate."""
    frame = pd.DataFrame({"y": np.asarray(y, dtype=float), "p": np.clip(probabilities, 0, 1)})
    frame["bin"] = np.minimum((frame["p"] * bins).astype(int), bins - 1)
    grouped = frame.groupby("bin").agg(
        customers=("y", "size"), predicted=("p", "mean"), observed=("y", "mean")
    )
    return grouped.reset_index()


def profit_curve(
    outcome: np.ndarray, value: np.ndarray, scores: np.ndarray, cost_per_contact: float, save_rate: float
) -> np.ndarray:
    """Cumulative profit of contacting the top k customers by score, for k = 0..n.

    Contacting a customer costs ``cost_per_contact``; a contacted churner is kept with probability
    ``save_rate``, which earns their ``value``. ``outcome`` is the churn label when judging a model
    on labelled data, or the churn probability when planning outreach (expected profit).
    """
    order = ranking_order(scores)
    gain = np.asarray(outcome, dtype=float)[order] * save_rate * np.asarray(value, dtype=float)[order]
    return np.concatenate([[0.0], np.cumsum(gain - cost_per_contact)])


def best_contact_count(curve: np.ndarray) -> tuple[int, float]:
    """The k with the highest profit on a curve from :func:`profit_curve`, and that profit."""
    k = int(np.argmax(curve))
    return k, float(curve[k])


def auc_or_nan(y: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC, or NaN when only one class is present (e.g. a tiny segment)."""
    y = np.asarray(y)
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, scores))


def pr_auc_or_nan(y: np.ndarray, scores: np.ndarray) -> float:
    """PR AUC (average precision), or NaN when only one class is present."""
    y = np.asarray(y)
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(average_precision_score(y, scores))


def classification_metrics(
    y: np.ndarray,
    probabilities: np.ndarray,
    value: np.ndarray,
    cost_per_contact: float,
    save_rate: float,
    capacity: int | None = None,
    shares: Sequence[float] = TOP_SHARES,
) -> dict[str, float]:
    """Every headline measure of one scored, labelled set.

    Args:
        y: churn labels.
        probabilities: calibrated churn probabilities (also the ranking).
        value: customer value (trailing spend times margin).
        cost_per_contact: outreach cost per customer.
        save_rate: share of contacted churners kept.
        capacity: contacts the team can make; precision is reported there (default: top 10%).
        shares: list shares for lift and capture.

    Returns:
        Metric name -> value, names ready for MLflow (``lift_at_10``, ``capture_at_10`` ...).
    """
    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(probabilities, dtype=float), 1e-7, 1 - 1e-7)
    out = {
        "roc_auc": auc_or_nan(y, p),
        "pr_auc": pr_auc_or_nan(y, p),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
        "churn_rate": float(y.mean()),
        "mean_probability": float(p.mean()),
    }
    for share in shares:
        lift, capture = lift_and_capture(y, p, share)
        pct = round(share * 100)
        out[f"lift_at_{pct}"] = lift
        out[f"capture_at_{pct}"] = capture
    k = capacity if capacity else max(1, round(0.1 * len(y)))
    out["precision_at_capacity"] = precision_at(y, p, k)
    # Outreach goes by value at risk (probability x value), as the risk list orders its outreach.
    value_at_risk = p * np.asarray(value, dtype=float)
    best_k, best_profit = best_contact_count(
        profit_curve(y, value, value_at_risk, cost_per_contact, save_rate)
    )
    out["expected_profit"] = best_profit
    out["best_contact_count"] = float(best_k)
    return out


def auc_by_segment(
    frame: pd.DataFrame, segment_column: str, y: str, score: str, min_rows: int = 50
) -> dict[str, float]:
    """ROC AUC within each value of ``segment_column`` that has enough rows and both classes."""
    out = {}
    for segment, rows in frame.groupby(segment_column, observed=True):
        if len(rows) >= min_rows and rows[y].nunique() == 2:
            out[str(segment)] = float(roc_auc_score(rows[y], rows[score]))
    return out
