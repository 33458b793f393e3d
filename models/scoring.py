"""Batch scoring into an explained, actionable risk list, written atomically for a CRM or spreadsheet."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd

from churnguard.atomic import replace_folder
from churnguard.config import OutreachSettings, Settings, TierSettings
from models.package import ChurnModel
from models.playbook import suggest_actions
from models.reasons import explain
from models.train import customer_value

TIERS = ("critical", "high", "medium", "low")
CSV_DECIMALS = {"churn_probability": 6, "percentile": 4, "customer_value": 2, "value_at_risk": 2}
RISK_LIST_COLUMNS = [
    "customer_id",
    "as_of",
    "churn_probability",
    "rank",
    "percentile",
    "risk_tier",
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


def risk_tiers(probabilities: np.ndarray, settings: TierSettings) -> np.ndarray:
    """Tier per customer: by share of the ranked list, or by calibrated probability cut points."""
    p = np.asarray(probabilities, dtype=float)
    if settings.by == "probability":
        cuts = (p >= settings.critical, p >= settings.high, p >= settings.medium)
    else:
        share = (np.argsort(np.argsort(-p, kind="stable"), kind="stable") + 1) / max(len(p), 1)
        cuts = (share <= settings.critical, share <= settings.high, share <= settings.medium)
    return np.select(cuts, TIERS[:3], default=TIERS[3]).astype(object)


def assign_groups(risk: pd.DataFrame, outreach: OutreachSettings, as_of: pd.Timestamp) -> np.ndarray:
    """``outreach``, ``control`` or ``none`` per row.

    Candidates are the eligible tiers' customers with the highest value at risk, as many as the
    capacity plus its control share; a seeded random ``control_share`` of them is held out so that
    the save rate can be measured against look-alike customers. Same data and as_of, same groups.
    """
    groups = np.full(len(risk), "none", dtype=object)
    eligible = risk.index[risk["risk_tier"].isin(outreach.eligible_tiers)]
    ordered = risk.loc[eligible].sort_values(["value_at_risk", "customer_id"], ascending=[False, True]).index
    if outreach.capacity is not None:
        wanted = int(np.ceil(outreach.capacity / (1 - outreach.control_share)))
        ordered = ordered[:wanted]
    rng = np.random.default_rng([outreach.seed, as_of.toordinal()])
    by_id = risk.loc[ordered].sort_values("customer_id").index  # row order must not change the draw
    control = by_id[rng.permutation(len(by_id))[: round(len(by_id) * outreach.control_share)]]
    positions = risk.index.get_indexer(ordered)
    groups[positions] = "outreach"
    groups[risk.index.get_indexer(control)] = "control"
    if outreach.capacity is not None:
        # Rounding of the control share must not exceed capacity: drop the lowest values at risk.
        contacted = positions[groups[positions] == "outreach"]
        groups[contacted[outreach.capacity :]] = "none"
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
) -> ScoredList:
    """Score one cutoff's population into the risk list.

    Args:
        features: ``features.build.build_features`` output at ``as_of`` with the model's feature spec.
        pyfunc: the loaded MLflow model (enforces the signature).
        model: the churnguard model inside it (contributions for reasons).
        settings: tiers, outreach, playbook, value margin, contribution policy.
        model_name: registered model name, written on every row.
        model_version: registered version (or ``run`` for an unregistered URI).
        as_of: the scoring date.
        fingerprint: input data fingerprint, for the summary.
        progress: called with short human messages.

    Returns:
        The risk list, highest risk first, and its summary.
    """
    say = progress or (lambda message: None)
    check_signature(pyfunc, features)
    inputs = features[model.features]
    batch = settings.scoring.batch_rows
    probabilities = (
        np.concatenate(
            [
                pyfunc.predict(inputs.iloc[i : i + batch])["churn_probability"].to_numpy()
                for i in range(0, len(inputs), batch)
            ]
        )
        if len(inputs)
        else np.zeros(0)
    )
    say(f"scored {len(inputs):,} customers with {model_name} v{model_version}")
    order = np.argsort(-probabilities, kind="stable")
    ranked = features.iloc[order].reset_index(drop=True)
    p = probabilities[order]
    risk = pd.DataFrame(
        {
            "customer_id": ranked["customer_id"].to_numpy(),
            "as_of": as_of.date(),
            "churn_probability": p,
            "rank": np.arange(1, len(p) + 1),
            "percentile": 100.0 * (1 - np.arange(len(p)) / max(len(p), 1)),
            "risk_tier": risk_tiers(p, settings.scoring.tiers),
            "customer_value": customer_value(ranked, settings.value.margin),
        }
    )
    risk["value_at_risk"] = risk["churn_probability"] * risk["customer_value"]
    risk["rfm_segment"] = ranked["rfm_segment"].to_numpy() if "rfm_segment" in ranked else "unknown"
    risk["group"] = assign_groups(risk, settings.outreach, as_of)

    explained = _contributions(ranked[model.features], model, risk, settings, say)
    reasons = explain(ranked, explained, model.parts.feature_spec)
    for column, values in reasons.columns().items():
        risk[column] = values
    actions, rules = suggest_actions(
        settings.scoring.playbook,
        reasons.kinds,
        risk["rfm_segment"],
        risk["risk_tier"],
        risk["customer_value"],
    )
    risk["suggested_action"] = actions
    risk["model_name"] = model_name
    risk["model_version"] = str(model_version)
    risk = risk[RISK_LIST_COLUMNS]
    summary = _summary(risk, rules, model_name, model_version, as_of, fingerprint, settings)
    return ScoredList(risk_list=risk, summary=summary)


def _contributions(
    inputs: pd.DataFrame,
    model: ChurnModel,
    risk: pd.DataFrame,
    settings: Settings,
    say: Callable[[str], None],
) -> pd.DataFrame:
    """Approximate contributions for everyone; exact TreeSHAP where the policy asks for it."""
    policy, cap = settings.scoring.exact_contributions, settings.scoring.exact_max_rows
    batch = settings.scoring.batch_rows
    if policy == "all" and len(inputs) <= cap:
        return model.contributions(inputs)
    parts = [
        model.contributions(inputs.iloc[i : i + batch], approximate=True)
        for i in range(0, len(inputs), batch)
    ]
    contributions = pd.concat(parts) if parts else model.contributions(inputs)
    exact_rows = (
        np.flatnonzero(risk["group"].to_numpy() == "outreach")
        if policy == "outreach"
        else (np.arange(len(inputs)) if policy == "all" else np.zeros(0, dtype=int))
    )
    exact_rows = exact_rows[:cap]  # rows are ranked, so the cap keeps the riskiest
    if len(exact_rows):
        contributions.iloc[exact_rows] = model.contributions(inputs.iloc[exact_rows]).to_numpy()
    say(
        f"reasons: exact TreeSHAP for {len(exact_rows):,} customers, approximate for the other "
        f"{len(inputs) - len(exact_rows):,}"
    )
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
        for t in TIERS
    }
    return {
        "as_of": str(as_of.date()),
        "generated_at": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
        "customers": len(risk),
        "tiers": tiers,
        "total_value_at_risk": round(float(risk["value_at_risk"].sum()), 2),
        "groups": {g: int((risk["group"] == g).sum()) for g in ("outreach", "control", "none")},
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
    whole and a failed run leaves the previous list untouched.
    """
    folder = Path(out_dir) / f"as_of={as_of.date()}"

    def fill(tmp: Path) -> None:
        scored.risk_list.to_parquet(tmp / "risk_list.parquet", index=False)
        # Fixed decimals, not significant digits: 1234567.89 must not reach a spreadsheet as 1.23457e+06.
        readable = scored.risk_list.round(CSV_DECIMALS)
        readable.to_csv(tmp / "risk_list.csv", index=False, encoding="utf-8-sig")
        (tmp / "summary.json").write_text(json.dumps(scored.summary, indent=2), encoding="utf-8")

    replace_folder(folder, fill)
    return folder
