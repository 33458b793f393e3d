"""Training with ``engine: spark``: the local backtest over a customer sample, the refit in xgboost.spark.

Real components throughout: generated data turned into a training set, a local Spark session with two
cores reading it from Parquet, XGBoost on Spark, and a temporary MLflow SQLite store the distributed
model is registered in and loaded back from by alias.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from churnguard.core.config import Settings
from churnguard.core.data.dataset import Dataset, load_dataset
from churnguard.core.data.generate import generate_sample
from churnguard.features.build import FeatureSpec, build_training_set, discover_spec
from churnguard.features.source import source_from_dataset
from churnguard.features.spec import LABEL
from churnguard.models.backtest import held_out
from churnguard.models.package import ChurnModel
from churnguard.models.preprocess import Preprocessor
from churnguard.models.registry import CHAMPION, register_and_promote
from churnguard.models.search import booster_params
from churnguard.models.spark_train import (
    backtest_sample,
    encode_features,
    fit_preprocessor,
    fit_spark_classifier,
    held_out_flag,
    named_booster,
    spark_probabilities,
    train_churn_model_spark,
)
from churnguard.models.tracking import configure_tracking, log_training_run
from churnguard.models.train import TrainResult, train_churn_model
from tests import spark_local

pytestmark = pytest.mark.spark
spark = spark_local.spark  # the session fixture

N_CUSTOMERS = 1_500
FRESH_CUSTOMERS = 800  # another generated population: rows neither refit saw, to compare them on
SAMPLED_CUSTOMERS = 400  # a backtest sample smaller than the population
WORKERS = 2  # XGBoost tasks: the session's two cores, so the refit really is distributed
# Small but real, as tests/models/conftest.py trains: two search trials, up to 150 trees.
FAST = {"training": {"n_trials": 2, "max_rounds": 150}, "features": {"max_cutoffs": 8}}


@dataclass
class World:
    settings: Settings
    dataset: Dataset
    spec: FeatureSpec
    frame: pd.DataFrame
    parquet: Path
    fresh: pd.DataFrame  # labelled rows of customers the models never saw


def training_set(
    folder: Path, customers: int, seed: int, settings: Settings
) -> tuple[Dataset, FeatureSpec, pd.DataFrame]:
    generate_sample(folder, customers, seed=seed)
    dataset = load_dataset(folder, settings.data)
    source = source_from_dataset(dataset, settings.features)
    spec = discover_spec(source)
    return dataset, spec, build_training_set(source, dataset.as_of, settings, spec)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    settings = Settings(**FAST, tracking={"home": str(tmp_path_factory.mktemp("spark-mlstore"))})
    dataset, spec, frame = training_set(tmp_path_factory.mktemp("spark-train"), N_CUSTOMERS, 3, settings)
    _, fresh_spec, fresh = training_set(tmp_path_factory.mktemp("spark-fresh"), FRESH_CUSTOMERS, 11, settings)
    assert fresh_spec == spec
    parquet = tmp_path_factory.mktemp("spark-parquet") / "training.parquet"
    frame.to_parquet(parquet)
    return World(settings, dataset, spec, frame, parquet, fresh)


@pytest.fixture(scope="module")
def training(spark, world: World):
    return spark.read.parquet(str(world.parquet))


def with_sample(settings: Settings, customers: int) -> Settings:
    """Settings with this backtest sample, training on both cores: XGBoost distributed over two tasks."""
    spark = settings.spark.model_copy(update={"backtest_customers": customers, "xgboost_workers": WORKERS})
    return settings.model_copy(update={"spark": spark})


@dataclass
class Run:
    result: TrainResult
    messages: list[str]
    seconds: float


def timed(train, *args) -> Run:
    messages: list[str] = []
    start = time.perf_counter()
    result = train(*args, messages.append)
    return Run(result, messages, time.perf_counter() - start)


@pytest.fixture(scope="module")
def local(world: World) -> Run:
    return timed(train_churn_model, world.frame, world.settings, world.spec)


@pytest.fixture(scope="module")
def distributed(world: World, training) -> Run:
    """Every customer fits in the sample: the driver's frame is the whole training set."""
    return timed(train_churn_model_spark, training, with_sample(world.settings, 10**6), world.spec)


