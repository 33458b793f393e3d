"""Build a small demo project for the notebook tests, in a process of its own.

Run in the project folder (where its ``churnguard.yaml`` is). It generates the sample data and runs
the churn pipeline (first model, risk list, report) and prints ``pipeline {json}``; then it waits
for ``go on`` on stdin while the caller looks at the project with its single training run (anything
else stops the build), trains one more model with a 60-day horizon and prints ``challenger {json}``.
The JSON is the training summary: version, promoted, decision.

A process of its own keeps MLflow's process-wide tracking URI out of the test session. The flows
run in-process, as `churn pipeline` runs them without a Prefect server: the notebooks read MLflow
and the files, not Prefect.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from churnguard.core.data.generate import generate_sample
from churnguard.pipelines.churn_pipeline import churn_pipeline
from churnguard.pipelines.orchestration import run_flow
from churnguard.pipelines.train import train_flow

DATA_DIR = "data/sample"
CUSTOMERS = 3_000


def report(step: str, training: dict) -> None:
    summary = {key: training[key] for key in ("version", "promoted", "decision")}
    print(f"{step} {json.dumps(summary)}", flush=True)


def main() -> None:
    generate_sample(Path(DATA_DIR), n_customers=CUSTOMERS, seed=0)
    report("pipeline", run_flow(churn_pipeline, data_dir=DATA_DIR, output_dir="output")["training"])
    if sys.stdin.readline().strip() != "go on":
        return  # the caller gave up
    report("challenger", run_flow(train_flow, data_dir=DATA_DIR, horizon_days=60))


if __name__ == "__main__":
    main()
