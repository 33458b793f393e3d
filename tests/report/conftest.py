"""Fixtures of the report tests: tiny frames in the dataset's types, synthetic risk lists, a sample report.

Helpers are fixtures rather than an importable module: test folders have no ``__init__.py``, so a
plain module name could clash with another test folder's under pytest's default import mode.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

from churnguard.core.config import ChurnSettings, Settings
from churnguard.core.data.dataset import Dataset, load_dataset
from churnguard.features.build import active_customers
from churnguard.features.source import source_from_frames
from churnguard.reports.kpis import ActiveAt

if TYPE_CHECKING:
    from churnguard.reports.build import ReportResult

TS = "datetime64[us, UTC]"
CHAMPION = {
    "model_name": "churnguard-churn",
    "version": "3",
    "trained_at": "2026-10-31T06:12:00Z",
    "as_of": "2026-10-31",
    "metrics": {"roc_auc": 0.812, "pr_auc": 0.547, "lift_at_10": 2.9, "brier": 0.141},
}


def utc(values: list[str]) -> pd.Series:
    return pd.Series(pd.to_datetime(values, utc=True), dtype=TS)


@pytest.fixture
def active_at() -> Callable[..., ActiveAt]:
    """``active_at(transactions, churn, subscriptions=None)``: the feature code's population rule over
    hand-made frames, as the report uses it."""

    def make(
        transactions: pd.DataFrame, churn: ChurnSettings, subscriptions: pd.DataFrame | None = None
    ) -> ActiveAt:
        settings = Settings(churn=churn.model_dump())
        source = source_from_frames(settings.features, transactions=transactions, subscriptions=subscriptions)
        return lambda moments: active_customers(source, moments, settings)

    return make


@pytest.fixture
def transactions() -> Callable[..., pd.DataFrame]:
    """``transactions((customer_id, "YYYY-MM-DD", amount), ...)`` as a typed frame."""

    def make(*rows: tuple) -> pd.DataFrame:
        ids, days, amounts = zip(*rows, strict=True) if rows else ((), (), ())
        return pd.DataFrame({"customer_id": list(ids), "ts": utc(list(days)), "amount": list(amounts)})

    return make


def synthetic_risk_list(ids: np.ndarray, as_of: str, seed: int = 1) -> pd.DataFrame:
    """A risk list in the scoring format, ranked by value at risk, with templated reasons."""
    rng = np.random.default_rng(seed)
    n = len(ids)
    frame = pd.DataFrame({"customer_id": ids, "as_of": pd.Timestamp(as_of, tz="UTC")})
    frame["churn_probability"] = rng.beta(1.5, 5.0, n)
    frame["customer_value"] = rng.gamma(2.0, 60.0, n).round(2)
    frame["value_at_risk"] = frame["churn_probability"] * frame["customer_value"]
    frame = frame.sort_values("value_at_risk", ascending=False, ignore_index=True)
    frame["rank"] = np.arange(1, n + 1)
    frame["percentile"] = 100 - (frame["rank"] - 1) / n * 100
    frame["risk_tier"] = pd.cut(
        frame["rank"] / n, [0, 0.05, 0.15, 0.40, 1.0], labels=["critical", "high", "medium", "low"]
    ).astype(str)
    frame["rfm_segment"] = rng.choice(["At risk", "Lost", "Loyal", "Champions"], n)
    days, usual = rng.integers(40, 300, n), rng.integers(10, 60, n)
    frame["reason_1"] = [
        f"No purchase for {d} days; usually buys every {u}" for d, u in zip(days, usual, strict=True)
    ]
    frame["reason_2"] = [f"{k} support tickets in the last 90 days" for k in rng.integers(1, 5, n)]
    frame["reason_3"] = np.where(rng.random(n) < 0.3, "Last NPS answer 3 (detractor)", None)
    frame["suggested_action"] = "Automated retention email"
    top = frame["rank"] <= max(1, n // 10)
    frame["group"] = np.where(top, np.where(rng.random(n) < 0.1, "control", "outreach"), "none")
    frame["model_name"], frame["model_version"] = "churnguard-churn", "3"
    return frame


@pytest.fixture
def risk_list() -> Callable[..., pd.DataFrame]:
    return synthetic_risk_list


def write_risk_list(frame: pd.DataFrame, risk_list_dir: Path, as_of: str) -> Path:
    folder = risk_list_dir / f"as_of={as_of}"
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(folder / "risk_list.parquet")
    return folder / "risk_list.parquet"


@pytest.fixture(scope="session")
def sample_dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """About 2,000 generated customers over three years, as of 2026-10-31."""
    from churnguard.core.data.generate import generate_sample

    folder = tmp_path_factory.mktemp("sample")
    generate_sample(folder, n_customers=2_000, seed=11, end="2026-10-31")
    return load_dataset(folder, Settings().data, as_of="2026-10-31")


@pytest.fixture(scope="session")
def sample_report(sample_dataset: Dataset, tmp_path_factory: pytest.TempPathFactory) -> ReportResult:
    """The full report of the sample data, with a risk list of the same date and a champion."""
    from churnguard.reports.build import build_report

    risk_dir = tmp_path_factory.mktemp("risk_lists")
    write_risk_list(
        synthetic_risk_list(sample_dataset.customers["customer_id"].to_numpy(), "2026-10-31"),
        risk_dir,
        "2026-10-31",
    )
    return build_report(sample_dataset, Settings(), tmp_path_factory.mktemp("reports"), risk_dir, CHAMPION)
