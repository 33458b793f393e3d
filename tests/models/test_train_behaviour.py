"""Behaviour: the trained model ranks hand-made customers the way a retention manager would.

Two customers are appended to a copy of the generated data and described at the test cutoff by the
same feature code as everyone else, then scored by the trained model.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnguard.core.data.dataset import load_dataset
from churnguard.features.build import build_features
from churnguard.features.source import source_from_dataset

STEADY, LAPSED, LAPSED_QUIET = 900_001, 900_002, 900_003
DAY = pd.Timedelta(days=1)


def _append(path: Path, rows: list[dict]) -> None:
    frame = pd.read_parquet(path)
    extra = pd.DataFrame(rows).astype(frame.dtypes.to_dict())
    pd.concat([frame, extra], ignore_index=True).to_parquet(path, index=False)


def _weekly_orders(customer: int, first: pd.Timestamp, last: pd.Timestamp, order_id: int) -> list[dict]:
    days = pd.date_range(first, last, freq="7D")
    return [
        {"order_id": order_id + i, "customer_id": customer, "ts": ts + pd.Timedelta(hours=19), "amount": 60.0}
        for i, ts in enumerate(days)
    ]


def _events(customer: int, kind: str, times: list[pd.Timestamp], value: float | None = None) -> list[dict]:
    return [{"customer_id": customer, "ts": ts, "event_type": kind, "value": value} for ts in times]


@pytest.fixture(scope="module")
def scored(sample, trained, tmp_path_factory) -> pd.Series:
    """Calibrated churn probability of the hand-made customers at the test cutoff."""
    cut = trained.refit_cutoffs[-1]
    signup = cut - 700 * DAY
    data_dir = tmp_path_factory.mktemp("behaviour") / "data"
    shutil.copytree(sample.data_dir, data_dir)
    _append(
        data_dir / "customers.parquet",
        [
            {
                "customer_id": c,
                "signup_ts": signup,
                "region": "North",
                "channel": "web",
                "loyalty_tier": "silver",
            }
            for c in (STEADY, LAPSED, LAPSED_QUIET)
        ],
    )
    stopped = cut - 150 * DAY
    _append(
        data_dir / "transactions.parquet",
        _weekly_orders(STEADY, signup + DAY, cut - 3 * DAY, 9_000_000)
        + _weekly_orders(LAPSED, signup + DAY, stopped, 9_100_000)
        + _weekly_orders(LAPSED_QUIET, signup + DAY, stopped, 9_200_000),
    )
    weekly_logins = list(pd.date_range(signup + 2 * DAY, cut - 2 * DAY, freq="7D"))
    old_logins = [t for t in weekly_logins if t < stopped]
    trouble = [cut - 80 * DAY, cut - 45 * DAY, cut - 20 * DAY]
    _append(
        data_dir / "events.parquet",
        _events(STEADY, "login", weekly_logins, 8.0)
        + _events(STEADY, "nps_response", [cut - 40 * DAY], 9.0)
        + _events(LAPSED, "login", old_logins, 8.0)
        + _events(LAPSED, "support_ticket", trouble, 72.0)
        + _events(LAPSED, "complaint", trouble[1:])
        + _events(LAPSED, "nps_response", [cut - 15 * DAY], 2.0)
        + _events(LAPSED_QUIET, "login", old_logins, 8.0),
    )
    dataset = load_dataset(data_dir, sample.settings.data)
    source = source_from_dataset(dataset, sample.settings.features)
    rows = build_features(source, cut, sample.settings, trained.parts.feature_spec)
    rows = rows[rows["customer_id"].isin([STEADY, LAPSED, LAPSED_QUIET])].set_index("customer_id")
    assert len(rows) == 3, "all three customers bought within the lookback, so all are scored"
    return trained.model.predict(None, rows)["churn_probability"]


def test_a_lapsed_customer_with_complaints_scores_above_a_steady_weekly_buyer(scored):
    assert scored[LAPSED] > scored[STEADY] + 0.4
    assert scored[STEADY] < 0.2
    assert scored[LAPSED] > 0.6


def test_complaints_and_tickets_add_risk_to_a_customer_who_stopped_buying(scored):
    assert scored[LAPSED] > scored[LAPSED_QUIET]


def test_probabilities_are_probabilities(scored):
    assert np.all((scored > 0) & (scored < 1))
