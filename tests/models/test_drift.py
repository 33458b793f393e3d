"""Drift at scoring time: PSI on hand-made arrays, then the champion on its own and on a shifted population."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from churnguard.core.config import DriftSettings
from churnguard.core.data.dataset import load_dataset
from churnguard.features.build import build_features
from churnguard.features.catalog import feature_catalog
from churnguard.features.source import source_from_dataset
from churnguard.models.drift import (
    FLOOR,
    MIN_BIN_ROWS,
    carrying_features,
    drift_status,
    importance_shares,
    measure_drift,
    psi,
    reference_profile,
    reference_rows,
)
from churnguard.models.drift_tracking import SCORE_METRIC, drift_step, log_drift, model_run_id
from churnguard.models.drift_words import drift_line
from churnguard.models.package import ChurnModel
from churnguard.models.scoring import score_customers, write_risk_list
from churnguard.pipelines.orchestration import LOCAL_LOGGER
from churnguard.pipelines.score import drift_markdown, score_flow
from tests.models import scoring_fixtures
from tests.models.scoring_fixtures import OVERRIDES, ScoringWorld

scoring_world = scoring_fixtures.scoring_world
scoring_store = scoring_fixtures.scoring_store

SETTINGS = DriftSettings(watch=0.1, alert=0.25, top=5)
DRIFT_KEYS = {"status", "score_psi", "max_feature_psi", "thresholds", "top", "note"}
TOP_KEYS = {
    "feature",
    "description",
    "psi",
    "missing_share",
    "reference_missing_share",
    "unseen_share",
    "importance",
    "carrying",
}
# What halving purchases moves: how often, how recently and how regularly customers buy (and what that
# implies for spend and the BG/NBD expectations); not who they are or how they engage.
PURCHASE_FAMILIES = {"frequency", "recency", "rhythm", "monetary", "trend", "segment"}


def _profile(
    frame: pd.DataFrame,
    scores: np.ndarray | None = None,
    categories: dict | None = None,
    importance: dict | None = None,
) -> dict:
    scores = np.linspace(0, 1, len(frame)) if scores is None else scores
    return reference_profile(frame, scores, list(frame.columns), categories or {}, importance=importance)


# --- PSI and its pieces, by hand -----------------------------------------------------------------


def test_psi_of_two_known_share_vectors() -> None:
    # (0.25 - 0.5) ln(0.25 / 0.5) + (0.75 - 0.5) ln(0.75 / 0.5)
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.25 * math.log(2) + 0.25 * math.log(1.5))
    assert psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0.0


def test_an_empty_bin_counts_as_the_floor() -> None:
    # The reference never had the second bin: its share counts as FLOOR, so PSI is large but finite.
    expected = -0.1 * math.log(0.9) + (0.1 - FLOOR) * math.log(0.1 / FLOOR)
    assert psi([1.0, 0.0], [0.9, 0.1]) == pytest.approx(expected)


def test_numeric_feature_in_ten_quantile_bins() -> None:
    reference = pd.DataFrame({"x": np.repeat(np.arange(10.0), 100)})  # ten values, 100 rows each
    profile = _profile(reference)
    entry = profile["features"]["x"]
    assert all(k < edge < k + 1 for k, edge in enumerate(entry["edges"]))  # one edge between each value
    assert entry["shares"] == pytest.approx([0.1] * 10) and entry["missing"] == 0.0

    same = measure_drift(profile, reference, np.linspace(0, 1, 1_000), SETTINGS)
    assert same["top"][0]["psi"] == 0.0 and same["score_psi"] == 0.0 and same["status"] == "ok"

    # Everyone in the lower half: five bins of 0.2 and five empty ones (counted as FLOOR).
    lower = pd.DataFrame({"x": np.repeat(np.arange(5.0), 100)})
    moved = measure_drift(profile, lower, np.linspace(0, 1, 500), SETTINGS)
    by_hand = 5 * (0.2 - 0.1) * math.log(2) + 5 * (FLOOR - 0.1) * math.log(FLOOR / 0.1)
    assert moved["top"][0]["psi"] == pytest.approx(by_hand, abs=1e-4)
    assert moved["status"] == "alert" and moved["max_feature_psi"] == moved["top"][0]["psi"]


def test_missing_values_have_their_own_share_and_bin() -> None:
    values = np.arange(1_000, dtype=float)
    values[:100] = np.nan  # 10% missing in the reference
    profile = _profile(pd.DataFrame({"x": values}))
    now = np.arange(1_000, dtype=float)
    now[:300] = np.nan  # 30% missing now, the rest spread as before
    row = measure_drift(profile, pd.DataFrame({"x": now}), np.linspace(0, 1, 1_000), SETTINGS)["top"][0]
    assert row["missing_share"] == 0.3 and row["reference_missing_share"] == 0.1
    assert row["unseen_share"] == 0.0 and row["psi"] > 0.1


def test_categorical_levels_unseen_levels_and_missing() -> None:
    reference = pd.DataFrame({"plan": ["basic"] * 500 + ["plus"] * 400 + ["gold"] * 10 + [None] * 90})
    profile = _profile(reference, categories={"plan": ["basic", "gold", "plus"]})
    entry = profile["features"]["plan"]
    # "gold" is known to the model but too rare to be a bin of its own: it joins the other rare levels.
    assert entry["levels"] == {"basic": 0.5, "plus": 0.4}
    assert entry["other"] == pytest.approx(0.01) and entry["missing"] == pytest.approx(0.09)

    now = pd.DataFrame({"plan": ["basic"] * 400 + ["plus"] * 400 + ["premium"] * 100 + [None] * 100})
    row = measure_drift(profile, now, np.linspace(0, 1, 1_000), SETTINGS)["top"][0]
    assert row["unseen_share"] == 0.1 and row["missing_share"] == 0.1
    expected = psi([0.5, 0.4, 0.01, 0.0, 0.09], [0.4, 0.4, 0.0, 0.1, 0.1])
    assert row["psi"] == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize(
    ("score", "features", "status"),
    [
        (0.05, [0.02, 0.0999], "ok"),
        (0.05, [0.1], "watch"),
        (0.1, [], "watch"),
        (0.02, [0.03, 0.25], "alert"),
        (0.3, [0.0], "alert"),
        (None, [], "unknown"),
    ],
)
def test_status_thresholds(score: float | None, features: list[float], status: str) -> None:
    assert drift_status(score, features, SETTINGS) == status


@pytest.mark.parametrize(
    ("score", "features", "carrying", "status"),
    [
        (0.02, [0.9, 0.01], [False, True], "watch"),  # a feature the model barely uses: at most watch
        (0.02, [0.01, 0.9], [False, True], "alert"),  # a feature that carries it: alert
        (0.02, [0.05, 0.12], [False, True], "watch"),
        (0.02, [0.12, 0.05], [False, True], "watch"),  # watch from any feature
        (0.3, [0.0, 0.0], [False, True], "alert"),  # the score itself always counts in full
        (0.02, [0.05, 0.05], [False, True], "ok"),
    ],
)
def test_only_the_score_or_a_carrying_feature_raises_alert(
    score: float, features: list[float], carrying: list[bool], status: str
) -> None:
    assert drift_status(score, features, SETTINGS, carrying) == status


def test_importance_shares_and_the_features_that_carry_the_model() -> None:
    shares = importance_shares(
        {"a": 50.0, "b": 30.0, "c": 15.0, "d": 5.0, "gone": 9.0}, ["a", "b", "c", "d", "e"]
    )
    assert shares == pytest.approx({"a": 0.5, "b": 0.3, "c": 0.15, "d": 0.05, "e": 0.0})
    assert sum(shares.values()) == pytest.approx(1.0)
    # Largest first until 80%: a (0.5), b (0.8 reached with it); c would be beyond.
    assert carrying_features(shares, 0.8) == {"a", "b"}
    assert carrying_features(shares, 0.81) == {"a", "b", "c"}  # c crosses 81%: it is one of them
    assert carrying_features(shares, 1.0) == {"a", "b", "c", "d"}  # never a feature with no gain
    assert importance_shares({}, ["a"]) is None  # a model without a split: no importance


# Ten values of 100 rows each in the reference; now 180 rows each of the lower five, 20 of the upper five.
MOVED = np.r_[np.repeat(np.arange(5.0), 180), np.repeat(np.arange(5.0, 10.0), 20)]
MOVED_PSI = 5 * 0.08 * math.log(1.8) + 5 * 0.08 * math.log(5)  # = 0.4 ln 9, about 0.88


def _shifted_pair() -> tuple[dict, pd.DataFrame]:
    """A profile of two features, ``light`` (2% of the importance) and ``heavy`` (98%), and its rows."""
    values = np.repeat(np.arange(10.0), 100)
    reference = pd.DataFrame({"light": values, "heavy": values})
    return _profile(reference, importance={"light": 0.02, "heavy": 0.98}), reference


def test_a_feature_the_model_barely_uses_raises_watch_and_one_that_carries_it_alert() -> None:
    profile, reference = _shifted_pair()
    scores = np.linspace(0, 1, 1_000)  # the score as in the reference: score PSI 0

    light = measure_drift(profile, reference.assign(light=MOVED), scores, SETTINGS)
    assert light["score_psi"] == 0.0 and light["max_feature_psi"] == pytest.approx(MOVED_PSI, abs=1e-4)
    assert light["status"] == "watch"
    row = light["top"][0]
    assert row["feature"] == "light" and row["importance"] == 0.02 and row["carrying"] is False
    assert light["top"][1]["carrying"] is True and light["top"][1]["importance"] == 0.98
    assert light["note"] == (
        f"light (PSI {row['psi']:.2f}) moved a lot but carries little of the model (2% of its importance): "
        "watch, not alert."
    )
    assert drift_line(light).endswith(light["note"])

    heavy = measure_drift(profile, reference.assign(heavy=MOVED), scores, SETTINGS)
    assert heavy["status"] == "alert" and heavy["top"][0]["feature"] == "heavy" and heavy["note"] is None

    # A profile logged before importance was recorded: the former rule, any feature raises alert.
    older = {k: v for k, v in profile.items() if k != "importance"}
    before = measure_drift(older, reference.assign(light=MOVED), scores, SETTINGS)
    assert before["status"] == "alert" and before["note"] is None
    assert before["top"][0]["importance"] is None and before["top"][0]["carrying"] is None


def test_ignored_features_are_measured_and_listed_but_never_raise_the_status() -> None:
    profile, reference = _shifted_pair()
    scores = np.linspace(0, 1, 1_000)
    settings = DriftSettings(watch=0.1, alert=0.25, top=5, ignore=["heavy"])

    drift = measure_drift(profile, reference.assign(heavy=MOVED), scores, settings)
    assert drift["status"] == "ok"  # heavy carries the model, yet cycles by design
    assert drift["top"][0]["feature"] == "heavy" and drift["max_feature_psi"] == drift["top"][0]["psi"] > 0.8
    assert drift["note"] == (
        f"heavy (PSI {drift['top'][0]['psi']:.2f}) moved but is in scoring.drift.ignore (it cycles by design): "
        "ok, not alert."
    )
    # An ignored feature does not hide the others: light moving still counts.
    both = measure_drift(profile, pd.DataFrame({"light": MOVED, "heavy": MOVED}), scores, settings)
    assert both["status"] == "watch" and "light (PSI" in both["note"] and "heavy (PSI" in both["note"]
    # Also for a profile without importance.
    older = {k: v for k, v in profile.items() if k != "importance"}
    assert measure_drift(older, reference.assign(heavy=MOVED), scores, settings)["status"] == "ok"


def test_a_model_without_a_profile_scores_with_status_unknown() -> None:
    drift = measure_drift(None, pd.DataFrame({"x": [1.0]}), np.array([0.5]), SETTINGS)
    assert set(drift) == DRIFT_KEYS
    assert drift["status"] == "unknown" and drift["score_psi"] is None and drift["top"] == []
    assert "no reference profile" in drift["note"]
    assert drift_line(drift).startswith("Drift: unknown (")


def test_the_profile_holds_no_row_and_no_customer_value() -> None:
    rng = np.random.default_rng(0)
    spend = rng.lognormal(4, 1, 2_000)  # every customer's amount is their own
    ids = [f"cust-{i:05d}" for i in range(2_000)]
    frame = pd.DataFrame({"customer_id": ids, "spend": spend, "region": rng.choice(["N", "S"], 2_000)})
    profile = reference_profile(frame, rng.random(2_000), ["spend", "region"], {"region": ["N", "S"]})
    text = json.dumps(profile)
    assert "cust-" not in text and "customer_id" not in text
    entry = profile["features"]["spend"]
    assert not set(entry["edges"]) & set(spend)  # edges are rounded quantiles, no customer's own amount
    assert all(float(f"{edge:.3g}") == edge for edge in entry["edges"])
    rows_per_bin = np.bincount(np.searchsorted(entry["edges"], spend, side="left"))
    assert rows_per_bin.min() >= MIN_BIN_ROWS  # every bin is a crowd

    # Too few rows for two bins of MIN_BIN_ROWS: no edge at all, only the missing share.
    tiny = reference_profile(frame.head(40), rng.random(40), ["spend"], {})
    assert tiny["features"]["spend"]["edges"] == [] and tiny["score"]["edges"] == []


def test_a_rare_value_joins_its_neighbour_bin() -> None:
    flags = np.r_[np.zeros(990), np.ones(10)]  # 10 rows with 1: too few for a bin of their own
    entry = _profile(pd.DataFrame({"flag": flags}))["features"]["flag"]
    assert entry["edges"] == [] and entry["shares"] == [1.0]
    counts = np.r_[np.zeros(600), np.ones(300), np.full(100, 2.0)]
    entry = _profile(pd.DataFrame({"n": counts}))["features"]["n"]
    assert entry["edges"] == [0.0, 1.0] and entry["shares"] == pytest.approx([0.6, 0.3, 0.1])


def test_reference_rows_are_the_newest_cutoff_unless_it_is_too_small() -> None:
    cutoffs = pd.Series(pd.to_datetime(["2026-01-01"] * 300 + ["2026-02-01"] * 200 + ["2026-03-01"] * 100))
    assert len(reference_rows(cutoffs, min_rows=100)) == 100
    rows = reference_rows(cutoffs, min_rows=250)
    assert len(rows) == 300 and set(cutoffs.iloc[rows].dt.month) == {2, 3}
    assert len(reference_rows(cutoffs, min_rows=10_000)) == 600


# --- The champion: its own population, and a population that buys half as often --------------------


def test_the_champion_loaded_by_alias_carries_its_reference_profile(scoring_world: ScoringWorld) -> None:
    w = scoring_world
    profile = w.model.parts.reference
    assert profile is not None and set(profile["features"]) == set(w.model.features)
    # Each feature's share of the booster's total gain, over exactly the model's features.
    assert set(profile["importance"]) == set(w.model.features)
    assert sum(profile["importance"].values()) == pytest.approx(1.0)
    assert min(profile["importance"].values()) >= 0.0
    newest = w.training_set["cutoff"].max()
    assert profile["cutoffs"] == [str(newest.date())]
    assert profile["rows"] == int((w.training_set["cutoff"] == newest).sum())


def test_scoring_the_training_population_is_ok(scoring_world: ScoringWorld) -> None:
    w = scoring_world
    # The reference rows themselves: nothing has moved at all.
    rows = w.training_set[w.training_set["cutoff"] == w.training_set["cutoff"].max()]
    p = w.model.predict(None, rows)["churn_probability"].to_numpy()
    same = measure_drift(w.model.parts.reference, rows, p, w.settings.scoring.drift)
    assert same["status"] == "ok" and same["score_psi"] == 0.0 and same["max_feature_psi"] == 0.0
    # The same shop three months on (the list the world scored): still ok.
    drift = w.scored.summary["drift"]
    assert drift["status"] == "ok", drift
    assert drift["score_psi"] < 0.1 and drift["max_feature_psi"] < 0.1


@pytest.fixture(scope="module")
def halved_purchases(scoring_world: ScoringWorld, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The world's shop with a random half of its transactions dropped: customers buy half as often."""
    folder = tmp_path_factory.mktemp("halved") / "data"
    shutil.copytree(scoring_world.dataset.data_dir, folder)
    transactions = pd.read_parquet(folder / "transactions.parquet")
    kept = np.random.default_rng(17).random(len(transactions)) < 0.5
    transactions[kept].to_parquet(folder / "transactions.parquet", index=False)
    return folder


