"""The hyper-parameter search space and how one point of it becomes an XGBoost booster.

The search itself runs on the backtest's folds (:mod:`churnguard.models.backtest`)."""

from __future__ import annotations

import numpy as np
import xgboost as xgb

# Ranges of the random search; the first trial is always the hand-picked default below.
SEARCH_SPACE = {
    "max_depth": [3, 4, 5, 6, 8],
    "learning_rate": (0.05, 0.3),  # log-uniform
    "min_child_weight": [1, 5, 20, 50],
    "subsample": (0.6, 1.0),
    "colsample_bytree": (0.5, 1.0),
    "reg_lambda": (0.5, 20.0),  # log-uniform
    "balance": ["none", "sqrt"],  # class weight: none, or sqrt(negatives/positives)
}
DEFAULT_PARAMS = {
    "max_depth": 5,
    "learning_rate": 0.12,
    "min_child_weight": 5,
    "subsample": 0.9,
    "colsample_bytree": 0.8,
    "reg_lambda": 2.0,
    "balance": "sqrt",
}


def sample_params(rng: np.random.Generator) -> dict:
    """One random point of :data:`SEARCH_SPACE`."""
    log_uniform = lambda lo, hi: float(np.exp(rng.uniform(np.log(lo), np.log(hi))))  # noqa: E731
    return {
        "max_depth": int(rng.choice(SEARCH_SPACE["max_depth"])),
        "learning_rate": log_uniform(*SEARCH_SPACE["learning_rate"]),
        "min_child_weight": int(rng.choice(SEARCH_SPACE["min_child_weight"])),
        "subsample": float(rng.uniform(*SEARCH_SPACE["subsample"])),
        "colsample_bytree": float(rng.uniform(*SEARCH_SPACE["colsample_bytree"])),
        "reg_lambda": log_uniform(*SEARCH_SPACE["reg_lambda"]),
        "balance": str(rng.choice(SEARCH_SPACE["balance"])),
    }


def booster_params(params: dict, y_train: np.ndarray, seed: int, n_threads: int | None) -> dict:
    """XGBoost parameters from a search point (class balance turned into ``scale_pos_weight``)."""
    positives = max(int(np.sum(y_train)), 1)
    ratio = (len(y_train) - positives) / positives
    out = {k: v for k, v in params.items() if k != "balance"}
    out.update(
        objective="binary:logistic",
        eval_metric=["logloss", "aucpr"],  # the last one drives early stopping
        tree_method="hist",
        max_cat_to_onehot=8,
        scale_pos_weight=float(np.sqrt(ratio)) if params.get("balance") == "sqrt" else 1.0,
        seed=seed,
    )
    if n_threads:
        out["nthread"] = n_threads
    return out


def fit_booster(
    params: dict, train: xgb.DMatrix, valid: xgb.DMatrix, max_rounds: int, early_stopping_rounds: int
) -> xgb.Booster:
    return xgb.train(
        params,
        train,
        num_boost_round=max_rounds,
        evals=[(valid, "valid")],
        early_stopping_rounds=early_stopping_rounds,
        verbose_eval=False,
    )
