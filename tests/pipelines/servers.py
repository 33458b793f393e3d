"""Start and stop real servers on 127.0.0.1 for the end-to-end tests, and run their command-line tools."""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

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


def start_server(
    command: list[str], env: dict, log: Path, health: str, cwd: Path | None = None
) -> subprocess.Popen:
    handle = log.open("w")
    process = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_until_up(health, process, log)
    except BaseException:
        stop_server(process)  # a server that never came up must not outlive the test
        raise
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


def post_json(url: str, body: dict, credentials: str | None = None) -> list | dict:
    """POST a JSON body to a server's REST API and return the decoded answer.

    Args:
        url: The endpoint.
        body: The JSON body.
        credentials: ``user:password`` sent as HTTP basic authentication, or None.
    """
    with urllib.request.urlopen(_request(url, body, credentials), timeout=30) as response:
        return json.loads(response.read())


def get_json(url: str, credentials: str | None = None) -> list | dict:
    """GET a server's REST endpoint (with ``user:password`` as basic authentication) and decode it."""
    with urllib.request.urlopen(_request(url, None, credentials), timeout=30) as response:
        return json.loads(response.read())


def status_of(url: str, body: dict | None = None, credentials: str | None = None) -> int:
    """The HTTP status of one raw request (POST of ``body`` when given, else GET); errors are returned."""
    try:
        with urllib.request.urlopen(_request(url, body, credentials), timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _request(url: str, body: dict | None, credentials: str | None) -> urllib.request.Request:
    headers = {"Content-Type": "application/json"}
    if credentials is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
    data = None if body is None else json.dumps(body).encode()
    return urllib.request.Request(url, data=data, headers=headers, method="GET" if body is None else "POST")


def new_password() -> str:
    """A fresh random password: test servers take their credentials from environment variables only."""
    return secrets.token_urlsafe(18)


def mlflow_server_command(port: int, store: Path) -> list[str]:
    """`mlflow server` on 127.0.0.1:``port``: SQLite backend and proxied artifacts in ``store``."""
    return [
        str(BIN / "mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{store / 'server.db'}",
        "--artifacts-destination",
        str(store / "server-artifacts"),
    ]


def start_mlflow_auth_server(folder: Path, env: dict) -> tuple[subprocess.Popen, str]:
    """`mlflow server --app-name basic-auth` on a free port, in ``folder``, as README.md starts it.

    Args:
        folder: The server's working directory: it holds mlflow.db, mlartifacts/ and, as MLflow's own
            basic_auth.ini says, the user database basic_auth.db. Created when missing.
        env: The server's environment with its secrets: MLFLOW_AUTH_ADMIN_USERNAME,
            MLFLOW_AUTH_ADMIN_PASSWORD (the admin user created on the first start) and
            MLFLOW_FLASK_SERVER_SECRET_KEY. No file holds them.

    Returns:
        The server process (stop it with :func:`stop_server`) and its tracking URI.
    """
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [str(BIN / "mlflow"), "server", "--app-name", "basic-auth", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", "1", "--backend-store-uri", "sqlite:///mlflow.db"]
    command += ["--artifacts-destination", "./mlartifacts"]
    health = f"http://127.0.0.1:{port}/health"  # the one path basic-auth leaves open
    server = start_server(command, env, folder / "mlflow-server.log", health, cwd=folder)
    return server, f"http://127.0.0.1:{port}"


def start_prefect_auth_server(folder: Path, env: dict) -> tuple[subprocess.Popen, str]:
    """`prefect server start` on a free port that refuses API requests without its auth string.

    Args:
        folder: Holds the server's PREFECT_HOME (its database) and its log. Created when missing.
        env: The server's environment with PREFECT_SERVER_API_AUTH_STRING (``user:password``).

    Returns:
        The server process (stop it with :func:`stop_server`) and its API URL.
    """
    assert env.get("PREFECT_SERVER_API_AUTH_STRING"), "PREFECT_SERVER_API_AUTH_STRING must be set"
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = dict(
        env,
        PREFECT_HOME=str(folder / "prefect-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
    )
    command = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    health = f"http://127.0.0.1:{port}/api/health"  # open without the auth string, like /api/ready
    server = start_server(command, env, folder / "prefect-server.log", health)
    return server, f"http://127.0.0.1:{port}/api"
