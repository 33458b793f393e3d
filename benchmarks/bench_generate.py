"""Time the sample-data generator and report rows per table and peak memory.

Usage: python benchmarks/bench_generate.py --customers 1000000 --out /tmp/cg_bench_data
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from measure import RssSampler  # benchmarks/ is on sys.path when a script runs

from churnguard.core.data.generate import generate_sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path("/tmp/cg_bench_data"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    def progress(message: str) -> None:
        print(f"  {time.perf_counter() - began:6.1f}s  {message}", flush=True)

    sampler = RssSampler()
    sampler.start()
    baseline = psutil.Process().memory_info().rss
    began = time.perf_counter()
    summary = generate_sample(args.out, n_customers=args.customers, seed=args.seed, progress=progress)
    wall = time.perf_counter() - began
    peak_sampled = sampler.stop()
    peak_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux

    print(f"customers      {summary.customers:>12,}")
    print(f"transactions   {summary.transactions:>12,}")
    print(f"events         {summary.events:>12,}")
    print(f"subscriptions  {summary.subscriptions:>12,}")
    print(f"period         {summary.start:%Y-%m-%d} .. {summary.end:%Y-%m-%d}")
    print(f"wall time      {wall:12.1f} s")
    print(f"peak RSS       {peak_maxrss / 2**30:12.2f} GiB (ru_maxrss)")
    print(
        f"peak RSS       {peak_sampled / 2**30:12.2f} GiB (sampled; {baseline / 2**30:.2f} GiB before generating)"
    )


if __name__ == "__main__":
    main()
