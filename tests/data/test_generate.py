"""The sample-data generator writes well-typed, reproducible tables that carry real churn signals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from churnguard.core.data.generate import EVENT_TYPES, GenerationSummary, generate_sample

N = 3_000
SEED = 7
TABLES = ("customers", "transactions", "events", "subscriptions", "_truth")
TS = "datetime64[us, UTC]"


def _read(folder: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(folder / f"{name}.parquet") for name in TABLES}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[GenerationSummary, list[str]]:
    messages: list[str] = []
    summary = generate_sample(
        tmp_path_factory.mktemp("sample"), n_customers=N, seed=SEED, progress=messages.append
    )
    return summary, messages


@pytest.fixture(scope="module")
def data(generated: tuple[GenerationSummary, list[str]]) -> dict[str, pd.DataFrame]:
    return _read(generated[0].out_dir)


@pytest.fixture(scope="module")
def dropped(data: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Customers who dropped out, with their signup and dropout timestamps."""
    truth = data["_truth"].dropna(subset=["dropout_ts"])
    return truth.merge(data["customers"][["customer_id", "signup_ts"]], on="customer_id")


def _dropout_share(truth: pd.DataFrame, mask: pd.Series) -> tuple[float, float]:
    """Share of customers with a dropout date, where ``mask`` holds and where it does not."""
    has_dropout = truth["dropout_ts"].notna()
    return has_dropout[mask].mean(), has_dropout[~mask].mean()


def test_writes_every_table_with_its_dtypes(generated, data) -> None:
    summary, messages = generated
    assert sorted(p.name for p in summary.out_dir.iterdir()) == sorted(f"{t}.parquet" for t in TABLES)
    expected = {
        "customers": {"customer_id": "int64", "signup_ts": TS},
        "transactions": {"order_id": "int64", "customer_id": "int64", "ts": TS, "amount": "float64"},
        "events": {"customer_id": "int64", "ts": TS, "value": "float64"},
        "subscriptions": {"customer_id": "int64", "start_ts": TS, "end_ts": TS, "mrr": "float64"},
        "_truth": {
            "customer_id": "int64",
            "dropout_ts": TS,
            "n_support_tickets": "int64",
            "is_detractor": "bool",
        },
    }
    for name, dtypes in expected.items():
        assert {col: str(data[name][col].dtype) for col in dtypes} == dtypes, name
    strings = {
        "customers": {
            "region": {"North", "South", "East", "West", "Central"},
            "channel": {"web", "app", "store", "marketplace"},
            "loyalty_tier": {"standard", "silver", "gold", "vip"},
        },
        "events": {"event_type": set(EVENT_TYPES)},
        "subscriptions": {"plan": {"basic", "plus", "premium"}},
    }
    for name, columns in strings.items():
        for col, allowed in columns.items():
            assert pd.api.types.is_string_dtype(data[name][col]), (name, col)
            assert set(data[name][col].unique()) == allowed, (name, col)
    assert data["customers"]["customer_id"].tolist() == list(range(1, N + 1))
    assert data["transactions"]["order_id"].is_unique
    counts = (summary.customers, summary.transactions, summary.events, summary.subscriptions)
    assert counts == tuple(len(data[name]) for name in TABLES[:4])
    assert "simulating 36 months of customer lives" in messages
    assert f"writing transactions.parquet ({summary.transactions:,} rows)" in messages


def test_volumes_are_realistic(data) -> None:
    assert 7 <= len(data["transactions"]) / N <= 13
    assert 15 <= len(data["events"]) / N <= 26
    assert 0.2 <= data["subscriptions"]["customer_id"].nunique() / N <= 0.4
    assert data["subscriptions"]["customer_id"].duplicated().any(), "some customers come back (win-back)"
    amounts = data["transactions"]["amount"]
    assert 40 <= amounts[amounts > 0].mean() <= 90
    assert (amounts.round(2) == amounts).all()


def test_every_timestamp_lies_in_the_period(generated, data) -> None:
    summary = generated[0]
    assert summary.start == pd.Timestamp("2023-10-31", tz="UTC")
    assert summary.end == pd.Timestamp("2026-10-31", tz="UTC")
    for name, frame in data.items():
        for col in frame.columns[frame.dtypes == TS]:
            values = frame[col].dropna()
            assert ((values >= summary.start) & (values < summary.end)).all(), (name, col)
    subs = data["subscriptions"].dropna(subset=["end_ts"])
    assert (subs["end_ts"] > subs["start_ts"]).all()


def test_tables_reference_known_customers_and_are_sorted(data) -> None:
    known = set(data["customers"]["customer_id"])
    for name in ("transactions", "events", "subscriptions", "_truth"):
        assert set(data[name]["customer_id"]) <= known, name
    for name in ("transactions", "events"):
        keys = data[name][["customer_id", "ts"]]
        assert keys.equals(keys.sort_values(["customer_id", "ts"], kind="stable").reset_index(drop=True)), (
            name
        )


