"""`churn pipeline` with `engine: postgres`, as the README tells a data engineer to run it.

The sample goes into a real throw-away PostgreSQL server with `churn load-postgres`; the pipeline
validates, trains, scores and reports with every feature computed in the database. The same champion
then scores the same data folder on DuckDB: the two risk lists must be the same list.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest

from tests import pg_cluster

postgres_url = pg_cluster.postgres_url  # the session's throw-away server (a fixture)

CHURN = Path(sys.executable).with_name("churn")
AS_OF = "2026-10-31"


def churn(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(CHURN), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_pipeline_on_postgres_makes_the_list_duckdb_makes(tmp_path: Path, postgres_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI")}
    env.update(COLUMNS="200", CHURNGUARD_POSTGRES_URL=postgres_url)
    made = churn("generate", "--out", "data", "--customers", "1500", cwd=tmp_path, env=env)
    assert made.returncode == 0, made.stderr
    load = churn("load-postgres", "--data", "data", "--schema", "shop", cwd=tmp_path, env=env)
    assert load.returncode == 0, load.stdout + load.stderr
    # The README's settings; two trials keep the training short (the model is not what is tested).
    config = "engine: postgres\npostgres:\n  schema_name: shop\ntraining:\n  n_trials: 2\n"
    (tmp_path / "pg.yaml").write_text(config)

    checked = churn("validate", "--config", "pg.yaml", "--as-of", AS_OF, cwd=tmp_path, env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "shop.transactions, column 'amount': negative amounts counted as refunds" in checked.stdout
    assert "schema shop of PostgreSQL at 127.0.0.1" in checked.stdout and f"as_of {AS_OF}" in checked.stdout

    run = churn("pipeline", "--config", "pg.yaml", "--out", "out_pg", "--as-of", AS_OF, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "Validating the tables of schema shop in PostgreSQL (engine: postgres)" in run.stdout + run.stderr
    assert "promoted to champion" in run.stdout
    pg_list = pd.read_parquet(tmp_path / f"out_pg/risk_lists/as_of={AS_OF}/risk_list.parquet")
    assert (tmp_path / f"out_pg/reports/as_of={AS_OF}/report.html").exists()

    scored = churn("score", "--data", "data", "--out", "out_duck", "--as-of", AS_OF, cwd=tmp_path, env=env)
    assert scored.returncode == 0, scored.stdout[-3000:] + scored.stderr[-3000:]
    duck_list = pd.read_parquet(tmp_path / f"out_duck/as_of={AS_OF}/risk_list.parquet")
    assert len(pg_list) > 500
    columns = ["customer_id", "churn_probability", "rank", "risk_tier", "group"]
    pd.testing.assert_frame_equal(
        pg_list[columns].sort_values("customer_id").reset_index(drop=True),
        duck_list[columns].sort_values("customer_id").reset_index(drop=True),
        check_exact=True,
    )

    # The password reaches the server only: no output, log, stage marker, MLflow store or report holds it.
    password = urlsplit(postgres_url).password
    assert password and password not in run.stdout + run.stderr + load.stdout + load.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.stat().st_size < 200_000_000:
            assert password.encode() not in path.read_bytes(), path