def test_halved_purchase_rates_raise_an_alert_on_purchase_features(
    scoring_world: ScoringWorld, halved_purchases: Path
) -> None:
    w = scoring_world
    dataset = load_dataset(halved_purchases, w.settings.data)
    features = build_features(
        source_from_dataset(dataset, w.settings.features),
        w.dataset.as_of,
        w.settings,
        w.model.parts.feature_spec,
    )
    p = w.model.predict(None, features)["churn_probability"].to_numpy()
    every = measure_drift(w.model.parts.reference, features, p, DriftSettings(top=200))

    assert every["status"] == "alert" and every["note"] is None
    # The alert comes from what the model leans on: the features that moved most carry it.
    alert = every["thresholds"]["alert"]
    assert all(row["carrying"] for row in every["top"][:3] if row["psi"] >= alert), every["top"][:3]
    assert any(row["carrying"] and row["psi"] >= alert for row in every["top"]) or every["score_psi"] >= alert
    catalog = feature_catalog()
    top = [row["feature"] for row in every["top"][:5]]
    assert all(catalog[name].family in PURCHASE_FAMILIES for name in top), top
    assert any(catalog[name].family == "frequency" for name in top[:3]), top
    by_name = {row["feature"]: row for row in every["top"]}
    assert by_name["n_purchases_365d"]["psi"] >= 0.1  # how often they buy, in plain count
    # Who the customers are did not change: their region and channel stay put.
    assert by_name["attr_region"]["psi"] < 0.1 and by_name["attr_channel"]["psi"] < 0.1


