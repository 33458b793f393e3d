"""Batch scoring into an explained, actionable risk list, written atomically for a CRM or spreadsheet."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import mlflow.pyfunc
import numpy as np
import pandas as pd

from churnguard.core.atomic import folder_lock, replace_folder
from churnguard.core.config import (
    ALL_TIERS,
    LAPSED_TIER,
    RISK_TIERS,
    OutreachSettings,
    Settings,
    TierSettings,
)
from churnguard.core.data.stage import contacted_between
from churnguard.core.errors import BadInputError
from churnguard.models.compare import PreviousList, compare_tiers, list_folder
from churnguard.models.drift import measure_drift
from churnguard.models.drift_words import drift_line
from churnguard.models.package import ChurnModel
from churnguard.models.playbook import suggest_actions
from churnguard.models.reasons import MAX_REASONS, Explanations, explain
from churnguard.models.value import customer_value

# What a person reads in a spreadsheet; risk_list.parquet keeps full precision for systems.
CSV_DECIMALS = {"churn_probability": 3, "percentile": 1, "customer_value": 2, "value_at_risk": 2}
SIGNATURE_ROWS = 1_000  # rows on which the pyfunc enforces the model signature
RISK_LIST_COLUMNS = [
    "customer_id",
    "as_of",
    "churn_probability",
    "rank",
    "percentile",
    "risk_tier",
    "previous_tier",
    "new_this_week",
    "customer_value",
    "value_at_risk",
    "rfm_segment",
    "reason_1",
    "reason_2",
    "reason_3",
    "suggested_action",
    "group",
    "model_name",
    "model_version",
]


def lapse_threshold(settings: Settings) -> int | None:
    """Days without a purchase after which a scored customer is lapsed; ``None``: nobody is.

    By default a whole churn horizon: such a customer has already churned by the inactivity definition.
    Under the subscription definition every scored customer still subscribes, so nobody is, unless
    ``scoring.lapsed_after_days`` says otherwise (0 turns the tier off under either definition).
    """
    days = settings.scoring.lapsed_after_days
    if days is None and settings.churn.definition == "inactivity":
        days = settings.churn.horizon_days
    return days or None


def lapsed_customers(recency_days: pd.Series | np.ndarray, threshold: int | None) -> np.ndarray:
    """True where the last purchase is more than ``threshold`` days ago (never bought: not lapsed)."""
    days = np.asarray(recency_days, dtype=float)
    if threshold is None:
        return np.zeros(len(days), dtype=bool)
    return np.nan_to_num(days, nan=-np.inf) > threshold


def risk_tiers(
    probabilities: np.ndarray, settings: TierSettings, lapsed: np.ndarray | None = None
) -> np.ndarray:
    """Tier per customer: by share of the ranked list, or by calibrated probability cut points.

    ``lapsed`` customers get the tier ``lapsed`` and are left out of the ranking, so the shares of
    critical, high and medium are shares of the customers a call can still keep.
    """
    p = np.asarray(probabilities, dtype=float)
    gone = np.zeros(len(p), dtype=bool) if lapsed is None else np.asarray(lapsed, dtype=bool)
    tiers = np.full(len(p), LAPSED_TIER, dtype=object)
    kept = p[~gone]
    if settings.by == "probability":
        cuts = (kept >= settings.critical, kept >= settings.high, kept >= settings.medium)
    else:
        share = (np.argsort(np.argsort(-kept, kind="stable"), kind="stable") + 1) / max(len(kept), 1)
        cuts = (share <= settings.critical, share <= settings.high, share <= settings.medium)
    tiers[~gone] = np.select(cuts, RISK_TIERS[:3], default=RISK_TIERS[3])
    return tiers


CONTROL_ACTION = "Control: do not contact (held out to measure the save rate)"


def control_draw(customer_ids: pd.Series, seed: int) -> np.ndarray:
    """A uniform number in [0, 1) per customer that depends on the customer and the seed alone.

    The control group is the customers drawn below ``control_share``: the same customers in every list,
    so a control customer is never contacted by a later list (which would dilute the measured effect),
    and neither the row order, the date nor who else is listed changes anyone's draw.
    """
    key = f"churnguard{seed:06d}"[-16:]
    hashed = pd.util.hash_pandas_object(pd.Series(customer_ids).astype(str), index=False, hash_key=key)
    return (hashed.to_numpy() >> np.uint64(11)).astype(float) / float(1 << 53)


def cooldown_customers(
    contacts: pd.DataFrame | None, picked: pd.Index | None, as_of: pd.Timestamp, days: int
) -> pd.Index:
    """Who rests this time: contacted (contacts table) or picked for a list in the ``days`` before ``as_of``."""
    if days <= 0:
        return pd.Index([])
    recent = contacted_between(contacts, as_of - pd.Timedelta(days=days), as_of)
    return recent.union(picked) if picked is not None and len(picked) else recent


def assign_groups(
    risk: pd.DataFrame, outreach: OutreachSettings, cooldown: pd.Index | None = None
) -> np.ndarray:
    """``outreach``, ``control``, ``cooldown`` or ``none`` per row.

    Candidates are the eligible tiers' customers, highest value at risk first. Those in ``cooldown``
    (contacted or picked for a list within ``outreach.cooldown_days``) are marked so and skipped, and
    their places go to the next ones. Each candidate is control when its own draw (:func:`control_draw`)
    is below ``control_share``, else outreach, until outreach reaches the capacity: the control group is
    a random share of look-alike customers, held out so that the save rate can be measured.
    """
    groups = np.full(len(risk), "none", dtype=object)
    eligible = risk["risk_tier"].isin(outreach.eligible_tiers).to_numpy().copy()
    if cooldown is not None and len(cooldown):
        resting = eligible & risk["customer_id"].isin(cooldown).to_numpy()
        groups[resting] = "cooldown"
        eligible &= ~resting
    positions = np.flatnonzero(eligible)
    by_value = np.lexsort(
        (risk["customer_id"].to_numpy()[positions], -risk["value_at_risk"].to_numpy()[positions])
    )
    ordered = positions[by_value]
    control = control_draw(risk["customer_id"].iloc[ordered], outreach.seed) < outreach.control_share
    if outreach.capacity is not None:
        # Walk down the candidates to the capacity-th outreach customer; controls beyond it are not
        # candidates (control must come from the same values at risk as outreach).
        outreach_rows = np.flatnonzero(~control)[: outreach.capacity]
        end = outreach_rows[-1] + 1 if len(outreach_rows) else 0
        ordered, control = ordered[:end], control[:end]
    groups[ordered] = np.where(control, "control", "outreach")
    return groups


def check_signature(pyfunc: mlflow.pyfunc.PyFuncModel, features: pd.DataFrame) -> None:
    """Raise a readable error when the features do not provide the model's signature inputs."""
    schema = pyfunc.metadata.get_input_schema()
    if schema is None:
        return
    missing = [name for name in schema.input_names() if name not in features.columns]
    if missing:
        raise ValueError(
            f"the features built for scoring lack {len(missing)} input(s) of the model signature: "
            f"{', '.join(missing[:10])}; was the model trained on data with other event types or attributes?"
        )


