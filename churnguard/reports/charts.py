"""The report's charts as PNG bytes, drawn with matplotlib's Agg canvas.

Each function draws with :func:`churnguard.core.figures.figure`, the house style shared with the
plots of the MLflow runs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnguard.core.config import LAPSED_TIER, RISK_TIERS
from churnguard.core.figures import GRID, INK, MUTED, figure, png
from churnguard.reports.markup import money

BLUE, TEAL, RED, AMBER = "#2563eb", "#0f766e", "#c2410c", "#d97706"
TIER_COLOURS = {
    **dict(zip(RISK_TIERS, ("#b91c1c", "#ea580c", "#d97706", "#65a30d"), strict=True)),
    LAPSED_TIER: "#9ca3af",  # grey: already gone, a win-back rather than a save
}
DIMENSION_TITLES = {"rfm_segment": "RFM segment", "nps_class": "NPS class"}


def dimension_title(dimension: str) -> str:
    """``rfm_segment`` -> ``RFM segment``, ``loyalty_tier`` -> ``Loyalty tier``."""
    return DIMENSION_TITLES.get(dimension, dimension.replace("_", " ").capitalize())


def churn_retention_chart(monthly: pd.DataFrame) -> bytes:
    """Monthly churn rate as a line; the right axis reads the same line as retention (100 - churn)."""
    with figure() as (drawn, ax):
        x = np.arange(len(monthly))
        rate = monthly["churn_rate"].to_numpy(dtype=float)
        mean = float(np.nanmean(rate)) if np.isfinite(rate).any() else 0.0
        ax.axhline(mean, color=MUTED, linestyle="--", linewidth=0.9, label=f"average {mean:.1f}%")
        ax.plot(x, rate, color=RED, marker="o", markersize=3.5, linewidth=1.8, label="churn rate")
        if np.isfinite(rate[-1]):
            ax.annotate(
                f"{rate[-1]:.1f}%",
                (x[-1], rate[-1]),
                xytext=(6, 0),
                textcoords="offset points",
                va="center",
                fontsize=8.5,
                color=RED,
                fontweight="bold",
            )
        ax.set_ylim(0, max(float(np.nanmax(rate, initial=0)) * 1.3, 1))
        ax.set_xlim(-0.5, len(x) + 0.4)
        ax.set_ylabel("Churn rate (%)")
        right = ax.secondary_yaxis("right", functions=(lambda c: 100 - c, lambda r: 100 - r))
        right.set_ylabel("Retention rate (%)")
        right.tick_params(colors=TEAL)
        right.yaxis.label.set_color(TEAL)
        step = max(1, -(-len(x) // 12))
        ax.set_xticks(x[::step], monthly["month"].iloc[::step], rotation=45, ha="right")
        ax.set_title("Churn rate per month (right axis: retention rate = 100 - churn rate)")
        ax.legend(loc="upper left", ncols=2)
        return png(drawn)


def cohort_heatmap(cohorts: pd.DataFrame) -> bytes:
    """Cohort retention matrix (``cohort_retention``) as a heatmap with the share in each cell."""
    shares = cohorts[[c for c in cohorts.columns if c.startswith("m")]].to_numpy(dtype=float)
    rows, cols = shares.shape
    with figure(width=max(9.0, 0.34 * cols + 2), height=max(3.2, 0.28 * rows + 1.3)) as (drawn, ax):
        later = shares[:, 1:]
        top = float(np.nanmax(later)) if np.isfinite(later).any() else 100.0
        from matplotlib import colormaps

        cmap = colormaps["Blues"].with_extremes(bad="white")
        ax.imshow(np.ma.masked_invalid(shares), cmap=cmap, vmin=0, vmax=max(top, 1), aspect="auto")
        ax.grid(False)
        ax.set_xticks(range(cols), [str(k) for k in range(cols)])
        ax.set_yticks(
            range(rows),
            [f"{c}  (n={n:,})" for c, n in zip(cohorts["cohort"], cohorts["customers"], strict=True)],
        )
        ax.tick_params(length=0, labelsize=7.5)
        ax.set_xlabel("Months since first purchase")
        for (i, j), value in np.ndenumerate(shares):
            if np.isfinite(value):
                colour = "white" if value > 0.6 * top else INK
                ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=6.5, color=colour)
        ax.set_title("Share of each cohort buying N months after the first purchase (%)")
        return png(drawn)


def nps_chart(nps: pd.DataFrame, min_responses: int = 30) -> bytes:
    """NPS per month with the number of answers, from ``nps_by_month``; thin months in grey."""
    with figure() as (drawn, ax):
        x = np.arange(len(nps))
        few = nps["responses"].to_numpy() < min_responses
        colours = np.where(few, GRID, np.where(nps["nps"] >= 0, TEAL, RED))
        ax.bar(x, nps["nps"], color=colours, width=0.6)
        if few.any():
            ax.set_xlabel(f"Grey bars: fewer than {min_responses} answers, too few to rely on")
        ax.axhline(0, color=MUTED, linewidth=0.8)
        for xi, (value, n) in enumerate(zip(nps["nps"], nps["responses"], strict=True)):
            offset = 3 if value >= 0 else -3
            ax.annotate(
                f"{value:+.0f}\nn={n:,}",
                (xi, value),
                xytext=(0, offset),
                textcoords="offset points",
                ha="center",
                va="bottom" if value >= 0 else "top",
                fontsize=7.5,
                color=INK,
            )
        low, high = float(min(nps["nps"].min(), 0)), float(max(nps["nps"].max(), 0))
        ax.set_ylim(low - 0.25 * (high - low) - 5, high + 0.3 * (high - low) + 5)
        ax.set_xticks(x, nps["month"], rotation=45, ha="right")
        ax.set_ylabel("NPS")
        ax.set_title("Net Promoter Score per month (% promoters - % detractors)")
        return png(drawn)


def segment_chart(segments: pd.DataFrame, overall: float | None = None, measure: str = "Churn rate") -> bytes:
    """Churn rate per segment, one panel per dimension, from ``segment_churn``."""
    dimensions = list(dict.fromkeys(segments["dimension"]))
    heights = [max(len(segments[segments["dimension"] == d]), 2) for d in dimensions]
    with figure(
        height=0.24 * sum(heights) + 0.55 * len(dimensions) + 0.4,
        nrows=len(dimensions),
        squeeze=False,
        gridspec_kw={"height_ratios": heights},
    ) as (drawn, axes):
        top = float(segments["churn_rate"].max()) * 1.18
        for ax, dimension in zip(axes[:, 0], dimensions, strict=True):
            rows = segments[segments["dimension"] == dimension].iloc[::-1]
            y = np.arange(len(rows))
            ax.barh(y, rows["churn_rate"], color=BLUE, height=0.65)
            for yi, (rate, n) in enumerate(zip(rows["churn_rate"], rows["customers"], strict=True)):
                ax.text(
                    rate + top * 0.01, yi, f"{rate:.1f}%  (n={n:,})", va="center", fontsize=7.5, color=INK
                )
            if overall is not None:
                ax.axvline(overall, color=MUTED, linestyle="--", linewidth=0.9)
            ax.set_yticks(y, rows["segment"])
            ax.set_xlim(0, top)
            ax.grid(axis="y", visible=False)
            ax.set_title(dimension_title(dimension), fontsize=10)
        axes[-1, 0].set_xlabel(
            f"{measure} (%)"
            + (f"; dashed line: all customers ({overall:.1f}%)" if overall is not None else "")
        )
        return png(drawn)


def value_at_risk_chart(tiers: pd.DataFrame, currency: str = "") -> bytes:
    """Value at risk and customers per risk tier, from ``tier_summary``."""
    with figure(width=6.0, height=2.8) as (drawn, ax):
        y = np.arange(len(tiers))[::-1]
        colours = [TIER_COLOURS.get(t, BLUE) for t in tiers["tier"]]
        ax.barh(y, tiers["value_at_risk"], color=colours, height=0.6)
        top = float(tiers["value_at_risk"].max()) or 1.0
        for yi, (var, n) in zip(y, zip(tiers["value_at_risk"], tiers["customers"], strict=True), strict=True):
            ax.text(
                var + top * 0.01,
                yi,
                f"{money(var, currency)}  ({n:,} customers)",
                va="center",
                fontsize=8,
                color=INK,
            )
        ax.set_yticks(y, [str(t).capitalize() for t in tiers["tier"]])
        ax.set_xlim(0, top * 1.45)
        ax.grid(axis="y", visible=False)
        ax.set_xlabel(f"Value at risk{_unit(currency)} = churn probability x customer value")
        ax.set_title("Value at risk per tier")
        return png(drawn)


def profit_chart(curve: pd.DataFrame, summary: dict, currency: str = "") -> bytes:
    """Expected profit of contacting the top k customers, with the best k and the list's own contacts marked."""
    with figure(width=6.0, height=2.8) as (drawn, ax):
        ax.plot(curve["contacts"], curve["expected_profit"], color=BLUE, linewidth=1.8)
        ax.axhline(0, color=MUTED, linewidth=0.8)
        best_k, best = summary["best_contact_count"], summary["best_profit"]
        ax.plot([best_k], [best], marker="o", color=TEAL)
        ax.annotate(
            f"peak: {best_k:,} contacts\nexpected profit {money(best, currency)}",
            (best_k, best),
            xytext=(10, -16),
            textcoords="offset points",
            va="top",
            fontsize=8,
            color=INK,
        )
        ax.axvline(
            summary["contacted"],
            color=AMBER,
            linestyle="--",
            linewidth=1,
            label=f"the list contacts {summary['contacted']:,}",
        )
        ax.legend(loc="lower left")
        ax.set_xlabel("Customers contacted, highest value at risk first")
        ax.set_ylabel(f"Expected profit{_unit(currency)}")
        ax.set_title("Expected profit of outreach")
        return png(drawn)


