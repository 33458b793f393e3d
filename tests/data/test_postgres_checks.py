"""The data contract checked inside PostgreSQL: every problem named by table, column, rows and examples.

Each test loads a small shop into its own schema of the session's throw-away server, breaks it with
SQL as a real database gets broken, and validates it as a run would (``check_database``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import psycopg
import pytest

from churnguard.core.config import ConfigError, Settings, load_settings
from churnguard.core.data.dataset import load_dataset
from churnguard.core.data.generate import generate_sample
from churnguard.core.data.intake import dataset_for_stage, stage_input
from churnguard.core.data.postgres import PostgresError, load_postgres
from churnguard.core.data.postgres_checks import check_database
from churnguard.core.data.stage import read_stage, remove_stage
from churnguard.core.data.validate import DataValidationError
from tests import pg_cluster

postgres_url = pg_cluster.postgres_url  # the session's throw-away server (a fixture)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("checked_shop")
    generate_sample(folder, n_customers=300, seed=5)
    return folder


def loaded(shop: Path, url: str, schema: str, *statements: str) -> Settings:
    """The shop in ``schema``, changed by ``statements``; settings reading it."""
    load_postgres(shop, url, Settings().data, schema=schema)
    with psycopg.connect(url, autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement.format(s=schema))
    return Settings(engine="postgres", postgres={"schema_name": schema})


def problems(settings: Settings, url: str) -> str:
    with pytest.raises(DataValidationError) as caught:
        check_database(settings, None, url=url)
    return caught.value.report.render()


def test_clean_tables_pass_with_the_folder_counts_and_notes(shop: Path, postgres_url: str) -> None:
    settings = loaded(shop, postgres_url, "clean")
    check = check_database(settings, "2026-06-01", url=postgres_url)
    folder = load_dataset(shop, settings.data, as_of="2026-06-01")
    assert check.rows["transactions"] == len(folder.transactions)
    assert check.rows["events"] == len(folder.events)
    assert check.rows["subscriptions"] == len(folder.subscriptions)
    notes = "\n".join(note.render() for note in check.report.notes)
    later = int(
        (pd.read_parquet(shop / "transactions.parquet")["ts"] >= pd.Timestamp("2026-06-01", tz="UTC")).sum()
    )
    assert (
        f"clean.transactions, column 'ts': dated on or after as_of 2026-06-01: excluded ({later:,} rows)"
        in notes
    )
    assert "negative amounts counted as refunds" in notes
    assert check.model_columns[:2] == ["customer_id", "signup_ts"]
    assert "schema clean of PostgreSQL at 127.0.0.1" in check.where and "@" not in check.where


def test_empty_required_values_name_table_column_rows_and_examples(shop: Path, postgres_url: str) -> None:
    settings = loaded(
        shop,
        postgres_url,
        "nulls",
        "UPDATE {s}.transactions SET ts = NULL WHERE ctid IN (SELECT ctid FROM {s}.transactions LIMIT 3)",
        "UPDATE {s}.events SET event_type = NULL WHERE ctid IN (SELECT ctid FROM {s}.events LIMIT 2)",
    )
    text = problems(settings, postgres_url)
    assert "nulls.transactions, column 'ts': empty value in a required column (3 rows)" in text
    assert "nulls.events, column 'event_type': empty value in a required column (2 rows)" in text
    assert "ts=(empty)" in text  # example rows show the offending values


def test_duplicates_unknown_customers_and_backward_subscriptions(shop: Path, postgres_url: str) -> None:
    settings = loaded(
        shop,
        postgres_url,
        "broken",
        "INSERT INTO {s}.customers SELECT * FROM {s}.customers LIMIT 1",
        "INSERT INTO {s}.events (customer_id, ts, event_type) VALUES (987654321, now(), 'login')",
        "UPDATE {s}.subscriptions SET end_ts = start_ts - interval '1 day' "
        "WHERE ctid IN (SELECT ctid FROM {s}.subscriptions LIMIT 1)",
    )
    text = problems(settings, postgres_url)
    assert "broken.customers, column 'customer_id': duplicate customer_id (2 rows)" in text
    assert (
        "broken.events, column 'customer_id': customer never appears in transactions or customers (1 row)"
        in text
    )
    assert "customer_id=987654321" in text
    assert "broken.subscriptions: subscription ends before it starts (1 row)" in text


def test_missing_table_column_and_wrong_types_stop_before_any_row_check(
    shop: Path, postgres_url: str
) -> None:
    settings = loaded(
        shop,
        postgres_url,
        "shape",
        "ALTER TABLE {s}.events DROP COLUMN event_type",
        "ALTER TABLE {s}.transactions ALTER COLUMN amount TYPE text",
    )
    text = problems(settings, postgres_url)
    assert "shape.events, column 'event_type': required column missing" in text
    assert "shape.transactions, column 'amount': not a number column (type string)" in text
    loaded(shop, postgres_url, "gone", "DROP TABLE {s}.transactions")
    missing = problems(Settings(engine="postgres", postgres={"schema_name": "gone"}), postgres_url)
    assert "required table missing in schema gone of PostgreSQL" in missing


def test_mapped_table_and_column_names_read_like_a_folder(shop: Path, postgres_url: str) -> None:
    loaded(
        shop,
        postgres_url,
        "mapped",
        "ALTER TABLE {s}.transactions RENAME TO orders",
        "ALTER TABLE {s}.orders RENAME COLUMN amount TO net_value",
    )
    settings = Settings(
        engine="postgres",
        postgres={"schema_name": "mapped", "tables": {"transactions": "orders"}},
        data={"columns": {"transactions": {"net_value": "amount"}}},
    )
    check = check_database(settings, None, url=postgres_url)
    assert check.rows["transactions"] == len(load_dataset(shop, settings.data).transactions)


def test_a_stage_holds_no_table_and_the_report_reads_the_database(
    shop: Path,
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = loaded(shop, postgres_url, "staged", "CREATE TABLE {s}.extra (x int)")
    settings = settings.model_copy(update={"paths": settings.paths.model_copy(update={"work": tmp_path})})
    monkeypatch.setenv("CHURNGUARD_POSTGRES_URL", postgres_url)
    stage = stage_input(None, None, settings)
    try:
        assert stage.engine == "postgres" and not list(stage.folder.glob("transactions*"))
        assert read_stage(stage.folder) == stage
        dataset = dataset_for_stage(stage, settings)
        folder = load_dataset(shop, settings.data)
        pd.testing.assert_frame_equal(
            dataset.transactions.sort_values(["customer_id", "ts", "amount"]).reset_index(drop=True),
            folder.transactions.sort_values(["customer_id", "ts", "amount"]).reset_index(drop=True)[
                list(dataset.transactions.columns)
            ],
            check_dtype=False,
        )
        assert dataset.as_of == folder.as_of
    finally:
        remove_stage(stage)


def test_unreachable_server_and_password_in_config_are_refused(postgres_url: str, tmp_path: Path) -> None:
    closed = "postgresql://churn:s3cret@127.0.0.1:1/churnguard"
    with pytest.raises(PostgresError) as caught:
        check_database(Settings(engine="postgres"), None, url=closed)
    assert "no PostgreSQL server answers at 127.0.0.1:1" in str(caught.value)
    assert "s3cret" not in str(caught.value)
    config = tmp_path / "pg.yaml"
    config.write_text("engine: postgres\npostgres:\n  url: postgresql://churn:s3cret@db/churn\n")
    with pytest.raises(ConfigError, match="holds a password"):
        load_settings(config)
