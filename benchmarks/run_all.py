"""Run every benchmark on the shared 1M-customer dataset and print their figures (`make bench`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = Path("/tmp/cg_bench_1m")  # generated once by the first benchmark, reused by the others


def main() -> int:
    steps = [
        ["bench_generate.py", "--customers", "1000000", "--out", str(DATA)],
        ["bench_features.py", "--data", str(DATA)],
        # Bounded memory: the same features under a 1 GB DuckDB limit (target: under 2 GiB peak).
        [
            "bench_features.py",
            "--data",
            str(DATA),
            "--only",
            "ibis-one",
            "ibis-twelve",
            "--memory-limit",
            "1GB",
        ],
        ["bench_scoring.py", "--data", str(DATA)],
        ["bench_training.py", "--data", str(DATA)],
        ["bench_btyd.py"],
    ]
    failed = []
    for script, *args in steps:
        print(f"\n=== {script} {' '.join(args)}", flush=True)
        if subprocess.run([sys.executable, str(HERE / script), *args], check=False).returncode != 0:
            failed.append(script)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
