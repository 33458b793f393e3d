"""Retention measures on arrays small enough to check by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from churnguard.models.metrics import (
    auc_by_segment,
    auc_or_nan,
    best_contact_count,
    calibration_table,
    classification_metrics,
    expected_calibration_error,
    lift_and_capture,
    precision_at,
    profit_curve,
    ranking_order,
)

# Ten customers ranked 0..9 by score; three churners, at ranks 0, 1 and 3. Base churn rate 0.3.
SCORES = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0])
Y = np.array([1, 1, 0, 1, 0, 0, 0, 0, 0, 0])


@pytest.mark.parametrize(
    ("share", "lift", "capture"),
    [
        (0.1, 1 / 0.3, 1 / 3),  # top 1: a churner; 1.0 / 0.3
        (0.2, 1 / 0.3, 2 / 3),  # top 2: both churners
        (0.3, (2 / 3) / 0.3, 2 / 3),  # top 3: two of three
        (0.5, 0.6 / 0.3, 1.0),  # top 5: all three churners among five
        (1.0, 1.0, 1.0),  # everyone: the base rate
    ],
)
def test_lift_and_capture(share, lift, capture):
    assert lift_and_capture(Y, SCORES, share) == pytest.approx((lift, capture))


def test_lift_and_capture_ignore_the_order_of_the_input_rows():
    shuffled = np.random.default_rng(0).permutation(Y.size)
    assert lift_and_capture(Y[shuffled], SCORES[shuffled], 0.2) == pytest.approx((1 / 0.3, 2 / 3))


def test_lift_and_capture_without_churners_are_undefined():
    lift, capture = lift_and_capture(np.zeros(10), SCORES, 0.2)
    assert math.isnan(lift) and math.isnan(capture)


@pytest.mark.parametrize(("k", "expected"), [(1, 1.0), (3, 2 / 3), (4, 0.75), (0, 1.0), (100, 0.3)])
def test_precision_at_k(k, expected):
    """k is clamped to 1..n: contacting nobody reports the top customer, too many the whole list."""
    assert precision_at(Y, SCORES, k) == pytest.approx(expected)


def test_ties_keep_the_input_order():
    assert list(ranking_order(np.array([0.5, 0.9, 0.5, 0.5]))) == [1, 0, 2, 3]
    assert precision_at(np.array([0, 1, 1]), np.array([0.5, 0.5, 0.5]), 1) == 0.0


def test_expected_calibration_error_by_hand():
    p = np.array([0.1, 0.1, 0.9, 0.9])
    y = np.array([0, 1, 1, 1])
    # Bin 1: predicted 0.1, observed 0.5 -> 0.4 x half the rows; bin 9: 0.9 vs 1.0 -> 0.1 x half.
    assert expected_calibration_error(y, p) == pytest.approx(0.5 * 0.4 + 0.5 * 0.1)


def test_expected_calibration_error_of_calibrated_and_certain_predictions():
    assert expected_calibration_error(np.array([0, 1, 0, 1]), np.full(4, 0.5)) == 0.0
    # A probability of exactly 1 falls in the top bin instead of a bin of its own.
    assert expected_calibration_error(np.array([1, 1]), np.array([1.0, 0.95])) == pytest.approx(0.025)


def test_calibration_table_by_hand():
    table = calibration_table(np.array([0, 1, 1, 1]), np.array([0.1, 0.1, 0.9, 1.0]))
    assert table["bin"].tolist() == [1, 9]
    assert table["customers"].tolist() == [2, 2]
    assert table["predicted"].tolist() == pytest.approx([0.1, 0.95])
    assert table["observed"].tolist() == pytest.approx([0.5, 1.0])


def test_profit_curve_by_hand():
    outcome = np.array([1, 0, 1])
    value = np.array([100.0, 50.0, 10.0])
    scores = np.array([0.9, 0.5, 0.7])
    # Contact order 0, 2, 1. Gains: 1 x 0.2 x 100 - 5 = 15, then 1 x 0.2 x 10 - 5 = -3, then 0 - 5 = -5.
    curve = profit_curve(outcome, value, scores, cost_per_contact=5.0, save_rate=0.2)
    assert curve.tolist() == pytest.approx([0.0, 15.0, 12.0, 7.0])
    assert best_contact_count(curve) == (1, pytest.approx(15.0))


def test_expected_profit_with_probabilities_as_outcome():
    curve = profit_curve(np.array([0.5, 0.1]), np.array([200.0, 200.0]), np.array([0.5, 0.1]), 5.0, 0.2)
    assert curve.tolist() == pytest.approx([0.0, 15.0, 14.0])


def test_best_contact_count_is_nobody_when_every_contact_loses_money():
    curve = profit_curve(np.array([0, 1]), np.array([10.0, 10.0]), np.array([0.9, 0.1]), 5.0, 0.2)
    assert curve.tolist() == pytest.approx([0.0, -5.0, -8.0])
    assert best_contact_count(curve) == (0, 0.0)


def test_classification_metrics_by_hand():
    value = np.full(10, 100.0)
    probabilities = SCORES * 0.5 + 0.05  # same ranking, in (0, 1)
    out = classification_metrics(Y, probabilities, value, cost_per_contact=5.0, save_rate=0.2, capacity=3)

    # 3 churners x 7 stayers = 21 pairs, all ordered but one (the stayer at rank 2 above rank 3).
    assert out["roc_auc"] == pytest.approx(20 / 21)
    assert out["pr_auc"] == pytest.approx((1 + 1 + 3 / 4) / 3)
    assert out["churn_rate"] == pytest.approx(0.3)
    assert out["mean_probability"] == pytest.approx(probabilities.mean())
    assert out["lift_at_10"] == pytest.approx(1 / 0.3)
    assert out["capture_at_20"] == pytest.approx(2 / 3)
    assert out["precision_at_capacity"] == pytest.approx(2 / 3)
    # Each saved churner earns 0.2 x 100 = 20 for 5: +15, +15, -5, +15, then -5 per stayer.
    assert out["expected_profit"] == pytest.approx(40.0)
    assert out["best_contact_count"] == 4
    assert set(out) >= {"log_loss", "brier", "ece", "lift_at_5", "capture_at_5", "lift_at_20"}


def test_classification_metrics_default_capacity_is_the_top_tenth():
    out = classification_metrics(Y, SCORES, np.ones(10), 0.0, 0.2)
    assert out["precision_at_capacity"] == 1.0  # top 1 of 10


def test_ranking_measures_are_undefined_with_one_class():
    out = classification_metrics(np.zeros(4), np.full(4, 0.2), np.ones(4), 5.0, 0.2)
    assert math.isnan(out["roc_auc"]) and math.isnan(out["pr_auc"])
    assert math.isnan(auc_or_nan(np.ones(3), np.array([0.1, 0.2, 0.3])))


def test_auc_by_segment_skips_small_and_one_class_segments():
    frame = pd.DataFrame(
        {
            "segment": ["a"] * 4 + ["b"] * 4 + ["c"],
            "y": [1, 0, 1, 0, 0, 0, 0, 0, 1],
            "p": [0.9, 0.1, 0.4, 0.6, 0.3, 0.2, 0.1, 0.5, 0.9],
        }
    )
    # Segment a: churners 0.9 and 0.4 against stayers 0.1 and 0.6 -> 3 of 4 pairs ordered.
    assert auc_by_segment(frame, "segment", "y", "p", min_rows=4) == {"a": 0.75}
    assert auc_by_segment(frame, "segment", "y", "p", min_rows=5) == {}