def test_a_survey_clock_that_cycles_raises_watch_not_alert(scoring_world: ScoringWorld) -> None:
    """Six weeks before the data's end the quarterly NPS survey's clock has moved a lot, nothing else has."""
    w = scoring_world
    as_of = pd.Timestamp(w.dataset.as_of) - pd.Timedelta(weeks=6)
    features = build_features(w.source, as_of, w.settings, w.model.parts.feature_spec)
    p = w.model.predict(None, features)["churn_probability"].to_numpy()
    settings = w.settings.scoring.drift
    profile = w.model.parts.reference

    drift = measure_drift(profile, features, p, settings)
    top = drift["top"][0]
    assert top["feature"] == "evt_nps_response_days_since" and top["psi"] >= settings.alert, top
    assert not top["carrying"] and drift["score_psi"] < settings.watch
    assert drift["status"] == "watch" and drift["note"].startswith("evt_nps_response_days_since (PSI ")
    # The former rule (a profile without importance) called this an alert.
    older = {k: v for k, v in profile.items() if k != "importance"}
    assert measure_drift(older, features, p, settings)["status"] == "alert"
    # Listed as cycling by design, it no longer raises anything.
    ignoring = settings.model_copy(update={"ignore": ["evt_nps_response_days_since"]})
    assert measure_drift(profile, features, p, ignoring)["status"] == "ok"


