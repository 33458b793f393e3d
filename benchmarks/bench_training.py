"""Training at scale: the training set (12 cutoffs), the rolling-origin backtest and the refit, timed.

    .venv/bin/python benchmarks/bench_training.py --data /tmp/cg_bench_1m [--trials 6]

The data folder is the canonical Parquet output of `churn generate` (bench_generate.py makes it).
Prints the time and peak resident memory of each stage, and the backtest's measures.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from measure import GIB, RssSampler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/cg_bench_1m"))
    parser.add_argument("--trials", type=int, default=None, help="search trials (default: the setting, 6)")
    args = parser.parse_args()

    import pandas as pd

    from churnguard.core.config import Settings
    from churnguard.features.build import build_training_set, discover_spec, training_plan
    from churnguard.features.source import source_from_parquet
    from churnguard.models.train import train_churn_model

    settings = Settings(training={"n_trials": args.trials} if args.trials else {})
    sampler = RssSampler()
    sampler.start()
    source = source_from_parquet(args.data, settings.features)
    as_of = pd.Timestamp(source.backend.execute(source.transactions.ts.max())).ceil("D")
    plan = training_plan(source, as_of, settings)
    spec = discover_spec(source)
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        path = build_training_set(source, as_of, settings, spec, out_path=Path(tmp) / "training.parquet")
        built = time.perf_counter() - began
        source.backend.disconnect()
        frame = pd.read_parquet(path)
    print(
        f"training set: {len(frame):,} rows over {frame['cutoff'].nunique()} cutoffs, "
        f"{len(plan.folds)} folds, in {built:.1f} s"
    )
    last = [time.perf_counter()]

    def progress(message: str) -> None:  # each step with the seconds it took
        now = time.perf_counter()
        print(f"  [{now - last[0]:6.1f} s] {message}", flush=True)
        last[0] = now

    began = time.perf_counter()
    result = train_churn_model(frame, settings, spec, progress)
    trained = time.perf_counter() - began
    peak = sampler.stop()
    m = result.metrics
    print(
        f"backtest + refit: {trained:.0f} s for {settings.training.n_trials} trials x {len(result.backtest.folds)} "
        f"folds and a refit on {result.refit_rows:,} rows ({result.backtest.n_trees} trees); peak RSS "
        f"{peak / GIB:.1f} GiB (whole process, training set included)"
    )
    print(
        f"mean of folds: PR AUC {m['test_pr_auc']:.3f} ± {m['test_pr_auc_sd']:.3f} (logistic "
        f"{m['logistic_test_pr_auc']:.3f}, BG/NBD {m['bgnbd_test_pr_auc']:.3f}, recency "
        f"{m['recency_test_pr_auc']:.3f}); ROC AUC {m['test_roc_auc']:.3f}"
    )


if __name__ == "__main__":
    main()
