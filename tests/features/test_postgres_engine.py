"""The PostgreSQL engine on a real throw-away server: the feature table equals DuckDB's, to the bit.

The server runs in the Asia/Kolkata time zone on purpose (tests/pg_cluster.py): a session left in it
would move every date by 5 h 30 min. The data carries microseconds in its timestamps and amounts on
half a cent, where PostgreSQL's own ROUND on a double would differ from DuckDB's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnguard.core.config import Settings
from churnguard.core.data.dataset import load_dataset
from churnguard.core.data.postgres import load_postgres
from churnguard.core.data.postgres_checks import check_database
from churnguard.features.build import build_features, build_training_set, discover_spec
from churnguard.features.source import source_from_dataset, source_from_parquet
from churnguard.features.source_postgres import PostgresSource, source_from_postgres
from tests import pg_cluster
from tests.parity_shop import write_parity_shop

postgres_url = pg_cluster.postgres_url  # the session's throw-away server (a fixture)

SCHEMA = "parity"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,200 generated customers with microsecond timestamps and amounts on half a cent."""
    return write_parity_shop(tmp_path_factory.mktemp("parity_shop"), customers=1200, seed=11)


@pytest.fixture(scope="module")
def loaded(shop: Path, postgres_url: str) -> str:
    load_postgres(shop, postgres_url, Settings().data, schema=SCHEMA)
    return postgres_url


def sources(shop: Path, url: str, settings: Settings):
    dataset = load_dataset(shop, settings.data)
    duck = source_from_dataset(dataset, settings.features)
    check = check_database(settings, dataset.as_of, url=url)
    assert check.rows["transactions"] == len(dataset.transactions)
    return dataset.as_of, duck, source_from_postgres(settings, dataset.as_of, check.model_columns, url=url)


@pytest.mark.parametrize("definition", ["inactivity", "subscription"])
def test_features_on_postgres_equal_duckdb_to_the_bit(shop: Path, loaded: str, definition: str) -> None:
    settings = Settings(
        engine="postgres",
        features={"max_cutoffs": 3},
        churn={"definition": definition},
        postgres={"schema_name": SCHEMA},
    )
    as_of, duck, pg = sources(shop, loaded, settings)
    assert isinstance(pg, PostgresSource)
    spec = discover_spec(duck)
    assert discover_spec(pg) == spec

    scored_duck = build_features(duck, as_of, settings, spec)
    scored_pg = build_features(pg, as_of, settings, spec)
    assert len(scored_duck) > 200
    pd.testing.assert_frame_equal(scored_pg, scored_duck, check_exact=True)

    train_duck = build_training_set(duck, as_of, settings, spec)
    train_pg = build_training_set(pg, as_of, settings, spec)
    assert train_duck["cutoff"].nunique() == 3 and train_duck["churned"].between(0, 1).all()
    pd.testing.assert_frame_equal(train_pg, train_duck, check_exact=True)


def test_half_cents_round_away_from_zero_on_both_engines(shop: Path, loaded: str) -> None:
    """Money is summed in whole cents; a half cent rounds away from zero on both engines."""
    settings = Settings(engine="postgres", postgres={"schema_name": SCHEMA})
    as_of, duck, pg = sources(shop, loaded, settings)
    tx = load_dataset(shop, settings.data).transactions
    in_year = tx[tx["ts"] >= as_of - pd.Timedelta(days=365)]
    spend = build_features(pg, as_of, settings).set_index("customer_id")["spend_total_365d"]
    on_duckdb = build_features(duck, as_of, settings).set_index("customer_id")["spend_total_365d"]
    assert np.array_equal(spend.to_numpy(), on_duckdb.reindex(spend.index).to_numpy())
    expected = (
        in_year.assign(cents=np.sign(in_year["amount"]) * np.floor(np.abs(in_year["amount"]) * 100 + 0.5))
        .groupby("customer_id")["cents"]
        .sum()
        / 100
    )
    assert np.array_equal(spend.to_numpy(), expected.reindex(spend.index).fillna(0).to_numpy())
    assert (in_year["amount"].abs().isin([0.125, 0.875])).any()  # ties are really there


def test_memory_limited_duckdb_gives_the_same_table(shop: Path, tmp_path: Path) -> None:
    """Under a memory limit every family is computed into its own table first: the same rows result."""
    settings = Settings(features={"max_cutoffs": 3})
    limited = Settings(features={"max_cutoffs": 3, "duckdb_memory_limit": "256MB"})
    dataset = load_dataset(shop, settings.data)
    plain = source_from_dataset(dataset, settings.features)
    staged = source_from_dataset(dataset, limited.features)
    assert staged.staged and not plain.staged
    spec = discover_spec(plain)
    pd.testing.assert_frame_equal(
        build_features(staged, dataset.as_of, limited, spec),
        build_features(plain, dataset.as_of, settings, spec),
        check_exact=True,
    )
    out = tmp_path / "train.parquet"
    build_training_set(staged, dataset.as_of, limited, spec, out_path=out)
    written = pd.read_parquet(out)
    expected = build_training_set(plain, dataset.as_of, settings, spec)
    pd.testing.assert_frame_equal(
        written.reset_index(drop=True), expected.reset_index(drop=True), check_exact=True, check_dtype=False
    )
    assert not list(Path(".").glob(".tmp")), "DuckDB spilled into the working folder"


def test_parquet_source_is_not_staged_without_a_limit(shop: Path) -> None:
    assert not source_from_parquet(shop, Settings().features).staged
