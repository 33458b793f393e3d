"""`churn pipeline` with `engine: spark`, as the README tells a data engineer to run it on one machine.

Features, the production model and the model's work per customer run in a local Spark session
(``local[2]``, no web UI); the same champion then scores the same folder on DuckDB: the two risk lists
must be the same list, reasons and actions included.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

CHURN = Path(sys.executable).with_name("churn")
AS_OF = "2026-10-31"
CONFIG = """\
engine: spark
spark:
  master: local[2]
  conf: {spark.ui.enabled: "false", spark.driver.memory: 2g}
training:
  n_trials: 2
"""


def churn(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(CHURN), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
@pytest.mark.spark
def test_pipeline_on_spark_makes_the_list_duckdb_makes(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI")}
    env.update(COLUMNS="200")
    made = churn("generate", "--out", "data", "--customers", "1500", cwd=tmp_path, env=env)
    assert made.returncode == 0, made.stderr
    (tmp_path / "spark.yaml").write_text(CONFIG)

    run = churn(
        "pipeline", "--data", "data", "--config", "spark.yaml", "--out", "out_spark", "--as-of", AS_OF,
        cwd=tmp_path, env=env,
    )  # fmt: skip
    log = run.stdout + run.stderr
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "promoted to champion" in run.stdout
    # The refit ran in Spark on every row the driver's backtest read (all 1,500 customers fit the sample).
    assert "spark refit:" in log and "XGBoost worker" in log
    assert "backtest sample:" in log
    spark_list = pd.read_parquet(tmp_path / f"out_spark/risk_lists/as_of={AS_OF}/risk_list.parquet")
    assert len(spark_list) > 500
    assert (tmp_path / f"out_spark/reports/as_of={AS_OF}/report.html").exists()

    scored = churn("score", "--data", "data", "--out", "out_duck", "--as-of", AS_OF, cwd=tmp_path, env=env)
    assert scored.returncode == 0, scored.stdout[-3000:] + scored.stderr[-3000:]
    duck_list = pd.read_parquet(tmp_path / f"out_duck/as_of={AS_OF}/risk_list.parquet")
    pd.testing.assert_frame_equal(spark_list, duck_list, check_exact=True)
    assert (spark_list["group"] == "outreach").sum() > 0
