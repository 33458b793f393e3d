"""Model-health tiles: each test measure of the champion as a plain-word name, a value and one line on
what it means.

The measures are the ``test_*`` metrics training logs (``churnguard.models.backtest``): means over
the back-test's test periods, shares as fractions (0-1). Here they become percentages, ratios,
whole numbers and money in ``report.currency``; a measure this module does not know keeps a readable
name and its number.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping

from churnguard.core.config import Settings
from churnguard.reports.markup import money, num

Tile = dict[str, str]
_TOP = re.compile(r"^(lift|capture)_at_(\d+)$")
# Page order: what was predicted, how well it ranks, what outreach earns, how honest the probabilities are.
ORDER = (
    "churn_rate",
    "mean_probability",
    "roc_auc",
    "pr_auc",
    "lift_at_",
    "capture_at_",
    "precision_at_capacity",
    "expected_profit",
    "best_contact_count",
    "ece",
    "brier",
    "log_loss",
    "log_loss_uncalibrated",
)


def _share(value: float) -> str:
    return f"{value * 100:.1f}%"


def _position(key: str) -> tuple[int, int, str]:
    top = _TOP.match(key)
    name = f"{top.group(1)}_at_" if top else key
    rank = ORDER.index(name) if name in ORDER else len(ORDER)
    return rank, int(top.group(2)) if top else 0, key


def model_tiles(metrics: Mapping[str, float], settings: Settings) -> list[Tile]:
    """``{"label", "value", "note"}`` per numeric measure, in :data:`ORDER` then by name.

    Args:
        metrics: measure name (``ece``, ``lift_at_5`` ...) -> value, as the champion's run logged them.
        settings: churn definition (what "churned" means), outreach economics, ``report.currency``.
    """
    numbers = {
        k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)
    }
    return [_tile(key, numbers[key], numbers, settings) for key in sorted(numbers, key=_position)]


def describe_metric(
    key: str, value: float | None, metrics: Mapping[str, float], settings: Settings
) -> tuple[str, str]:
    """Plain-word name and shown value of one measure, e.g. ``("Lift in the top 10%", "2.4x")``.

    Args:
        key: the measure's name without its ``test_`` prefix.
        value: its value; None or NaN shows "–".
        metrics: the run's measures by the same names (some descriptions read the churn rate).
        settings: churn definition, outreach economics, ``report.currency``.
    """
    if value is None or not math.isfinite(value):
        return _describe(key, 0.0, metrics, settings)[0], "–"
    label, shown, _ = _describe(key, value, metrics, settings)
    return label, shown


def _tile(key: str, value: float, metrics: Mapping[str, float], settings: Settings) -> Tile:
    if not math.isfinite(value):
        label, _, note = _describe(key, 0.0, metrics, settings)
        return {"label": label, "value": "–", "note": "Not measurable on the test data. " + note}
    label, shown, note = _describe(key, value, metrics, settings)
    return {"label": label, "value": shown, "note": note}


def _describe(key: str, v: float, metrics: Mapping[str, float], s: Settings) -> tuple[str, str, str]:
    horizon, o, currency = s.churn.horizon_days, s.outreach, s.report.currency
    churned = (
        f"no running subscription {horizon} days after their cutoff"
        if s.churn.definition == "subscription"
        else f"no purchase in the {horizon} days after their cutoff"
    )
    base = metrics.get("churn_rate")
    known_base = base is not None and 0 < base < 1
    top = _TOP.match(key)
    if top:
        share = int(top.group(2))
        if top.group(1) == "lift":
            return (
                f"Lift in the top {share}%",
                f"{v:.1f}x",
                f"The {share}% of customers ranked riskiest churn {v:.1f} times as often as the average customer.",
            )
        return (
            f"Churners in the top {share}%",
            _share(v),
            f"Share of all churners found by contacting the {share}% of customers ranked riskiest.",
        )
    contacts = metrics.get("best_contact_count")
    contacts = contacts if contacts is not None and math.isfinite(contacts) else None
    fixed = (
        f"outreach.capacity ({o.capacity:,})"
        if o.capacity
        else "the share of the list that earned most in the other test periods"
    )
    contacted = (
        f"the {round(contacts):,} customers with the highest value at risk"
        if contacts is not None
        else f"the customers with the highest value at risk, as many as {fixed}"
    )
    describe: dict[str, Callable[[], tuple[str, str, str]]] = {
        "churn_rate": lambda: (
            f"Actual {horizon}-day churn in the test data",
            _share(v),
            f"Share of test customers with {churned}: the {horizon}-day churn rate the model predicts.",
        ),
        "mean_probability": lambda: (
            "Average predicted churn",
            _share(v),
            "The model's mean churn probability for the same customers; close to the actual churn "
            + (f"({_share(base)}) " if known_base else "")
            + "when its probabilities can be taken at face value.",
        ),
        "roc_auc": lambda: (
            "Ranking quality (ROC AUC)",
            f"{v:.3f}",  # three decimals: models are told apart in the third
            "Chance that a customer who churned is ranked above one who stayed: 0.5 is a coin flip, 1 is perfect.",
        ),
        "pr_auc": lambda: (
            "Churners at the top (PR AUC)",
            f"{v:.3f}",
            "How pure in churners the top of the list stays as it grows, 0 to 1; a random order scores "
            + (f"about {base:.2f}, the churn rate." if known_base else "about the churn rate."),
        ),
        "precision_at_capacity": lambda: (
            f"Hit rate of the first {o.capacity:,} contacts" if o.capacity else "Hit rate of the top 10%",
            _share(v),
            "Share who really churned among the customers ranked riskiest, "
            + (
                f"as many as outreach.capacity ({o.capacity:,})."
                if o.capacity
                else "the top 10% (no outreach.capacity is set)."
            ),
        ),
        "expected_profit": lambda: (
            "Outreach profit in the test periods",
            money(v, currency),
            f"Mean over the test periods of contacting {contacted} (a count fixed beforehand), by what "
            f"really happened: {o.save_rate:.0%} of contacted churners kept, worth their customer value, "
            f"minus {money(o.cost_per_contact, currency, 2)} a contact.",
        ),
        "best_contact_count": lambda: (
            "Customers contacted per test period",
            num(round(v)),
            f"The contact count behind the profit figure, fixed beforehand: {fixed}.",
        ),
        "ece": lambda: (
            "Calibration error",
            f"{v * 100:.1f} points",
            "Predicted and real churn rates differ by this much on average, customers grouped by their "
            "predicted probability.",
        ),
        "brier": lambda: (
            "Probability error (Brier score)",
            f"{v:.3f}",
            "Mean squared gap between the predicted probability and what happened (1 churned, 0 stayed); "
            + (
                f"lower is better, predicting {_share(base)} for everyone scores {base * (1 - base):.3f}."
                if known_base
                else "lower is better."
            ),
        ),
        "log_loss": lambda: (
            "Probability penalty (log loss)",
            f"{v:.3f}",
            "Penalty that grows with confident wrong predictions; "
            + (
                f"lower is better, predicting {_share(base)} for everyone scores {_entropy(base):.3f}."
                if known_base
                else "lower is better."
            ),
        ),
        "log_loss_uncalibrated": lambda: (
            "Probability penalty before calibration",
            f"{v:.3f}",
            "The same penalty on the model's raw scores, before they were turned into probabilities.",
        ),
    }
    if key in describe:
        return describe[key]()
    return (
        key.replace("_", " ").capitalize(),
        num(v) if float(v).is_integer() else f"{v:.3f}",
        "Logged by training; the report has no description of it yet.",
    )


def _entropy(p: float) -> float:
    return -(p * math.log(p) + (1 - p) * math.log(1 - p))
