"""Loading a data directory: types kept end to end, timezones, CSV = Parquet, as_of cut-off, fingerprint."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from churnguard.core.config import DataSettings
from churnguard.core.data.dataset import Dataset, load_dataset
from churnguard.core.data.validate import DataValidationError

UTC = "datetime64[us, UTC]"


def write_csvs(folder: Path, **tables: str) -> Path:
    """Write each table's CSV text as ``NAME.csv``."""
    folder.mkdir()
    for name, text in tables.items():
        (folder / f"{name}.csv").write_text(text, encoding="utf-8")
    return folder


def utc(*values: str) -> list[pd.Timestamp]:
    return [pd.Timestamp(v, tz="UTC") for v in values]


def notes(dataset: Dataset) -> set[tuple[str, str | None, str, int]]:
    return {(n.file, n.column, n.message, n.count) for n in dataset.report.notes}


def test_clean_directory_loads_with_churnguard_types(tmp_path: Path) -> None:
    folder = write_csvs(
        tmp_path / "d",
        transactions="customer_id,ts,amount,order_id,store\n1,2024-01-05 10:00,10.5,1001,x\n2,2024-01-06,20,1002,y\n",
        customers="customer_id,signup_ts,region,age,branch\n1,2023-12-01,north,34,01234\n2,,south,,10115\n",
        events="customer_id,ts,event_type,value\n1,2024-01-10, Login ,\n2,2024-01-11,NPS_response,9\n",
        subscriptions="customer_id,start_ts,end_ts,plan,mrr\n1,2024-01-01,,basic,9.9\n2,2024-01-01,2024-01-03,pro,19\n",
    )

    data = load_dataset(folder, DataSettings(), as_of="2024-06-01")

    assert data.id_kind == "int"
    for frame in data.tables().values():
        assert frame["customer_id"].dtype == "int64"
    tx = data.transactions
    assert list(tx.columns) == ["customer_id", "ts", "amount", "order_id"]  # unknown "store" dropped
    assert (str(tx["ts"].dtype), str(tx["amount"].dtype)) == (UTC, "float64")
    assert tx["ts"].tolist() == utc("2024-01-05 10:00", "2024-01-06")
    assert tx["order_id"].dtype == "Int64"
    assert tx["order_id"].tolist() == [1001, 1002]
    customers = data.customers
    assert str(customers["signup_ts"].dtype) == UTC
    assert customers["signup_ts"].isna().tolist() == [False, True]
    assert customers["region"].tolist() == ["north", "south"]
    assert customers["age"].dtype == "float64"
    assert customers["branch"].tolist() == ["01234", "10115"]  # leading zero: a code, not a number
    assert data.attribute_columns == ["region", "age", "branch"]
    assert data.events["event_type"].tolist() == ["login", "nps_response"]
    assert data.events["value"].dtype == "float64"
    subs = data.subscriptions
    assert (str(subs["start_ts"].dtype), str(subs["end_ts"].dtype), str(subs["mrr"].dtype)) == (
        UTC,
        UTC,
        "float64",
    )
    assert data.report.ok and data.report.notes == []


def test_text_ids_stay_text_end_to_end(tmp_path: Path) -> None:
    folder = write_csvs(
        tmp_path / "d",
        transactions="customer_id,ts,amount\nC-001,2024-01-05,10\nC-002,2024-01-06,20\n",
        customers="customer_id\nC-001\nC-002\n",
        events="customer_id,ts,event_type\nC-002,2024-01-07,login\n",
    )

    data = load_dataset(folder, DataSettings(), as_of="2024-06-01")

    assert data.id_kind == "str"
    assert data.transactions["customer_id"].tolist() == ["C-001", "C-002"]
    assert data.customers["customer_id"].tolist() == ["C-001", "C-002"]
    assert data.events["customer_id"].tolist() == ["C-002"]
    for frame in data.tables().values():
        assert pd.api.types.is_string_dtype(frame["customer_id"].dtype)


