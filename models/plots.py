"""Evaluation plots logged with every training run (matplotlib figures, no display needed)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

from churnguard.core.figures import figure
from churnguard.models.metrics import calibration_table, ranking_order

_COLORS = {"xgboost": "#1f5fa8", "logistic": "#e08a1e", "recency": "#7a7a7a"}


@contextmanager
def _figure(title: str, width: float = 6.4, height: float = 4.6) -> Iterator[tuple[Figure, object]]:
    with figure(width, height) as (drawn, ax):
        ax.set_title(title)
        yield drawn, ax


def roc_figure(y: np.ndarray, scores: dict[str, np.ndarray]) -> Figure:
    with _figure("ROC curve (test cutoff)") as (fig, ax):
        for name, s in scores.items():
            fpr, tpr, _ = roc_curve(y, s)
            ax.plot(fpr, tpr, label=name, color=_COLORS.get(name))
        ax.plot([0, 1], [0, 1], ls="--", color="#bbbbbb", label="random")
        ax.set(xlabel="false positive rate", ylabel="true positive rate (churners found)")
        ax.legend(loc="lower right")
        return fig


def pr_figure(y: np.ndarray, scores: dict[str, np.ndarray]) -> Figure:
    with _figure("Precision-recall curve (test cutoff)") as (fig, ax):
        for name, s in scores.items():
            precision, recall, _ = precision_recall_curve(y, s)
            ax.plot(recall, precision, label=name, color=_COLORS.get(name))
        ax.axhline(np.mean(y), ls="--", color="#bbbbbb", label="churn rate")
        ax.set(xlabel="recall", ylabel="precision", ylim=(0, 1.02))
        ax.legend(loc="lower left")
        return fig


def calibration_figure(y: np.ndarray, calibrated: np.ndarray, raw: np.ndarray) -> Figure:
    with _figure("Calibration (test cutoff)") as (fig, ax):
        for name, p, style in (("calibrated", calibrated, "-o"), ("uncalibrated", raw, ":s")):
            table = calibration_table(y, p)
            ax.plot(table["predicted"], table["observed"], style, label=name, markersize=4)
        ax.plot([0, 1], [0, 1], ls="--", color="#bbbbbb", label="perfect")
        ax.set(xlabel="predicted churn probability", ylabel="observed churn rate", xlim=(0, 1), ylim=(0, 1))
        ax.legend(loc="upper left")
        return fig


def gains_figure(y: np.ndarray, scores: dict[str, np.ndarray]) -> Figure:
    """Cumulative gains (share of churners found vs share contacted) with lift on a second axis."""
    with _figure("Cumulative gains and lift (test cutoff)") as (fig, ax):
        lift_ax = ax.twinx()
        y = np.asarray(y, dtype=float)
        share = np.arange(1, len(y) + 1) / len(y)
        for name, s in scores.items():
            found = np.cumsum(y[ranking_order(s)]) / max(y.sum(), 1)
            ax.plot(share, found, label=f"{name} gains", color=_COLORS.get(name))
            lift_ax.plot(share, found / share, ls=":", color=_COLORS.get(name), alpha=0.8)
        ax.plot([0, 1], [0, 1], ls="--", color="#bbbbbb", label="random")
        ax.set(xlabel="share of customers contacted (highest risk first)", ylabel="share of churners found")
        lift_ax.set_ylabel("lift (dotted)")
        ax.legend(loc="lower right")
        return fig


def score_distribution_figure(y: np.ndarray, probabilities: np.ndarray) -> Figure:
    with _figure("Churn probability by actual outcome (test cutoff)") as (fig, ax):
        bins = np.linspace(0, 1, 41)
        ax.hist(probabilities[y == 0], bins=bins, alpha=0.6, label="stayed", color="#3a9d5d", density=True)
        ax.hist(probabilities[y == 1], bins=bins, alpha=0.6, label="churned", color="#c0392b", density=True)
        ax.set(xlabel="calibrated churn probability", ylabel="density")
        ax.legend()
        return fig


def importance_figure(importance: pd.Series, top: int = 20) -> Figure:
    title = "Global feature importance: mean |SHAP contribution| (test sample)"
    with _figure(title, width=7.2, height=6.0) as (fig, ax):
        shown = importance.head(top)[::-1]
        ax.barh(shown.index, shown.to_numpy(), color="#1f5fa8")
        ax.set(xlabel="mean absolute contribution to log-odds")
        ax.grid(axis="y", visible=False)
        return fig
