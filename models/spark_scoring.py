"""The per-customer work of scoring with ``engine: spark``, done in Spark, one partition at a time.

Probabilities and reasons cost time per customer; :func:`churnguard.models.scoring.score_customers`
asks a scorer for them and keeps the steps that need every customer at once (ranking, tiers, groups,
drift, actions) on the driver. :class:`SparkScorer` runs the model's own functions in
``DataFrame.mapInPandas`` over the Spark feature table and brings back only the outputs: a probability,
or the reason texts and kinds, per customer, aligned by ``customer_id`` to the driver's pandas rows.

The model reaches the executors in the function's closure (pickled with it; PySpark broadcasts a
closure larger than ``spark.broadcast.UDFCompressionThreshold``) and is unpickled once per task: a
task's function receives all the Arrow batches of its partition.

pyspark is imported inside the functions: it is heavy and only ``engine: spark`` needs it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from churnguard.models.package import ChurnModel
from churnguard.models.reasons import MAX_REASONS, Explanations, explain
from churnguard.models.scoring import reason_contributions, signature_head

if TYPE_CHECKING:  # annotations only: pyspark loads when a Spark scoring runs
    import mlflow.pyfunc
    from pyspark.sql import DataFrame

ID = "customer_id"
PROBABILITY = "churn_probability"
TEXTS = [f"reason_{slot + 1}" for slot in range(MAX_REASONS)]
KINDS = [f"reason_kind_{slot + 1}" for slot in range(MAX_REASONS)]
# Executors may run other builds of numpy than the driver (SIMD paths differ in the last bit), never
# another model: a gap above this between the driver's and Spark's probabilities means another model.
AGREEMENT = 1e-9


@dataclass
class SparkScorer:
    """Probabilities and reasons computed in Spark for the rows of ``frame``.

    ``frame`` holds the same customers as the pandas ``features`` passed to the methods (the driver's
    copy, which the global steps read), one row each; their order does not matter. Each method runs
    one Spark job over ``frame``: persist it when it is expensive to compute.
    """

    frame: DataFrame

    def probabilities(
        self, features: pd.DataFrame, pyfunc: mlflow.pyfunc.PyFuncModel, model: ChurnModel, batch: int
    ) -> np.ndarray:
        """Calibrated probabilities in ``features`` row order.

        The pyfunc enforces the signature on the head rows on the driver first, so a bad feature table
        fails here, before a Spark job; ``batch`` is unused: Spark's Arrow batches bound the memory.
        """
        if features.empty:
            return np.zeros(0)
        head = signature_head(features, pyfunc, model)
        columns = [ID, *model.features]
        task = partial(_probability_batches, model=model, dtypes=_dtypes(features, columns))
        scored = self._map(features, columns, task, {PROBABILITY: "double"})
        probabilities = scored[PROBABILITY].to_numpy(dtype=float)
        _check_agreement(head, probabilities[: len(head)])
        return probabilities

    def reasons(
        self,
        features: pd.DataFrame,
        model: ChurnModel,
        exact: np.ndarray,
        batch: int,
        say: Callable[[str], None],
    ) -> Explanations:
        """Reasons in ``features`` row order: exact TreeSHAP where ``exact`` is true, else approximate.

        The exact customers (a few thousand at most) travel in the closure, not in a join.
        """
        if features.empty:
            empty = np.full((0, MAX_REASONS), None, dtype=object)
            return Explanations(texts=empty, kinds=empty.copy())
        began = time.perf_counter()
        columns = _readable_columns(features)
        exact_ids = features[ID].to_numpy()[np.asarray(exact, dtype=bool)]
        task = partial(_reason_batches, model=model, dtypes=_dtypes(features, columns), exact_ids=exact_ids)
        explained = self._map(features, columns, task, dict.fromkeys([*TEXTS, *KINDS], "string"))
        n_exact = len(exact_ids)
        say(
            f"reasons in Spark: exact TreeSHAP for {n_exact:,} customers, approximate for the other "
            f"{len(features) - n_exact:,} ({time.perf_counter() - began:.1f} s)"
        )
        return Explanations(texts=_object_block(explained, TEXTS), kinds=_object_block(explained, KINDS))

    def _map(
        self,
        features: pd.DataFrame,
        columns: list[str],
        task: Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]],
        outputs: dict[str, str],
    ) -> pd.DataFrame:
        """Run ``task`` over ``columns`` of every partition; its ``outputs`` in ``features`` row order."""
        missing = [c for c in columns if c not in self.frame.columns]
        if missing:
            raise ValueError(
                f"the Spark feature table lacks {len(missing)} column(s) of the collected features: "
                f"{', '.join(missing[:10])}"
            )
        id_type = self.frame.schema[ID].dataType.simpleString()
        schema = ", ".join([f"`{ID}` {id_type}", *(f"`{name}` {kind}" for name, kind in outputs.items())])
        result = self.frame.select(*columns).mapInPandas(task, schema).toArrow().to_pandas()
        return _aligned(result, features[ID])


def _readable_columns(features: pd.DataFrame) -> list[str]:
    """Every column the reasons may read: all but timestamps (the cutoff is the same for everyone)."""
    return [c for c in features.columns if not pd.api.types.is_datetime64_any_dtype(features[c])]


def _dtypes(features: pd.DataFrame, columns: list[str]) -> dict[str, object]:
    """The driver's dtypes of ``columns``: an executor's batch takes them, so values read the same."""
    return {c: features[c].dtype for c in columns}


def _typed(batch: pd.DataFrame, dtypes: dict[str, object]) -> pd.DataFrame:
    """A batch as the driver's frame types it (Spark may hand strings as objects, integers as floats)."""
    return batch.astype(dtypes)


