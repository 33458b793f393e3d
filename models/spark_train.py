"""Train the churn model of ``engine: spark``: the backtest on the driver over a customer sample, the
production model in Spark on every row with ``xgboost.spark``.

The backtest (search, tree count, baselines, measures, explanations, drift reference) is the local one
(:func:`churnguard.models.train.train_churn_model`) over every cutoff of at most
``spark.backtest_customers`` customers; with no more customers than that it reads every row and is the
local backtest exactly. Only the refit needs every row, and it is the part that runs in Spark.

pyspark and xgboost.spark are imported inside the functions: they are heavy and only ``engine: spark``
needs them. Pure library code: no MLflow and no Prefect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xgboost as xgb

from churnguard.core.config import Settings
from churnguard.core.errors import InsufficientDataError
from churnguard.features.output import arrow_to_frame
from churnguard.features.spec import ID_COLUMNS, LABEL, FeatureSpec, feature_names, is_categorical
from churnguard.models.backtest import HOLDOUT_SHARE, Backtest
from churnguard.models.calibrate import fit_calibrator
from churnguard.models.package import ModelParts
from churnguard.models.preprocess import Preprocessor
from churnguard.models.search import booster_params
from churnguard.models.train import TrainResult, model_parts, train_churn_model

if TYPE_CHECKING:  # annotations only: pyspark loads when a Spark training runs
    from pyspark.sql import Column, DataFrame
    from xgboost.spark import SparkXGBClassifierModel

# Parameters of booster_params() not passed to xgboost.spark: it sets the objective (from the estimator
# class) and the threads (spark.task.cpus) itself and refuses them; eval_metric serves early stopping,
# which the refit has none of, and xgboost.spark evaluates the training rows every round (aucpr: a sort).
LEFT_TO_SPARK = ("objective", "nthread", "eval_metric")
HELD = "_held_out"  # the calibration hold-out flag, computed in Spark


@dataclass(frozen=True)
class ClassCounts:
    """Rows and churners of the refit, in all and among the held-out customers."""

    rows: int
    positives: int
    held_rows: int
    held_positives: int


def train_churn_model_spark(
    training: DataFrame,
    settings: Settings,
    spec: FeatureSpec,
    progress: Callable[[str], None] | None = None,
) -> TrainResult:
    """Backtest on the driver over a customer sample, then refit on every row in Spark.

    Args:
        training: the labelled training set as a Spark DataFrame (the local training frame's columns).
        settings: training, value and outreach settings; ``spark`` for the sample size and workers.
        spec: the feature spec the training set was built with (stored with the model).
        progress: called with short human messages.

    Returns:
        The same result as the local training; ``refit_rows`` counts the rows trained on in Spark.
    """
    say = progress or (lambda message: None)
    check_columns(training)
    rows_per_cutoff = training.groupBy("cutoff").count().toArrow().to_pandas()
    total_rows = int(rows_per_cutoff["count"].sum())
    if total_rows == 0:
        raise InsufficientDataError("the Spark training set has no rows: nothing to train on")
    frame = backtest_sample(training, settings.spark.backtest_customers)
    say(
        f"backtest sample: {len(frame):,} rows of {frame['customer_id'].nunique():,} customers read "
        f"to the driver (of {total_rows:,} rows in Spark)"
    )
    step = partial(refit_in_spark, training, workers=settings.spark.xgboost_workers)
    result = train_churn_model(frame, settings, spec, say, refit_step=step, refit_rows=total_rows)
    # The sample may miss a cutoff no sampled customer has; the refit saw every one. Read through Arrow:
    # collect() would turn the timestamps into the driver's local time.
    cutoffs = sorted(pd.to_datetime(rows_per_cutoff["cutoff"], utc=True))
    return replace(result, refit_cutoffs=[pd.Timestamp(c) for c in cutoffs])


def check_columns(training: DataFrame) -> None:
    """Raise a readable error when the Spark DataFrame is not a labelled training set."""
    missing = [c for c in (*ID_COLUMNS, LABEL) if c not in training.columns]
    if missing:
        raise ValueError(
            f"the Spark training set lacks {', '.join(missing)}: expected the columns of "
            "build_training_set (customer_id, cutoff, trailing_spend, churned, then the features)"
        )


def backtest_sample(training: DataFrame, customers: int) -> pd.DataFrame:
    """Every row (all cutoffs) of at most ``customers`` customers, chosen by a stable hash, in pandas.

    Args:
        training: the training set in Spark.
        customers: the most customers to read; all of them when there are not more.

    Returns:
        The frame ``arrow_to_frame`` makes (sorted by cutoff and customer, local dtypes).
    """
    from pyspark.sql import functions as F

    ids = training.select("customer_id").distinct()
    if ids.count() > customers:
        # xxhash64, not the crc32 of the calibration hold-out: the sample keeps the usual held-out share.
        key = F.xxhash64(F.col("customer_id").cast("string"))
        chosen = ids.orderBy(key, "customer_id").limit(customers)
        training = training.join(chosen, on="customer_id", how="left_semi").select(*training.columns)
    return arrow_to_frame(training.toArrow())


def held_out_flag(customer_id: Column, share: float = HOLDOUT_SHARE) -> Column:
    """Spark's twin of :func:`churnguard.models.backtest.held_out`: crc32 of the id's UTF-8 text."""
    from pyspark.sql import functions as F

    return (F.crc32(customer_id.cast("string")) % 10_000) < share * 10_000


def fit_preprocessor(training: DataFrame) -> Preprocessor:
    """``Preprocessor.fit`` over every row in Spark: the same features, levels sorted the same way."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    names = feature_names(pd.DataFrame(columns=training.columns))
    # is_categorical reads only the dtype: an empty column of the pandas dtype the text would become.
    dtypes = {f.name: "str" if isinstance(f.dataType, StringType) else "float64" for f in training.schema}
    text = [n for n in names if is_categorical(n, pd.Series([], dtype=dtypes[n]))]
    levels = training.agg(*[F.collect_set(n).alias(n) for n in text]).first() if text else {}
    return Preprocessor(features=names, categories={n: sorted(str(v) for v in levels[n]) for n in text})


def encode_features(training: DataFrame, preprocessor: Preprocessor) -> DataFrame:
    """Model inputs as Spark numbers: a categorical becomes its level's index (unknown or null: null).

    The index in ``preprocessor.categories`` is the code pandas gives the level in ``Preprocessor.transform``,
    so a booster grown on these codes scores pandas categoricals the same way.
    """
    from pyspark.sql import functions as F

    columns = []
    for name in preprocessor.features:
        if name in preprocessor.categories:
            levels = F.array(*[F.lit(v) for v in preprocessor.categories[name]])
            position = F.array_position(levels, F.col(name))  # 1-based; 0 when absent, null for null
            columns.append(F.when(position > 0, position - 1).cast("double").alias(name))
        else:
            columns.append(F.col(name).cast("double").alias(name))
    label = F.col(LABEL).cast("double").alias(LABEL)
    return training.select(
        "customer_id", "cutoff", *columns, label, held_out_flag(F.col("customer_id")).alias(HELD)
    )


def fit_spark_classifier(
    encoded: DataFrame, preprocessor: Preprocessor, params: dict, n_trees: int, workers: int
) -> SparkXGBClassifierModel:
    """Grow ``n_trees`` trees on ``encoded`` with ``xgboost.spark`` and the local booster parameters.

    Args:
        encoded: from :func:`encode_features`.
        preprocessor: feature order and which features are categorical.
        params: from ``booster_params`` (the objective and threads are left to xgboost.spark).
        n_trees: boosting rounds.
        workers: Spark tasks that train together.
    """
    from xgboost.spark import SparkXGBClassifier

    features = preprocessor.features
    classifier = SparkXGBClassifier(
        features_col=features,
        label_col=LABEL,
        feature_types=["c" if n in preprocessor.categories else "q" for n in features],
        missing=float("nan"),
        n_estimators=n_trees,
        num_workers=workers,
        # Spread the rows evenly over the workers: xgboost.spark keeps the input partitions when there are
        # as many as workers, and Parquet splits by row group can leave a worker without rows.
        force_repartition=True,
        verbose=False,  # no line per round on the executors' output
        **{k: v for k, v in params.items() if k not in LEFT_TO_SPARK},
    )
    return classifier.fit(encoded.select(*features, LABEL))


def named_booster(model: SparkXGBClassifierModel, preprocessor: Preprocessor) -> xgb.Booster:
    """The trained booster with the feature names and types a locally trained one carries.

    Importance and contributions are read by feature name; without names they would be f0, f1, ...
    """
    booster = model.get_booster()
    booster.feature_names = list(preprocessor.features)
    booster.feature_types = ["c" if n in preprocessor.categories else "float" for n in preprocessor.features]
    return booster


def spark_probabilities(model: SparkXGBClassifierModel, encoded: DataFrame) -> pd.DataFrame:
    """The model's uncalibrated churn probability and the label of each row, in (cutoff, customer) order."""
    from pyspark.ml.functions import vector_to_array

    scored = model.transform(encoded).select(
        "cutoff", "customer_id", vector_to_array("probability")[1].alias("raw"), LABEL
    )
    return scored.orderBy("cutoff", "customer_id").select("raw", LABEL).toArrow().to_pandas()


def class_counts(encoded: DataFrame) -> ClassCounts:
    """Rows and churners, in all and among held-out customers: one Spark job."""
    from pyspark.sql import functions as F

    held = F.col(HELD).cast("long")
    row = encoded.agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum(LABEL).cast("long").alias("positives"),
        F.sum(held).alias("held_rows"),
        F.sum(held * F.col(LABEL)).cast("long").alias("held_positives"),
    ).first()
    return ClassCounts(*(int(row[k] or 0) for k in ("rows", "positives", "held_rows", "held_positives")))


