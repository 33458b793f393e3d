"""Rolling-origin backtest: choose the settings on training data, measure on test cutoffs nobody chose on.

Each fold (``churnguard.features.cutoffs.plan_folds``) has a test cutoff and purged training cutoffs
whose label windows close by it. Inside a fold, early stopping watches a held-out fifth of the
training customers, so the search, the number of trees and early stopping never see a test label.
Each fold's model is calibrated on those held-out customers too: a calibrator fitted on other folds'
predictions belongs to other models (trained on fewer or more cutoffs) and measured worse (expected
calibration error 0.026-0.056 against 0.011-0.014 on the demo's two newest folds).

Pure library code: no MLflow and no Prefect.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import average_precision_score, log_loss

from churnguard.core.config import Settings
from churnguard.features.build import LABEL
from churnguard.features.cutoffs import Fold
from churnguard.models import baselines, metrics
from churnguard.models.calibrate import fit_calibrator
from churnguard.models.matrix import evaluation_matrix, training_matrix
from churnguard.models.preprocess import Preprocessor
from churnguard.models.search import DEFAULT_PARAMS, booster_params, fit_booster, sample_params
from churnguard.models.value import customer_value

HOLDOUT_SHARE = 0.2  # training customers held out for early stopping inside each fold
# Measures reported per fold and as mean +- sd (MLflow names without the test_ prefix).
FOLD_MEASURES = (
    "roc_auc",
    "pr_auc",
    "log_loss",
    "brier",
    "ece",
    "lift_at_5",
    "lift_at_10",
    "lift_at_20",
    "capture_at_5",
    "capture_at_10",
    "capture_at_20",
    "precision_at_capacity",
    "expected_profit",
    "churn_rate",
    "mean_probability",
    "log_loss_uncalibrated",
)
BASELINE_MEASURES = ("roc_auc", "pr_auc", "lift_at_10", "capture_at_10", "expected_profit")


def held_out(customer_ids: pd.Series, share: float = HOLDOUT_SHARE) -> np.ndarray:
    """A stable pseudo-random ``share`` of customers (by a hash of the id): all their rows, at every cutoff.

    Holding out whole customers keeps one customer's overlapping cutoffs on one side of the split.
    """
    positions, ids = pd.factorize(customer_ids)  # hash each customer once, not each of their rows
    held = np.array([zlib.crc32(str(i).encode()) % 10_000 < share * 10_000 for i in ids], dtype=bool)
    return held[positions]


@dataclass
class Trial:
    """One hyper-parameter set, tried on every fold: early-stopped trees and held-out PR AUC per fold."""

    params: dict
    fold_trees: list[int]
    fold_valid_pr_auc: list[float]

    @property
    def valid_pr_auc(self) -> float:
        return float(np.mean(self.fold_valid_pr_auc))


@dataclass
class FoldResult:
    """One fold's test cutoff scored by a model that never saw its labels, beside the baselines."""

    fold: Fold
    test: pd.DataFrame
    raw: np.ndarray
    probabilities: np.ndarray = field(default_factory=lambda: np.empty(0))
    baseline_scores: dict[str, np.ndarray] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    contacts: int = 0
    calibration: str = ""

    @property
    def y(self) -> np.ndarray:
        return self.test[LABEL].to_numpy(dtype=int)


@dataclass
class Backtest:
    """Folds and the settings chosen on them."""

    folds: list[FoldResult]
    trials: list[Trial]
    best: Trial
    n_trees: int

    @property
    def test_cutoffs(self) -> list[pd.Timestamp]:
        return [f.fold.test_cutoff for f in self.folds]

    @cached_property
    def pooled(self) -> tuple[pd.DataFrame, np.ndarray]:
        """Every fold's test rows with their out-of-fold calibrated probabilities."""
        frame = pd.concat([f.test for f in self.folds], ignore_index=True)
        return frame, np.concatenate([f.probabilities for f in self.folds])

    def table(self) -> pd.DataFrame:
        """One row per fold (test cutoff, sizes, measures), then the mean and sd: the fold table artifact."""
        rows = []
        for f in self.folds:
            rows.append(
                {
                    "fold": str(f.fold.test_cutoff.date()),
                    "train_cutoffs": len(f.fold.train_cutoffs),
                    "train_last": str(f.fold.train_cutoffs[-1].date()),
                    "test_customers": len(f.test),
                    "contacts": f.contacts,
                    "calibration": f.calibration,
                    **{k: f.metrics[k] for k in FOLD_MEASURES},
                    **{
                        f"{name}_{k}": f.metrics[f"{name}_{k}"]
                        for name in f.baseline_scores
                        for k in BASELINE_MEASURES
                    },
                }
            )
        table = pd.DataFrame(rows)
        numeric = table.select_dtypes("number")
        summary = pd.DataFrame([numeric.mean(), numeric.std(ddof=1)], index=["mean", "sd"])
        summary.insert(0, "fold", summary.index)
        return pd.concat([table, summary.reset_index(drop=True)], ignore_index=True)


