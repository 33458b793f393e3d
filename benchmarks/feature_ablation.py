"""Do candidate feature families help? The backtest with and without each, on the same folds.

    .venv/bin/python benchmarks/feature_ablation.py --data data/sample [--trials 1]

Every candidate is a function of columns the feature build already computes point-in-time (so it
adds no leakage): engagement per active day and per month of exposure, ratios between behaviours,
engagement against the customer's own recent past, recency against the customer's age. Each family
is added on its own to the shipped features; the backtest (default hyper-parameters unless
``--trials`` says otherwise, so the search's luck does not blur a small effect) reports the mean
over its folds of the held-out test PR AUC and ROC AUC, and the per-fold differences. The shipped
features trained with another seed show how large a difference chance alone makes (row sampling
and column sampling change with any added column too). A family belongs in ``features/`` only when
it helps on every fold by more than that.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

EXPOSURE_DAYS = 90  # the engagement window every candidate is computed on


def _events(frame: pd.DataFrame) -> list[str]:
    suffix = f"_count_{EXPOSURE_DAYS}d"
    return [
        c.removeprefix("evt_").removesuffix(suffix)
        for c in frame
        if c.startswith("evt_") and c.endswith(suffix)
    ]


def _ratio(top: pd.Series, bottom: pd.Series) -> pd.Series:
    return (top / bottom.where(bottom > 0)).astype(float)


def per_active_day(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """Events per day with any such event: intensity of use, not only presence."""
    w = EXPOSURE_DAYS
    return {
        f"x_{e}_per_active_day": _ratio(frame[f"evt_{e}_count_{w}d"], frame[f"evt_{e}_active_days_{w}d"])
        for e in _events(frame)
    }


def per_month_of_exposure(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """Events and purchases per 30 days the customer could have had them (young customers had fewer)."""
    w = EXPOSURE_DAYS
    exposure = frame["tenure_days"].clip(upper=w).clip(lower=1) / 30
    out = {f"x_{e}_per_month": frame[f"evt_{e}_count_{w}d"] / exposure for e in _events(frame)}
    out["x_purchases_per_month"] = frame[f"n_purchases_{w}d"] / exposure
    return out


def between_behaviours(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """Service contacts and purchases relative to use: tickets and complaints per login, logins per purchase."""
    w = EXPOSURE_DAYS
    logins = frame.get(f"evt_login_count_{w}d")
    if logins is None:
        return {}
    out = {
        f"x_{e}_per_login": _ratio(frame[f"evt_{e}_count_{w}d"], logins)
        for e in _events(frame)
        if e in ("support_ticket", "complaint", "email_click")
    }
    out["x_logins_per_purchase"] = _ratio(logins, frame[f"n_purchases_{w}d"])
    return out


def against_own_past(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """The last 30 days' events against the customer's own 30-day average over the 60 days before."""
    out = {}
    for e in _events(frame):
        recent = frame[f"evt_{e}_count_30d"]
        before = (frame[f"evt_{e}_count_{EXPOSURE_DAYS}d"] - recent) / 2
        out[f"x_{e}_trend_30d"] = _ratio(recent, before)
    return out


def against_own_age(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """Recency as a share of the customer's age: 30 silent days mean more for a new customer."""
    return {"x_recency_per_tenure": _ratio(frame["recency_days"], frame["tenure_days"])}


FAMILIES: dict[str, Callable[[pd.DataFrame], dict[str, pd.Series]]] = {
    "engagement per active day": per_active_day,
    "per month of exposure": per_month_of_exposure,
    "ratios between behaviours": between_behaviours,
    "engagement against own past": against_own_past,
    "recency against own age": against_own_age,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/sample"), help="a data folder (Parquet)")
    parser.add_argument("--trials", type=int, default=1, help="search trials per backtest (default 1)")
    args = parser.parse_args()

    from churnguard.core.config import Settings
    from churnguard.features.build import build_training_set, discover_spec, training_plan
    from churnguard.features.source import source_from_parquet
    from churnguard.models.backtest import run_backtest

    settings = Settings(training={"n_trials": args.trials})
    source = source_from_parquet(args.data, settings.features)
    as_of = pd.Timestamp(source.backend.execute(source.transactions.ts.max())).ceil("D")
    plan = training_plan(source, as_of, settings)
    with tempfile.TemporaryDirectory() as tmp:
        path = build_training_set(
            source, as_of, settings, discover_spec(source), out_path=Path(tmp) / "t.parquet"
        )
        source.backend.disconnect()
        frame = pd.read_parquet(path)

    def measure(rows: pd.DataFrame, run_settings: Settings = settings) -> np.ndarray:
        backtest = run_backtest(rows, plan.folds, run_settings, lambda message: None)
        return np.array([[f.metrics["pr_auc"], f.metrics["roc_auc"]] for f in backtest.folds])

    def show(name: str, measured: np.ndarray) -> None:
        gains = measured[:, 0] - shipped[:, 0]
        print(
            f"{name:34} {measured[:, 0].mean():8.4f} {measured[:, 1].mean():8.4f}  "
            + " ".join(f"{g:+.4f}" for g in gains)
        )

    shipped = measure(frame)
    print(f"{len(frame):,} rows, {len(plan.folds)} folds, {args.trials} trial(s)")
    print(f"{'features':34} {'PR AUC':>8} {'ROC AUC':>8}  PR AUC gain per fold")
    show("shipped", shipped)
    reseeded = settings.model_copy(update={"training": settings.training.model_copy(update={"seed": 1})})
    show("shipped, another seed (chance)", measure(frame, reseeded))
    for name, family in FAMILIES.items():
        added = family(frame)
        if added:
            show(f"+ {name}", measure(frame.assign(**added)))
        else:
            print(f"{'+ ' + name:34} (the data has no columns for it)")


if __name__ == "__main__":
    main()