@dataclass
class ScoredList:
    risk_list: pd.DataFrame
    summary: dict


class Scorer(Protocol):
    """Where the per-customer work runs: probabilities and reasons, each aligned to ``features`` rows.

    The ranking, tiers, groups, drift and actions need every customer at once and stay in
    :func:`score_customers`; only these two steps cost time per customer.
    """

    def probabilities(
        self, features: pd.DataFrame, pyfunc: mlflow.pyfunc.PyFuncModel, model: ChurnModel, batch: int
    ) -> np.ndarray: ...

    def reasons(
        self,
        features: pd.DataFrame,
        model: ChurnModel,
        exact: np.ndarray,
        batch: int,
        say: Callable[[str], None],
    ) -> Explanations: ...


class LocalScorer:
    """Both steps in this process, a batch of rows at a time."""

    def probabilities(
        self, features: pd.DataFrame, pyfunc: mlflow.pyfunc.PyFuncModel, model: ChurnModel, batch: int
    ) -> np.ndarray:
        return _probabilities(features, pyfunc, model, batch)

    def reasons(
        self,
        features: pd.DataFrame,
        model: ChurnModel,
        exact: np.ndarray,
        batch: int,
        say: Callable[[str], None],
    ) -> Explanations:
        return _reasons(features, model, exact, batch, say)


def score_customers(
    features: pd.DataFrame,
    pyfunc: mlflow.pyfunc.PyFuncModel,
    model: ChurnModel,
    settings: Settings,
    model_name: str,
    model_version: str,
    as_of: pd.Timestamp,
    fingerprint: str,
    progress: Callable[[str], None] | None = None,
    carry: pd.DataFrame | None = None,
    previous: PreviousList | None = None,
    cooldown: pd.Index | None = None,
    scorer: Scorer | None = None,
) -> ScoredList:
    """Score one cutoff's population into the risk list.

    ``rank`` and ``percentile`` order everyone by churn probability, lapsed customers included: they
    are what the model says, comparable from week to week. The tier is what separates: customers
    without a purchase for ``lapse_threshold`` days are ``lapsed`` (a win-back case, not a save),
    critical/high/medium/low shares are shares of the others, and outreach takes only the tiers of
    ``outreach.eligible_tiers``. A team works the list by tier (and group), not from rank 1 down.

    Args:
        features: ``churnguard.features.build.build_features`` output at ``as_of`` with the model's feature spec.
        pyfunc: the loaded MLflow model (its signature is enforced).
        model: the churnguard model inside it (probabilities and contributions for reasons).
        settings: tiers, outreach, playbook, value margin, contribution policy.
        model_name: registered model name, written on every row.
        model_version: registered version (or ``run`` for an unregistered URI).
        as_of: the scoring date.
        fingerprint: input data fingerprint, for the summary.
        progress: called with short human messages.
        carry: ``customer_id`` and the customers columns to copy into the list after ``customer_id``
            (``churnguard.core.data.stage.read_carry``); customers without a row get empty values.
        previous: the previous list's tiers, for ``previous_tier`` and ``new_this_week``
            (``churnguard.models.compare.previous_risk_list``).
        cooldown: customers not to pick for outreach or control this time (:func:`cooldown_customers`).
        scorer: where probabilities and reasons are computed; default :class:`LocalScorer` (this
            process), or ``churnguard.models.spark_scoring.SparkScorer`` (in Spark, per partition).

    Returns:
        The risk list, highest risk first, and its summary.
    """
    say = progress or (lambda message: None)
    scorer = scorer or LocalScorer()
    carried = _carried_columns(carry)
    check_signature(pyfunc, features)
    batch = settings.scoring.batch_rows
    probabilities = scorer.probabilities(features, pyfunc, model, batch)
    say(f"scored {len(features):,} customers with {model_name} v{model_version}")
    drift = measure_drift(model.parts.reference, features, probabilities, settings.scoring.drift)
    say(drift_line(drift))
    order = np.argsort(-probabilities, kind="stable")
    p = probabilities[order]
    lapse = lapse_threshold(settings)
    lapsed = lapsed_customers(features["recency_days"], lapse)[order]
    risk = pd.DataFrame(
        {
            "customer_id": features["customer_id"].to_numpy()[order],
            "as_of": as_of.date(),
            "churn_probability": p,
            "rank": np.arange(1, len(p) + 1),
            "percentile": 100.0 * (1 - np.arange(len(p)) / max(len(p), 1)),
            "risk_tier": risk_tiers(p, settings.scoring.tiers, lapsed),
            "customer_value": customer_value(features, settings.value.margin)[order],
        }
    )
    risk["value_at_risk"] = risk["churn_probability"] * risk["customer_value"]
    segments = (
        features["rfm_segment"].to_numpy(dtype=object)[order] if "rfm_segment" in features else "unknown"
    )
    risk["rfm_segment"] = segments
    risk["group"] = assign_groups(risk, settings.outreach, cooldown)

    exact = _exact_rows(risk["group"].to_numpy(), order, settings)
    reasons = scorer.reasons(features, model, exact, batch, say)
    texts, kinds = reasons.texts[order], reasons.kinds[order]
    for slot in range(MAX_REASONS):
        risk[f"reason_{slot + 1}"] = texts[:, slot]
    actions, rules = suggest_actions(
        settings.scoring.playbook, kinds, risk["rfm_segment"], risk["risk_tier"], risk["customer_value"]
    )
    # The control group is the measure of the save rate: nobody may read an action on its rows.
    control = (risk["group"] == "control").to_numpy()
    actions[control], rules[control] = CONTROL_ACTION, "control"
    risk["suggested_action"] = actions
    risk["model_name"] = model_name
    risk["model_version"] = str(model_version)
    risk["previous_tier"], risk["new_this_week"] = compare_tiers(
        risk["customer_id"], risk["risk_tier"], previous
    )
    if carried:
        own = carry.drop_duplicates("customer_id").set_index("customer_id")[carried]
        risk = risk.join(own.reindex(pd.Index(risk["customer_id"])).reset_index(drop=True))
    risk = risk[["customer_id", *carried, *RISK_LIST_COLUMNS[1:]]]
    summary = _summary(risk, rules, model_name, model_version, as_of, fingerprint, settings)
    summary["lapsed_after_days"] = lapse
    summary["new_at_risk"] = int(risk["new_this_week"].sum())
    summary["previous_as_of"] = None if previous is None else str(previous.as_of)
    summary["drift"] = drift
    return ScoredList(risk_list=risk, summary=summary)


