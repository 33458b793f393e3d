"""Calibration: a miscalibrated score becomes a probability that means what it says."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import log_loss

from churnguard.models.calibrate import Calibrator, fit_calibrator


def labelled(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """True churn probabilities spread over (0, 1) and labels drawn from them."""
    rng = np.random.default_rng(seed)
    p = rng.beta(1.2, 1.8, n).clip(0.01, 0.99)
    return p, (rng.random(n) < p).astype(int)


DISTORTIONS = {
    "squared (too low)": lambda p: p**2,
    "pushed toward 0.5 (underconfident)": lambda p: 0.5 + 0.35 * (p - 0.5),
    "overconfident": lambda p: 1 / (1 + np.exp(-3 * np.log(p / (1 - p)))),
}


@pytest.mark.parametrize("distort", DISTORTIONS.values(), ids=DISTORTIONS.keys())
def test_calibration_improves_log_loss_on_held_out_rows(distort):
    p_fit, y_fit = labelled(3_000, seed=1)
    p_new, y_new = labelled(3_000, seed=2)
    calibrator = fit_calibrator(distort(p_fit), y_fit)

    raw_loss = log_loss(y_new, distort(p_new))
    calibrated_loss = log_loss(y_new, calibrator.apply(distort(p_new)))
    best_possible = log_loss(y_new, p_new)
    assert calibrated_loss < raw_loss - 0.01
    # Nearly all of the gap to the true probabilities is closed.
    assert calibrated_loss - best_possible < 0.2 * (raw_loss - best_possible)


def test_both_methods_are_cross_validated_and_the_lower_loss_wins():
    p, y = labelled(3_000, seed=3)
    calibrator = fit_calibrator(p**2, y)

    assert set(calibrator.cv_log_loss) == {"platt", "isotonic"}
    assert calibrator.method == min(calibrator.cv_log_loss, key=calibrator.cv_log_loss.get)


def test_platt_wins_when_the_distortion_is_a_logistic_curve():
    p, y = labelled(2_000, seed=4)
    calibrator = fit_calibrator(DISTORTIONS["overconfident"](p), y)

    assert calibrator.method == "platt"
    assert calibrator.slope == pytest.approx(1 / 3, abs=0.05)


def test_isotonic_wins_when_no_logistic_curve_fits():
    """Flat 30% churn up to a raw score of 0.9, then near-certain churn: a step Platt cannot draw."""
    rng = np.random.default_rng(5)
    raw = rng.random(3_000)
    y = (rng.random(raw.size) < np.where(raw < 0.9, 0.3, 0.98)).astype(int)
    calibrator = fit_calibrator(raw, y)

    assert calibrator.method == "isotonic"
    assert calibrator.cv_log_loss["isotonic"] < calibrator.cv_log_loss["platt"]
    assert calibrator.apply(np.array([0.5]))[0] == pytest.approx(0.3, abs=0.05)


def test_calibrated_probabilities_keep_the_ranking_and_stay_in_bounds():
    p, y = labelled(2_000, seed=6)
    grid = np.linspace(0, 1, 1_001)
    for calibrator in (fit_calibrator(p**2, y), fit_calibrator(np.sqrt(p), y)):
        out = calibrator.apply(grid)
        assert np.all((out > 0) & (out < 1))
        assert np.all(np.diff(out) >= 0)


@pytest.mark.parametrize(
    "y",
    [np.zeros(50, dtype=int), np.ones(50, dtype=int), np.array([1, 1, 1] + [0] * 47)],
    ids=["no churner", "only churners", "fewer churners than folds"],
)
def test_degenerate_labels_give_the_identity_calibrator(y):
    raw = np.linspace(0.05, 0.95, y.size)
    calibrator = fit_calibrator(raw, y)

    assert calibrator.method == "identity"
    np.testing.assert_array_equal(calibrator.apply(raw), raw)


def test_the_fitted_state_is_plain_json_and_round_trips():
    p, y = labelled(1_000, seed=7)
    raw = p**2
    for calibrator in (fit_calibrator(raw, y), Calibrator("platt", slope=0.5, intercept=-1.0)):
        restored = Calibrator.from_dict(json.loads(json.dumps(calibrator.to_dict())))
        np.testing.assert_allclose(restored.apply(raw), calibrator.apply(raw))


def test_isotonic_steps_keep_the_ranking_of_the_raw_scores():
    rng = np.random.default_rng(4)
    raw = rng.uniform(0, 1, 4_000)
    y = (rng.uniform(0, 1, 4_000) < raw).astype(int)
    iso = IsotonicRegression(out_of_bounds="clip", y_min=1e-6, y_max=1 - 1e-6).fit(raw, y)
    calibrator = Calibrator("isotonic", x=list(iso.X_thresholds_), y=list(iso.y_thresholds_))
    assert len(set(np.round(calibrator.y, 12))) < len(calibrator.y)  # the fit has flat steps
    grid = np.linspace(0.001, 0.999, 2_000)
    calibrated = calibrator.apply(grid)
    assert np.all(np.diff(calibrated) > 0)  # still strictly increasing: no ties
    assert np.max(np.abs(calibrated - np.interp(grid, calibrator.x, calibrator.y))) < 1e-7