def test_refunds_are_rare_and_follow_a_purchase(data) -> None:
    tx = data["transactions"]
    refunds = tx[tx["amount"] < 0].sort_values("ts")
    assert 0.01 <= len(refunds) / len(tx) <= 0.06
    purchases = tx[tx["amount"] > 0].sort_values("ts")
    matched = pd.merge_asof(
        refunds,
        purchases[["customer_id", "ts"]].rename(columns={"ts": "purchase_ts"}),
        left_on="ts",
        right_on="purchase_ts",
        by="customer_id",
        direction="backward",
        allow_exact_matches=False,
        tolerance=pd.Timedelta(days=31),
    )
    assert matched["purchase_ts"].notna().all()


def test_event_values_match_their_type(data) -> None:
    events = data["events"]
    value = events.groupby("event_type")["value"]
    nps = events.loc[events["event_type"] == "nps_response", "value"]
    assert nps.between(0, 10).all() and (nps == nps.round()).all()
    for kind in ("login", "support_ticket"):
        assert (events.loc[events["event_type"] == kind, "value"] > 0).all(), kind
    for kind in ("email_open", "email_click", "complaint"):
        assert value.count()[kind] == 0, kind


def test_same_seed_gives_identical_frames_and_another_seed_differs(data, tmp_path: Path) -> None:
    generate_sample(tmp_path / "same", n_customers=N, seed=SEED)
    generate_sample(tmp_path / "other", n_customers=N, seed=SEED + 1)
    same, other = _read(tmp_path / "same"), _read(tmp_path / "other")
    for name in TABLES:
        assert_frame_equal(same[name], data[name])
    assert not other["transactions"].equals(data["transactions"])
    assert not other["_truth"].equals(data["_truth"])


def test_truth_shows_the_churn_drivers(data) -> None:
    truth = data["_truth"]
    assert 0.2 <= truth["dropout_ts"].notna().mean() <= 0.5
    with_tickets, without_tickets = _dropout_share(truth, truth["n_support_tickets"] > 0)
    assert with_tickets > without_tickets + 0.05
    with_complaints, without_complaints = _dropout_share(truth, truth["n_complaints"] > 0)
    assert with_complaints > without_complaints + 0.08
    detractors, others = _dropout_share(truth, truth["is_detractor"])
    assert detractors > others + 0.05
    tier = truth.groupby("loyalty_tier")["dropout_ts"].apply(lambda s: s.notna().mean())
    assert tier["vip"] < tier["standard"] - 0.1


def test_purchases_fade_before_the_dropout_and_stop_after_it(data, dropped) -> None:
    tx = data["transactions"]
    purchases = tx[tx["amount"] > 0].merge(dropped[["customer_id", "dropout_ts"]], on="customer_id")
    days_before = (purchases["dropout_ts"] - purchases["ts"]) / pd.Timedelta(days=1)
    assert (days_before <= 0).sum() == 0, "no purchase at or after the dropout"

    def rate(lo: int, hi: int) -> float:
        """Purchases per customer-day, ``lo``..``hi`` days before the dropout, counting days after signup."""
        window_start = dropped["dropout_ts"] - pd.Timedelta(days=hi)
        exposure = (dropped["dropout_ts"] - pd.Timedelta(days=lo)) - np.maximum(
            window_start, dropped["signup_ts"]
        )
        days = (exposure / pd.Timedelta(days=1)).clip(lower=0).sum()
        return ((days_before > lo) & (days_before <= hi)).sum() / days

    assert rate(0, 90) < 0.8 * rate(90, 180)


def test_events_almost_stop_after_the_dropout(data, dropped) -> None:
    events = data["events"].merge(dropped[["customer_id", "dropout_ts"]], on="customer_id")
    after = events[events["ts"] >= events["dropout_ts"]]
    assert set(after["event_type"]) <= {"email_open"}
    assert len(after) < 0.01 * len(data["events"])


def test_subscriptions_end_near_the_dropout(data, dropped) -> None:
    subs = data["subscriptions"].drop_duplicates("customer_id", keep="last").merge(dropped, on="customer_id")
    ended = subs.dropna(subset=["end_ts"])
    gap = ((ended["end_ts"] - ended["dropout_ts"]).abs() / pd.Timedelta(days=1)).median()
    assert gap < 30
    active = data["subscriptions"].merge(data["_truth"], on="customer_id")
    never_dropped = active[active["dropout_ts"].isna()]
    assert 0 < never_dropped["end_ts"].notna().mean() < 0.3, "a few cancel without dropping out"


def test_purchases_peak_in_november_and_december(data) -> None:
    per_day = data["transactions"].set_index("ts").resample("D").size()
    year = per_day["2025-06-01":"2026-05-31"].mean()  # a year centred on the peak, to cancel growth
    assert per_day["2025-11-01":"2025-12-31"].mean() > 1.15 * year
