"""Scoring with ``engine: spark``: probabilities and reasons per partition give the local list exactly.

Real components throughout: the scoring world's champion (XGBoost, logged to and loaded from a
temporary MLflow store), a local Spark session with two cores, and the same feature rows in Spark and
in pandas.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from churnguard.models.calibrate import Calibrator
from churnguard.models.package import ChurnModel
from churnguard.models.scoring import LocalScorer, ScoredList, Scorer, score_customers
from churnguard.models.spark_scoring import SparkScorer
from tests import spark_local
from tests.models import scoring_fixtures
from tests.models.scoring_fixtures import ScoringWorld

pytestmark = pytest.mark.spark
scoring_world = scoring_fixtures.scoring_world
spark = spark_local.spark  # the session fixture
PARTITIONS = 3


def score(world: ScoringWorld, scorer: Scorer) -> ScoredList:
    return score_customers(
        world.features,
        world.pyfunc,
        world.model,
        world.settings,
        world.settings.registry.model_name,
        world.version,
        world.dataset.as_of,
        world.dataset.fingerprint,
        scorer=scorer,
    )


def assert_same_list(scored: ScoredList, expected: ScoredList) -> None:
    pd.testing.assert_frame_equal(scored.risk_list, expected.risk_list, check_exact=True)
    assert {**scored.summary, "generated_at": None} == {**expected.summary, "generated_at": None}


def ids_per_partition(frame) -> list[list]:
    return frame.select("customer_id").rdd.glom().map(lambda rows: [r[0] for r in rows]).collect()


@contextmanager
def arrow_batches_of(spark, rows: int) -> Iterator[None]:
    """Smaller Arrow batches for a while, so that a partition reaches a task in several batches."""
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    before = spark.conf.get(key)
    spark.conf.set(key, str(rows))
    try:
        yield
    finally:
        spark.conf.set(key, before)


def test_the_model_survives_the_trip_to_an_executor(scoring_world: ScoringWorld):
    w = scoring_world
    shipped = pickle.loads(cloudpickle.dumps(w.model))
    rows = w.features.head(300)
    pd.testing.assert_frame_equal(shipped.predict(None, rows), w.model.predict(None, rows), check_exact=True)
    pd.testing.assert_frame_equal(shipped.contributions(rows), w.model.contributions(rows), check_exact=True)


def test_the_list_scored_in_spark_partitions_equals_the_local_list(scoring_world: ScoringWorld, spark):
    frame = spark.createDataFrame(scoring_world.features).repartition(PARTITIONS)
    sizes = [len(ids) for ids in ids_per_partition(frame)]
    assert len(sizes) == PARTITIONS and min(sizes) > 0 and sum(sizes) == len(scoring_world.features)

    scored = score(scoring_world, SparkScorer(frame))

    assert_same_list(scored, scoring_world.scored)
    assert (scored.risk_list["group"] == "outreach").sum() > 0  # customers with exact TreeSHAP reasons


def test_the_exact_customers_get_exact_reasons_in_spark(scoring_world: ScoringWorld, spark):
    # The exact customers travel to the executors in the closure: their reasons must be TreeSHAP's,
    # which here differ from the approximation's for some of them.
    w = scoring_world
    outreach = w.scored.risk_list.loc[w.scored.risk_list["group"] == "outreach", "customer_id"]
    exact = w.features["customer_id"].isin(outreach).to_numpy()
    frame = spark.createDataFrame(w.features).repartition(PARTITIONS)
    batch = w.settings.scoring.batch_rows
    messages: list[str] = []

    in_spark = SparkScorer(frame).reasons(w.features, w.model, exact, batch, messages.append)
    local = LocalScorer().reasons(w.features, w.model, exact, batch, lambda _: None)
    approximate = LocalScorer().reasons(w.features, w.model, np.zeros_like(exact), batch, lambda _: None)

    np.testing.assert_array_equal(in_spark.texts, local.texts)
    np.testing.assert_array_equal(in_spark.kinds, local.kinds)
    assert (in_spark.texts[exact] != approximate.texts[exact]).any()
    assert f"exact TreeSHAP for {exact.sum():,} customers" in messages[0]


def test_shuffled_rows_in_other_partitions_and_batches_give_the_same_list(scoring_world: ScoringWorld, spark):
    shuffled = scoring_world.features.sample(frac=1.0, random_state=11)
    frame = spark.createDataFrame(shuffled).repartition(7)
    partitions = [ids for ids in ids_per_partition(frame) if ids]
    ids = [i for part in partitions for i in part]
    assert len(partitions) == 7 and sorted(ids) == sorted(scoring_world.features["customer_id"])
    assert ids != sorted(ids)

    with arrow_batches_of(spark, 250):  # several batches per task: the model is loaded once per task
        scored = score(scoring_world, SparkScorer(frame))

    assert_same_list(scored, scoring_world.scored)


def test_a_customer_missing_from_the_spark_table_is_a_readable_error(scoring_world: ScoringWorld, spark):
    w = scoring_world
    frame = spark.createDataFrame(w.features.iloc[5:]).repartition(2)
    batch = w.settings.scoring.batch_rows

    expected = f"differ: {len(w.features) - 5:,} and {len(w.features):,} customers, 5 of the collected"
    with pytest.raises(ValueError, match=re.escape(expected)):
        SparkScorer(frame).probabilities(w.features, w.pyfunc, w.model, batch)


def test_executors_with_another_model_than_the_driver_are_refused(scoring_world: ScoringWorld, spark):
    w = scoring_world
    other = ChurnModel.from_parts(replace(w.model.parts, calibrator=Calibrator("platt", intercept=0.5)))
    frame = spark.createDataFrame(w.features).repartition(2)

    with pytest.raises(RuntimeError, match="other churn probabilities than the driver"):
        SparkScorer(frame).probabilities(w.features, w.pyfunc, other, w.settings.scoring.batch_rows)
