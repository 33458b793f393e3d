"""BTYD (BG/NBD) feature columns: their inputs from hand-made histories, the per-cutoff fit, empty
columns where nothing can be fitted, parity between every path out of the engine, point in time, and
P(no purchase) against simulation.

Day counts to the cutoff 2024-07-01 00:00 UTC: 2024-06-01 is 30 days before, 2024-05-01 61,
2024-03-01 122, 2024-01-01 182, 2023-08-01 335.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnguard.features.btyd import BgNbdParams, p_alive
from churnguard.features.btyd_features import (
    BTYD_COLUMNS,
    INPUT_COLUMNS,
    MIN_FIT_CUSTOMERS,
    btyd_columns,
    p_no_purchase,
)
from churnguard.features.build import (
    build_features,
    build_training_set,
    discover_spec,
    feature_names,
    feature_table,
    to_frame,
    write_feature_table,
)

CUTOFF = "2024-07-01"
CUTOFFS = ["2024-01-01", "2024-04-01", "2024-07-01"]
START, END = pd.Timestamp("2022-06-01"), pd.Timestamp("2024-12-31")
SIX_HOURS = pd.Timedelta(hours=6)


def inputs_of(source, cutoffs, settings) -> pd.DataFrame:
    """The expression's private BTYD inputs, straight from the engine, indexed by customer (and cutoff)."""
    expr = feature_table(source, cutoffs, settings, discover_spec(source))
    table = source.arrow_batches(expr).read_all().to_pandas()
    return table.set_index("customer_id")[["cutoff", *INPUT_COLUMNS]]


def shop(n_customers: int = 150, seed: int = 0) -> pd.DataFrame:
    """Customers buying at their own pace from a start date until they quit (six-hour grid, quarter amounts)."""
    rng = np.random.default_rng(seed)
    rows = []
    for cid in range(1, n_customers + 1):
        t = START + SIX_HOURS * int(rng.integers(0, 4 * 500))
        quits = t + pd.Timedelta(days=float(rng.exponential(500)))
        quarters_between = 4 * rng.uniform(7, 90)  # mean gap of 7 to 90 days
        while t < min(quits, END):
            rows.append((cid, t, int(rng.integers(1, 400)) / 4))
            if rng.random() < 0.05:
                rows.append((cid, t + SIX_HOURS, -1.0))  # a refund
            t += SIX_HOURS * (1 + int(rng.exponential(quarters_between)))
    return pd.DataFrame(rows, columns=["customer_id", "ts", "amount"])


def steady_and_lapsed(n_each: int = 40) -> list[tuple]:
    """Steady buyers (every 20 days up to the cutoff) and lapsed ones (every 20 days, then silence for
    200 days), both with ten purchases; plus one-time buyers."""
    cutoff = pd.Timestamp(CUTOFF)
    rows = []
    for i in range(n_each):
        for k in range(10):
            rows.append((1000 + i, cutoff - pd.Timedelta(days=5 + i % 5 + 20 * k), 10.0))  # steady
            rows.append((2000 + i, cutoff - pd.Timedelta(days=200 + i % 5 + 20 * k), 10.0))  # lapsed
        rows.append((3000 + i, cutoff - pd.Timedelta(days=10 + 7 * i), 10.0))  # bought once
    return rows


# --- the inputs x, t_x, T --------------------------------------------------------------------


def test_inputs_count_purchases_before_the_cutoff_only(make_source, settings):
    source = make_source(
        transactions=[
            # 1: three purchases and a refund (not a purchase), then a purchase at the cutoff (too late).
            (1, "2024-01-01", 10.0),
            (1, "2024-03-01 12:00:00", 20.0),
            (1, "2024-06-01", 30.0),
            (1, "2024-06-20", -5.0),
            (1, "2024-07-01", 40.0),
            # 2: one purchase: no repeat, t_x = 0, T = 60.75 days.
            (2, "2024-05-01 06:00:00", 10.0),
            # 3: two purchases at the same moment: one repeat, 0 days apart.
            (3, "2023-08-01", 10.0),
            (3, "2023-08-01", 15.0),
        ]
    )
    got = inputs_of(source, [CUTOFF], settings)
    assert got.loc[1, ["_btyd_x", "_btyd_t_x", "_btyd_T"]].tolist() == [2.0, 152.0, 182.0]
    assert got.loc[2, ["_btyd_x", "_btyd_t_x", "_btyd_T"]].tolist() == [0.0, 0.0, 60.75]
    assert got.loc[3, ["_btyd_x", "_btyd_t_x", "_btyd_T"]].tolist() == [1.0, 0.0, 335.0]
    assert (got["_btyd_horizon_days"] == settings.churn.horizon_days).all()