def test_a_model_without_a_profile_still_scores(scoring_world: ScoringWorld) -> None:
    w = scoring_world
    older = ChurnModel.from_parts(dataclasses.replace(w.model.parts, reference=None))
    head = w.features.head(300)
    scored = score_customers(
        head, w.pyfunc, older, w.settings, "churn", w.version, w.dataset.as_of, w.dataset.fingerprint
    )
    assert len(scored.risk_list) == 300 and scored.summary["drift"]["status"] == "unknown"


def test_summary_json_holds_drift_in_the_agreed_shape(scoring_world: ScoringWorld, tmp_path: Path) -> None:
    w = scoring_world
    folder = write_risk_list(w.scored, tmp_path, w.dataset.as_of)
    drift = json.loads((folder / "summary.json").read_text(encoding="utf-8"))["drift"]
    assert set(drift) == DRIFT_KEYS and drift["note"] is None
    assert drift["thresholds"] == {"watch": 0.1, "alert": 0.25}
    assert len(drift["top"]) == w.settings.scoring.drift.top
    assert all(set(row) == TOP_KEYS for row in drift["top"])
    assert [r["psi"] for r in drift["top"]] == sorted((r["psi"] for r in drift["top"]), reverse=True)
    assert drift["top"][0]["psi"] == drift["max_feature_psi"]
    catalog = feature_catalog()
    assert all(row["description"] == catalog[row["feature"]].meaning for row in drift["top"])