def run_backtest(
    frame: pd.DataFrame, folds: list[Fold], settings: Settings, say: Callable[[str], None]
) -> Backtest:
    """Search on the folds' training data, score each fold's test cutoff, calibrate on the others.

    Args:
        frame: labelled rows of every cutoff (``build_training_set``).
        folds: from ``plan_folds``; at least one.
        settings: training, value and outreach settings.
        say: progress messages.
    """
    t = settings.training
    held = held_out(frame["customer_id"])
    data = [_fold_data(frame, held, fold, settings) for fold in folds]
    rng = np.random.default_rng(t.seed)
    trials: list[Trial] = []
    best_boosters: list[xgb.Booster] = []
    for i in range(t.n_trials):
        params = dict(DEFAULT_PARAMS) if i == 0 else sample_params(rng)
        boosters, trial = [], Trial(params, [], [])
        for d in data:
            booster = fit_booster(
                booster_params(params, d.y_fit, t.seed, t.n_threads),
                d.fit,
                d.valid,
                t.max_rounds,
                t.early_stopping_rounds,
            )
            boosters.append(booster[: booster.best_iteration + 1])
            trial.fold_trees.append(int(booster.best_iteration) + 1)
            raw = booster.predict(d.valid, iteration_range=(0, booster.best_iteration + 1))
            trial.fold_valid_pr_auc.append(float(average_precision_score(d.y_valid, raw)))
        trials.append(trial)
        if trial.valid_pr_auc >= max(x.valid_pr_auc for x in trials):
            best_boosters = boosters
        say(
            f"trial {i + 1}/{t.n_trials}: held-out PR AUC {trial.valid_pr_auc:.4f} over {len(data)} fold(s), "
            f"{int(np.median(trial.fold_trees))} trees"
        )
    best = max(trials, key=lambda x: x.valid_pr_auc)

    results = [
        FoldResult(
            d.fold, d.test, b.predict(xgb.DMatrix(d.preprocessor.transform(d.test), enable_categorical=True))
        )
        for d, b in zip(data, best_boosters, strict=True)
    ]
    for result, d, booster in zip(results, data, best_boosters, strict=True):
        calibrator = fit_calibrator(booster.predict(d.valid), d.y_valid, seed=t.seed)
        result.probabilities = calibrator.apply(result.raw)
        result.calibration = calibrator.method
        result.baseline_scores = d.baseline_scores
    _measure(results, settings)
    # The refit sees every labelled cutoff, more rows than any fold: the folds' median is a floor.
    n_trees = max(1, int(np.median(best.fold_trees)))
    return Backtest(results, trials, best, n_trees)


@dataclass
class _FoldData:
    fold: Fold
    preprocessor: Preprocessor
    fit: xgb.QuantileDMatrix
    valid: xgb.DMatrix
    y_fit: np.ndarray
    y_valid: np.ndarray
    test: pd.DataFrame
    baseline_scores: dict[str, np.ndarray]


def _fold_data(frame: pd.DataFrame, held: np.ndarray, fold: Fold, settings: Settings) -> _FoldData:
    """A fold's matrices, test rows and baselines, without copying its training rows as a frame."""
    train = frame["cutoff"].isin(fold.train_cutoffs).to_numpy()
    test = frame[frame["cutoff"] == fold.test_cutoff].reset_index(drop=True)
    preprocessor = Preprocessor.fit(frame, train)
    y = frame[LABEL].to_numpy(dtype=int)
    fit, valid = train & ~held, train & held
    return _FoldData(
        fold=fold,
        preprocessor=preprocessor,
        fit=training_matrix(frame, fit, preprocessor),
        valid=evaluation_matrix(frame, valid, preprocessor),
        y_fit=y[fit],
        y_valid=y[valid],
        test=test,
        baseline_scores=_baselines(frame, train, test, preprocessor, settings),
    )