def test_ids_with_leading_zeros_stay_text_and_do_not_match_their_number(tmp_path: Path) -> None:
    folder = write_csvs(
        tmp_path / "d",
        transactions="customer_id,ts,amount\n007,2024-01-05,10\n12,2024-01-06,20\n",
        events="customer_id,ts,event_type\n007,2024-01-07,login\n",
    )

    data = load_dataset(folder, DataSettings(), as_of="2024-06-01")

    assert data.id_kind == "str"
    assert data.transactions["customer_id"].tolist() == ["007", "12"]
    assert data.customers["customer_id"].tolist() == ["007", "12"]
    assert data.events["customer_id"].tolist() == ["007"]

    (folder / "events.csv").write_text("customer_id,ts,event_type\n7,2024-01-07,login\n")
    with pytest.raises(DataValidationError, match="customer never appears"):
        load_dataset(folder, DataSettings())


def test_ids_too_long_for_int64_stay_text(tmp_path: Path) -> None:
    folder = write_csvs(
        tmp_path / "d", transactions="customer_id,ts,amount\n12345678901234567890,2024-01-05,1\n"
    )

    data = load_dataset(folder, DataSettings())

    assert data.transactions["customer_id"].tolist() == ["12345678901234567890"]


def test_parquet_ids_keep_their_type(tmp_path: Path) -> None:
    ints, texts = tmp_path / "ints", tmp_path / "texts"
    ints.mkdir(), texts.mkdir()
    base = {"ts": pd.to_datetime(["2024-01-05", "2024-01-06"]), "amount": [1.0, 2.0]}
    pd.DataFrame({"customer_id": [3, 4], **base}).to_parquet(ints / "transactions.parquet")
    pd.DataFrame({"customer_id": ["003", "4"], **base}).to_parquet(texts / "transactions.parquet")

    assert load_dataset(ints, DataSettings()).transactions["customer_id"].dtype == "int64"
    assert load_dataset(texts, DataSettings()).transactions["customer_id"].tolist() == ["003", "4"]


def test_naive_timestamps_are_read_in_the_configured_timezone(tmp_path: Path) -> None:
    folder = write_csvs(
        tmp_path / "d",
        transactions="customer_id,ts,amount\n"
        "1,2024-07-01 10:00,1\n"  # naive, Berlin summer time (UTC+2)
        "1,2024-01-15 10:00:00,1\n"  # naive, Berlin winter time (UTC+1)
        "1,2024-07-01,1\n"  # a date alone is Berlin midnight, too
        "1,2024-07-01T10:00:00+02:00,1\n"  # offsets are kept whatever the timezone setting
        "1,2024-07-01T10:00:00Z,1\n"
        "1,2024-07-01 10:00:00.5-0500,1\n",
    )

    berlin = load_dataset(folder, DataSettings(timezone="Europe/Berlin"), as_of="2025-01-01")
    default = load_dataset(folder, DataSettings(), as_of="2025-01-01")

    assert berlin.transactions["ts"].tolist() == utc(
        "2024-07-01 08:00",
        "2024-01-15 09:00",
        "2024-06-30 22:00",
        "2024-07-01 08:00",
        "2024-07-01 10:00",
        "2024-07-01 15:00:00.5",
    )
    assert default.transactions["ts"].tolist()[:3] == utc(
        "2024-07-01 10:00", "2024-01-15 10:00", "2024-07-01"
    )
    assert default.transactions["ts"].tolist()[3:] == berlin.transactions["ts"].tolist()[3:]


