"""The sample-data generator writes well-typed, reproducible tables that carry real churn signals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from churnguard.core.config import DataSettings
from churnguard.core.data.dataset import load_dataset
from churnguard.core.data.generate import EVENT_TYPES, GenerationSummary, generate_sample
from churnguard.core.data.plant import PlantedSave, read_planted_save
from churnguard.core.errors import BadInputError

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


# Planting a known save effect on a past risk list (issue #17), and shifted purchase rates (drift).
AS_OF = pd.Timestamp("2026-05-01", tz="UTC")
HORIZON = 90
SHARE = 0.3


@pytest.fixture(scope="module")
def risk_list(data: dict[str, pd.DataFrame]) -> tuple[np.ndarray, np.ndarray]:
    """A stand-in for a list scored at AS_OF: customers with a purchase in the year before it, split
    at random into outreach and control halves."""
    tx = data["transactions"]
    recent = tx[(tx["ts"] < AS_OF) & (tx["ts"] >= AS_OF - pd.Timedelta(days=365)) & (tx["amount"] > 0)]
    ids = np.random.default_rng(0).permutation(np.sort(recent["customer_id"].unique()))
    return np.sort(ids[: ids.size // 2]), np.sort(ids[ids.size // 2 :])


def _churned(tx: pd.DataFrame, ids: np.ndarray) -> set[int]:
    """Customers of ``ids`` without a positive purchase in the horizon after AS_OF (inactivity churn)."""
    window = tx[(tx["ts"] >= AS_OF) & (tx["ts"] < AS_OF + pd.Timedelta(days=HORIZON)) & (tx["amount"] > 0)]
    return set(ids.tolist()) - set(window["customer_id"])


def _plant(risk_list: tuple[np.ndarray, np.ndarray], share: float = SHARE, seed: int = 5) -> PlantedSave:
    return PlantedSave(*risk_list, as_of=AS_OF, save_share=share, horizon_days=HORIZON, seed=seed)


@pytest.fixture(scope="module")
def planted(
    tmp_path_factory: pytest.TempPathFactory, risk_list
) -> tuple[GenerationSummary, dict[str, pd.DataFrame]]:
    folder = tmp_path_factory.mktemp("planted")
    summary = generate_sample(folder, n_customers=N, seed=SEED, plant=_plant(risk_list))
    return summary, _read(summary.out_dir)


def _saved(planted) -> set[int]:
    truth = planted[1]["_truth"]
    return set(truth.loc[truth["planted_save"], "customer_id"])


def test_planting_changes_no_row_of_any_other_customer_and_no_row_before_as_of(data, planted) -> None:
    saved = _saved(planted)
    assert saved
    for name in TABLES:
        before, after = data[name], planted[1][name][data[name].columns]
        others = [
            frame[~frame["customer_id"].isin(saved)].reset_index(drop=True) for frame in (before, after)
        ]
        assert_frame_equal(others[1], others[0], obj=name)
    for name in ("transactions", "events"):  # the past the list was scored on is the same for everyone
        past = [frame[frame["ts"] < AS_OF].reset_index(drop=True) for frame in (data[name], planted[1][name])]
        assert_frame_equal(past[1], past[0], obj=name)
    assert planted[1]["transactions"]["order_id"].is_unique


def test_the_planted_share_of_outreach_would_be_churners_is_saved_and_buys_again(
    data, planted, risk_list
) -> None:
    summary, after = planted
    outreach, control = risk_list
    would = _churned(data["transactions"], outreach)
    saved = _saved(planted)
    assert summary.planted == {
        "outreach": outreach.size,
        "control": control.size,
        "would_be_churners": len(would),
        "saved": round(SHARE * len(would)),
        "control_would_be_churners": len(_churned(data["transactions"], control)),
        "contacts": outreach.size,
    }
    assert len(would) > 100 and saved <= would
    assert len(saved) == summary.planted["saved"]
    tx = after["transactions"]
    back = tx[tx["customer_id"].isin(saved) & (tx["amount"] > 0) & (tx["ts"] >= AS_OF + pd.Timedelta(days=1))]
    assert set(back.loc[back["ts"] < AS_OF + pd.Timedelta(days=60), "customer_id"]) == saved
    # No longer fading: as many orders per saved customer-day after as_of as at their own rate (about
    # one order per 6-7 weeks), where before they had none in the horizon.
    assert len(back) / len(saved) > 2
    truth = after["_truth"].set_index("customer_id")
    assert truth.loc[sorted(saved), "dropout_ts"].isna().all()
    subs = after["subscriptions"]
    ends = subs.loc[subs["customer_id"].isin(saved), "end_ts"]
    assert not ((ends >= AS_OF) & ends.notna()).any(), "their subscriptions stay active"
    logins = after["events"]
    logins = logins[
        logins["customer_id"].isin(saved) & (logins["event_type"] == "login") & (logins["ts"] >= AS_OF)
    ]
    assert logins["customer_id"].nunique() > 0.5 * len(saved)
    again = generate_sample(
        summary.out_dir.parent / "again", n_customers=N, seed=SEED, plant=_plant(risk_list)
    )
    assert again.planted == summary.planted and _saved((again, _read(again.out_dir))) == saved
    other = generate_sample(
        summary.out_dir.parent / "other", n_customers=N, seed=SEED, plant=_plant(risk_list, seed=6)
    )
    assert _saved((other, _read(other.out_dir))) != saved


def test_realised_churn_drops_by_the_planted_amount_in_outreach_only(data, planted, risk_list) -> None:
    outreach, control = risk_list
    before, after = data["transactions"], planted[1]["transactions"]
    drop = len(_churned(before, outreach)) - len(_churned(after, outreach))
    assert drop == planted[0].planted["saved"]
    assert drop / outreach.size == pytest.approx(
        SHARE * len(_churned(before, outreach)) / outreach.size, abs=1e-3
    )
    assert _churned(after, control) == _churned(before, control)


def test_contacts_validate_and_reach_only_the_outreach_group(planted, risk_list) -> None:
    outreach, control = risk_list
    dataset = load_dataset(planted[0].out_dir, DataSettings())
    contacts = dataset.contacts
    assert contacts["customer_id"].tolist() == outreach.tolist()  # one each, none for control
    assert not contacts["customer_id"].isin(control).any()
    assert contacts["ts"].between(AS_OF, AS_OF + pd.Timedelta(days=5), inclusive="left").all()
    assert contacts["ts"].dt.hour.between(9, 16).all() and (contacts["ts"].dt.day_of_week < 5).all()
    assert contacts["channel"].eq("phone").mean() == pytest.approx(0.6, abs=0.07)
    assert contacts["outcome"].eq("reached").mean() == pytest.approx(0.75, abs=0.07)
    assert set(contacts["outcome"]) == {"reached", "no_answer"}


def test_planting_nothing_changes_only_the_truth_column_and_adds_contacts(
    data, risk_list, tmp_path: Path
) -> None:
    summary = generate_sample(tmp_path / "none", n_customers=N, seed=SEED, plant=_plant(risk_list, share=0.0))
    after = _read(summary.out_dir)
    assert summary.planted["saved"] == 0
    for name in TABLES:
        assert_frame_equal(after[name][data[name].columns], data[name], obj=name)
    assert (summary.out_dir / "contacts.parquet").is_file()
    generate_sample(summary.out_dir, n_customers=N, seed=SEED)  # the same folder, without a plant
    assert not (summary.out_dir / "contacts.parquet").exists()
    assert "planted_save" not in pd.read_parquet(summary.out_dir / "_truth.parquet").columns


def test_half_the_purchase_rate_halves_purchases_and_keeps_the_dropouts(data, tmp_path: Path) -> None:
    summary = generate_sample(tmp_path / "half", n_customers=N, seed=SEED, purchase_rate=0.5)
    half = _read(summary.out_dir)
    # Three in four customers still order within half an hour of signing up, which no rate changes.
    buys = [_repeat_orders(frames) for frames in (data, half)]
    assert buys[1] / buys[0] == pytest.approx(0.5, abs=0.05)
    assert 0.45 < summary.transactions / len(data["transactions"]) < 0.6
    assert_frame_equal(half["_truth"], data["_truth"])
    assert_frame_equal(half["customers"], data["customers"])


def _repeat_orders(data: dict[str, pd.DataFrame]) -> int:
    tx = data["transactions"].merge(data["customers"][["customer_id", "signup_ts"]], on="customer_id")
    return int(((tx["amount"] > 0) & (tx["ts"] > tx["signup_ts"] + pd.Timedelta(hours=1))).sum())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"save_share": 1.5}, "between 0 and 1"),
        ({"as_of": pd.Timestamp("2026-10-01", tz="UTC")}, "at least 60 days before its end"),
        ({"outreach_ids": np.array([1, N + 1])}, "1 outreach customer id"),
        (
            {"control_ids": np.array([1, 2]), "outreach_ids": np.array([2, 3])},
            "both the outreach and the control",
        ),
    ],
)
def test_a_plant_that_does_not_fit_the_data_is_refused(tmp_path: Path, change: dict, message: str) -> None:
    values = {"outreach_ids": np.array([1]), "control_ids": np.array([2]), "as_of": AS_OF, "save_share": 0.3}
    with pytest.raises(BadInputError, match=message):
        generate_sample(tmp_path, n_customers=N, seed=SEED, plant=PlantedSave(**{**values, **change}))
    assert not list(tmp_path.iterdir()), "nothing written"


def test_a_risk_list_gives_its_groups_date_and_horizon(tmp_path: Path) -> None:
    folder = tmp_path / "as_of=2026-05-01"
    folder.mkdir()
    frame = pd.DataFrame(
        {
            "customer_id": [4, 5, 6, 7],
            "as_of": [AS_OF.date()] * 4,
            "group": ["outreach", "control", "none", "outreach"],
        }
    )
    frame.to_parquet(folder / "risk_list.parquet")
    (folder / "summary.json").write_text('{"horizon_days": 60}', encoding="utf-8")

    plant = read_planted_save(folder, 0.25, seed=3)
    assert plant.outreach_ids.tolist() == [4, 7] and plant.control_ids.tolist() == [5]
    assert (plant.as_of, plant.horizon_days, plant.save_share, plant.seed) == (AS_OF, 60, 0.25, 3)
    (folder / "summary.json").unlink()
    assert read_planted_save(folder / "risk_list.parquet", 0.25).horizon_days == 90
    frame.drop(columns="group").to_parquet(folder / "risk_list.parquet")
    with pytest.raises(BadInputError, match="has no column 'group'"):
        read_planted_save(folder, 0.25)


def test_churn_generate_plants_on_a_risk_list_and_explains_bad_options(tmp_path: Path) -> None:
    folder = tmp_path / "as_of=2026-05-01"
    folder.mkdir()
    groups = np.where(np.arange(1, 201) % 2 == 0, "outreach", "control")
    pd.DataFrame(
        {"customer_id": np.arange(1, 201), "as_of": [AS_OF.date()] * 200, "group": groups}
    ).to_parquet(folder / "risk_list.parquet")
    pd.DataFrame({"customer_id": [1], "as_of": [AS_OF.date()]}).to_parquet(tmp_path / "nogroup.parquet")
    base = ["generate", "--out", "shop", "--customers", "300", "--seed", "1"]

    made = _churn(*base, "--plant-save", "0.5", "--risk-list", str(folder), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    said = " ".join(made.stdout.split())
    assert (
        "Planted on the list of 2026-05-01:" in said
        and "of 100 outreach customers would have churned" in said
    )
    assert pd.read_parquet(tmp_path / "shop" / "contacts.parquet")["customer_id"].tolist() == list(
        range(2, 201, 2)
    )
    for extra, message in [
        (["--plant-save", "0.3"], "--plant-save needs --risk-list"),
        (["--plant-save", "-0.1", "--risk-list", str(folder)], "between 0 and 1"),
        (["--plant-save", "0.3", "--risk-list", "nogroup.parquet"], "has no column 'group'"),
    ]:
        refused = _churn(*base, *extra, cwd=tmp_path)
        assert refused.returncode == 2, extra
        assert message in " ".join(refused.stderr.split()), refused.stderr


def _churn(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI")}
    churn = Path(sys.executable).with_name("churn")
    return subprocess.run(
        [str(churn), *args],
        cwd=cwd,
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )
