"""Drift at scoring time: how far this week's features and scores have moved from the model's training data.

The measure is the population stability index, ``PSI = sum((a - e) * ln(a / e))`` over bins, where
``e`` is a bin's share in the reference rows and ``a`` its share in the scored rows. Numeric columns
use about ten quantile bins of the reference rows plus a bin for missing values; categorical ones use
one bin per common level, one for rare known levels, one for levels the model never saw and one for
missing values. Shares below :data:`FLOOR` count as ``FLOOR`` (an empty bin would make the log
infinite). Usual reading: below 0.1 stable, 0.1 to 0.25 worth watching, above 0.25 a real shift.

The status reflects risk to the predictions, not movement as such. The profile records each feature's
share of the model's total gain; the features that, largest share first, make up the first
``carrying_share`` (80%) of it carry the model. Only the score or a carrying feature raises ``alert``;
a feature the model barely uses raises at most ``watch``, and features in ``ignore`` (cycling by
design) are measured and listed but raise nothing. A profile without importance (a model trained
before it was recorded) falls back to: any feature can raise ``alert``.

The reference profile holds bin edges and shares only, never a row or a customer id. Edges are
rounded to three significant digits and every bin holds at least :data:`MIN_BIN_ROWS` reference
rows, so no edge is one customer's exact value; a feature with too few rows gets a single bin.
Pure numpy/pandas: no MLflow, no Prefect.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnguard.core.config import DriftSettings
from churnguard.features.catalog import feature_catalog
from churnguard.models.drift_words import why_lower

N_BINS = 10
MIN_BIN_ROWS = 30  # reference rows per bin: a bin edge describes a crowd, never one customer
FLOOR = 1e-4  # the share an empty bin counts as, so that ln(a / e) stays finite
REFERENCE_MIN_ROWS = N_BINS * MIN_BIN_ROWS * 2  # older cutoffs join the newest until this many rows
PROFILE_VERSION = 2  # 2: each feature's share of the model's gain ("importance")


def psi(expected: np.ndarray, actual: np.ndarray, floor: float = FLOOR) -> float:
    """Population stability index of two share vectors over the same bins (shares below ``floor`` count as it)."""
    e = np.maximum(np.asarray(expected, dtype=float), floor)
    a = np.maximum(np.asarray(actual, dtype=float), floor)
    return float(np.sum((a - e) * np.log(a / e)))


def drift_status(
    score_psi: float | None,
    feature_psis: list[float],
    settings: DriftSettings,
    carrying: list[bool] | None = None,
) -> str:
    """``alert`` when the score or a feature that carries the model reaches ``settings.alert``; ``watch``
    when the score or any feature reaches ``settings.watch`` (or a feature that does not carry the model
    reaches ``settings.alert``); else ``ok``.

    Args:
        score_psi: PSI of the score.
        feature_psis: PSI of each feature that counts (ignored features left out).
        settings: the thresholds.
        carrying: per feature, whether it carries the model; ``None`` (a profile without importance):
            every feature can raise ``alert``.
    """
    carrying = [True] * len(feature_psis) if carrying is None else carrying
    pairs = [(v, c) for v, c in [(score_psi, True), *zip(feature_psis, carrying, strict=True)] if _finite(v)]
    if not pairs:
        return "unknown"
    if any(v >= settings.alert for v, c in pairs if c):
        return "alert"
    return "watch" if any(v >= settings.watch for v, _ in pairs) else "ok"


def _finite(value: float | None) -> bool:
    return value is not None and bool(np.isfinite(value))


def importance_shares(gains: dict[str, float], names: list[str]) -> dict[str, float] | None:
    """Each feature's share of the model's total gain (0 for a feature no split uses); shares sum to 1.

    Args:
        gains: total gain per feature, as ``Booster.get_score(importance_type="total_gain")`` gives it.
        names: the model's feature columns.

    Returns:
        ``{feature: share}`` over ``names``, or ``None`` when no split has any gain.
    """
    values = {name: max(float(gains.get(name, 0.0)), 0.0) for name in names}
    total = sum(values.values())
    return {name: value / total for name, value in values.items()} if total > 0 else None


def carrying_features(importance: dict[str, float], share: float) -> set[str]:
    """The features that carry the model: largest importance first, while the ones before make up less than ``share``.

    The feature that crosses ``share`` is one of them; a feature with no importance never is.
    """
    carrying, before = set(), 0.0
    for name, value in sorted(importance.items(), key=lambda item: (-item[1], item[0])):
        if before >= share or value <= 0:
            break
        carrying.add(name)
        before += value
    return carrying


def reference_rows(cutoffs: pd.Series, min_rows: int = REFERENCE_MIN_ROWS) -> np.ndarray:
    """Positions of the training rows of the newest labelled cutoff (older ones join only while fewer than ``min_rows``).

    The newest cutoff is the population the model has seen closest to the dates it will score; the
    whole training window would mix seasons and a younger customer base, and call that drift.

    Args:
        cutoffs: the training frame's ``cutoff`` column.
        min_rows: rows wanted for quantile bins of :data:`MIN_BIN_ROWS` rows each.
    """
    counts = cutoffs.value_counts().sort_index(ascending=False)
    enough = np.flatnonzero(counts.cumsum().to_numpy() >= min_rows)
    taken = counts.index[: enough[0] + 1 if len(enough) else len(counts)]
    return np.flatnonzero(cutoffs.isin(taken).to_numpy())


def reference_profile(
    features: pd.DataFrame,
    scores: np.ndarray,
    names: list[str],
    categories: dict[str, list[str]],
    rows: np.ndarray | None = None,
    importance: dict[str, float] | None = None,
) -> dict:
    """The reference distribution of every model feature and of the score (plain JSON).

    Args:
        features: the training frame (or just the reference rows).
        scores: the model's calibrated probabilities for the reference rows.
        names: the model's feature columns.
        categories: the levels the model knows per categorical feature (the preprocessor's).
        rows: positions of the reference rows in ``features`` (:func:`reference_rows`); default all.
            Columns are taken one at a time, so the rows are never copied as a whole.
        importance: each feature's share of the model's gain (:func:`importance_shares`).

    Returns:
        ``{"version", "rows", "cutoffs", "min_bin_rows", "score", "features", "importance"}``; each
        feature entry holds edges or levels and their shares, never a row.
    """
    rows = np.arange(len(features)) if rows is None else np.asarray(rows)

    def column(name: str) -> pd.Series:
        return features[name].take(rows)

    profile_features = {}
    for name in names:
        if name in categories:
            profile_features[name] = _categorical_profile(column(name), categories[name])
        else:
            profile_features[name] = _numeric_profile(_numbers(column(name)))
    cutoffs = (
        sorted({str(pd.Timestamp(c).date()) for c in column("cutoff").unique()})
        if "cutoff" in features
        else []
    )
    return {
        "version": PROFILE_VERSION,
        "rows": len(rows),
        "cutoffs": cutoffs,
        "min_bin_rows": MIN_BIN_ROWS,
        "score": _numeric_profile(np.asarray(scores, dtype=float)),
        "features": profile_features,
        "importance": importance,
    }


def measure_drift(
    profile: dict | None, features: pd.DataFrame, scores: np.ndarray, settings: DriftSettings
) -> dict:
    """PSI of the score and of every profiled feature, missing and unseen shares, and the overall status.

    Args:
        profile: the model's reference profile, or ``None`` for a model logged without one.
        features: the scored rows.
        scores: their calibrated probabilities.
        settings: PSI thresholds, carrying share, ignored features and how many features to name.

    Returns:
        ``status``, ``score_psi``, ``max_feature_psi``, ``thresholds``, ``top`` (the most drifting
        features with their plain-word description, PSI, missing and unseen shares, share of the
        model's importance and whether they carry it; both ``None`` for a profile without importance)
        and ``note`` (why the status is lower than the largest PSI suggests, else ``None``).
    """
    thresholds = {"watch": settings.watch, "alert": settings.alert}
    if profile is None:
        return _unknown(thresholds, "the model carries no reference profile (logged before drift checks)")
    if len(features) == 0:
        return _unknown(thresholds, "no customers were scored")
    score_psi = _numeric_measure(profile["score"], np.asarray(scores, dtype=float))["psi"]
    importance = profile.get("importance")  # absent from profiles of version 1
    carrying = carrying_features(importance, settings.carrying_share) if importance else None
    measured = []
    for name, entry in profile["features"].items():
        if name not in features:
            continue
        if entry["kind"] == "categorical":
            measure = _categorical_measure(entry, features[name])
        else:
            measure = _numeric_measure(entry, _numbers(features[name]))
        weight = {
            "importance": round(float(importance.get(name, 0.0)), 4) if importance else None,
            "carrying": name in carrying if carrying is not None else None,
        }
        measured.append({"feature": name, "description": describe(name), **measure, **weight})
    measured.sort(key=lambda m: (-m["psi"], m["feature"]))
    psis = [m["psi"] for m in measured]
    counted = [m for m in measured if m["feature"] not in set(settings.ignore)]
    status = drift_status(
        score_psi,
        [m["psi"] for m in counted],
        settings,
        None if carrying is None else [m["carrying"] for m in counted],
    )
    unweighted = drift_status(score_psi, psis, settings)  # had every feature counted in full
    return {
        "status": status,
        "score_psi": score_psi,
        "max_feature_psi": psis[0] if psis else None,
        "thresholds": thresholds,
        "top": measured[: settings.top],
        "note": why_lower(measured, status, unweighted, settings) if status != unweighted else None,
    }


def describe(name: str) -> str:
    """The feature's meaning in plain words (the feature catalog's), or its name when the catalog has none."""
    catalog = feature_catalog()
    return catalog[name].meaning if name in catalog else name


def _unknown(thresholds: dict, note: str) -> dict:
    return {
        "status": "unknown",
        "score_psi": None,
        "max_feature_psi": None,
        "thresholds": thresholds,
        "top": [],
        "note": note,
    }


def _numbers(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _numeric_profile(values: np.ndarray) -> dict:
    """Quantile edges (rounded, each bin with at least MIN_BIN_ROWS rows), bin shares and the missing share."""
    missing = np.isnan(values)
    present = values[~missing]
    n_bins = min(N_BINS, len(present) // MIN_BIN_ROWS)
    edges = np.array([])
    if n_bins >= 2:
        quantiles = np.quantile(present, np.arange(1, n_bins) / n_bins)
        edges = np.unique(_round_significant(quantiles, 3))
    counts = np.bincount(np.searchsorted(edges, present, side="left"), minlength=len(edges) + 1)
    edges, counts = _merge_small_bins(edges, counts, MIN_BIN_ROWS)
    n = max(len(values), 1)
    return {
        "kind": "numeric",
        "edges": [float(e) for e in edges],
        "shares": [float(c / n) for c in counts],
        "missing": float(missing.sum() / n),
    }


def _numeric_measure(entry: dict, values: np.ndarray) -> dict:
    """PSI over the profile's bins plus the missing bin; the share of missing values now and then."""
    missing = np.isnan(values)
    present = values[~missing]
    edges = np.asarray(entry["edges"], dtype=float)
    n = max(len(values), 1)
    counts = np.bincount(np.searchsorted(edges, present, side="left"), minlength=len(edges) + 1)
    expected = [*entry["shares"], entry["missing"]]
    actual = [*(counts / n), missing.sum() / n]
    return {
        "psi": round(psi(expected, actual), 4),
        "missing_share": round(float(missing.sum() / n), 4),
        "reference_missing_share": round(float(entry["missing"]), 4),
        "unseen_share": 0.0,
    }


def _categorical_profile(values: pd.Series, known: list[str]) -> dict:
    """Shares of the common known levels, of the rare known ones together, and of missing values."""
    n = max(len(values), 1)
    counts = _level_counts(values)
    missing = counts.pop(None, 0)
    known_set = set(known)
    common = {level: c for level, c in counts.items() if level in known_set and c >= MIN_BIN_ROWS}
    rare = sum(c for level, c in counts.items() if level in known_set and level not in common)
    unseen = sum(c for level, c in counts.items() if level not in known_set)
    return {
        "kind": "categorical",
        "known": sorted(known),
        "levels": {level: c / n for level, c in sorted(common.items())},
        "other": rare / n,
        "unseen": unseen / n,
        "missing": missing / n,
    }


def _categorical_measure(entry: dict, values: pd.Series) -> dict:
    """PSI over common levels, other known levels, unseen levels and missing values."""
    n = max(len(values), 1)
    counts = _level_counts(values)
    missing = counts.pop(None, 0)
    known = set(entry["known"])
    unseen = sum(c for level, c in counts.items() if level not in known)
    levels = entry["levels"]
    other = sum(c for level, c in counts.items() if level in known and level not in levels)
    expected = [*levels.values(), entry["other"], entry["unseen"], entry["missing"]]
    actual = [*(counts.get(level, 0) / n for level in levels), other / n, unseen / n, missing / n]
    return {
        "psi": round(psi(expected, actual), 4),
        "missing_share": round(missing / n, 4),
        "reference_missing_share": round(float(entry["missing"]), 4),
        "unseen_share": round(unseen / n, 4),
    }


def _level_counts(values: pd.Series) -> dict[str | None, int]:
    """Rows per level as the model reads it (text), missing values under ``None``; one hash pass."""
    counts: dict[str | None, int] = {}
    for level, count in values.value_counts(dropna=False).items():
        key = None if pd.isna(level) else str(level)
        counts[key] = counts.get(key, 0) + int(count)
    return counts


def _round_significant(values: np.ndarray, digits: int) -> np.ndarray:
    """Round to ``digits`` significant digits, so that an edge is a coarse value rather than a customer's own."""
    out = np.asarray(values, dtype=float).copy()
    nonzero = out != 0
    magnitude = np.floor(np.log10(np.abs(out[nonzero])))
    scale = 10.0 ** (digits - 1 - magnitude)
    out[nonzero] = np.round(out[nonzero] * scale) / scale
    return out


def _merge_small_bins(edges: np.ndarray, counts: np.ndarray, min_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Drop edges until every bin holds ``min_rows`` rows: the smallest bin joins its smaller neighbour."""
    edges, counts = list(edges), list(counts)
    while edges and min(counts) < min_rows:
        i = int(np.argmin(counts))
        # j: the edge to drop, between bins j and j + 1 (the right neighbour when it is the smaller one)
        right = i == 0 or (i < len(counts) - 1 and counts[i + 1] <= counts[i - 1])
        j = i if right else i - 1
        counts[j : j + 2] = [counts[j] + counts[j + 1]]
        del edges[j]
    return np.asarray(edges, dtype=float), np.asarray(counts, dtype=int)
