"""The Spark engine on a real local session: the feature table equals DuckDB's, to the bit.

The data carries microseconds in its timestamps (Spark's ``unix_timestamp`` would drop them) and
amounts on half a cent; the session runs in UTC with ANSI mode on (Spark 4's default: a division by
zero is an error, not a null), and a one-cutoff table must not rank its customers in one task.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnguard.core.config import Settings
from churnguard.core.data.dataset import load_dataset
from churnguard.core.data.stage import stage_dataset
from churnguard.features.build import build_features, build_training_set, discover_spec, training_plan
from churnguard.features.output import arrow_to_frame
from churnguard.features.source import source_from_dataset
from churnguard.features.source_spark import (
    SparkSource,
    read_training_set,
    source_from_spark,
    spark_feature_frame,
    write_training_set,
)
from tests import spark_local
from tests.parity_shop import write_parity_shop

spark = spark_local.spark  # the session's local Spark (a fixture)
pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """800 generated customers with microsecond timestamps and amounts on half a cent."""
    return write_parity_shop(tmp_path_factory.mktemp("spark_shop"), customers=800, seed=12)


def sources(shop: Path, settings: Settings, work: Path):
    dataset = load_dataset(shop, settings.data)
    stage = stage_dataset(dataset, work)  # what a run reads: the validated tables as Parquet
    return (
        dataset.as_of,
        source_from_dataset(dataset, settings.features),
        source_from_spark(stage.folder, settings),
    )


@pytest.mark.parametrize("definition", ["inactivity", "subscription"])
def test_features_on_spark_equal_duckdb_to_the_bit(
    spark, shop: Path, tmp_path: Path, definition: str
) -> None:
    settings = Settings(engine="spark", features={"max_cutoffs": 3}, churn={"definition": definition})
    as_of, duck, on_spark = sources(shop, settings, tmp_path)
    assert isinstance(on_spark, SparkSource)
    assert on_spark.session.conf.get("spark.sql.session.timeZone") == "UTC"
    assert on_spark.session.conf.get("spark.sql.ansi.enabled") == "true"
    spec = discover_spec(duck)
    assert discover_spec(on_spark) == spec

    scored = build_features(duck, as_of, settings, spec)
    assert len(scored) > 150
    pd.testing.assert_frame_equal(build_features(on_spark, as_of, settings, spec), scored, check_exact=True)
    if definition == "subscription":
        return  # the written training set is checked once (inactivity); its rows are the same query's

    # The training set written by Spark's own writer, one folder per cutoff, equals DuckDB's frame.
    cutoffs = training_plan(duck, as_of, settings).cutoffs
    out = tmp_path / "training_set"
    rows = write_training_set(on_spark, cutoffs, settings, spec, out)
    expected = build_training_set(duck, as_of, settings, spec)
    assert rows == len(expected) and expected["cutoff"].nunique() == 3
    assert sorted(p.name.split("=")[0] for p in out.iterdir() if p.is_dir()) == ["cutoff"] * 3
    written = arrow_to_frame(read_training_set(on_spark.session, out).toArrow())
    pd.testing.assert_frame_equal(written, expected, check_exact=True)
    assert not list(tmp_path.glob(".training_set*")), "a partial folder was left behind"


def test_fractions_of_a_second_count_on_spark(spark, tmp_path: Path) -> None:
    """Two purchases 0.6 s either side of a minute's edge: 1.2 s apart, not 1 s (unix_timestamp's)."""
    settings = Settings(engine="spark")
    tx = pd.DataFrame(
        {
            "order_id": [1, 2, 3, 4],
            "customer_id": [1, 1, 2, 2],
            "ts": pd.to_datetime(
                [
                    "2024-05-01 10:00:59.400",
                    "2024-05-01 10:01:00.600",
                    "2024-05-02 08:00:00",
                    "2024-06-01 08:00:00",
                ],
                utc=True,
                format="ISO8601",
            ),
            "amount": [10.0, 20.0, 5.0, 5.0],
        }
    )
    folder = tmp_path / "data"
    folder.mkdir()
    tx.to_parquet(folder / "transactions.parquet", index=False)
    on_spark = source_from_spark(folder, settings)
    t = on_spark.transactions
    from churnguard.features.timeutil import seconds_between

    one = t.filter(t.customer_id == 1)
    gap = on_spark.backend.execute(one.aggregate(gap=seconds_between(one.ts.max(), one.ts.min())))
    assert gap["gap"].iloc[0] == pytest.approx(1.2, abs=1e-9)


def test_one_cutoff_ranks_without_a_partitionless_percent_rank(spark, shop: Path, tmp_path: Path) -> None:
    """RFM scores are counted per distinct value: no PERCENT_RANK over every customer in one task, and
    the scores are percent_rank's (rows ranked before / (rows - 1), quintiles) all the same."""
    settings = Settings(engine="spark", churn={"lookback_days": 365})
    as_of, duck, on_spark = sources(shop, settings, tmp_path)
    spec = discover_spec(duck)
    frame = spark_feature_frame(on_spark, [as_of], settings, spec)
    plan = frame._jdf.queryExecution().executedPlan().toString().lower()
    assert "percent_rank" not in plan
    features = build_features(duck, as_of, settings, spec)
    monetary = features["spend_total_365d"]  # M ranks spend in the lookback window (365 days)
    expected = np.minimum(5, np.floor(5 * (monetary.rank(method="min") - 1) / (len(monetary) - 1)) + 1)
    assert (features["rfm_m"].to_numpy() == expected.to_numpy()).all()
    recency = features["recency_days"].fillna(1e9)
    expected_r = np.minimum(
        5, np.floor(5 * (recency.rank(method="min", ascending=False) - 1) / (len(recency) - 1)) + 1
    )
    assert (features["rfm_r"].to_numpy() == expected_r.to_numpy()).all()
    pd.testing.assert_frame_equal(arrow_to_frame(frame.toArrow()), features, check_exact=True)


def test_division_by_zero_cannot_stop_a_spark_query(spark, tmp_path: Path) -> None:
    """ANSI mode raises on x / 0: one purchase (no gap), two (one gap, no variance) and none must pass."""
    settings = Settings(engine="spark")
    tx = pd.DataFrame(
        {
            "order_id": [1, 2, 3, 4],
            "customer_id": [1, 2, 2, 3],
            "ts": pd.to_datetime(["2024-05-01", "2024-05-01", "2024-05-08", "2024-05-09"], utc=True),
            "amount": [10.0, 20.0, 5.0, -5.0],  # customer 3: a refund only
        }
    )
    customers = pd.DataFrame(
        {"customer_id": [1, 2, 3, 4], "signup_ts": pd.to_datetime(["2024-01-01"] * 4, utc=True)}
    )
    events = pd.DataFrame(
        {
            "customer_id": [1, 2],
            "ts": pd.to_datetime(["2024-05-02", "2024-05-03"], utc=True),
            "event_type": ["login", "nps"],
            "value": [None, 0.0],
        }
    )
    folder = tmp_path / "data"
    folder.mkdir()
    for name, table in (("transactions", tx), ("customers", customers), ("events", events)):
        table.to_parquet(folder / f"{name}.parquet", index=False)
    on_spark = source_from_spark(folder, settings)
    duck = source_from_dataset(load_dataset(folder, settings.data, "2024-06-01"), settings.features)
    spec = discover_spec(duck)
    expected = build_features(duck, "2024-06-01", settings, spec)
    assert len(expected) >= 2
    pd.testing.assert_frame_equal(
        build_features(on_spark, "2024-06-01", settings, spec), expected, check_exact=True
    )
