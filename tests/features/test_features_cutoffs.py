"""Point-in-time guarantees: multi-cutoff tables match single-cutoff scoring, nothing leaks, and
training sets never label past ``as_of``.

The data is small but varied (12 customers, purchases, refunds, every event type, subscriptions,
signups spread over two and a half years). Amounts are multiples of 0.25 and times multiples of
six hours, so sums are exact whatever their order and frames can be compared exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnguard.features.build import (
    build_features,
    build_training_set,
    discover_spec,
    feature_table,
    to_frame,
)

DAY = pd.Timedelta(days=1)
START, END = pd.Timestamp("2022-06-01"), pd.Timestamp("2024-12-31")
CUTOFFS = ["2024-01-01", "2024-02-15", "2024-04-01", "2024-07-01"]
EVENT_TYPES = ["login", "email_open", "email_click", "support_ticket", "complaint", "nps_response"]


def _moments(rng: np.random.Generator, first: pd.Timestamp, n: int) -> list[pd.Timestamp]:
    quarters = int((END - first) / pd.Timedelta(hours=6))
    return sorted(first + pd.Timedelta(hours=6) * int(q) for q in rng.integers(0, quarters, n))


def rich_tables(seed: int = 7) -> dict[str, pd.DataFrame]:
    """Customers whose activity starts at signup; some sign up after the cutoffs."""
    rng = np.random.default_rng(seed)
    customers, tx, events, subs = [], [], [], []
    for cid in range(1, 13):
        signup = START + DAY * int(rng.integers(0, (END - START).days - 90))
        customers.append((cid, signup, ["North", "South", None][cid % 3], float(20 + cid)))
        for ts in _moments(rng, signup, int(rng.integers(0, 16))):
            amount = int(rng.integers(1, 400)) / 4
            tx.append((cid, ts, -amount if rng.random() < 0.1 else amount))
        for ts in _moments(rng, signup, int(rng.integers(0, 25))):
            kind = EVENT_TYPES[int(rng.integers(0, len(EVENT_TYPES)))]
            value = {
                "login": float(rng.integers(1, 60)),
                "support_ticket": float(rng.integers(1, 48)),
                "nps_response": float(rng.integers(0, 11)),
            }.get(kind)
            events.append((cid, ts, kind, value))
        if cid % 3:
            start = signup + DAY * int(rng.integers(0, 30))
            end = start + DAY * int(rng.integers(200, 700)) if rng.random() < 0.6 else None
            subs.append((cid, start, end, ["basic", "plus"][cid % 4 // 2], [10.0, 20.0][cid % 4 // 2]))
    return {
        "customers": pd.DataFrame(customers, columns=["customer_id", "signup_ts", "region", "age"]),
        "transactions": pd.DataFrame(tx, columns=["customer_id", "ts", "amount"]),
        "events": pd.DataFrame(events, columns=["customer_id", "ts", "event_type", "value"]),
        "subscriptions": pd.DataFrame(subs, columns=["customer_id", "start_ts", "end_ts", "plan", "mrr"]),
    }


def known_before(tables: dict[str, pd.DataFrame], cutoff: str) -> dict[str, pd.DataFrame]:
    """Only what was known before ``cutoff``: earlier rows, earlier signups, earlier end dates."""
    c = pd.Timestamp(cutoff)
    customers = tables["customers"]
    subs = tables["subscriptions"]
    subs = subs[subs.start_ts < c].assign(end_ts=subs.end_ts.where(subs.end_ts < c))
    return {
        "customers": customers[customers.signup_ts < c],
        "transactions": tables["transactions"][tables["transactions"].ts < c],
        "events": tables["events"][tables["events"].ts < c],
        "subscriptions": subs,
    }


def config_for(settings, definition: str):
    return settings.model_copy(update={"churn": settings.churn.model_copy(update={"definition": definition})})


@pytest.mark.parametrize("definition", ["inactivity", "subscription"])
def test_many_cutoffs_give_exactly_the_single_cutoff_features(make_source, settings, definition):
    config = config_for(settings, definition)
    source = make_source(as_of="2025-06-01", config=config, **rich_tables())
    spec = discover_spec(source)
    assert spec.has_subscriptions and len(spec.event_types) == len(EVENT_TYPES)
    table = to_frame(source, feature_table(source, CUTOFFS, config, spec))
    assert sorted(set(table["cutoff"])) == [pd.Timestamp(c, tz="UTC") for c in CUTOFFS]
    for cutoff in CUTOFFS:
        single = build_features(source, cutoff, config, spec)
        assert len(single) >= 3, cutoff  # the comparison means something
        several = table[table["cutoff"] == pd.Timestamp(cutoff, tz="UTC")].reset_index(drop=True)
        pd.testing.assert_frame_equal(several, single, check_exact=True)


def test_many_cutoffs_give_the_single_cutoff_labels(make_source, settings):
    source = make_source(as_of="2025-06-01", **rich_tables())
    spec = discover_spec(source)
    table = to_frame(source, feature_table(source, CUTOFFS, settings, spec, with_labels=True))
    assert table["churned"].nunique() == 2
    for cutoff in CUTOFFS:
        single = to_frame(source, feature_table(source, [cutoff], settings, spec, with_labels=True))
        several = table[table["cutoff"] == pd.Timestamp(cutoff, tz="UTC")].reset_index(drop=True)
        pd.testing.assert_frame_equal(several, single, check_exact=True)


@pytest.mark.parametrize("definition", ["inactivity", "subscription"])
def test_rows_at_or_after_the_cutoff_change_no_feature(make_source, settings, definition):
    config = config_for(settings, definition)
    cutoff = "2024-07-01"
    full = rich_tables()
    c = pd.Timestamp(cutoff)
    # Customers 2 and 8 are in both populations at the cutoff; 1, 4, 5 and 7 sign up after it. Add
    # rows exactly at the cutoff, a customer signing up at it, and an event type first seen after it.
    full["customers"].loc[len(full["customers"])] = (99, c, "East", 50.0)
    for cid in (2, 8, 99):
        full["transactions"].loc[len(full["transactions"])] = (cid, c, 1000.0)
        full["events"].loc[len(full["events"])] = (cid, c, "nps_response", 0.0)
        full["events"].loc[len(full["events"])] = (cid, c, "login", 1.0)
        full["events"].loc[len(full["events"])] = (cid, c + DAY, "webinar", 3.0)
        full["subscriptions"].loc[len(full["subscriptions"])] = (cid, c, None, "premium", 40.0)
    before = known_before(full, cutoff)
    assert len(before["transactions"]) < len(full["transactions"]) - 10
    subs = full["subscriptions"]
    assert ((subs.start_ts < c) & (subs.end_ts >= c)).any()  # an end date not known at the cutoff

    known = make_source(as_of="2030-01-01", config=config, **before)
    everything = make_source(as_of="2030-01-01", config=config, **full)
    spec = discover_spec(known)  # the schema of a model trained before the cutoff
    expected = build_features(known, cutoff, config, spec)
    assert len(expected) >= 3
    pd.testing.assert_frame_equal(
        build_features(everything, cutoff, config, spec), expected, check_exact=True
    )
    # The same holds inside a multi-cutoff table, where later cutoffs do see the later rows.
    table = to_frame(everything, feature_table(everything, [cutoff, "2024-10-01"], config, spec))
    at_cutoff = table[table["cutoff"] == pd.Timestamp(cutoff, tz="UTC")].reset_index(drop=True)
    pd.testing.assert_frame_equal(at_cutoff, expected, check_exact=True)


def test_training_set_cutoffs_and_labels(make_source, settings):
    settings = settings.model_copy(
        update={"features": settings.features.model_copy(update={"max_cutoffs": None})}
    )  # every cutoff the history allows
    tables = rich_tables()
    as_of = pd.Timestamp("2024-12-01", tz="UTC")
    source = make_source(as_of="2030-01-01", config=settings, **tables)
    frame = build_training_set(source, as_of, settings)

    assert list(frame.columns[:4]) == ["customer_id", "cutoff", "trailing_spend", "churned"]
    cutoffs = sorted(set(frame["cutoff"]))
    horizon, every = settings.churn.horizon_days * DAY, settings.features.cutoff_every_days * DAY
    assert cutoffs[-1] == as_of - horizon  # the freshest fully labelled cutoff
    assert all(c + horizon <= as_of for c in cutoffs)  # no label window passes as_of
    assert set(np.diff(cutoffs)) == {every}
    first_tx = tables["transactions"]["ts"].min().tz_localize("UTC").floor("D")
    first_allowed = first_tx + settings.features.min_history_days * DAY
    assert cutoffs[0] >= first_allowed > cutoffs[0] - every
    assert not frame.duplicated(["customer_id", "cutoff"]).any()

    # Population and labels against a direct reading of the transactions.
    tx = tables["transactions"].assign(ts=tables["transactions"]["ts"].dt.tz_localize("UTC"))
    buys = tx[tx.amount > 0]
    for c in cutoffs:
        active = set(buys[(buys.ts >= c - 365 * DAY) & (buys.ts < c)].customer_id)
        came_back = set(buys[(buys.ts >= c) & (buys.ts < c + horizon)].customer_id)
        rows = frame[frame["cutoff"] == c]
        assert set(rows["customer_id"]) == active, c
        expected = {cid: int(cid not in came_back) for cid in active}
        assert dict(zip(rows["customer_id"], rows["churned"].astype(int), strict=True)) == expected, c


def test_training_set_ignores_everything_from_as_of_on(make_source, settings):
    as_of = "2024-12-01"
    tables = rich_tables()
    # Purchases by every customer on and after as_of would flip labels if the last horizon peeked.
    late = pd.DataFrame({"customer_id": range(1, 13), "ts": pd.Timestamp(as_of), "amount": 5.0})
    more = {**tables, "transactions": pd.concat([tables["transactions"], late], ignore_index=True)}
    expected = build_training_set(make_source(as_of="2030-01-01", **tables), as_of, settings)
    got = build_training_set(make_source(as_of="2030-01-01", **more), as_of, settings)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


def test_training_set_max_cutoffs_and_parquet_output(make_source, settings, tmp_path):
    # Three cutoffs hold no backtest fold, but the feature layer builds what it is asked for.
    config = settings.model_copy(update={"features": settings.features.model_copy(update={"max_cutoffs": 3})})
    source = make_source(as_of="2030-01-01", config=config, **rich_tables())
    frame = build_training_set(source, "2024-12-01", config)
    assert len(set(frame["cutoff"])) == 3
    assert frame["cutoff"].max() == pd.Timestamp("2024-09-02", tz="UTC")  # 2024-12-01 - 90 days
    out = build_training_set(source, "2024-12-01", config, out_path=tmp_path / "train.parquet")
    written = pd.read_parquet(out).sort_values(["cutoff", "customer_id"]).reset_index(drop=True)
    assert list(written.columns) == list(frame.columns)
    assert (
        written[["customer_id", "churned"]]
        .astype("int64")
        .equals(frame[["customer_id", "churned"]].astype("int64"))
    )


def test_too_short_history_raises(make_source, settings):
    source = make_source(transactions=[(1, "2024-01-01", 10.0), (1, "2024-03-01", 10.0)])
    # Even the densest schedule needs 30 days of history plus the 90-day horizon: 2024-01-01 + 120 days
    # > 2024-04-01. The message says how much a backtest needs.
    with pytest.raises(ValueError, match=r"history too short.*need at least 210 days .* found 91"):
        build_training_set(source, "2024-04-01", settings)
