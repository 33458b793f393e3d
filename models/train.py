"""Train a churn model: a rolling-origin backtest chooses and measures, then a refit on every labelled
cutoff becomes the model that scores.

Pure library code: no MLflow and no Prefect here (see :mod:`churnguard.models.tracking` and ``pipelines/``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xgboost as xgb

from churnguard.core.config import Settings
from churnguard.core.errors import InsufficientDataError
from churnguard.features.build import LABEL, FeatureSpec
from churnguard.features.cutoffs import plan_folds
from churnguard.models import metrics
from churnguard.models.backtest import Backtest, held_out, run_backtest, summarise
from churnguard.models.calibrate import Calibrator, fit_calibrator
from churnguard.models.drift import importance_shares, reference_profile, reference_rows
from churnguard.models.matrix import BATCH_ROWS, evaluation_matrix, training_matrix
from churnguard.models.package import ChurnModel, ModelParts
from churnguard.models.preprocess import Preprocessor
from churnguard.models.search import booster_params

SEGMENT_COLUMNS = ("rfm_segment", "attr_region", "attr_loyalty_tier", "attr_channel")
SHAP_SAMPLE_ROWS = 5_000
# How the production model is built from the backtest: (frame, backtest, settings, spec, say) -> parts.
RefitStep = Callable[[pd.DataFrame, Backtest, Settings, FeatureSpec, Callable[[str], None]], ModelParts]


@dataclass
class TrainResult:
    """Everything a training produced, ready to be tracked."""

    parts: ModelParts  # the production model: refitted on every labelled cutoff
    backtest: Backtest
    refit_cutoffs: list[pd.Timestamp]
    refit_rows: int
    metrics: dict[str, float]
    segment_auc: dict[str, float]
    importance: pd.Series

    @property
    def model(self) -> ChurnModel:
        return ChurnModel.from_parts(self.parts)

    @property
    def evaluation(self) -> tuple[pd.DataFrame, np.ndarray]:
        """The folds' test rows and their out-of-fold probabilities: outcomes no fitting step saw."""
        return self.backtest.pooled


def train_churn_model(
    frame: pd.DataFrame,
    settings: Settings,
    spec: FeatureSpec,
    progress: Callable[[str], None] | None = None,
    *,
    refit_step: RefitStep | None = None,
    refit_rows: int | None = None,
) -> TrainResult:
    """Backtest XGBoost and its baselines on rolling origins, then refit on every labelled cutoff.

    Args:
        frame: training set from ``churnguard.features.build.build_training_set`` (cutoffs with labels).
        settings: training, value and outreach settings.
        spec: the feature spec the frame was built with (stored with the model for scoring).
        progress: called with short human messages.
        refit_step: builds the production model from the backtest (default :func:`refit` on ``frame``);
            ``engine: spark`` passes one that trains on every row in Spark while ``frame`` is a sample.
        refit_rows: the rows ``refit_step`` trains on (default: all of ``frame``).

    Returns:
        The production model's parts, the backtest and every measure (fold means, sd, each fold).

    Raises:
        InsufficientDataError: the cutoffs hold no purged fold, or the labels a single class.
    """
    say = progress or (lambda message: None)
    refit_rows = len(frame) if refit_rows is None else refit_rows
    cutoffs = sorted(frame["cutoff"].unique())
    horizon = settings.churn.horizon_days
    folds = plan_folds(cutoffs, horizon, settings.training.backtest_folds)
    if not folds:
        raise InsufficientDataError(
            f"no backtest fold: {len(cutoffs)} labelled cutoff(s) from {pd.Timestamp(cutoffs[0]).date()} to "
            f"{pd.Timestamp(cutoffs[-1]).date()}, but a test cutoff needs two training cutoffs whose "
            f"{horizon}-day label windows close before it: use a later as_of or more history, or raise "
            "features.max_cutoffs"
        )
    if frame[LABEL].nunique() < 2:
        raise InsufficientDataError(
            f"every labelled customer has the same outcome ({int(frame[LABEL].iloc[0])})"
        )
    say(
        f"backtest: {len(folds)} fold(s), test cutoffs "
        + ", ".join(str(f.test_cutoff.date()) for f in folds)
        + f"; refit on {len(cutoffs)} cutoffs ({refit_rows:,} rows)"
    )
    backtest = run_backtest(frame, folds, settings, say)
    parts = (refit_step or refit)(frame, backtest, settings, spec, say)
    say(f"refit: {backtest.n_trees} trees on every labelled cutoff up to {pd.Timestamp(cutoffs[-1]).date()}")
    newest = backtest.folds[-1].test
    return TrainResult(
        parts=parts,
        backtest=backtest,
        refit_cutoffs=[pd.Timestamp(c) for c in cutoffs],
        refit_rows=refit_rows,
        metrics=summarise(backtest),
        segment_auc=segment_auc(backtest),
        importance=explain_churn_model(ChurnModel.from_parts(parts), newest, settings.training.seed),
    )