def outcome_tiers_chart(tiers: pd.DataFrame) -> bytes:
    """Predicted (mean churn probability) and realised churn per tier of a measured list, as paired bars.

    ``tiers``: ``slice`` (tier), ``customers``, ``predicted_churn_rate``, ``realised_churn_rate`` (fractions).
    """
    with figure(width=6.0, height=0.5 * len(tiers) + 1.3) as (drawn, ax):
        y = np.arange(len(tiers))[::-1]
        predicted = tiers["predicted_churn_rate"].to_numpy(dtype=float) * 100
        realised = tiers["realised_churn_rate"].to_numpy(dtype=float) * 100
        ax.barh(
            y + 0.19, predicted, height=0.36, color=GRID, edgecolor=MUTED, linewidth=0.6, label="predicted"
        )
        colours = [TIER_COLOURS.get(t, BLUE) for t in tiers["slice"]]
        ax.barh(y - 0.19, realised, height=0.36, color=colours, label="realised")
        top = max(float(np.nanmax(np.r_[predicted, realised, 0])), 1.0)
        for yi, p, r, n in zip(y, predicted, realised, tiers["customers"], strict=True):
            ax.text(p + top * 0.01, yi + 0.19, f"{p:.1f}%", va="center", fontsize=7.5, color=MUTED)
            ax.text(
                r + top * 0.01, yi - 0.19, f"{r:.1f}%  (n={int(n):,})", va="center", fontsize=7.5, color=INK
            )
        ax.set_yticks(y, [str(t).capitalize() for t in tiers["slice"]])
        ax.set_xlim(0, top * 1.35)
        ax.grid(axis="y", visible=False)
        ax.legend(loc="lower right")
        ax.set_xlabel("Churn (%): grey = predicted (mean probability), coloured = what happened")
        ax.set_title("Predicted and realised churn per tier")
        return png(drawn)


def _unit(currency: str) -> str:
    return f" ({currency})" if currency else ""
