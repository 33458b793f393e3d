"""Train a churn model on a multi-cutoff training set: split by time, search, calibrate, evaluate.

Pure library code: no MLflow and no Prefect here (see :mod:`churnguard.models.tracking` and ``pipelines/``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import log_loss

from churnguard.core.config import Settings
from churnguard.core.errors import InsufficientDataError
from churnguard.features.build import LABEL, VALUE_COLUMN, FeatureSpec
from churnguard.models import baselines, metrics
from churnguard.models.calibrate import fit_calibrator
from churnguard.models.package import ChurnModel, ModelParts
from churnguard.models.preprocess import Preprocessor
from churnguard.models.search import SearchResult, Trial, random_search

SEGMENT_COLUMNS = ("rfm_segment", "attr_region", "attr_loyalty_tier", "attr_channel")
SHAP_SAMPLE_ROWS = 5_000


@dataclass
class TemporalSplit:
    """Train on older cutoffs, validate on the second newest, test on the newest."""

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame

    @property
    def train_cutoffs(self) -> list[pd.Timestamp]:
        return sorted(self.train["cutoff"].unique())

    @property
    def valid_cutoff(self) -> pd.Timestamp:
        return self.valid["cutoff"].iloc[0]

    @property
    def test_cutoff(self) -> pd.Timestamp:
        return self.test["cutoff"].iloc[0]


def temporal_split(frame: pd.DataFrame, horizon_days: int | None = None) -> TemporalSplit:
    """Split a training set by cutoff: newest = test, second newest = validation, older ones = train.

    Labels at cutoff ``c`` look at ``[c, c + horizon)``. A training cutoff whose label window reaches
    past the validation cutoff would teach the booster validation and test outcomes (a purchase in
    the test horizon decides its label too), so such cutoffs are left out of training: every training
    row satisfies ``cutoff + horizon <= validation cutoff``.

    Args:
        frame: labelled rows of several cutoffs.
        horizon_days: label horizon of the frame; ``None`` keeps every older cutoff in training.

    Raises:
        ValueError: fewer than three cutoffs, no training cutoff left, or a split without both classes.
    """
    cutoffs = sorted(frame["cutoff"].unique())
    if len(cutoffs) < 3:
        raise InsufficientDataError(
            f"need at least 3 labelled cutoffs (train, validation, test), found {len(cutoffs)}: "
            "use a later as_of, or lower features.cutoff_every_days / features.min_history_days"
        )
    valid_cutoff, test_cutoff = cutoffs[-2], cutoffs[-1]
    last_train = valid_cutoff - pd.Timedelta(days=horizon_days or 0)
    train_cutoffs = [c for c in cutoffs[:-2] if c <= last_train]
    if not train_cutoffs:
        raise InsufficientDataError(
            f"no training cutoff: the {len(cutoffs) - 2} cutoff(s) before the validation cutoff "
            f"{pd.Timestamp(valid_cutoff).date()} all have {horizon_days}-day label windows reaching past "
            "it, so training on them would leak validation and test outcomes: raise features.max_cutoffs, "
            "use a later as_of, or lower features.min_history_days"
        )
    split = TemporalSplit(
        train=frame[frame["cutoff"] <= train_cutoffs[-1]].reset_index(drop=True),
        valid=frame[frame["cutoff"] == valid_cutoff].reset_index(drop=True),
        test=frame[frame["cutoff"] == test_cutoff].reset_index(drop=True),
    )
    for name in ("train", "valid", "test"):
        labels = getattr(split, name)[LABEL]
        if labels.nunique() < 2:
            raise InsufficientDataError(
                f"the {name} cutoff(s) hold only one class ({int(labels.iloc[0])}); cannot train"
            )
    return split


def customer_value(frame: pd.DataFrame, margin: float) -> np.ndarray:
    """Trailing net spend times margin; net refunders are worth 0, not a negative amount."""
    return np.clip(frame[VALUE_COLUMN].to_numpy(dtype=float), 0, None) * margin


@dataclass
class TrainResult:
    """Everything a training produced, ready to be tracked."""

    parts: ModelParts
    split: TemporalSplit
    search: SearchResult
    test_probabilities: np.ndarray
    test_raw: np.ndarray
    baseline_scores: dict[str, np.ndarray]
    metrics: dict[str, float]
    segment_auc: dict[str, float]
    importance: pd.Series

    @property
    def model(self) -> ChurnModel:
        return ChurnModel.from_parts(self.parts)


@dataclass
class Evaluation:
    """How a fitted model and the baselines did on the test cutoff (and the model on validation)."""

    metrics: dict[str, float]
    test_probabilities: np.ndarray
    test_raw: np.ndarray
    baseline_scores: dict[str, np.ndarray]
    segment_auc: dict[str, float]


def train_churn_model(
    frame: pd.DataFrame,
    settings: Settings,
    spec: FeatureSpec,
    progress: Callable[[str], None] | None = None,
) -> TrainResult:
    """Fit, calibrate, evaluate and explain an XGBoost churn model and its baselines.

    Args:
        frame: training set from ``churnguard.features.build.build_training_set`` (several cutoffs, with labels).
        settings: training, value and outreach settings.
        spec: the feature spec the frame was built with (stored with the model for scoring).
        progress: called with short human messages.

    Returns:
        The trained parts, predictions and every measure (test, validation, baselines).
    """
    say = progress or (lambda message: None)
    split = temporal_split(frame, settings.churn.horizon_days)
    left_out = frame["cutoff"].nunique() - len(split.train_cutoffs) - 2
    say(
        f"train {len(split.train):,} rows over {len(split.train_cutoffs)} cutoffs "
        f"({left_out} left out: their labels reach past the validation cutoff), "
        f"validation {len(split.valid):,} rows, test {len(split.test):,} rows"
    )
    parts, search = fit_churn_model(split, settings, spec, say)
    evaluation = evaluate_churn_model(parts, split, settings, say)
    return TrainResult(
        parts=parts,
        split=split,
        search=search,
        test_probabilities=evaluation.test_probabilities,
        test_raw=evaluation.test_raw,
        baseline_scores=evaluation.baseline_scores,
        metrics=evaluation.metrics,
        segment_auc=evaluation.segment_auc,
        importance=explain_churn_model(ChurnModel.from_parts(parts), split.test, settings.training.seed),
    )


def fit_churn_model(
    split: TemporalSplit, settings: Settings, spec: FeatureSpec, say: Callable[[str], None]
) -> tuple[ModelParts, SearchResult]:
    """Search hyper-parameters on the validation cutoff, then calibrate the best booster on it."""
    t = settings.training
    preprocessor = Preprocessor.fit(split.train)
    x_train, x_valid = (preprocessor.transform(s) for s in (split.train, split.valid))
    y_train, y_valid = (s[LABEL].to_numpy(dtype=int) for s in (split.train, split.valid))

    def report(i: int, n: int, trial: Trial) -> None:
        say(
            f"trial {i}/{n}: validation PR AUC {trial.valid_pr_auc:.4f} after {trial.best_iteration + 1} trees"
        )

    search = random_search(
        x_train,
        y_train,
        x_valid,
        y_valid,
        t.n_trials,
        t.max_rounds,
        t.early_stopping_rounds,
        t.seed,
        t.n_threads,
        report,
    )
    valid_raw = search.booster.predict(xgb.DMatrix(x_valid, enable_categorical=True))
    calibrator = fit_calibrator(valid_raw, y_valid, seed=t.seed)
    say(f"calibration: {calibrator.method} (cross-validated log loss {calibrator.cv_log_loss})")
    parts = ModelParts(
        booster=search.booster,
        preprocessor=preprocessor,
        calibrator=calibrator,
        feature_spec=spec,
        settings=settings.model_dump(mode="json", include={"features", "churn", "value"}),
    )
    return parts, search


def evaluate_churn_model(
    parts: ModelParts, split: TemporalSplit, settings: Settings, say: Callable[[str], None]
) -> Evaluation:
    """Measure the model on the test and validation cutoffs, and both baselines on the test cutoff."""
    model = ChurnModel.from_parts(parts)
    o, margin = settings.outreach, settings.value.margin

    def measure(y: np.ndarray, scores: np.ndarray, rows: pd.DataFrame) -> dict[str, float]:
        value = customer_value(rows, margin)
        return metrics.classification_metrics(y, scores, value, o.cost_per_contact, o.save_rate, o.capacity)

    y_valid, y_test = (s[LABEL].to_numpy(dtype=int) for s in (split.valid, split.test))
    test_raw = model.raw_scores(split.test)
    test_p = parts.calibrator.apply(test_raw)
    valid_p = parts.calibrator.apply(model.raw_scores(split.valid))
    results = {f"test_{k}": v for k, v in measure(y_test, test_p, split.test).items()}
    results.update({f"valid_{k}": v for k, v in measure(y_valid, valid_p, split.valid).items()})
    results["test_log_loss_uncalibrated"] = float(
        log_loss(y_test, np.clip(test_raw, 1e-7, 1 - 1e-7), labels=[0, 1])
    )

    say("baselines: recency alone and logistic regression")
    y_train = split.train[LABEL].to_numpy(dtype=int)
    logistic = baselines.fit_logistic(split.train, y_train, parts.preprocessor, settings.training.seed)
    baseline_scores = {
        "recency": baselines.recency_scores(split.test),
        "logistic": baselines.logistic_scores(logistic, split.test, parts.preprocessor),
    }
    for name, scores in baseline_scores.items():
        measured = measure(y_test, scores, split.test)
        for key in ("roc_auc", "pr_auc", "lift_at_10", "capture_at_10", "expected_profit"):
            results[f"{name}_test_{key}"] = measured[key]
            results[f"gain_over_{name}_{key}"] = results[f"test_{key}"] - measured[key]

    scored = split.test.assign(_p=test_p)
    segment_auc = {}
    for column in SEGMENT_COLUMNS:
        if column in scored:
            for segment, auc in metrics.auc_by_segment(scored, column, LABEL, "_p").items():
                segment_auc[f"{column.removeprefix('attr_')}={segment}"] = auc
    return Evaluation(results, test_p, test_raw, baseline_scores, segment_auc)


def explain_churn_model(model: ChurnModel, rows: pd.DataFrame, seed: int) -> pd.Series:
    """Global importance: mean absolute TreeSHAP contribution per feature over a sample of ``rows``."""
    sample = rows.sample(min(SHAP_SAMPLE_ROWS, len(rows)), random_state=seed)
    contributions = model.contributions(sample)
    return contributions.drop(columns="bias").abs().mean().sort_values(ascending=False)
