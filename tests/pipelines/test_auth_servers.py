"""Servers with authentication: `mlflow server --app-name basic-auth` and `prefect server start` with an
API auth string, both on 127.0.0.1, started as README.md shows ("Running the servers with authentication").

Requests without credentials are refused; `churn train` and a process worker's flow run, given their
credentials in the standard environment variables, complete; no secret reaches a log or a file.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from churnguard.core.config import masked_uri
from tests.pipelines.conftest import FAST_CONFIG
from tests.pipelines.servers import (
    BIN,
    REPO,
    get_json,
    new_password,
    post_json,
    run,
    start_mlflow_auth_server,
    start_prefect_auth_server,
    status_of,
    stop_server,
)

PREFECT = str(BIN / "prefect")
CHURN = str(BIN / "churn")
MODEL = "churnguard-churn"
# Training is not what this file tests: one backtest fold keeps it short.
LIGHT_CONFIG = {**FAST_CONFIG, "training": {**FAST_CONFIG["training"], "backtest_folds": 1}}


@dataclass
class Secured:
    """Both servers, the credentials the clients use, and every secret to look for in logs and files."""

    folder: Path
    mlflow_uri: str
    prefect_api: str
    mlflow_user: str  # "churnguard:<password>", a non-admin MLflow user
    prefect_auth: str  # "churnguard:<password>", the Prefect API auth string
    secrets: tuple[str, ...]
    clients: dict  # the environment of `churn`, `prefect deploy` and workers


def _environment() -> dict:
    """This process's environment without any credentials or server addresses of its own."""
    dropped = ("MLFLOW_TRACKING_", "MLFLOW_AUTH_", "MLFLOW_FLASK_", "PREFECT_API_", "PREFECT_SERVER_API_")
    return {k: v for k, v in os.environ.items() if not k.startswith(dropped)}


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    """Both servers with authentication; MLflow gets a `churnguard` user besides its admin."""
    folder = tmp_path_factory.mktemp("secured")
    admin_password, user_password, prefect_password = new_password(), new_password(), new_password()
    secret_key = secrets.token_hex(32)
    mlflow_env = dict(
        _environment(),
        MLFLOW_AUTH_ADMIN_USERNAME="admin",
        MLFLOW_AUTH_ADMIN_PASSWORD=admin_password,
        MLFLOW_FLASK_SERVER_SECRET_KEY=secret_key,
    )
    prefect_env = dict(_environment(), PREFECT_SERVER_API_AUTH_STRING=f"churnguard:{prefect_password}")
    with ThreadPoolExecutor(2) as pool:  # each takes tens of seconds to come up: start both at once
        starting = [
            pool.submit(start_mlflow_auth_server, folder / "mlflow-server", mlflow_env),
            pool.submit(start_prefect_auth_server, folder / "prefect-server", prefect_env),
        ]
    started = [future.result()[0] for future in starting if future.exception() is None]
    try:
        (_, mlflow_uri), (_, prefect_api) = (future.result() for future in starting)
        # The admin creates the user the clients log in as, through MLflow's auth REST API.
        post_json(
            f"{mlflow_uri}/api/2.0/mlflow/users/create",
            {"username": "churnguard", "password": user_password},
            credentials=f"admin:{admin_password}",
        )
        clients = dict(
            _environment(),
            MLFLOW_TRACKING_URI=mlflow_uri,
            MLFLOW_TRACKING_USERNAME="churnguard",
            MLFLOW_TRACKING_PASSWORD=user_password,
            PREFECT_API_URL=prefect_api,
            PREFECT_API_AUTH_STRING=f"churnguard:{prefect_password}",
        )
        yield Secured(
            folder=folder,
            mlflow_uri=mlflow_uri,
            prefect_api=prefect_api,
            mlflow_user=f"churnguard:{user_password}",
            prefect_auth=f"churnguard:{prefect_password}",
            secrets=(admin_password, user_password, prefect_password, secret_key),
            clients=clients,
        )
    finally:
        for server in reversed(started):
            stop_server(server)


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("http://churnguard:pa55@mlflow-host:5000", "http://***@mlflow-host:5000"),
        ("https://token@mlflow-host/path?x=1", "https://***@mlflow-host/path?x=1"),
        ("postgresql://mlflow:pa55@db:5432/mlflow", "postgresql://***@db:5432/mlflow"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("sqlite:////srv/a@b/mlflow.db", "sqlite:////srv/a@b/mlflow.db"),
    ],
)
def test_masked_uri_hides_credentials_only(uri: str, shown: str) -> None:
    assert masked_uri(uri) == shown