def _baselines(
    frame: pd.DataFrame, train: np.ndarray, test: pd.DataFrame, preprocessor: Preprocessor, settings: Settings
) -> dict[str, np.ndarray]:
    """Baselines on the fold's test cutoff, each fitted on the fold's training rows only."""
    seed = settings.training.seed
    rows = baselines.logistic_sample(np.flatnonzero(train), seed)
    sample = frame.take(rows)
    logistic = baselines.fit_logistic(sample, sample[LABEL].to_numpy(dtype=int), preprocessor, seed)
    return {
        "recency": baselines.recency_scores(test),
        "logistic": baselines.logistic_scores(logistic, test, preprocessor),
        "bgnbd": baselines.bgnbd_scores(test, settings.churn.horizon_days),
    }


def _measure(results: list[FoldResult], settings: Settings) -> None:
    """Every fold's measures; profit at capacity, or at the list share that was best on the other folds."""
    o, margin = settings.outreach, settings.value.margin
    values = [customer_value(r.test, margin) for r in results]
    best_shares = []
    for r, value in zip(results, values, strict=True):
        curve = metrics.profit_curve(r.y, value, r.probabilities * value, o.cost_per_contact, o.save_rate)
        best_shares.append(metrics.best_contact_count(curve)[0] / max(len(r.test), 1))
    for k, (r, value) in enumerate(zip(results, values, strict=True)):
        others = [s for j, s in enumerate(best_shares) if j != k] or [best_shares[k]]
        n = len(r.test)
        r.contacts = min(o.capacity, n) if o.capacity else round(float(np.mean(others)) * n)
        r.metrics = _fold_measures(r.y, r.probabilities, value, r.contacts, settings)
        r.metrics["log_loss_uncalibrated"] = float(
            log_loss(r.y, np.clip(r.raw, 1e-7, 1 - 1e-7), labels=[0, 1])
        )
        for name, scores in r.baseline_scores.items():
            measured = _fold_measures(r.y, _as_probability(scores), value, r.contacts, settings)
            r.metrics.update({f"{name}_{key}": v for key, v in measured.items()})


def _fold_measures(
    y: np.ndarray, probabilities: np.ndarray, value: np.ndarray, contacts: int, settings: Settings
) -> dict[str, float]:
    o = settings.outreach
    measured = metrics.classification_metrics(
        y, probabilities, value, o.cost_per_contact, o.save_rate, o.capacity
    )
    # Never the best k on these very labels: the profit at a contact count fixed beforehand.
    curve = metrics.profit_curve(y, value, probabilities * value, o.cost_per_contact, o.save_rate)
    measured["expected_profit"] = float(curve[contacts])
    measured["best_contact_count"] = float(contacts)
    return measured


def _as_probability(scores: np.ndarray) -> np.ndarray:
    """Scores of any scale as (0, 1) ranks, so value at risk orders outreach as the scores do."""
    ranks = pd.Series(scores).rank(method="average").to_numpy()
    return ranks / (len(ranks) + 1)


def summarise(backtest: Backtest) -> dict[str, float]:
    """MLflow metrics: fold means as ``test_*`` (with ``*_sd``), each fold as ``fold{i}_*``, baselines."""
    out: dict[str, float] = {}
    names = list(FOLD_MEASURES)
    baseline_names = sorted({n for f in backtest.folds for n in f.baseline_scores})
    for key in names:
        values = np.array([f.metrics[key] for f in backtest.folds], dtype=float)
        out[f"test_{key}"] = float(np.nanmean(values))
        out[f"test_{key}_sd"] = float(np.nanstd(values, ddof=1)) if len(values) > 1 else float("nan")
        for i, v in enumerate(values, start=1):
            out[f"fold{i}_{key}"] = float(v)
    for name in baseline_names:
        for key in BASELINE_MEASURES:
            mean = float(np.nanmean([f.metrics[f"{name}_{key}"] for f in backtest.folds]))
            out[f"{name}_test_{key}"] = mean
            out[f"gain_over_{name}_{key}"] = out[f"test_{key}"] - mean
    out["valid_pr_auc"] = backtest.best.valid_pr_auc
    out["backtest_folds"] = float(len(backtest.folds))
    out["backtest_contacts"] = float(np.mean([f.contacts for f in backtest.folds]))
    return out
