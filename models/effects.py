"""Did outreach keep customers? Churn in a treated group against a control group, with honest intervals.

Pure functions over counts. The difference of two churn rates gets Newcombe's hybrid score interval
(method 10 of Newcombe 1998: Wilson score intervals of each rate combined), which keeps its coverage
for the small control groups and low rates retention teams see, where the textbook Wald interval does
not. The save rate (the share of would-be churners that outreach kept, 1 - treated rate / control rate)
gets the log risk-ratio interval (Katz), with half a customer added to empty cells.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import norm

CONFIDENCE = 0.95
POWER = 0.8
INTERVAL_METHOD = (
    "95% intervals: Newcombe's hybrid score interval for the difference of churn rates, "
    "Katz's log risk-ratio interval for the save rate"
)


def wilson_interval(churned: int, customers: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a churn rate ``churned / customers``."""
    if customers <= 0:
        return math.nan, math.nan
    z = norm.ppf(0.5 + confidence / 2)
    p = churned / customers
    centre = (p + z * z / (2 * customers)) / (1 + z * z / customers)
    half = z / (1 + z * z / customers) * math.sqrt(p * (1 - p) / customers + z * z / (4 * customers**2))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Effect:
    """What outreach did to churn, treated against control; rates are fractions of customers.

    ``effect`` is the control rate minus the treated rate (positive: fewer left), ``save_rate`` the
    share of the control group's churn that outreach avoided (1 - treated / control).
    """

    treated_rate: float
    control_rate: float
    effect: float
    effect_low: float
    effect_high: float
    save_rate: float
    save_rate_low: float
    save_rate_high: float
    needed_per_group: float  # customers per group to tell this effect from none (NaN when already told)

    @property
    def conclusive(self) -> bool:
        """The interval of the difference excludes no effect."""
        return self.effect_low > 0 or self.effect_high < 0


def churn_effect(
    treated_churned: int,
    treated: int,
    control_churned: int,
    control: int,
    assumed_save_rate: float,
    confidence: float = CONFIDENCE,
) -> Effect:
    """The effect of outreach on churn, with intervals, from two groups' counts.

    Args:
        treated_churned, treated: churners and customers of the contacted (outreach) group.
        control_churned, control: the same of the held-out control group.
        assumed_save_rate: the save rate planned with (``outreach.save_rate``): the effect to size the
            groups for when the measured one is too small to tell apart from none.
        confidence: of the intervals.
    """
    if treated <= 0 or control <= 0:
        raise ValueError("both groups need customers to compare churn")
    p_t, p_c = treated_churned / treated, control_churned / control
    t_low, t_high = wilson_interval(treated_churned, treated, confidence)
    c_low, c_high = wilson_interval(control_churned, control, confidence)
    effect = p_c - p_t
    low = effect - math.sqrt((p_c - c_low) ** 2 + (t_high - p_t) ** 2)
    high = effect + math.sqrt((c_high - p_c) ** 2 + (p_t - t_low) ** 2)
    save, save_low, save_high = _save_rate(treated_churned, treated, control_churned, control, confidence)
    result = Effect(p_t, p_c, effect, low, high, save, save_low, save_high, math.nan)
    if result.conclusive:
        return result
    # Size the groups for the effect measured, or the one planned with when none was measured.
    target = effect if effect > 0 else assumed_save_rate * p_c
    needed = customers_per_group(p_c, p_c - target, confidence) if target > 0 else math.nan
    return Effect(p_t, p_c, effect, low, high, save, save_low, save_high, needed)


def _save_rate(
    treated_churned: int, treated: int, control_churned: int, control: int, confidence: float
) -> tuple[float, float, float]:
    """1 - risk ratio and its Katz interval; half a customer in empty cells keeps it finite."""
    if control_churned == 0:
        return math.nan, math.nan, math.nan  # nobody in control left: nothing to save
    a, c = float(treated_churned), float(control_churned)
    n_t, n_c = float(treated), float(control)
    if a == 0 or a == n_t or c == n_c:
        a, c, n_t, n_c = a + 0.5, c + 0.5, n_t + 1, n_c + 1
    ratio = (treated_churned / treated) / (control_churned / control)
    log_ratio = math.log((a / n_t) / (c / n_c))
    se = math.sqrt(1 / a - 1 / n_t + 1 / c - 1 / n_c)
    z = norm.ppf(0.5 + confidence / 2)
    return 1 - ratio, 1 - math.exp(log_ratio + z * se), 1 - math.exp(log_ratio - z * se)


def customers_per_group(
    control_rate: float, treated_rate: float, confidence: float = CONFIDENCE, power: float = POWER
) -> float:
    """Customers per group for a two-sided test of two churn rates to find their difference (Fleiss)."""
    difference = abs(control_rate - treated_rate)
    if difference == 0:
        return math.inf
    z_a, z_b = norm.ppf(0.5 + confidence / 2), norm.ppf(power)
    mean = (control_rate + treated_rate) / 2
    spread = z_a * math.sqrt(2 * mean * (1 - mean)) + z_b * math.sqrt(
        control_rate * (1 - control_rate) + treated_rate * (1 - treated_rate)
    )
    return math.ceil(spread**2 / difference**2)