def _carried_columns(carry: pd.DataFrame | None) -> list[str]:
    """The columns ``carry`` adds to the list; a name the list already has is refused (it would be ambiguous)."""
    if carry is None:
        return []
    columns = [c for c in carry.columns if c != "customer_id"]
    taken = sorted(set(columns) & set(RISK_LIST_COLUMNS))
    if taken:
        raise BadInputError(
            f"scoring.carry_columns: {', '.join(map(repr, taken))} is a column of the risk list already; "
            "give it another name with data.columns (e.g. {customers: {group: crm_group}})"
        )
    return columns


def _probabilities(
    features: pd.DataFrame, pyfunc: mlflow.pyfunc.PyFuncModel, model: ChurnModel, batch: int
) -> np.ndarray:
    """Calibrated probabilities; the pyfunc enforces the signature on the first rows.

    Column types are the same in every row, so enforcing the signature (which converts and checks
    each column, about as slow as the prediction itself) once on a head is enough; the rest goes
    straight to the model inside the pyfunc, which computes exactly what ``pyfunc.predict`` would.
    """
    if features.empty:
        return np.zeros(0)
    parts = [signature_head(features, pyfunc, model)]
    parts += [
        model.predict(None, features.iloc[i : i + batch])["churn_probability"].to_numpy()
        for i in range(SIGNATURE_ROWS, len(features), batch)
    ]
    return np.concatenate(parts)


def signature_head(
    features: pd.DataFrame, pyfunc: mlflow.pyfunc.PyFuncModel, model: ChurnModel
) -> np.ndarray:
    """Probabilities of the first ``SIGNATURE_ROWS`` rows through the pyfunc, which enforces the signature."""
    head = features.iloc[:SIGNATURE_ROWS]
    return pyfunc.predict(head[model.features])["churn_probability"].to_numpy()


def _exact_rows(groups: np.ndarray, order: np.ndarray, settings: Settings) -> np.ndarray:
    """Which customers (in ``features`` order) get exact TreeSHAP reasons, the riskiest first up to the cap.

    Args:
        groups: ``group`` per customer in ranked order.
        order: the ranking (position in ``features`` of each ranked customer).
        settings: the contribution policy and its cap.
    """
    policy = settings.scoring.exact_contributions
    if policy == "outreach":
        ranked = np.flatnonzero(groups == "outreach")
    else:
        ranked = np.arange(len(order) if policy == "all" else 0)
    exact = np.zeros(len(order), dtype=bool)
    exact[order[ranked[: settings.scoring.exact_max_rows]]] = True
    return exact


