"""`churn load-postgres` on a real throw-away PostgreSQL server: types, exact values, one-transaction swaps."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import psycopg
import pytest

from churnguard.core.config import DataSettings
from churnguard.core.data.dataset import Dataset, load_dataset
from churnguard.core.data.generate import generate_sample
from churnguard.core.data.postgres import STAGING_PREFIX, PostgresError, load_postgres
from churnguard.core.data.validate import DataValidationError
from tests.pg_cluster import postgres_url  # noqa: F401  (the session's server)

CHURN = Path(sys.executable).with_name("churn")
TABLES = ("transactions", "customers", "events", "subscriptions", "contacts")


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """500 generated customers, with microseconds in the timestamps, some nulls and a contacts table."""
    folder = tmp_path_factory.mktemp("shop")
    generate_sample(folder, n_customers=500, seed=3)
    rng = np.random.default_rng(0)
    transactions = pd.read_parquet(folder / "transactions.parquet")
    micros = pd.to_timedelta(rng.integers(0, 1_000_000, len(transactions)), unit="us")
    transactions["ts"] = transactions["ts"] + micros
    transactions.to_parquet(folder / "transactions.parquet", index=False)
    events = pd.read_parquet(folder / "events.parquet")
    events.loc[events.index[::7], "value"] = np.nan
    events.to_parquet(folder / "events.parquet", index=False)
    customers = pd.read_parquet(folder / "customers.parquet")
    customers.loc[customers.index[::50], "signup_ts"] = pd.NaT
    customers.to_parquet(folder / "customers.parquet", index=False)
    contacts = pd.DataFrame(
        {
            "customer_id": customers["customer_id"].iloc[:40].to_numpy(),
            "ts": pd.Timestamp("2026-09-01 08:30:00.250001", tz="UTC") + pd.to_timedelta(range(40), unit="h"),
            "channel": pd.array(["email", None, "phone", "email"] * 10, dtype="string"),
            "outcome": pd.array([None, "reached", "", "no answer"] * 10, dtype="string"),
        }
    )
    contacts.to_parquet(folder / "contacts.parquet", index=False)
    return folder


@pytest.fixture(scope="module")
def dataset(shop: Path) -> Dataset:
    return load_dataset(shop, DataSettings(), as_of="9999-12-31")


def read_table(url: str, schema: str, table: str) -> pd.DataFrame:
    with psycopg.connect(url) as connection:
        cursor = connection.execute(f'SELECT * FROM "{schema}"."{table}"')
        names = [column.name for column in cursor.description]
        return pd.DataFrame(cursor.fetchall(), columns=names)


def column_types(url: str, schema: str) -> dict[tuple[str, str], str]:
    with psycopg.connect(url) as connection:
        found = connection.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = %s",
            [schema],
        ).fetchall()
    return {(table, column): kind for table, column, kind in found}


def tables_in(url: str, schema: str) -> set[str]:
    with psycopg.connect(url) as connection:
        found = connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", [schema])
        return {name for (name,) in found.fetchall()}


def churn(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "CHURNGUARD_POSTGRES_URL"} | (env or {})
    environment["COLUMNS"] = "200"
    return subprocess.run([str(CHURN), *args], env=environment, capture_output=True, text=True, timeout=300)


def with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=f"{parts.username}:{password}@{parts.hostname}:{parts.port}").geturl()


def test_every_table_arrives_with_the_contract_types_and_exact_values(
    shop: Path,
    dataset: Dataset,
    postgres_url: str,  # noqa: F811
) -> None:
    result = load_postgres(shop, postgres_url, DataSettings(), schema="exact")

    expected = {
        "transactions": dataset.transactions,
        "customers": dataset.customers,
        "events": dataset.events,
        "subscriptions": dataset.subscriptions,
        "contacts": dataset.contacts,
    }
    assert result.rows == {name: len(frame) for name, frame in expected.items()}
    assert tables_in(postgres_url, "exact") == set(TABLES)
    types = column_types(postgres_url, "exact")
    assert types[("transactions", "ts")] == "timestamp with time zone"
    assert types[("transactions", "amount")] == "double precision"
    assert types[("transactions", "customer_id")] == "bigint"
    assert types[("transactions", "order_id")] == "bigint"
    assert types[("customers", "region")] == "text"
    assert types[("subscriptions", "end_ts")] == "timestamp with time zone"
    assert types[("contacts", "outcome")] == "text"

    for name, frame in expected.items():
        stored = read_table(postgres_url, "exact", name)
        assert list(stored.columns) == list(frame.columns), name
        assert len(stored) == len(frame), name
        for column in frame.columns:
            mine, theirs = frame[column], stored[column]
            assert int(theirs.isna().sum()) == int(mine.isna().sum()), (name, column)
            if isinstance(mine.dtype, pd.DatetimeTZDtype):
                theirs = pd.to_datetime(theirs, utc=True).dt.as_unit("us")  # the same instants, any zone
                assert sorted(theirs.dropna()) == sorted(mine.dropna()), (name, column)
            elif pd.api.types.is_float_dtype(mine.dtype):
                assert sorted(theirs.dropna().astype(float)) == sorted(mine.dropna()), (name, column)
            else:
                assert sorted(theirs.dropna().astype(str)) == sorted(mine.dropna().astype(str)), (
                    name,
                    column,
                )
            if column in ("amount", "mrr"):
                assert round(theirs.sum(), 2) == round(mine.sum(), 2), (name, column)
    contacts = read_table(postgres_url, "exact", "contacts")
    assert contacts["channel"].isna().sum() == 10  # the contract's nulls stay nulls
    # Microseconds survive: not one transaction lies on a whole second in the generated sample above.
    stored_ts = pd.to_datetime(read_table(postgres_url, "exact", "transactions")["ts"], utc=True)
    assert (stored_ts.dt.microsecond > 0).mean() > 0.99


def test_loading_again_replaces_the_tables_and_leaves_nothing_behind(
    shop: Path,
    postgres_url: str,  # noqa: F811
) -> None:
    first = load_postgres(shop, postgres_url, DataSettings(), schema="again")
    second = load_postgres(shop, postgres_url, DataSettings(), schema="again")
    assert second.rows == first.rows
    assert tables_in(postgres_url, "again") == set(TABLES)
    counted = read_table(postgres_url, "again", "transactions")
    assert len(counted) == first.rows["transactions"]
    assert not any(name.startswith(STAGING_PREFIX) for name in tables_in(postgres_url, "again"))


def test_a_table_the_folder_no_longer_has_is_dropped(
    shop: Path,
    tmp_path: Path,
    postgres_url: str,  # noqa: F811
) -> None:
    load_postgres(shop, postgres_url, DataSettings(), schema="mirror")
    fewer = shutil.copytree(shop, tmp_path / "fewer")
    (fewer / "contacts.parquet").unlink()
    result = load_postgres(fewer, postgres_url, DataSettings(), schema="mirror")
    assert result.dropped == ("contacts",)
    assert tables_in(postgres_url, "mirror") == set(TABLES) - {"contacts"}


def test_a_failing_load_leaves_the_earlier_tables_untouched(
    shop: Path,
    tmp_path: Path,
    postgres_url: str,  # noqa: F811
) -> None:
    before = load_postgres(shop, postgres_url, DataSettings(), schema="kept")
    bad = shutil.copytree(shop, tmp_path / "bad")
    events = pd.read_parquet(bad / "events.parquet")
    events["ts"] = None  # a required column left empty: the contract refuses the folder
    events.to_parquet(bad / "events.parquet", index=False)
    with pytest.raises(DataValidationError):
        load_postgres(bad, postgres_url, DataSettings(), schema="kept")

    # A failure in the database half-way (a view on one table blocks its DROP): rolled back as a whole.
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute("CREATE VIEW kept.recent AS SELECT * FROM kept.subscriptions")
    smaller = shutil.copytree(shop, tmp_path / "smaller")
    transactions = pd.read_parquet(smaller / "transactions.parquet")
    transactions.iloc[:100].to_parquet(smaller / "transactions.parquet", index=False)
    with pytest.raises(PostgresError, match="nothing changed"):
        load_postgres(smaller, postgres_url, DataSettings(), schema="kept")

    assert tables_in(postgres_url, "kept") == set(TABLES)
    for name, rows in before.rows.items():
        assert len(read_table(postgres_url, "kept", name)) == rows, name


def test_the_command_prints_rows_and_time_never_the_password(
    shop: Path,
    postgres_url: str,  # noqa: F811
) -> None:
    password = urlsplit(postgres_url).password
    result = churn(
        "load-postgres", "--data", str(shop), "--schema", "cli", env={"CHURNGUARD_POSTGRES_URL": postgres_url}
    )
    assert result.returncode == 0, result.stderr
    assert "cli.transactions:" in result.stdout and "cli.contacts: 40 rows" in result.stdout
    assert "Loaded into postgresql://***@127.0.0.1:" in result.stdout and " s." in result.stdout
    assert password not in result.stdout + result.stderr


def test_a_wrong_password_exits_2_naming_the_masked_url(postgres_url: str, shop: Path) -> None:  # noqa: F811
    password = urlsplit(postgres_url).password
    wrong = with_password(postgres_url, "not-" + password)
    result = churn("load-postgres", "--data", str(shop), "--url", wrong)
    assert result.returncode == 2, result.stderr
    message = " ".join(result.stderr.split())
    assert "cannot connect to postgresql://***@127.0.0.1:" in message
    assert "refused the user name or password" in message
    assert password not in result.stdout + result.stderr


def test_connection_errors_are_readable_and_keep_the_password_out(postgres_url: str, shop: Path) -> None:  # noqa: F811
    password = urlsplit(postgres_url).password
    parts = urlsplit(postgres_url)
    no_database = parts._replace(path="/nosuchdb").geturl()
    with pytest.raises(PostgresError, match="no database 'nosuchdb'") as missing:
        load_postgres(shop, no_database, DataSettings())
    nothing_there = with_password(postgres_url, password).replace(f":{parts.port}/", ":1/")
    with pytest.raises(PostgresError, match=r"no PostgreSQL server answers at 127\.0\.0\.1:1 ") as refused:
        load_postgres(shop, nothing_there, DataSettings())
    for error in (missing.value, refused.value):
        assert password not in str(error)
        assert "postgresql://***@127.0.0.1:" in str(error)


def test_no_url_at_all_is_bad_input(shop: Path) -> None:
    result = churn("load-postgres", "--data", str(shop))
    assert result.returncode == 2
    assert "CHURNGUARD_POSTGRES_URL" in result.stderr


def test_text_ids_stay_text(tmp_path: Path, postgres_url: str) -> None:  # noqa: F811
    folder = tmp_path / "shop"
    folder.mkdir()
    (folder / "transactions.csv").write_text(
        "order_id,customer_id,ts,amount\nA-1,C007,2024-01-05 10:00:00.5,10.25\nA-2,0042,2024-01-06,-3.10\n",
        encoding="utf-8",
    )
    result = load_postgres(folder, postgres_url, DataSettings(timezone="Europe/Berlin"), schema="text_ids")
    assert result.rows == {"transactions": 2, "customers": 2}
    types = column_types(postgres_url, "text_ids")
    assert types[("transactions", "customer_id")] == "text"
    assert types[("transactions", "order_id")] == "text"
    stored = read_table(postgres_url, "text_ids", "transactions").sort_values("order_id")
    assert stored["customer_id"].tolist() == ["C007", "0042"]  # leading zeros kept
    assert pd.to_datetime(stored["ts"], utc=True).tolist() == [
        pd.Timestamp("2024-01-05 09:00:00.5", tz="UTC"),  # naive times read in data.timezone, stored as UTC
        pd.Timestamp("2024-01-05 23:00:00", tz="UTC"),
    ]