def labels_with(rows: int, positives: int) -> np.ndarray:
    """Labels with these counts: ``booster_params`` reads only how many rows churned, not which."""
    return np.repeat(np.array([0, 1], dtype=np.int8), [rows - positives, positives])


def refit_in_spark(
    training: DataFrame,
    frame: pd.DataFrame,
    backtest: Backtest,
    settings: Settings,
    spec: FeatureSpec,
    say: Callable[[str], None],
    *,
    workers: int = 1,
) -> ModelParts:
    """:func:`churnguard.models.train.refit` with its three fits in Spark on every row of ``training``.

    A twin without the held-out customers scores them in Spark; only (probability, label) reaches the
    driver for the calibrator. ``frame`` (the driver's sample) gives the drift reference.
    """
    t = settings.training
    preprocessor = fit_preprocessor(training)
    # Encoded once for the counts, the twin, its held-out scores and the final fit (spills if memory is short).
    encoded = encode_features(training, preprocessor).cache()
    try:
        counts = class_counts(encoded)
        twin_params = booster_params(
            backtest.best.params,
            labels_with(counts.rows - counts.held_rows, counts.positives - counts.held_positives),
            t.seed,
            t.n_threads,
        )
        twin = fit_spark_classifier(
            encoded.where(~encoded[HELD]), preprocessor, twin_params, backtest.n_trees, workers
        )
        held = spark_probabilities(twin, encoded.where(encoded[HELD]))
        calibrator = fit_calibrator(held["raw"].to_numpy(), held[LABEL].to_numpy(dtype=int), seed=t.seed)
        say(f"calibration: {calibrator.method} on {len(held):,} held-out customer-cutoffs (twin in Spark)")
        params = booster_params(
            backtest.best.params, labels_with(counts.rows, counts.positives), t.seed, t.n_threads
        )
        final = fit_spark_classifier(encoded, preprocessor, params, backtest.n_trees, workers)
        say(f"spark refit: {backtest.n_trees} trees on {counts.rows:,} rows, {workers} XGBoost worker(s)")
    finally:
        encoded.unpersist()
    return model_parts(named_booster(final, preprocessor), preprocessor, calibrator, spec, settings, frame)