def _threads_per_task(model: ChurnModel) -> None:
    """XGBoost on as many threads as the task has cores, not all of the executor's."""
    from pyspark import TaskContext

    context = TaskContext.get()
    if context is not None:
        model.parts.booster.set_param({"nthread": context.cpus()})


def _probability_batches(
    batches: Iterator[pd.DataFrame], model: ChurnModel, dtypes: dict[str, object]
) -> Iterator[pd.DataFrame]:
    """Inside a task: the calibrated probability of each customer of the partition."""
    _threads_per_task(model)
    for batch in batches:
        probabilities = model.predict(None, _typed(batch, dtypes))[PROBABILITY].to_numpy(dtype=float)
        yield pd.DataFrame({ID: batch[ID], PROBABILITY: probabilities})


def _reason_batches(
    batches: Iterator[pd.DataFrame], model: ChurnModel, dtypes: dict[str, object], exact_ids: np.ndarray
) -> Iterator[pd.DataFrame]:
    """Inside a task: each customer's reason texts and kinds, exact TreeSHAP for ``exact_ids``."""
    _threads_per_task(model)
    for batch in batches:
        rows = _typed(batch, dtypes)
        exact = rows[ID].isin(exact_ids).to_numpy()
        explained = explain(rows, reason_contributions(rows, model, exact), model.parts.feature_spec)
        out = {ID: batch[ID]}
        for slot in range(MAX_REASONS):
            out[TEXTS[slot]] = pd.Series(explained.texts[:, slot], index=batch.index, dtype=object)
            out[KINDS[slot]] = pd.Series(explained.kinds[:, slot], index=batch.index, dtype=object)
        yield pd.DataFrame(out)


def _aligned(result: pd.DataFrame, customer_ids: pd.Series) -> pd.DataFrame:
    """Spark's rows in the order of ``customer_ids``; a customer missing or twice is a readable error."""
    index = pd.Index(result[ID])
    if not index.is_unique:
        raise ValueError(
            f"the Spark feature table has {int(index.duplicated().sum()):,} repeated customer_id(s): "
            "it must hold one row per customer"
        )
    positions = index.get_indexer(customer_ids)
    missing = int((positions < 0).sum())
    if missing or len(index) != len(customer_ids):
        raise ValueError(
            f"the Spark feature table and the collected features differ: {len(index):,} and "
            f"{len(customer_ids):,} customers, {missing:,} of the collected ones not in Spark"
        )
    return result.iloc[positions].reset_index(drop=True)


def _object_block(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """The columns as an object array with None where empty, as the local scorer returns them."""
    block = frame[columns].to_numpy(dtype=object)
    return np.where(pd.isna(block), None, block)


def _check_agreement(driver: np.ndarray, spark: np.ndarray) -> None:
    """Raise when the executors computed other probabilities than the driver's pyfunc for the same rows."""
    gap = float(np.max(np.abs(driver - spark), initial=0.0))
    if not gap <= AGREEMENT:
        raise RuntimeError(
            f"Spark's executors compute other churn probabilities than the driver (gap {gap:.3g} on the "
            "first rows): do they run the same versions of xgboost, numpy and churnguard?"
        )
