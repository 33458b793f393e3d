"""BTYD features: a BG/NBD model fitted at each cutoff on that cutoff's population, as feature columns.

A customer's BG/NBD history is (x, t_x, T) in days: x repeat purchases (purchases - 1), t_x from the
first to the last purchase and T from the first purchase to the cutoff. Purchases are transactions
with a positive amount (refunds do not count), all before the cutoff. The feature expression carries
these three as private columns (:data:`INPUT_COLUMNS`, computed from the first and last purchase
times, so they are exact); the model itself is numpy, so the columns are finished where a feature
table leaves the engine (``features/output.py``), one cutoff at a time: :func:`with_btyd_columns`
fits BG/NBD on the cutoff's rows and replaces the private columns with

- ``btyd_p_alive``: P(still an active buyer at the cutoff);
- ``btyd_expected_purchases``: expected purchases in the next ``churn.horizon_days``;
- ``btyd_p_no_purchase``: P(no purchase in the next ``churn.horizon_days``), the textbook model's
  churn probability under the inactivity definition.

(A gamma-gamma expected spend, average spend x expected purchases, was tried as a fourth column and
left out: on the generated sample it did not change the model's test AUC or average precision.)

Only the cutoff's own rows enter its fit (no labels, nothing at or after the cutoff). The rows are
put in a canonical order before fitting, so a cutoff's columns are the same to the bit whether it is
computed alone (scoring), with other cutoffs (training) or streamed to Parquet.
"""

from __future__ import annotations

import warnings

import ibis
import numpy as np
import pyarrow as pa
from ibis.expr.types import Table, Value

from churnguard.features.btyd import BgNbdParams, expected_purchases, fit_bgnbd, p_alive
from churnguard.features.cutoffs import CutoffTable
from churnguard.features.timeutil import days_between

X, T_X, AGE, HORIZON = "_btyd_x", "_btyd_t_x", "_btyd_T", "_btyd_horizon_days"
INPUT_COLUMNS = (X, T_X, AGE, HORIZON)
P_ALIVE = "btyd_p_alive"
EXPECTED_PURCHASES = "btyd_expected_purchases"
P_NO_PURCHASE = "btyd_p_no_purchase"
BTYD_COLUMNS = (P_ALIVE, EXPECTED_PURCHASES, P_NO_PURCHASE)

# A cutoff is fitted when it has this many customers with a purchase, this many of them repeat buyers;
# otherwise its BTYD columns are empty.
MIN_FIT_CUSTOMERS = 50
MIN_REPEAT_BUYERS = 5
# L2 penalty on the parameters, in total over the cutoff's customers (fit_bgnbd's penaliser is per
# customer, so it is this / customers): it keeps small cutoffs from running off to extreme parameters
# and fades away for large ones, where a fixed per-customer penalty would bias alpha (in days, tens).
PENALTY = 1e-3


def btyd_inputs(t: Table, cuts: CutoffTable, horizon_days: int) -> dict[str, Value]:
    """The private columns the BTYD features are computed from, as expressions over ``t``.

    Args:
        t: population rows joined with ``transactions.history_aggregates`` (first and last purchase
            time and the purchase count, all before the cutoff).
        cuts: the cutoffs ``t`` describes.
        horizon_days: the churn horizon the predictions look ahead.

    Returns:
        ``_btyd_x`` (repeat purchases), ``_btyd_t_x`` and ``_btyd_T`` (days from the first purchase to
        the last one and to the cutoff), null for a customer who never bought; ``_btyd_horizon_days``.
    """
    first = t.first_purchase_ts
    repeats = (t.n_purchases.cast("float64") - 1.0).clip(lower=0.0)
    return {
        X: ibis.ifelse(first.isnull(), ibis.null("float64"), repeats),
        T_X: days_between(t.last_purchase_ts, first),
        AGE: days_between(cuts.value(t, "cutoff"), first),
        HORIZON: ibis.literal(float(horizon_days), type="float64"),
    }


def p_no_purchase(params: BgNbdParams, horizon: float, frequency, recency, T) -> np.ndarray:
    """P(no purchase in (T, T + horizon] | x, t_x, T) under BG/NBD.

    A customer who has dropped out never buys again. One who is alive can only drop out right after
    a purchase, so they make none in the horizon exactly when their Poisson process has no arrival in
    it: probability exp(-λ h). Given alive and the history, λ ~ Gamma(r + x, α + T) (the likelihood
    of an alive customer is λ^x e^(-λT) (1-p)^x, which factorises), so
    E[exp(-λ h)] = ((α + T) / (α + T + h))^(r + x), and

        P(none) = 1 - P(alive) * (1 - ((α + T) / (α + T + h))^(r + x)).
    """
    x = np.asarray(frequency, dtype=float)
    age = np.asarray(T, dtype=float)
    alive = p_alive(params, frequency, recency, T)
    some = -np.expm1(-(params.r + x) * np.log1p(horizon / (params.alpha + age)))
    return 1.0 - alive * some


def btyd_columns(frequency, recency, T, horizon: float) -> dict[str, np.ndarray]:
    """BTYD feature columns of one cutoff's customers, fitting BG/NBD on those customers.

    Args:
        frequency: repeat purchases x per customer (NaN: never bought).
        recency: days from the first to the last purchase, t_x (NaN: never bought).
        T: days from the first purchase to the cutoff (NaN: never bought).
        horizon: days ahead for the expectation and the no-purchase probability.

    Returns:
        :data:`BTYD_COLUMNS` -> float64 arrays in the customers' order: NaN for customers who never
        bought, and for everyone when the cutoff is too small to fit (fewer than
        :data:`MIN_FIT_CUSTOMERS` buyers or :data:`MIN_REPEAT_BUYERS` repeat buyers) or the fit fails.
    """
    return btyd_values(fit_cutoff(frequency, recency, T), frequency, recency, T, horizon)


