"""End to end against a real `mlflow server` on 127.0.0.1 (the Prefect server and worker: test_schedules.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from churnguard.pipelines.score import score_flow
from churnguard.pipelines.train import train_flow
from tests.pipelines.servers import free_port, mlflow_server_command, start_server, stop_server

pytestmark = pytest.mark.slow


@pytest.fixture
def mlflow_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """`mlflow server` on a free port, SQLite backend, proxied artifacts in a temporary folder."""
    port = free_port()
    artifacts = tmp_path / "server-artifacts"
    server = start_server(
        mlflow_server_command(port, tmp_path),
        dict(os.environ),
        tmp_path / "mlflow-server.log",
        f"http://127.0.0.1:{port}/health",
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    try:
        yield artifacts
    finally:
        stop_server(server)


@pytest.mark.usefixtures("prefect_server")
def test_train_and_score_against_an_mlflow_server(shop: Path, project: Path, mlflow_server: Path) -> None:
    trained = train_flow(data_dir=str(shop))
    assert trained["tracking_uri"].startswith("http://127.0.0.1:")
    assert trained["promoted"] and trained["version"] == "1"
    logged = list(mlflow_server.rglob("MLmodel"))
    assert logged, "the model's files must be stored by the server, not locally"
    assert not (project / ".churnguard" / "mlflow.db").exists()

    scored = score_flow(data_dir=str(shop), out_dir="lists")  # champion loaded from the server's registry
    assert scored["summary"]["model_version"] == "1"
    risk = pd.read_parquet(Path(scored["folder"]) / "risk_list.parquet")
    assert risk["churn_probability"].between(0, 1).all()