def test_inputs_agree_with_purchase_count_gap_and_recency(make_source, settings):
    # x = n_purchases - 1, t_x = gap_mean_days * x and T = t_x + recency_days, up to the whole minutes
    # gap_mean_days is summed in (times here are on whole minutes, so only float rounding is left).
    source = make_source(as_of="2025-06-01", transactions=shop())
    got = inputs_of(source, CUTOFFS, settings).reset_index()
    frame = to_frame(source, feature_table(source, CUTOFFS, settings, discover_spec(source)))
    got["cutoff"] = pd.to_datetime(got["cutoff"]).dt.tz_convert("UTC")
    both = frame.merge(got, on=["customer_id", "cutoff"], validate="one_to_one")
    assert len(both) == len(frame) > 3 * MIN_FIT_CUSTOMERS
    x = both["_btyd_x"]
    assert np.array_equal(x, np.maximum(both["n_purchases"] - 1, 0))
    t_x = np.where(x > 0, both["gap_mean_days"] * x, 0.0)
    np.testing.assert_allclose(both["_btyd_t_x"], t_x, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(both["_btyd_T"], both["_btyd_t_x"] + both["recency_days"], rtol=1e-12)


def test_private_inputs_never_reach_a_frame_and_the_columns_are_model_inputs(features):
    f = features(transactions=steady_and_lapsed())
    assert not [c for c in f.columns if c.startswith("_")]
    names = feature_names(f.reset_index())
    assert set(BTYD_COLUMNS) <= set(names)
    # They take the place of their inputs: right after the purchase features, before the RFM scores.
    assert names.index("btyd_p_alive") == names.index("refund_share") + 1
    assert all(f[c].dtype == "float64" for c in BTYD_COLUMNS)


# --- the fit and what it says ----------------------------------------------------------------


def test_a_lapsed_buyer_is_less_likely_alive_than_a_steady_one(features, settings):
    f = features(transactions=steady_and_lapsed())
    steady, lapsed, once = f.loc[1000:1039], f.loc[2000:2039], f.loc[3000:3039]
    assert f[list(BTYD_COLUMNS)].notna().all().all()
    # Same ten purchases 20 days apart; the lapsed ones have not bought for 10 of their usual gaps.
    assert steady["btyd_p_alive"].min() > 0.9
    assert lapsed["btyd_p_alive"].max() < 0.5 < steady["btyd_p_alive"].min()
    assert lapsed["btyd_p_no_purchase"].min() > steady["btyd_p_no_purchase"].max()
    assert lapsed["btyd_expected_purchases"].max() < steady["btyd_expected_purchases"].min()
    # Nobody drops out before a repeat purchase: one-time buyers are alive, but rarely buy again.
    assert (once["btyd_p_alive"] == 1.0).all()
    assert once["btyd_p_no_purchase"].min() > steady["btyd_p_no_purchase"].max()
    # A steady buyer every 20 days expects about 90 / 20 purchases in the 90-day horizon.
    assert settings.churn.horizon_days == 90
    assert 2.5 < steady["btyd_expected_purchases"].median() < 5.0
    assert ((f["btyd_p_no_purchase"] >= 0) & (f["btyd_p_no_purchase"] <= 1)).all()


def test_the_horizon_comes_from_config(features, settings):
    longer = settings.model_copy(update={"churn": settings.churn.model_copy(update={"horizon_days": 180})})
    short, long = (
        features(transactions=steady_and_lapsed()),
        features(config=longer, transactions=steady_and_lapsed()),
    )
    pd.testing.assert_series_equal(short["btyd_p_alive"], long["btyd_p_alive"])  # the history is the same
    assert (long["btyd_expected_purchases"] > short["btyd_expected_purchases"]).all()
    assert (long["btyd_p_no_purchase"] < short["btyd_p_no_purchase"]).all()


def test_the_fit_uses_only_its_cutoffs_customers(features):
    # Customers 1000-1039 alone, and with the lapsed and one-time buyers: a different population
    # gives a different fit, so the same steady customer gets different values.
    rows = steady_and_lapsed()
    alone = features(transactions=[r for r in rows if r[0] < 2000 or 3000 <= r[0] < 3020])
    together = features(transactions=rows)
    assert not np.allclose(alone.loc[1000:1039, "btyd_p_alive"], together.loc[1000:1039, "btyd_p_alive"])


# --- empty columns instead of errors ---------------------------------------------------------


def test_too_few_customers_or_no_repeat_buyer_give_empty_columns(features):
    few = features(transactions=[(1, "2024-01-01", 10.0), (1, "2024-06-01", 10.0), (2, "2024-05-01", 5.0)])
    assert len(few) == 2 and few[list(BTYD_COLUMNS)].isna().all().all()
    once = [
        (cid, pd.Timestamp(CUTOFF) - pd.Timedelta(days=cid), 10.0) for cid in range(1, 3 * MIN_FIT_CUSTOMERS)
    ]
    nobody_came_back = features(transactions=once)
    assert len(nobody_came_back) > MIN_FIT_CUSTOMERS
    assert nobody_came_back[list(BTYD_COLUMNS)].isna().all().all()


def test_btyd_columns_never_raise():
    nan = np.full(80, np.nan)
    assert all(np.isnan(v).all() for v in btyd_columns(nan, nan, nan, 90.0).values())
    assert all(len(v) == 0 for v in btyd_columns([], [], [], 90.0).values())
    # Inconsistent input (recency after T) fails the fit's validation: empty, not an error.
    x = np.tile([0.0, 3.0], 40)
    t_x = np.where(x > 0, 50.0, 0.0)
    bad = btyd_columns(x, t_x, np.full(80, 40.0), 90.0)
    assert all(np.isnan(v).all() for v in bad.values())
    good = btyd_columns(x, t_x, np.full(80, 60.0), 90.0)
    assert all(np.isfinite(v).all() for v in good.values())


def test_subscribers_who_never_bought_get_empty_columns(make_source, settings):
    config = settings.model_copy(
        update={"churn": settings.churn.model_copy(update={"definition": "subscription"})}
    )
    rows = steady_and_lapsed()
    buyers = sorted({r[0] for r in rows})
    subs = [(cid, "2022-01-01", None, "basic", 10.0) for cid in [*buyers, 1, 2]]  # 1 and 2 never bought
    customers = [(cid, "2022-01-01") for cid in [*buyers, 1, 2]]
    source = make_source(config=config, transactions=rows, subscriptions=subs, customers=customers)
    f = build_features(source, CUTOFF, config).set_index("customer_id")
    assert f.loc[[1, 2], list(BTYD_COLUMNS)].isna().all().all()
    assert f.loc[buyers, list(BTYD_COLUMNS)].notna().all().all()


# --- one code path: scoring, training frame and streamed training set agree ---------------------


@pytest.mark.parametrize("definition", ["inactivity", "subscription"])
def test_many_cutoffs_streamed_or_not_give_exactly_the_single_cutoff_columns(
    make_source, settings, tmp_path, definition
):
    config = settings.model_copy(
        update={"churn": settings.churn.model_copy(update={"definition": definition})}
    )
    tx = shop()
    subs = [(cid, "2022-01-01", None, "basic", 10.0) for cid in tx["customer_id"].unique() if cid % 4]
    source = make_source(as_of="2025-06-01", config=config, transactions=tx, subscriptions=subs)
    spec = discover_spec(source)
    table = to_frame(source, feature_table(source, CUTOFFS, config, spec))
    out = tmp_path / "features.parquet"
    assert write_feature_table(source, CUTOFFS, config, spec, out) == len(table)
    streamed = pd.read_parquet(out)
    pd.testing.assert_frame_equal(streamed, table, check_exact=True)  # written in cutoff, customer order
    for cutoff in CUTOFFS:
        single = build_features(source, cutoff, config, spec)
        assert single[list(BTYD_COLUMNS)].notna().sum().min() >= MIN_FIT_CUSTOMERS, cutoff
        several = table[table["cutoff"] == pd.Timestamp(cutoff, tz="UTC")].reset_index(drop=True)
        pd.testing.assert_frame_equal(several, single, check_exact=True)


def test_training_set_in_memory_and_on_disk_agree(make_source, settings, tmp_path):
    source = make_source(as_of="2025-06-01", transactions=shop())
    frame = build_training_set(source, "2025-03-01", settings)
    path = build_training_set(source, "2025-03-01", settings, out_path=tmp_path / "train.parquet")
    assert frame["cutoff"].nunique() > 3 and frame["btyd_p_alive"].notna().any()
    pd.testing.assert_frame_equal(pd.read_parquet(path), frame, check_exact=True)


def test_rows_at_or_after_the_cutoff_change_no_btyd_column(make_source, settings):
    tx = shop()
    c = pd.Timestamp(CUTOFF)
    later = pd.DataFrame(
        [(cid, c + pd.Timedelta(days=d), 50.0) for cid in (3, 5, 8, 999) for d in (0, 1, 40)],
        columns=tx.columns,
    )
    known = make_source(as_of="2030-01-01", transactions=tx[tx["ts"] < c])
    everything = make_source(as_of="2030-01-01", transactions=pd.concat([tx, later]))
    expected = build_features(known, CUTOFF, settings)
    assert expected[list(BTYD_COLUMNS)].notna().all().all()
    pd.testing.assert_frame_equal(build_features(everything, CUTOFF, settings), expected, check_exact=True)
    table = to_frame(
        everything, feature_table(everything, [CUTOFF, "2024-10-01"], settings, discover_spec(everything))
    )
    at_cutoff = table[table["cutoff"] == pd.Timestamp(CUTOFF, tz="UTC")].reset_index(drop=True)
    pd.testing.assert_frame_equal(at_cutoff, expected, check_exact=True)


# --- P(no purchase) ------------------------------------------------------------------------------

DAILY = BgNbdParams(r=0.9, alpha=30.0, a=0.7, b=3.0)


def simulate_history_and_future(params: BgNbdParams, T: np.ndarray, horizon: float, rng: np.random.Generator):
    """Event by event: (x, t_x) up to T, and whether the customer buys in (T, T + horizon]."""
    n = len(T)
    lam = rng.gamma(params.r, 1.0 / params.alpha, n)
    p = rng.beta(params.a, params.b, n)
    x, t_x, now = np.zeros(n), np.zeros(n), np.zeros(n)
    buys_later = np.zeros(n, dtype=bool)
    open_ = np.ones(n, dtype=bool)  # alive and not yet past T + horizon
    while open_.any():
        i = np.flatnonzero(open_)
        now[i] += rng.exponential(1.0 / lam[i])
        inside = now[i] <= T[i]
        seen = i[inside]
        x[seen] += 1
        t_x[seen] = now[seen]
        buys_later[i[~inside & (now[i] <= T[i] + horizon)]] = True
        open_[i[~inside]] = False
        open_[seen[rng.random(len(seen)) < p[seen]]] = False  # drops out right after a purchase
    return x, t_x, buys_later


def test_p_no_purchase_matches_simulation():
    rng = np.random.default_rng(11)
    n, horizon = 200_000, 90.0
    T = rng.uniform(100.0, 400.0, n)
    x, t_x, buys_later = simulate_history_and_future(DAILY, T, horizon, rng)
    predicted = p_no_purchase(DAILY, horizon, x, t_x, T)
    none = ~buys_later
    # Within groups of the observed history, the share without a purchase equals the mean prediction.
    late = t_x < T - 100
    for group in [
        x == 0,
        (x > 0) & (x <= 2) & late,
        (x > 0) & (x <= 2) & ~late,
        (x > 2) & late,
        (x > 2) & ~late,
    ]:
        assert group.sum() > 2_000
        standard_error = np.sqrt(predicted[group].mean() * (1 - predicted[group].mean()) / group.sum())
        assert abs(none[group].mean() - predicted[group].mean()) < 4 * standard_error
    assert abs(none.mean() - predicted.mean()) < 4 * np.sqrt(none.mean() * (1 - none.mean()) / n)


def test_p_no_purchase_limits():
    x, t_x, T = np.array([0.0, 3.0, 3.0]), np.array([0.0, 100.0, 20.0]), np.array([120.0, 120.0, 120.0])
    assert np.all(p_no_purchase(DAILY, 0.0, x, t_x, T) == 1.0)  # nothing can happen in no time
    # Without repeat purchases nobody has dropped out: ((α + T) / (α + T + h))^r.
    assert p_no_purchase(DAILY, 90.0, x, t_x, T)[0] == pytest.approx((150.0 / 240.0) ** 0.9, rel=1e-12)
    # A very long horizon leaves only the chance of having dropped out.
    alive = p_alive(DAILY, x, t_x, T)
    np.testing.assert_allclose(p_no_purchase(DAILY, 1e12, x, t_x, T), 1.0 - alive, atol=1e-6)
    # The later the last purchase, the likelier another one.
    assert p_no_purchase(DAILY, 90.0, x, t_x, T)[1] < p_no_purchase(DAILY, 90.0, x, t_x, T)[2]