@pytest.fixture(scope="module")
def sampled(world: World, training) -> Run:
    return timed(
        train_churn_model_spark, training, with_sample(world.settings, SAMPLED_CUSTOMERS), world.spec
    )


def newest_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["cutoff"] == frame["cutoff"].max()].sort_values("customer_id").reset_index(drop=True)


def test_spark_hash_rule_is_the_local_held_out_rule(spark, world: World):
    ids = pd.Series(world.frame["customer_id"].unique())
    spark_ids = spark.createDataFrame(pd.DataFrame({"customer_id": ids}))
    flags = spark_ids.select("customer_id", held_out_flag(spark_ids["customer_id"]).alias("held")).toPandas()
    expected = dict(zip(ids, held_out(ids), strict=True))
    assert flags["held"].tolist() == [expected[i] for i in flags["customer_id"]]
    assert 0.1 < flags["held"].mean() < 0.3
    # Text ids hash their UTF-8 bytes on both sides, accents and all.
    texts = ["C-0001", "Zoë-17", "客户-9", "", "12345678901234567890"]
    rows = spark.createDataFrame(pd.DataFrame({"customer_id": texts}))
    crc = rows.selectExpr("customer_id", "crc32(cast(customer_id as string)) as crc").toPandas()
    assert crc["crc"].tolist() == [zlib.crc32(t.encode()) for t in crc["customer_id"]]


def test_a_frame_without_labels_is_refused_readably(training, world: World):
    with pytest.raises(ValueError, match="lacks churned"):
        train_churn_model_spark(training.drop(LABEL), world.settings, world.spec)


def test_the_preprocessor_fitted_in_spark_is_the_local_one(training, world: World):
    in_spark = fit_preprocessor(training)
    assert in_spark == Preprocessor.fit(world.frame)
    assert {"rfm_segment", "attr_region"} <= set(in_spark.categories)


def test_with_every_customer_in_the_sample_the_driver_reads_the_local_frame(training, world: World):
    pd.testing.assert_frame_equal(backtest_sample(training, 10**6), world.frame, check_exact=True)


def test_a_smaller_sample_holds_whole_customers_chosen_stably(training, world: World):
    sample = backtest_sample(training, SAMPLED_CUSTOMERS)
    ids = set(sample["customer_id"])
    assert len(ids) == SAMPLED_CUSTOMERS
    theirs = world.frame[world.frame["customer_id"].isin(ids)].reset_index(drop=True)
    pd.testing.assert_frame_equal(sample, theirs, check_exact=True)  # every cutoff of each of them
    assert set(backtest_sample(training, SAMPLED_CUSTOMERS)["customer_id"]) == ids


def test_the_spark_backtest_is_the_local_backtest(distributed: Run, local: Run, world: World):
    spark_run, local_run = distributed.result, local.result
    assert spark_run.backtest.best.params == local_run.backtest.best.params
    assert spark_run.backtest.n_trees == local_run.backtest.n_trees
    assert [t.params for t in spark_run.backtest.trials] == [t.params for t in local_run.backtest.trials]
    pd.testing.assert_series_equal(
        pd.Series(spark_run.metrics), pd.Series(local_run.metrics), check_exact=True
    )
    assert spark_run.segment_auc == local_run.segment_auc
    assert spark_run.refit_rows == local_run.refit_rows == len(world.frame)
    assert spark_run.refit_cutoffs == local_run.refit_cutoffs


def test_a_small_sample_backtests_on_its_customers_and_the_refit_reads_every_row(
    sampled: Run, training, world: World
):
    result = sampled.result
    chosen = set(backtest_sample(training, SAMPLED_CUSTOMERS)["customer_id"])
    sample_rows = int(world.frame["customer_id"].isin(chosen).sum())
    assert sampled.messages[0].startswith(
        f"backtest sample: {sample_rows:,} rows of {SAMPLED_CUSTOMERS:,} customers read to the driver "
        f"(of {len(world.frame):,} rows in Spark)"
    )
    assert sample_rows < len(world.frame) / 2
    tested, _ = result.backtest.pooled
    assert set(tested["customer_id"]) <= chosen
    # The refit read every row, and says so.
    assert result.refit_rows == len(world.frame)
    refit_says = [m for m in sampled.messages if m.startswith("spark refit")]
    assert refit_says == [
        f"spark refit: {result.backtest.n_trees} trees on {len(world.frame):,} rows, {WORKERS} XGBoost worker(s)"
    ]
    assert result.refit_cutoffs == sorted(pd.Timestamp(c) for c in world.frame["cutoff"].unique())