def refit(
    frame: pd.DataFrame, backtest: Backtest, settings: Settings, spec: FeatureSpec, say: Callable[[str], None]
) -> ModelParts:
    """The production model: the chosen settings and tree count on every row of every labelled cutoff.

    Its calibrator comes from a twin fitted the same way without a fifth of the customers, whose
    predictions for those held-out customers (all cutoffs, the newest included) it is fitted on.
    """
    t = settings.training
    preprocessor = Preprocessor.fit(frame)
    y = frame[LABEL].to_numpy(dtype=int)
    held = held_out(frame["customer_id"])

    def fit(rows: np.ndarray) -> xgb.Booster:
        params = booster_params(backtest.best.params, y[rows], t.seed, t.n_threads)
        matrix = training_matrix(frame, rows, preprocessor)
        return xgb.train(params, matrix, num_boost_round=backtest.n_trees)

    twin = fit(~held)
    raw = twin.predict(evaluation_matrix(frame, held, preprocessor))
    del twin
    calibrator = fit_calibrator(raw, y[held], seed=t.seed)
    say(f"calibration: {calibrator.method} on {int(held.sum()):,} held-out customer-cutoffs")
    return model_parts(fit(np.ones(len(frame), dtype=bool)), preprocessor, calibrator, spec, settings, frame)


def model_parts(
    booster: xgb.Booster,
    preprocessor: Preprocessor,
    calibrator: Calibrator,
    spec: FeatureSpec,
    settings: Settings,
    frame: pd.DataFrame,
) -> ModelParts:
    """The production model's parts, with the drift reference taken from ``frame``'s newest cutoff."""
    parts = ModelParts(
        booster=booster,
        preprocessor=preprocessor,
        calibrator=calibrator,
        feature_spec=spec,
        settings=settings.model_dump(mode="json", include={"features", "churn", "value"}),
    )
    parts.reference = drift_reference(frame, parts)
    return parts


def drift_reference(frame: pd.DataFrame, parts: ModelParts) -> dict:
    """What scoring compares its population with: the newest labelled cutoff's features and the
    model's own calibrated probabilities on them (see :func:`churnguard.models.drift.reference_rows`).

    Scored a batch at a time: at 1M customers a copy of the whole cutoff would cost gigabytes.
    """
    rows = reference_rows(frame["cutoff"])
    model = ChurnModel.from_parts(parts)
    scores = [
        model.predict(None, frame.take(rows[i : i + BATCH_ROWS]))["churn_probability"].to_numpy()
        for i in range(0, len(rows), BATCH_ROWS)
    ]
    p = parts.preprocessor
    importance = importance_shares(parts.booster.get_score(importance_type="total_gain"), p.features)
    return reference_profile(frame, np.concatenate(scores), p.features, p.categories, rows, importance)


def segment_auc(backtest: Backtest) -> dict[str, float]:
    """ROC AUC per segment over the folds' test rows (out-of-fold probabilities)."""
    frame, probabilities = backtest.pooled
    scored = frame.assign(_p=probabilities)
    out = {}
    for column in SEGMENT_COLUMNS:
        if column in scored:
            for segment, auc in metrics.auc_by_segment(scored, column, LABEL, "_p").items():
                out[f"{column.removeprefix('attr_')}={segment}"] = auc
    return out


def explain_churn_model(model: ChurnModel, rows: pd.DataFrame, seed: int) -> pd.Series:
    """Global importance: mean absolute TreeSHAP contribution per feature over a sample of ``rows``."""
    sample = rows.sample(min(SHAP_SAMPLE_ROWS, len(rows)), random_state=seed)
    contributions = model.contributions(sample)
    return contributions.drop(columns="bias").abs().mean().sort_values(ascending=False)