def test_drift_figures_go_to_the_run_of_the_model_version(scoring_world: ScoringWorld, scoring_store) -> None:
    w = scoring_world
    name = w.settings.registry.model_name
    run_id = model_run_id(scoring_store, name, w.version, None)
    assert run_id == scoring_store.get_model_version(name, w.version).run_id
    drift = w.scored.summary["drift"]
    as_of = pd.Timestamp("2027-01-04", tz="UTC")  # a date of its own: other tests log other dates
    assert log_drift(scoring_store, run_id, drift, as_of) == [SCORE_METRIC, "drift_max_feature_psi"]
    history = [
        m for m in scoring_store.get_metric_history(run_id, SCORE_METRIC) if m.step == drift_step(as_of)
    ]
    assert [m.value for m in history] == [drift["score_psi"]]
    assert drift_step(as_of) == (as_of - pd.Timestamp("1970-01-01", tz="UTC")).days


# --- The flow: artifact text, the warning an automation can match, MLflow, the list written first ----


def test_drift_markdown_names_status_figures_and_features(scoring_world: ScoringWorld) -> None:
    drift = scoring_world.scored.summary["drift"]
    alert = {**drift, "status": "alert"}
    text = drift_markdown(alert, "2026-10-31", "churn v1")
    assert text.startswith("# Drift as of 2026-10-31: ALERT")
    assert f"score PSI {drift['score_psi']:.3f}" in text
    for row in drift["top"]:
        assert f"| {row['feature']} | {row['description']} | {row['psi']:.3f} |" in text
    unknown = measure_drift(None, pd.DataFrame(), np.zeros(0), SETTINGS)
    assert "no reference profile" in drift_markdown(unknown, "2026-10-31", "churn v1")


