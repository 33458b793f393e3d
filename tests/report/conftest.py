"""Fixtures of the report tests: tiny frames in the dataset's types, synthetic risk lists, a sample report.

Helpers are fixtures rather than an importable module: test folders have no ``__init__.py``, so a
plain module name could clash with another test folder's under pytest's default import mode.
"""

from __future__ import annotations

import json
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
    from churnguard.reports.content import ReportContent

TS = "datetime64[us, UTC]"
CHAMPION = {
    "model_name": "churnguard-churn",
    "version": "3",
    "trained_at": "2026-10-31T06:12:00Z",
    "as_of": "2026-10-31",
    # As training logs them (``test_*`` without the prefix): shares as fractions, counts as floats.
    "metrics": {
        "roc_auc": 0.812,
        "pr_auc": 0.547,
        "lift_at_5": 3.14,
        "lift_at_10": 2.9,
        "capture_at_5": 0.157,
        "brier": 0.141,
        "ece": 0.0123,
        "churn_rate": 0.412,
        "expected_profit": 6549.25,
        "best_contact_count": 1022.0,
    },
}
# The sample report's list was scored with this capacity; the report's settings say 200 (changed since).
LIST_CAPACITY = 150
CURRENCY = "EUR"


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


def capped_groups(frame: pd.DataFrame, capacity: int, seed: int, control_share: float = 0.1) -> np.ndarray:
    """Groups as scoring assigns them with a capacity: the critical and high customers of highest value at
    risk, ``capacity / (1 - control_share)`` of them, a random ``control_share`` held out as control."""
    eligible = frame[frame["risk_tier"].isin(["critical", "high"])]
    candidates = eligible.sort_values(["value_at_risk", "customer_id"], ascending=[False, True]).index
    candidates = candidates[: int(np.ceil(capacity / (1 - control_share)))]
    control = np.random.default_rng(seed).permutation(candidates)[: round(len(candidates) * control_share)]
    groups = pd.Series("none", index=frame.index, dtype=object)
    groups[candidates] = "outreach"
    groups[control] = "control"
    groups[groups[groups == "outreach"].index[capacity:]] = "none"
    return groups.to_numpy()


def synthetic_risk_list(
    ids: np.ndarray, as_of: str, seed: int = 1, capacity: int | None = None
) -> pd.DataFrame:
    """A risk list in the scoring format, ranked by value at risk, with templated reasons.

    Outreach is the top 10% less a random 10% control, or, with a ``capacity``, as :func:`capped_groups`.
    """
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
    if capacity is not None:
        frame["group"] = capped_groups(frame, capacity, seed)
    frame["model_name"], frame["model_version"] = "churnguard-churn", "3"
    return frame


@pytest.fixture
def risk_list() -> Callable[..., pd.DataFrame]:
    return synthetic_risk_list


def write_risk_list(frame: pd.DataFrame, risk_list_dir: Path, as_of: str) -> Path:
    """``risk_list.parquet`` and the ``summary.json`` groups beside it, as scoring writes them."""
    folder = risk_list_dir / f"as_of={as_of}"
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(folder / "risk_list.parquet")
    groups = {g: int((frame["group"] == g).sum()) for g in ("outreach", "control", "none")}
    (folder / "summary.json").write_text(json.dumps({"as_of": as_of, "groups": groups}), encoding="utf-8")
    return folder / "risk_list.parquet"


@pytest.fixture(scope="session")
def sample_dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """About 2,000 generated customers over three years, as of 2026-10-31."""
    from churnguard.core.data.generate import generate_sample

    folder = tmp_path_factory.mktemp("sample")
    generate_sample(folder, n_customers=2_000, seed=11, end="2026-10-31")
    return load_dataset(folder, Settings().data, as_of="2026-10-31")


@pytest.fixture(scope="session")
def sample_risk_lists(sample_dataset: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A risk list folder with the sample customers' list of 2026-10-31, scored at :data:`LIST_CAPACITY`."""
    risk_dir = tmp_path_factory.mktemp("risk_lists")
    ids = sample_dataset.customers["customer_id"].to_numpy()
    write_risk_list(synthetic_risk_list(ids, "2026-10-31", capacity=LIST_CAPACITY), risk_dir, "2026-10-31")
    return risk_dir


def report_settings() -> Settings:
    """The sample report's settings: money in :data:`CURRENCY`, a capacity the list was not scored with."""
    return Settings(report={"currency": CURRENCY}, outreach={"capacity": 200})


@pytest.fixture(scope="session")
def sample_report(
    sample_dataset: Dataset, sample_risk_lists: Path, tmp_path_factory: pytest.TempPathFactory
) -> ReportResult:
    """The full report of the sample data, with a risk list of the same date and a champion."""
    from churnguard.reports.build import build_report

    reports = tmp_path_factory.mktemp("reports")
    # No outcomes measured yet: an empty folder, never ./output/outcomes of whatever ran here before.
    no_outcomes = tmp_path_factory.mktemp("no-outcomes")
    return build_report(
        sample_dataset, report_settings(), reports, sample_risk_lists, CHAMPION, outcomes_dir=no_outcomes
    )


@pytest.fixture(scope="session")
def listed_content(
    sample_dataset: Dataset, sample_risk_lists: Path, tmp_path_factory: pytest.TempPathFactory
) -> ReportContent:
    """What the sample report shows, as data: the sections can be read without parsing HTML."""
    from churnguard.reports.content import compute_content

    no_outcomes = tmp_path_factory.mktemp("no-outcomes")
    return compute_content(
        sample_dataset, report_settings(), sample_risk_lists, CHAMPION, outcomes_dir=no_outcomes
    )