def _reasons(
    features: pd.DataFrame, model: ChurnModel, exact: np.ndarray, batch: int, say: Callable[[str], None]
) -> Explanations:
    """Reasons for every customer, a batch at a time so that contributions never fill memory."""
    n = len(features)
    texts = np.full((n, MAX_REASONS), None, dtype=object)
    kinds = np.full((n, MAX_REASONS), None, dtype=object)
    timings = {"contributions": 0.0, "wording": 0.0}
    for start in range(0, n, batch):
        rows = features.iloc[start : start + batch]
        began = time.perf_counter()
        contributions = reason_contributions(rows, model, exact[start : start + len(rows)])
        worded = time.perf_counter()
        explained = explain(rows, contributions, model.parts.feature_spec)
        timings["contributions"] += worded - began
        timings["wording"] += time.perf_counter() - worded
        texts[start : start + len(rows)] = explained.texts
        kinds[start : start + len(rows)] = explained.kinds
    n_exact = int(exact.sum())
    say(
        f"reasons: exact TreeSHAP for {n_exact:,} customers, approximate for the other {n - n_exact:,} "
        f"(contributions {timings['contributions']:.1f} s, wording {timings['wording']:.1f} s)"
    )
    return Explanations(texts=texts, kinds=kinds)


def reason_contributions(rows: pd.DataFrame, model: ChurnModel, exact: np.ndarray) -> pd.DataFrame:
    """Exact TreeSHAP contributions where ``exact`` says so, XGBoost's approximation elsewhere.

    The approximation runs on the whole batch (selecting the other rows would copy the batch and cost
    more than approximating the few exact ones too), then exact rows are overwritten.
    """
    if exact.all():
        return model.contributions(rows)
    contributions = model.contributions(rows, approximate=True)
    if exact.any():
        contributions.iloc[np.flatnonzero(exact)] = model.contributions(rows[exact]).to_numpy()
    return contributions


def _summary(
    risk: pd.DataFrame,
    rules: np.ndarray,
    model_name: str,
    model_version: str,
    as_of: pd.Timestamp,
    fingerprint: str,
    settings: Settings,
) -> dict:
    by_tier = risk.groupby("risk_tier", observed=True).agg(
        customers=("customer_id", "size"), value_at_risk=("value_at_risk", "sum")
    )
    tiers = {
        t: {
            "customers": int(by_tier.loc[t, "customers"]) if t in by_tier.index else 0,
            "value_at_risk": round(float(by_tier.loc[t, "value_at_risk"]), 2) if t in by_tier.index else 0.0,
        }
        for t in ALL_TIERS
    }
    return {
        "as_of": str(as_of.date()),
        "generated_at": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
        "customers": len(risk),
        "tiers": tiers,
        "total_value_at_risk": round(float(risk["value_at_risk"].sum()), 2),
        "groups": {g: int((risk["group"] == g).sum()) for g in ("outreach", "control", "cooldown", "none")},
        "actions": {str(k): int(v) for k, v in pd.Series(rules).replace("", "none").value_counts().items()},
        "model_name": model_name,
        "model_version": str(model_version),
        "data_fingerprint": fingerprint,
        "churn_definition": settings.churn.definition,
        "horizon_days": settings.churn.horizon_days,
    }


def write_risk_list(scored: ScoredList, out_dir: Path, as_of: pd.Timestamp) -> Path:
    """Write ``risk_list.parquet``, ``risk_list.csv`` (UTF-8 with BOM) and ``summary.json`` atomically.

    The folder ``out_dir/as_of=YYYY-MM-DD`` is built aside and swapped in, so a re-run replaces it
    whole and a failed run leaves the previous list untouched. Two runs for one date take turns
    (:func:`churnguard.core.atomic.folder_lock`): the second waits for the first's swap, then
    swaps in its own list, so the folder always holds one run's files, never a mix.
    """
    folder = list_folder(out_dir, as_of)

    def fill(tmp: Path) -> None:
        scored.risk_list.to_parquet(tmp / "risk_list.parquet", index=False)
        # Fixed decimals, not significant digits: 1234567.89 must not reach a spreadsheet as 1.23457e+06.
        readable = scored.risk_list.round(CSV_DECIMALS)
        readable.to_csv(tmp / "risk_list.csv", index=False, encoding="utf-8-sig")
        (tmp / "summary.json").write_text(json.dumps(scored.summary, indent=2), encoding="utf-8")

    with folder_lock(folder):
        replace_folder(folder, fill)
    return folder