def test_score_flow_warns_on_drift_alert_and_logs_it_to_mlflow(
    scoring_world: ScoringWorld,
    scoring_store,
    halved_purchases: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    w = scoring_world
    config = tmp_path / "churnguard.yaml"
    store = {"tracking": {"home": str(w.settings.tracking.home)}, "paths": {"work": str(tmp_path / "work")}}
    config.write_text(yaml.safe_dump(json.loads(json.dumps({**OVERRIDES, **store}))), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "lists"

    with caplog.at_level(logging.INFO, logger=LOCAL_LOGGER):
        result = score_flow.fn(data_dir=str(halved_purchases), out_dir=str(out), config_file=str(config))

    drift = result["summary"]["drift"]
    assert drift["status"] == "alert"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    alerts = [m for m in warnings if m.startswith("Drift alert:")]
    assert len(alerts) == 1 and drift["top"][0]["feature"] in alerts[0]
    written = json.loads((Path(result["folder"]) / "summary.json").read_text(encoding="utf-8"))
    assert written["drift"] == drift
    run_id = scoring_store.get_model_version(w.settings.registry.model_name, w.version).run_id
    step = drift_step(result["summary"]["as_of"])
    logged = [m for m in scoring_store.get_metric_history(run_id, SCORE_METRIC) if m.step == step]
    assert drift["score_psi"] in [m.value for m in logged]
