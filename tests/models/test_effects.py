"""The statistics of outreach against control, checked on published worked examples and by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from churnguard.models.effects import churn_effect, customers_per_group, wilson_interval


def test_wilson_interval_matches_newcombe_1998():
    # Newcombe (1998a), Statistics in Medicine 17:857, example 81/263: 0.2553 to 0.3662.
    low, high = wilson_interval(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    assert wilson_interval(0, 10)[0] == 0.0  # never below zero, unlike the Wald interval


def test_difference_interval_matches_newcombe_1998_method_10():
    # Newcombe (1998b), Statistics in Medicine 17:873, example (a): 56/70 vs 48/80, 0.0524 to 0.3339.
    # Here "control" is the first group: the effect is control rate minus treated rate.
    effect = churn_effect(48, 80, 56, 70, assumed_save_rate=0.2)
    assert effect.effect == pytest.approx(0.2)
    assert (round(effect.effect_low, 4), round(effect.effect_high, 4)) == (0.0524, 0.3339)
    assert effect.conclusive and math.isnan(effect.needed_per_group)


def test_save_rate_is_one_minus_the_risk_ratio_with_katz_interval():
    effect = churn_effect(30, 100, 50, 100, assumed_save_rate=0.2)
    assert effect.save_rate == pytest.approx(0.4)
    se = math.sqrt(1 / 30 - 1 / 100 + 1 / 50 - 1 / 100)
    assert effect.save_rate_low == pytest.approx(1 - 0.6 * math.exp(1.959964 * se), abs=1e-5)
    assert effect.save_rate_high == pytest.approx(1 - 0.6 * math.exp(-1.959964 * se), abs=1e-5)


def test_too_small_groups_say_how_many_customers_would_tell():
    effect = churn_effect(18, 40, 6, 10, assumed_save_rate=0.2)
    assert not effect.conclusive
    assert effect.effect_low < 0 < effect.effect_high
    # 0.6 vs 0.45 (the measured effect): Fleiss without continuity correction.
    assert effect.needed_per_group == customers_per_group(0.6, 0.45)
    assert customers_per_group(0.5, 0.35) == 170  # the textbook 50% vs 35% at 80% power, 5% two-sided
    # No measured effect: size for the planned save rate instead.
    none = churn_effect(6, 10, 6, 10, assumed_save_rate=0.2)
    assert none.needed_per_group == customers_per_group(0.6, 0.6 * 0.8)


def test_empty_cells_keep_the_save_rate_finite():
    effect = churn_effect(0, 50, 10, 50, assumed_save_rate=0.2)
    assert effect.save_rate == 1.0
    assert 0 < effect.save_rate_low < 1 and effect.save_rate_high > 0.9
    assert math.isnan(churn_effect(3, 50, 0, 50, assumed_save_rate=0.2).save_rate)
    with pytest.raises(ValueError, match="both groups"):
        churn_effect(0, 0, 1, 10, assumed_save_rate=0.2)


def test_intervals_cover_the_truth_95_times_in_100():
    """Simulated trials with a known effect: the difference's interval holds it in about 95% of them."""
    rng = np.random.default_rng(11)
    control_rate, treated_rate, n_treated, n_control = 0.5, 0.35, 400, 60
    trials, held, saves = 2_000, 0, 0
    for _ in range(trials):
        t, c = rng.binomial(n_treated, treated_rate), rng.binomial(n_control, control_rate)
        effect = churn_effect(t, n_treated, c, n_control, assumed_save_rate=0.2)
        held += effect.effect_low <= control_rate - treated_rate <= effect.effect_high
        saves += effect.save_rate_low <= 1 - treated_rate / control_rate <= effect.save_rate_high
    assert 0.93 <= held / trials <= 0.975
    assert 0.93 <= saves / trials <= 0.975