@pytest.mark.slow
def test_requests_without_credentials_are_refused(secured: Secured) -> None:
    mlflow_search = f"{secured.mlflow_uri}/api/2.0/mlflow/experiments/search?max_results=1"
    prefect_flows = f"{secured.prefect_api}/flows/filter"
    for url, body, good in (
        (mlflow_search, None, secured.mlflow_user),
        (prefect_flows, {}, secured.prefect_auth),
    ):
        assert status_of(url, body) == 401, url
        assert status_of(url, body, "churnguard:not-the-password") == 401, url
        assert status_of(url, body, good) == 200, url  # the endpoint itself answers

    # `churn` without MLflow credentials is refused too, and says so.
    anonymous = {k: v for k, v in secured.clients.items() if not k.startswith("MLFLOW_TRACKING_")}
    anonymous["MLFLOW_TRACKING_URI"] = secured.mlflow_uri
    # Credentials in the URI work too, but churnguard never prints them.
    user, password = secured.mlflow_user.split(":")
    in_uri = dict(anonymous, MLFLOW_TRACKING_URI=secured.mlflow_uri.replace("://", f"://{user}:{password}@"))
    refused, listed = _churn(
        (["runs"], anonymous), (["runs", "--experiment", "no-runs-here"], in_uri), cwd=secured.folder
    )
    assert refused.returncode == 1 and "401" in refused.stdout + refused.stderr
    assert listed.returncode == 0, listed.stderr
    assert "No training runs yet in http://***@127.0.0.1:" in listed.stdout
    assert password not in listed.stdout + listed.stderr


@pytest.mark.slow
def test_training_and_a_worker_run_complete_with_credentials(shop: Path, secured: Secured) -> None:
    api, auth, env = secured.prefect_api, secured.prefect_auth, secured.clients
    project = secured.folder / "project"
    shutil.copytree(shop, project / "data" / "sample")
    (project / "churnguard.yaml").write_text(yaml.safe_dump(LIGHT_CONFIG), encoding="utf-8")

    # `churn train`: the flow runs in the authenticated Prefect server, the model goes to MLflow's registry.
    trained = run([CHURN, "train", "--data", "data/sample"], env, cwd=project, timeout=900)
    assert f"Model: {MODEL} version 1" in trained
    registered = get_json(
        f"{secured.mlflow_uri}/api/2.0/mlflow/registered-models/get?name={MODEL}", secured.mlflow_user
    )["registered_model"]
    assert {"alias": "champion", "version": "1"} in registered["aliases"]
    assert not (project / ".churnguard" / "mlflow.db").exists(), "the model must go to the server"
    training_runs = post_json(
        f"{api}/flow_runs/filter", {"flows": {"name": {"any_": ["train-churn-model"]}}}, credentials=auth
    )
    assert [r["state"]["type"] for r in training_runs] == ["COMPLETED"]

    # The README's path: a work pool, `prefect deploy --all`, a process worker with the credentials.
    run([PREFECT, "work-pool", "create", "churnguard", "--type", "process"], env)
    deploy_folder = secured.folder / "deploy"
    deploy_folder.mkdir()
    deployed = run(
        [PREFECT, "--no-prompt", "deploy", "--all", "--prefect-file", str(REPO / "prefect.yaml")],
        env,
        cwd=deploy_folder,
    )
    started = run([PREFECT, "deployment", "run", "score-customers/weekly-scoring"], env)
    scoring_id = re.search(r"UUID: ([0-9a-f-]{36})", started).group(1)
    worked = run(
        [PREFECT, "worker", "start", "--pool", "churnguard", "--work-queue", "default", "--run-once"],
        dict(env, CHURNGUARD_PROJECT_DIR=str(project)),
    )
    scoring = post_json(f"{api}/flow_runs/filter", {"flow_runs": {"id": {"any_": [scoring_id]}}}, auth)[0]
    assert scoring["state"]["type"] == "COMPLETED", scoring["state"]
    risk = pd.read_parquet(next((project / "output" / "risk_lists").glob("as_of=*")) / "risk_list.parquet")
    assert len(risk) > 0 and risk["model_version"].eq("1").all()  # the champion, read from the server

    # No secret in any output, server log, flow-run log or record, or any file either server or run wrote.
    run_ids = [training_runs[0]["id"], scoring_id]
    logs = post_json(f"{api}/logs/filter", {"logs": {"flow_run_id": {"any_": run_ids}}, "limit": 200}, auth)
    assert any("Logging the run to MLflow at http://127.0.0.1:" in entry["message"] for entry in logs)
    said = "\n".join([trained, deployed, started, worked, str(logs), str(training_runs), str(scoring)])
    for secret in secured.secrets:
        assert secret not in said
    written = [*secured.folder.rglob("*"), *Path(os.environ["PREFECT_HOME"]).rglob("*")]
    for path in (p for p in written if p.is_file()):
        content = path.read_bytes()
        assert not any(secret.encode() in content for secret in secured.secrets), path


def _churn(*calls: tuple[list[str], dict], cwd: Path) -> list[subprocess.CompletedProcess]:
    """Run `churn` once per (arguments, environment), all at once, whatever their exit codes."""

    def one(call: tuple[list[str], dict]) -> subprocess.CompletedProcess:
        arguments, env = call
        return subprocess.run(
            [CHURN, *arguments], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
        )

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(one, calls))
