"""End to end against real servers on 127.0.0.1: `prefect server` with a process worker, `mlflow server`."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from churnguard.config import Settings
from churnguard.data.dataset import load_dataset
from features.build import build_training_set, discover_spec
from features.source import source_from_dataset
from models.registry import register_and_promote
from models.tracking import configure_tracking, log_training_run
from models.train import train_churn_model
from pipelines.score import score_flow
from pipelines.train import train_flow

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"{url} not up after {timeout} s:\n{log.read_text()[-3000:]}")


def start_server(command: list[str], env: dict, log: Path, health: str) -> subprocess.Popen:
    handle = log.open("w")
    process = subprocess.Popen(
        command, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )
    wait_until_up(health, process, log)
    return process


def stop_server(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def run(command: list[str], env: dict, cwd: Path = REPO, timeout: int = 600) -> str:
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, (
        f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result.stdout + result.stderr


@pytest.fixture
def prefect_api(tmp_path: Path) -> Iterator[tuple[str, dict]]:
    """`prefect server start` on a free port with its own PREFECT_HOME; stopped afterwards."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_API_URL=f"http://127.0.0.1:{port}/api",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
    )
    server = start_server(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env,
        tmp_path / "prefect-server.log",
        f"http://127.0.0.1:{port}/api/health",
    )
    try:
        yield env["PREFECT_API_URL"], env
    finally:
        stop_server(server)


def test_scoring_deployment_runs_on_a_process_worker(shop: Path, tmp_path: Path, prefect_api) -> None:
    _, env = prefect_api
    store = tmp_path / "mlstore"
    config = tmp_path / "churnguard.yaml"
    config.write_text(
        "training: {n_trials: 1, max_rounds: 60}\nfeatures: {max_cutoffs: 5}\n"
        f"tracking: {{home: '{store}'}}\n",
        encoding="utf-8",
    )
    _train_champion(shop, store)

    run([str(BIN / "prefect"), "work-pool", "create", "churnguard", "--type", "process"], env)
    deployed = run([str(BIN / "prefect"), "--no-prompt", "deploy", "--all"], env)
    assert "score-customers/weekly-scoring" in deployed
    out_dir = tmp_path / "risk_lists"
    started = run(
        [
            str(BIN / "prefect"),
            "deployment",
            "run",
            "score-customers/weekly-scoring",
            "--param",
            f"data_dir={shop}",
            "--param",
            f"out_dir={out_dir}",
            "--param",
            f"config_file={config}",
        ],
        env,
    )
    flow_run_id = re.search(r"UUID: ([0-9a-f-]{36})", started).group(1)

    worker_env = dict(env, CHURNGUARD_PATHS__WORK=str(tmp_path / "work"))
    run(
        [str(BIN / "prefect"), "worker", "start", "--pool", "churnguard", "--run-once"],
        worker_env,
        timeout=900,
    )

    inspected = run([str(BIN / "prefect"), "flow-run", "inspect", flow_run_id], env)
    assert "COMPLETED" in inspected
    risk = pd.read_parquet(out_dir / "as_of=2026-10-31" / "risk_list.parquet")
    assert len(risk) > 0 and risk["model_version"].eq("1").all()


def _train_champion(data_dir: Path, store: Path) -> None:
    settings = Settings(
        tracking={"home": str(store)}, training={"n_trials": 1, "max_rounds": 60}, features={"max_cutoffs": 5}
    )
    dataset = load_dataset(data_dir, settings.data)
    source = source_from_dataset(dataset, settings.features)
    spec = discover_spec(source)
    result = train_churn_model(build_training_set(source, dataset.as_of, settings, spec), settings, spec)
    client = configure_tracking(settings)
    run_ = log_training_run(result, settings, dataset.as_of, dataset.fingerprint)
    register_and_promote(
        client, settings, run_.model_uri, run_.run_id, result.split.test, result.test_probabilities
    )


@pytest.fixture
def mlflow_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """`mlflow server` on a free port, SQLite backend, proxied artifacts in a temporary folder."""
    port = free_port()
    artifacts = tmp_path / "server-artifacts"
    server = start_server(
        [
            str(BIN / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination",
            str(artifacts),
        ],
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