def fit_cutoff(frequency, recency, T) -> BgNbdParams | None:
    """BG/NBD fitted on one cutoff's customers (see :func:`btyd_columns`), or None when it cannot be.

    Rows of customers who never bought are skipped. The rows are put in a canonical order first: the
    fit sums over rows, so the same customers in any row order give equal bits.
    """
    x, t_x, age = (np.asarray(a, dtype=float) for a in (frequency, recency, T))
    known = np.isfinite(x) & np.isfinite(t_x) & np.isfinite(age)
    if known.sum() < MIN_FIT_CUSTOMERS or np.count_nonzero(x[known] > 0) < MIN_REPEAT_BUYERS:
        return None
    rows = np.flatnonzero(known)
    rows = rows[np.lexsort((age[rows], t_x[rows], x[rows]))]
    return _fit(x[rows], t_x[rows], age[rows])


def btyd_values(params: BgNbdParams | None, frequency, recency, T, horizon: float) -> dict[str, np.ndarray]:
    """:data:`BTYD_COLUMNS` of each customer under fitted ``params`` (None: all NaN).

    Row by row, so any batch of a cutoff's rows (a Spark partition) gets the values the whole
    cutoff would.
    """
    x, t_x, age = (np.asarray(a, dtype=float) for a in (frequency, recency, T))
    out = {name: np.full(len(x), np.nan) for name in BTYD_COLUMNS}
    known = np.isfinite(x) & np.isfinite(t_x) & np.isfinite(age)
    if params is None or not known.any():
        return out
    x, t_x, age = x[known], t_x[known], age[known]
    with np.errstate(all="ignore"):
        values = (
            p_alive(params, x, t_x, age),
            expected_purchases(params, horizon, x, t_x, age),
            p_no_purchase(params, horizon, x, t_x, age),
        )
    for name, column in zip(BTYD_COLUMNS, values, strict=True):
        out[name][known] = np.where(np.isfinite(column), column, np.nan)
    return out


def _fit(x: np.ndarray, t_x: np.ndarray, age: np.ndarray) -> BgNbdParams | None:
    """The fitted parameters, or None when the data cannot be fitted (never an exception)."""
    with warnings.catch_warnings():
        # A fit that stopped short of the optimiser's tolerance is still the best estimate there is.
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            params = fit_bgnbd(x, t_x, age, penaliser=PENALTY / len(x))
        except (ValueError, ArithmeticError):
            return None
    values = (params.r, params.alpha, params.a, params.b)
    return params if all(np.isfinite(v) and v > 0 for v in values) else None


def with_btyd_columns(table: pa.Table) -> pa.Table:
    """A feature table with its private BTYD inputs replaced by the BTYD columns, cutoff by cutoff.

    Each cutoff is fitted on its own rows only. The columns take the place of the inputs, so every
    path out of the engine yields the same column order. A table without the inputs is returned as is.
    """
    if X not in table.column_names:
        return table
    return finish_btyd(table, fits_by_cutoff(table))


def fits_by_cutoff(table: pa.Table) -> dict[int, BgNbdParams | None]:
    """BG/NBD fitted on each cutoff's rows of a table holding ``cutoff`` and the private inputs.

    Returns:
        The cutoff (microseconds since the epoch) -> its parameters (None: not fitted).
    """
    stamps = _cutoff_keys(table)
    x, t_x, age = (_floats(table, name) for name in (X, T_X, AGE))
    return {int(stamp): fit_cutoff(x[rows], t_x[rows], age[rows]) for stamp, rows in _groups(stamps)}


def finish_btyd(table: pa.Table, fits: dict[int, BgNbdParams | None]) -> pa.Table:
    """``table`` with its private inputs replaced by the BTYD columns under each cutoff's ``fits``.

    Any subset of a cutoff's rows gets the values the whole cutoff would (the values are per row), so
    this runs on Arrow batches wherever they are (Spark's ``mapInArrow`` included).
    """
    n = table.num_rows
    columns = {name: np.full(n, np.nan) for name in BTYD_COLUMNS}
    if n:
        horizon = float(table.column(HORIZON)[0].as_py())
        x, t_x, age = (_floats(table, name) for name in (X, T_X, AGE))
        for stamp, rows in _groups(_cutoff_keys(table)):
            params = fits.get(int(stamp))
            for name, values in btyd_values(params, x[rows], t_x[rows], age[rows], horizon).items():
                columns[name][rows] = values
    names, arrays = [], []
    for name in table.column_names:
        if name == X:
            for column, values in columns.items():
                names.append(column)
                arrays.append(pa.array(values, type=pa.float64(), from_pandas=True))  # NaN -> null
        elif name not in INPUT_COLUMNS:
            names.append(name)
            arrays.append(table.column(name))
    return pa.table(arrays, names=names)


def _cutoff_keys(table: pa.Table) -> np.ndarray:
    """Each row's cutoff as microseconds since the epoch (whatever the column's unit and zone)."""
    cutoff = table.column("cutoff")
    return cutoff.cast(pa.timestamp("us", cutoff.type.tz)).cast(pa.int64()).to_numpy()


def _groups(keys: np.ndarray):
    """(key, row positions) for each distinct key."""
    if not len(keys):
        return iter(())
    values, which = np.unique(keys, return_inverse=True)
    order = np.argsort(which, kind="stable")
    starts = np.flatnonzero(np.diff(which[order])) + 1
    return zip(values, np.split(order, starts), strict=True)


def _floats(table: pa.Table, name: str) -> np.ndarray:
    """A numeric column as float64 with NaN for nulls."""
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=float)