def test_parquet_timestamps_naive_and_aware(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    pd.DataFrame(
        {"customer_id": [1], "ts": pd.to_datetime(["2024-07-01 10:00"]), "amount": [1.0]}
    ).to_parquet(folder / "transactions.parquet")
    pd.DataFrame(
        {
            "customer_id": [1],
            "start_ts": pd.to_datetime(["2024-07-01 10:00"]).tz_localize("America/New_York"),
            "end_ts": pd.Series([pd.NaT], dtype="datetime64[ns]"),
        }
    ).to_parquet(folder / "subscriptions.parquet")

    data = load_dataset(folder, DataSettings(timezone="Europe/Berlin"), as_of="2025-01-01")

    assert data.transactions["ts"].tolist() == utc("2024-07-01 08:00")
    assert data.subscriptions["start_ts"].tolist() == utc("2024-07-01 14:00")
    assert str(data.subscriptions["end_ts"].dtype) == UTC


def sample_tables() -> dict[str, pd.DataFrame]:
    """All four tables in the types a user's Parquet export would have."""

    def ts(values: list[str | None]) -> pd.Series:
        return pd.to_datetime(pd.Series(values), format="ISO8601")

    return {
        "transactions": pd.DataFrame(
            {
                "customer_id": [1, 2, 2, 3],
                "ts": ts(["2024-01-05 10:00", "2024-01-06 11:30", "2024-02-01", "2024-02-03 08:15:30"]),
                "amount": [10.5, -3.0, 7.25, 100.0],
                "order_id": [1001, 1002, 1003, 1004],
            }
        ),
        "customers": pd.DataFrame(
            {
                "customer_id": [1, 2, 3],
                "signup_ts": ts(["2023-12-01", None, "2023-12-03"]),
                "region": ["north", "south", None],
                "age": [34, 51, 28],
                "postcode": ["01234", "10115", None],
            }
        ),
        "events": pd.DataFrame(
            {
                "customer_id": [1, 2, 3],
                "ts": ts(["2024-01-10", "2024-01-11 12:00", "2024-01-12"]),
                "event_type": ["login", "nps_response", "support_ticket"],
                "value": [None, 9.0, 2.5],
            }
        ),
        "subscriptions": pd.DataFrame(
            {
                "customer_id": [1, 2],
                "start_ts": ts(["2024-01-01", "2024-01-02"]),
                "end_ts": ts([None, "2024-01-20"]),
                "plan": ["basic", "pro"],
                "mrr": [9.9, 19.0],
            }
        ),
    }


def write_tables(folder: Path, suffix: str, tables: dict[str, pd.DataFrame]) -> Path:
    folder.mkdir()
    for name, frame in tables.items():
        if suffix == "csv":
            frame.to_csv(folder / f"{name}.csv", index=False)
        else:
            frame.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def test_csv_and_parquet_of_the_same_data_give_identical_frames(tmp_path: Path) -> None:
    settings = DataSettings(timezone="Europe/Berlin")
    from_csv = load_dataset(write_tables(tmp_path / "csv", "csv", sample_tables()), settings)
    from_parquet = load_dataset(write_tables(tmp_path / "parquet", "parquet", sample_tables()), settings)

    assert from_csv.as_of == from_parquet.as_of
    assert from_csv.tables().keys() == from_parquet.tables().keys() == sample_tables().keys()
    for name, frame in from_csv.tables().items():
        assert_frame_equal(frame, from_parquet.tables()[name], obj=name)


def test_parquet_wins_when_both_files_exist(tmp_path: Path) -> None:
    tables = sample_tables()
    folder = write_tables(tmp_path / "d", "parquet", {"transactions": tables["transactions"]})
    stale = tables["transactions"].assign(amount=0.0)
    stale.to_csv(folder / "transactions.csv", index=False)

    data = load_dataset(folder, DataSettings())

    assert data.transactions["amount"].tolist() == [10.5, -3.0, 7.25, 100.0]


def test_column_mapping_from_config(tmp_path: Path) -> None:
    folder = write_csvs(
        tmp_path / "d",
        transactions="cust_no,order_date,net_value,store\n1,2024-01-05,10,x\n2,2024-01-06,20,y\n",
    )
    settings = DataSettings(
        columns={"transactions": {"cust_no": "customer_id", "order_date": "ts", "net_value": "amount"}}
    )

    data = load_dataset(folder, settings)

    assert list(data.transactions.columns) == ["customer_id", "ts", "amount"]
    assert data.transactions["customer_id"].tolist() == [1, 2]
    assert data.transactions["amount"].tolist() == [10.0, 20.0]


AFTER_AS_OF = {
    "transactions": "customer_id,ts,amount\n1,2024-01-05,10\n2,2024-02-10,-4\n1,2024-03-01,5\n2,2024-03-05,8\n",
    "customers": "customer_id,signup_ts\n1,2023-12-01\n2,2024-02-01\n3,2024-03-02\n",
    "events": "customer_id,ts,event_type\n1,2024-02-28 23:59,login\n1,2024-03-01,login\n",
    "subscriptions": "customer_id,start_ts,end_ts\n1,2024-01-01,2024-02-01\n2,2024-02-01,2024-04-01\n"
    "1,2024-03-15,\n",
}


def test_rows_on_or_after_as_of_are_excluded_and_counted(tmp_path: Path) -> None:
    data = load_dataset(write_csvs(tmp_path / "d", **AFTER_AS_OF), DataSettings(), as_of="2024-03-01")

    assert data.as_of == pd.Timestamp("2024-03-01", tz="UTC")
    assert data.transactions["ts"].tolist() == utc("2024-01-05", "2024-02-10")
    assert data.customers["customer_id"].tolist() == [1, 2]
    assert data.events["ts"].tolist() == utc("2024-02-28 23:59")
    assert data.subscriptions["customer_id"].tolist() == [1, 2]
    assert data.subscriptions["end_ts"].tolist()[0] == pd.Timestamp("2024-02-01", tz="UTC")
    assert data.subscriptions["end_ts"].isna().tolist() == [False, True]  # ends later: still active
    assert notes(data) == {
        ("transactions.csv", "ts", "dated on or after as_of 2024-03-01: excluded", 2),
        ("transactions.csv", "amount", "negative amounts counted as refunds", 1),
        ("customers.csv", "signup_ts", "dated on or after as_of 2024-03-01: excluded", 1),
        ("events.csv", "ts", "dated on or after as_of 2024-03-01: excluded", 1),
        ("subscriptions.csv", "start_ts", "dated on or after as_of 2024-03-01: excluded", 1),
        ("subscriptions.csv", "end_ts", "dated on or after as_of 2024-03-01: treated as active", 1),
    }
    assert data.report.ok
    assert "Notes (not fatal):" in data.report.render()


def test_default_as_of_is_the_day_after_the_newest_transaction(tmp_path: Path) -> None:
    folder = write_csvs(
        tmp_path / "d", transactions="customer_id,ts,amount\n1,2024-03-05 15:00,1\n2,2024-01-01,2\n"
    )

    data = load_dataset(folder, DataSettings())

    assert data.as_of == pd.Timestamp("2024-03-06", tz="UTC")
    assert len(data.transactions) == 2
    assert data.report.notes == []


def test_as_of_before_every_transaction_is_fatal(tmp_path: Path) -> None:
    folder = write_csvs(tmp_path / "d", transactions="customer_id,ts,amount\n1,2024-03-05,1\n")

    with pytest.raises(DataValidationError, match="no transaction before as_of 2024-03-01") as caught:
        load_dataset(folder, DataSettings(), as_of="2024-03-01")
    assert "  transactions: 1 row read" in str(caught.value)


def test_customers_are_derived_from_transactions_when_absent(tmp_path: Path) -> None:
    folder = write_csvs(
        tmp_path / "d", transactions="customer_id,ts,amount\n5,2024-01-05,1\n2,2024-01-06,2\n5,2024-01-07,3\n"
    )

    data = load_dataset(folder, DataSettings())

    assert data.customers["customer_id"].tolist() == [2, 5]
    assert data.events is None and data.subscriptions is None


def test_fingerprint_follows_content_not_location(tmp_path: Path) -> None:
    original = write_tables(tmp_path / "a", "csv", sample_tables())
    copy = Path(shutil.copytree(original, tmp_path / "b"))
    first = load_dataset(original, DataSettings()).fingerprint

    assert load_dataset(copy, DataSettings()).fingerprint == first
    assert load_dataset(copy, DataSettings(), as_of="2024-02-01").fingerprint == first

    with (copy / "events.csv").open("a", encoding="utf-8") as handle:
        handle.write("1,2024-01-13,login,\n")
    assert load_dataset(copy, DataSettings()).fingerprint != first
    # The same bytes read in another timezone are other data.
    assert load_dataset(original, DataSettings(timezone="Europe/Berlin")).fingerprint != first