def test_the_booster_scores_through_the_pyfunc_path_as_in_spark(training, distributed: Run, world: World):
    """The booster the distributed model packs, scored from pandas categoricals, equals its scores in Spark
    from integer codes: refitted the same way on the same partitions, it is the same booster."""
    result = distributed.result
    preprocessor = result.parts.preprocessor
    y = world.frame[LABEL].to_numpy(dtype=int)
    t = world.settings.training
    params = booster_params(result.backtest.best.params, y, t.seed, t.n_threads)
    encoded = encode_features(training, preprocessor)
    model = fit_spark_classifier(encoded, preprocessor, params, result.backtest.n_trees, WORKERS)

    newest = newest_rows(world.frame)
    in_spark = spark_probabilities(model, encoded.where(encoded["cutoff"] == newest["cutoff"].iloc[0]))
    assert in_spark[LABEL].to_numpy(dtype=int).tolist() == newest[LABEL].tolist()
    packed = ChurnModel.from_parts(replace(result.parts, booster=named_booster(model, preprocessor)))
    np.testing.assert_allclose(packed.raw_scores(newest), in_spark["raw"], rtol=0, atol=1e-6)
    trained = ChurnModel.from_parts(result.parts).raw_scores(newest)
    np.testing.assert_allclose(trained, in_spark["raw"], rtol=0, atol=1e-6)


def test_the_registered_spark_model_loads_by_alias_and_scores_like_in_process(
    distributed: Run, world: World, monkeypatch: pytest.MonkeyPatch
):
    settings = world.settings
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    client = configure_tracking(settings)
    assert client.tracking_uri.startswith("sqlite:///")
    run = log_training_run(
        distributed.result, settings, world.dataset.as_of, world.dataset.fingerprint, world.frame
    )
    decision = register_and_promote(
        client, settings, run.model_uri, run.run_id, *distributed.result.evaluation
    )
    assert decision.promoted

    champion = mlflow.pyfunc.load_model(f"models:/{settings.registry.model_name}@{CHAMPION}")
    newest = newest_rows(world.frame)
    loaded = champion.predict(newest)
    expected = ChurnModel.from_parts(distributed.result.parts).predict(None, newest)
    np.testing.assert_allclose(loaded["churn_probability"], expected["churn_probability"], rtol=0, atol=1e-9)
    assert loaded["churn_probability"].between(0, 1).all()


def test_the_spark_model_is_as_good_as_the_local_one(distributed: Run, local: Run, world: World):
    """Scored on customers neither model saw: same AUC within 0.02, strongly correlated probabilities."""
    rows = world.fresh
    y = rows[LABEL].to_numpy(dtype=int)
    spark_p = ChurnModel.from_parts(distributed.result.parts).predict(None, rows)["churn_probability"]
    local_p = ChurnModel.from_parts(local.result.parts).predict(None, rows)["churn_probability"]
    spark_auc, local_auc = roc_auc_score(y, spark_p), roc_auc_score(y, local_p)
    print(
        f"\nfresh rows {len(rows):,}: ROC AUC local {local_auc:.4f}, spark {spark_auc:.4f}; "
        f"correlation {np.corrcoef(spark_p, local_p)[0, 1]:.4f}, largest gap {np.abs(spark_p - local_p).max():.2e}; "
        f"training local {local.seconds:.0f} s, spark {distributed.seconds:.0f} s"
    )
    assert local_auc > 0.7
    assert abs(spark_auc - local_auc) < 0.02
    assert np.corrcoef(spark_p, local_p)[0, 1] > 0.95
