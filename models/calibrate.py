"""Calibrate raw model scores so that 0.4 means about 40 of 100 such customers leave.

Two methods compete on the validation set: Platt scaling (a logistic curve on the log-odds) and
isotonic regression (a monotone step function). Fitting and judging on the same rows would always
favour the more flexible isotonic fit, so the choice uses cross-validated log loss; the winner is
then refitted on all validation rows. The fitted state is plain JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

_EPS = 1e-6
_TIE_BREAK = 1e-7


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


@dataclass
class Calibrator:
    """A fitted calibration map from raw probability to calibrated probability."""

    method: Literal["platt", "isotonic", "identity"]
    slope: float = 1.0
    intercept: float = 0.0
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    cv_log_loss: dict[str, float] = field(default_factory=dict)

    def apply(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=float)
        if self.method == "platt":
            return 1.0 / (1.0 + np.exp(-(self.slope * _logit(raw) + self.intercept)))
        if self.method == "isotonic":
            # The steps of an isotonic fit tie every customer on one step, often the riskiest ones;
            # a shift below a millionth, growing with the raw score, keeps the model's ranking there.
            stepped = np.interp(raw, self.x, self.y) + _TIE_BREAK * (np.clip(raw, 0, 1) - 0.5)
            return np.clip(stepped, _EPS / 2, 1 - _EPS / 2)  # the fit's own bounds are _EPS
        return raw

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "slope": self.slope,
            "intercept": self.intercept,
            "x": self.x,
            "y": self.y,
            "cv_log_loss": self.cv_log_loss,
        }

    @classmethod
    def from_dict(cls, values: dict) -> Calibrator:
        return cls(**values)


def _fit(method: str, raw: np.ndarray, y: np.ndarray) -> Calibrator:
    if method == "platt":
        model = LogisticRegression(C=1e6, max_iter=1000).fit(_logit(raw).reshape(-1, 1), y)
        return Calibrator("platt", slope=float(model.coef_[0, 0]), intercept=float(model.intercept_[0]))
    iso = IsotonicRegression(out_of_bounds="clip", y_min=_EPS, y_max=1 - _EPS).fit(raw, y)
    return Calibrator(
        "isotonic", x=[float(v) for v in iso.X_thresholds_], y=[float(v) for v in iso.y_thresholds_]
    )


def fit_calibrator(raw: np.ndarray, y: np.ndarray, folds: int = 5, seed: int = 0) -> Calibrator:
    """Choose Platt or isotonic by cross-validated log loss on validation rows, then fit it on all of them.

    Args:
        raw: uncalibrated probabilities of the validation rows.
        y: their churn labels.
        folds: cross-validation folds.
        seed: fold shuffling seed.

    Returns:
        The fitted calibrator, with both methods' cross-validated log loss recorded.
    """
    raw, y = np.asarray(raw, dtype=float), np.asarray(y, dtype=int)
    if len(np.unique(y)) < 2 or min(np.bincount(y)) < folds:
        return Calibrator("identity")
    losses: dict[str, float] = {}
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for method in ("platt", "isotonic"):
        predicted = np.empty_like(raw)
        for fit_rows, held_out in splitter.split(raw.reshape(-1, 1), y):
            predicted[held_out] = _fit(method, raw[fit_rows], y[fit_rows]).apply(raw[held_out])
        losses[method] = float(log_loss(y, np.clip(predicted, _EPS, 1 - _EPS), labels=[0, 1]))
    best = min(losses, key=losses.get)
    calibrator = _fit(best, raw, y)
    calibrator.cv_log_loss = losses
    return calibrator
