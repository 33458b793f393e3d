"""Fixed cost of the `churn` commands: in-process, and as Prefect runs on a server.

Times each command on a small shop and on one four times larger, and reports the part that does
not grow with the data (the intercept of the two: starting Python, imports, MLflow's store,
Prefect), besides the wall times. Prints the median of ``--repeat`` runs; the target is at most 5 s.

    .venv/bin/python benchmarks/bench_cli_overhead.py [--repeat 3] [--customers 1000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

BIN = Path(sys.executable).parent
FAST = {"training": {"n_trials": 1, "max_rounds": 60}, "features": {"max_cutoffs": 5}}


def timed(command: list[str], cwd: Path, env: dict) -> float:
    began = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return seconds


def import_seconds(module: str, env: dict) -> float:
    # As the CLI imports it: without the optional grammar module jsonschema compiles (see cli.py).
    code = (
        "import sys, time; sys.modules.setdefault('rfc3987_syntax', None); t = time.perf_counter(); "
        f"import {module}; print(time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout)


def start_prefect_server(folder: Path, env: dict) -> tuple[subprocess.Popen, str]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.pipelines.servers import free_port, start_server

    port = free_port()
    server_env = {**env, "PREFECT_HOME": str(folder / "prefect-home"), "PREFECT_UI_ENABLED": "false"}
    command = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    health = f"http://127.0.0.1:{port}/api/health"
    return start_server(command, server_env, folder / "prefect.log", health), f"http://127.0.0.1:{port}/api"


def commands(churn: str, shop: str) -> dict[str, list[str]]:
    return {
        "churn --help": [churn, "--help"],
        "churn validate": [churn, "validate", "--data", shop],
        "churn features": [churn, "features", "--data", shop, "--out", "f.parquet"],
        "churn score": [churn, "score", "--data", shop, "--out", "lists"],
        "churn report": [churn, "report", "--data", shop, "--risk-lists", "lists"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--customers", type=int, default=1_000)
    args = parser.parse_args()
    churn = str(BIN / "churn")
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI")}
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    sizes = (args.customers, 4 * args.customers)
    with tempfile.TemporaryDirectory(prefix="cg-overhead-") as tmp:
        project = Path(tmp)
        (project / "churnguard.yaml").write_text(yaml.safe_dump(FAST), encoding="utf-8")
        for n in sizes:
            timed([churn, "generate", "--out", f"shop{n}", "--customers", str(n)], project, env)
        timed([churn, "train", "--data", f"shop{sizes[0]}"], project, env)
        server, api = start_prefect_server(project, env)
        print(f"median of {args.repeat} runs, {os.cpu_count()} cores; fixed = the part not growing with data")
        print(
            f"\n{'command':<16} {'mode':<15} {f'{sizes[0]:,} cust.':>12} {f'{sizes[1]:,} cust.':>12} {'fixed':>8}"
        )
        try:
            for mode, mode_env in (("in-process", env), ("Prefect server", {**env, "PREFECT_API_URL": api})):
                for name in commands(churn, "shop"):
                    walls = [
                        statistics.median(
                            timed(commands(churn, f"shop{n}")[name], project, mode_env)
                            for _ in range(args.repeat)
                        )
                        for n in sizes
                    ]
                    fixed = walls[0] - (walls[1] - walls[0]) / 3
                    print(f"{name:<16} {mode:<15} {walls[0]:>10.2f} s {walls[1]:>10.2f} s {fixed:>6.2f} s")
        finally:
            from tests.pipelines.servers import stop_server

            stop_server(server)
    print("\nimport time of each flow module (part of the above):")
    for module in (
        "churnguard.pipelines.build_features",
        "churnguard.pipelines.score",
        "churnguard.pipelines.train",
    ):
        print(f"  {module:<38} {import_seconds(module, env):.2f} s")


if __name__ == "__main__":
    main()
