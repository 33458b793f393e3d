"""Time BG/NBD fitting and scoring on simulated customers and report peak memory.

Usage: python benchmarks/bench_btyd.py [--customers 1000000] [--seed 0]

Customers are drawn with the CDNOW estimates (r=0.243, alpha=4.414, a=0.793, b=2.426; weeks),
observed for 27 to 39 weeks. The fit runs twice: on times rounded to whole days, as they come from
transaction dates (many customers share a row, so the fit works on the distinct rows), and on exact
simulated times (nearly every row distinct: the worst case). Then the BTYD feature columns of one
cutoff (``btyd_features.btyd_columns``: fit, P(alive), expected purchases and P(no purchase)) on
customers in days to the second, as the feature query computes them, drawn with parameters like
those fitted on the generated sample. Peak resident memory is sampled during each step; the
process's lifetime high-water mark is printed last.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from measure import RssSampler  # benchmarks/ is on sys.path when a script runs

from churnguard.features.btyd import BgNbdParams, expected_purchases, fit_bgnbd, p_alive, simulate_bgnbd
from churnguard.features.btyd_features import btyd_columns

MiB = 2**20
CDNOW = BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
DAILY = BgNbdParams(r=1.14, alpha=44.4, a=0.234, b=13.4)  # about what a cutoff of the sample fits, days
HORIZON_DAYS = 90.0


def distinct_rows(*columns: np.ndarray) -> int:
    return len(np.unique(np.column_stack(columns), axis=0))


def timed(label: str, work):
    """Run ``work()``, print its time and sampled peak RSS; returns its result."""
    sampler = RssSampler()
    before = psutil.Process().memory_info().rss
    sampler.start()
    started = time.perf_counter()
    result = work()
    elapsed = time.perf_counter() - started
    peak = sampler.stop()
    print(f"{label}: {elapsed:.2f} s (RSS {before / MiB:,.0f} MiB before, peak {peak / MiB:,.0f} MiB)")
    return result


def describe(params: BgNbdParams) -> str:
    return f"r={params.r:.4f} alpha={params.alpha:.3f} a={params.a:.4f} b={params.b:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n = args.customers
    rng = np.random.default_rng(args.seed)

    print(f"truth: {describe(CDNOW)}")
    x, recency, T = timed(
        f"simulate {n:,} customers", lambda: simulate_bgnbd(CDNOW, n, rng.uniform(27, 39, n), rng)
    )
    recency_days, T_days = np.round(recency * 7) / 7, np.round(T * 7) / 7

    print(f"whole days: {distinct_rows(x, recency_days, T_days):,} distinct (x, t_x, T) rows")
    fitted = timed(f"fit {n:,} customers, whole days", lambda: fit_bgnbd(x, recency_days, T_days))
    print(f"  fitted: {describe(fitted)}")
    print(f"exact times: {distinct_rows(x, recency, T):,} distinct rows")
    fitted = timed(f"fit {n:,} customers, exact times", lambda: fit_bgnbd(x, recency, T))
    print(f"  fitted: {describe(fitted)}")

    timed(f"p_alive {n:,} customers", lambda: p_alive(fitted, x, recency, T))
    timed(
        f"expected_purchases (next 39 weeks) {n:,} customers",
        lambda: expected_purchases(fitted, 39.0, x, recency, T),
    )

    age = np.round(rng.uniform(1, 1000, n) * 86_400) / 86_400  # first purchase 1 to 1000 days ago
    x, recency, T = simulate_bgnbd(DAILY, n, age, rng)
    recency = np.round(recency * 86_400) / 86_400  # purchase times to the second, like the features
    print(f"one cutoff in days: {distinct_rows(x, recency, T):,} distinct rows")
    columns = timed(
        f"BTYD feature columns of one cutoff, {n:,} customers",
        lambda: btyd_columns(x, recency, T, HORIZON_DAYS),
    )
    print(f"  mean P(alive) {np.nanmean(columns['btyd_p_alive']):.3f}, truth {describe(DAILY)}")

    high_water = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux
    print(f"peak RSS of the whole run: {high_water / MiB:,.0f} MiB")


if __name__ == "__main__":
    main()
