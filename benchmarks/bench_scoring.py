"""Time batch scoring with reasons on 1M customers and report peak memory and explanation costs.

Usage: python benchmarks/bench_scoring.py [--data /tmp/cg_bench_data] [--trees 400 | --trees 0]

Trains a model (default settings, one search trial) on a separately generated 20k-customer sample;
with ``--trees N`` (default 400, training's max_rounds) it is refitted with exactly N trees, since
early stopping may keep far fewer and contributions cost grows with trees. Then, in a fresh
subprocess whose memory is sampled: features of the 1M-customer dataset's scoring population (its
active customers, topped up by resampling to ``--rows``), ``score_customers`` with reasons and
actions, and the written list. Last, on random samples, exact TreeSHAP (``pred_contribs``) against
XGBoost's approximate contributions: cost per row and how often the first reason is the same.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
# Before XGBoost loads: OpenMP threads spinning while they wait slow a shared 2-core machine down.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from measure import RssSampler  # benchmarks/ is on sys.path when a script runs

from churnguard.core.config import Settings
from churnguard.core.data.generate import generate_sample

GiB = 2**30


def settings_for(work: Path) -> Settings:
    return Settings(tracking={"home": str(work / "mlstore")}, training={"n_trials": 1})


def train(work: Path, customers: int, trees: int | None) -> str:
    """Generate a training sample, train a model with default settings and log it; returns its URI.

    With ``trees``, the booster is refitted with the same parameters for exactly that many rounds
    (and recalibrated): early stopping may keep far fewer trees, and the cost of contributions grows
    with the number of trees, so this measures the largest model training can produce.
    """
    import dataclasses

    import mlflow
    import xgboost as xgb

    from churnguard.core.data.dataset import load_dataset
    from churnguard.features.build import LABEL, build_training_set, discover_spec
    from churnguard.features.source import source_from_dataset
    from churnguard.models.package import log_churn_model
    from churnguard.models.search import booster_params
    from churnguard.models.store import configure_tracking
    from churnguard.models.train import train_churn_model

    settings = settings_for(work)
    data = work / "train_data"
    generate_sample(data, customers, seed=1)
    began = time.perf_counter()
    dataset = load_dataset(data, settings.data)
    source = source_from_dataset(dataset, settings.features)
    spec = discover_spec(source)
    frame = build_training_set(source, dataset.as_of, settings, spec)
    result = train_churn_model(frame, settings, spec)
    parts = result.parts
    print(
        f"model: {parts.booster.num_boosted_rounds()} trees of depth {result.backtest.best.params['max_depth']} "
        f"on {len(parts.preprocessor.features)} features, backtest PR AUC "
        f"{result.metrics['test_pr_auc']:.3f} (trained on {customers:,} customers in "
        f"{time.perf_counter() - began:.0f} s)"
    )
    if trees and trees != parts.booster.num_boosted_rounds():
        # The refit again, with as many trees as the benchmark asks for: scoring cost grows with them.
        y = frame[LABEL].to_numpy(dtype=int)
        matrix = xgb.DMatrix(parts.preprocessor.transform(frame), label=y, enable_categorical=True)
        params = booster_params(result.backtest.best.params, y, settings.training.seed, None)
        parts = dataclasses.replace(parts, booster=xgb.train(params, matrix, num_boost_round=trees))
        print(f"model refitted with {trees} trees, the most training's max_rounds allows")
    configure_tracking(settings)
    with mlflow.start_run(run_name="bench_scoring"):
        return log_churn_model(parts, result.evaluation[0]).model_uri


def as_many(features, rows: int):
    """The population, topped up to ``rows`` customers by resampling some under new ids."""
    import pandas as pd

    if len(features) >= rows:
        return features.iloc[:rows].reset_index(drop=True)
    extra = features.sample(rows - len(features), replace=True, random_state=0)
    first = int(features["customer_id"].max()) + 1
    extra["customer_id"] = np.arange(first, first + len(extra), dtype=features["customer_id"].dtype)
    print(f"  topped up {len(features):,} customers with {len(extra):,} resampled ones (new ids)")
    return pd.concat([features, extra], ignore_index=True)


def score(work: Path, data: Path, model_uri: str, rows: int, sample: int) -> None:
    """Features, scoring and writing of ``rows`` customers, then explanation costs on a sample."""
    import pandas as pd

    from churnguard.features.build import build_features
    from churnguard.features.source import source_from_parquet
    from churnguard.models.reasons import explain
    from churnguard.models.registry import load_model
    from churnguard.models.scoring import score_customers, write_risk_list
    from churnguard.models.store import configure_tracking

    settings = settings_for(work)
    configure_tracking(settings)
    print(f"load average before: {os.getloadavg()[0]:.1f} (2 cores; other work slows every figure)")
    sampler = RssSampler()
    sampler.start()
    pyfunc, model = load_model(model_uri)
    print(f"RSS with the model loaded: {psutil.Process().memory_info().rss / GiB:.2f} GiB")
    stages: list[tuple[str, float]] = []
    began = last = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        stages.append((name, now - last))
        print(f"  {now - began:6.1f}s  {name}", flush=True)
        last = now

    source = source_from_parquet(data, settings.features)
    newest = pd.Timestamp(source.backend.execute(source.transactions.ts.max()))
    as_of = newest.floor("D") + pd.Timedelta(days=1)
    population = build_features(source, as_of, settings, model.parts.feature_spec)
    lap(
        f"built features of the population: {population.shape[0]:,} customers x {population.shape[1]} columns"
    )
    del source
    features_peak = sampler.peak
    features = as_many(population, rows)
    del population
    last = time.perf_counter()
    sampler.peak = psutil.Process().memory_info().rss  # from here on: the scoring peak
    scoring_began, cpu_began = time.perf_counter(), sum(psutil.Process().cpu_times()[:2])
    scored = score_customers(
        features, pyfunc, model, settings, "churnguard-churn", "bench", as_of, "bench", progress=lap
    )
    lap("chose actions and summarised")
    scoring_time = time.perf_counter() - scoring_began
    scoring_cpu = sum(psutil.Process().cpu_times()[:2]) - cpu_began
    scoring_peak = sampler.peak
    with tempfile.TemporaryDirectory(dir=work) as out:
        write_risk_list(scored, Path(out), as_of)
        lap("wrote risk_list.parquet, risk_list.csv and summary.json")
    peak = max(sampler.stop(), features_peak)
    n = len(scored.risk_list)

    print("\nstage times")
    for name, seconds in stages:
        print(f"  {seconds:7.1f} s  {name}")
    print(
        f"score_customers   {scoring_time:7.1f} s for {n:,} customers "
        f"({n / scoring_time:,.0f} customers/s, with reasons and actions; {scoring_cpu:.0f} s of CPU "
        "on 2 cores)"
    )
    print(f"peak RSS          {peak / GiB:7.2f} GiB in all")
    print(f"                  {features_peak / GiB:7.2f} GiB while building features")
    print(f"                  {scoring_peak / GiB:7.2f} GiB while scoring")

    risky = scored.risk_list["risk_tier"].isin(settings.outreach.eligible_tiers).to_numpy()
    position = pd.Series(np.arange(n), index=features["customer_id"].to_numpy())
    rng = np.random.default_rng(0)
    print()
    per_row = {}
    for label, pool in (
        ("random customers", np.arange(n)),
        ("critical/high tiers", position[scored.risk_list["customer_id"].to_numpy()[risky]].to_numpy()),
    ):
        picked = features.iloc[np.sort(rng.choice(pool, size=min(sample, len(pool)), replace=False))]
        picked = picked.reset_index(drop=True)
        t0 = time.perf_counter()
        exact = model.contributions(picked)
        t_exact = per_row.setdefault("exact", (time.perf_counter() - t0) / len(picked))
        approx = model.contributions(picked, approximate=True)
        spec = model.parts.feature_spec
        exact_texts = explain(picked, exact, spec).texts
        first_approx = explain(picked, approx, spec).texts[:, 0]
        same = np.mean(exact_texts[:, 0] == first_approx)
        in_three = np.mean((exact_texts == first_approx[:, None]).any(axis=1))
        print(
            f"{label:20s} first reason from approximate = exact SHAP's for {same:.1%} of {len(picked):,}; "
            f"among exact SHAP's three for {in_three:.1%}"
        )
    big = features.iloc[:200_000]
    t0 = time.perf_counter()
    model.contributions(big, approximate=True)
    t_approx = (time.perf_counter() - t0) / len(big)
    t0 = time.perf_counter()
    model.predict(None, big)
    t_predict = (time.perf_counter() - t0) / len(big)
    print(
        f"per row: prediction {t_predict * 1e6:,.1f} µs, approximate contributions {t_approx * 1e6:,.1f} µs, "
        f"exact TreeSHAP {t_exact * 1e6:,.0f} µs ({t_exact / t_approx:,.0f}x the approximation; "
        f"{t_exact * 1e6 / 60:,.0f} min for 1M rows)"
    )
    print(f"load average after: {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/cg_bench_data"))
    parser.add_argument("--customers", type=int, default=1_000_000, help="generated when --data is empty")
    parser.add_argument("--train-customers", type=int, default=20_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/cg_bench_scoring"))
    parser.add_argument("--model-uri", help="skip training and score with this model")
    parser.add_argument(
        "--trees", type=int, default=400, help="refit the model with this many trees (0: as trained)"
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="customers to score")
    parser.add_argument("--sample", type=int, default=2_000, help="customers for exact-vs-approximate")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)  # the subprocess
    args = parser.parse_args()
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    args.work.mkdir(parents=True, exist_ok=True)

    if args.measure:
        score(args.work, args.data, args.model_uri, args.rows, args.sample)
        return
    if not (args.data / "transactions.parquet").exists():
        began = time.perf_counter()
        generate_sample(args.data, args.customers, seed=0)
        print(f"generated {args.customers:,} customers in {time.perf_counter() - began:.0f} s")
    model_uri = args.model_uri or train(args.work, args.train_customers, args.trees)
    command = [sys.executable, __file__, "--data", str(args.data), "--work", str(args.work)]
    command += ["--model-uri", model_uri, "--rows", str(args.rows), "--sample", str(args.sample), "--measure"]
    subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
