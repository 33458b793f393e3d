"""A throw-away PostgreSQL server on 127.0.0.1 for the tests: initdb, pg_ctl start, stop, remove.

Use the session fixture ``postgres_url`` (import it into a test module or a conftest): it yields
``postgresql://churnguard:PASSWORD@127.0.0.1:PORT/churnguard`` for a fresh cluster whose password is
generated per session (scram-sha-256 for every connection, socket or TCP).

``initdb`` and ``postgres`` refuse to run as root (a server owned by root could be used to take over
the machine). When the tests run as root (containers, CI images) the cluster therefore belongs to the
``postgres`` system user the Debian package creates: its folder is chowned to that user and
``initdb``/``pg_ctl`` run through ``runuser -u postgres --``. Run as any other user, they run as is.

The server runs in the time zone Asia/Kolkata (+05:30) on purpose: code that forgets to ask for UTC
shows up as a half-hour-odd shift instead of passing by luck on a UTC machine.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.pipelines.servers import free_port

USER = "churnguard"
DATABASE = "churnguard"
SERVER_TIMEZONE = "Asia/Kolkata"
SYSTEM_USER = "postgres"  # who owns the cluster when the tests run as root


def postgres_bindir() -> Path | None:
    """The folder of initdb and pg_ctl: ``pg_config --bindir``, else the newest /usr/lib/postgresql/*/bin."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if result.returncode == 0:
            candidates.append(Path(result.stdout.strip()))
    versions = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin") if Path(p).parent.name.isdigit()]
    candidates += sorted(versions, key=lambda p: int(p.parent.name), reverse=True)
    return next((c for c in candidates if (c / "initdb").exists() and (c / "pg_ctl").exists()), None)


def _as_owner(command: list[str]) -> list[str]:
    """The command as the cluster's owner: the ``postgres`` user when we are root, else ourselves."""
    return ["runuser", "-u", SYSTEM_USER, "--", *command] if os.geteuid() == 0 else command


def _run(command: list[str], log: Path | None = None) -> None:
    result = subprocess.run(_as_owner(command), capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
        raise RuntimeError(
            f"{Path(command[0]).name} failed ({result.returncode}):\n{result.stdout}{result.stderr}{tail}"
        )


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """Start a fresh cluster in a temporary folder and yield its URL; stop it and remove the folder after.

    Yields:
        ``postgresql://churnguard:PASSWORD@127.0.0.1:PORT/churnguard``, database created and empty.
    """
    bindir = postgres_bindir()
    if bindir is None:
        pytest.fail("PostgreSQL is missing: run `make postgres` (Debian package postgresql)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            pytest.fail(f"running as root, but there is no {SYSTEM_USER!r} user to own the test cluster")
    import psycopg

    root = Path(tempfile.mkdtemp(prefix="churnguard-pg-"))
    data, sockets, log = root / "data", root / "sockets", root / "server.log"
    password = secrets.token_urlsafe(18)
    pwfile = root / "pwfile"
    pwfile.write_text(password + "\n")
    sockets.mkdir()
    root.chmod(0o700)
    pwfile.chmod(0o600)
    if os.geteuid() == 0:
        for path in (root, pwfile, sockets):
            shutil.chown(path, SYSTEM_USER, SYSTEM_USER)
    started = False
    try:
        _run(
            [
                str(bindir / "initdb"),
                "--pgdata",
                str(data),
                "--username",
                USER,
                "--auth=scram-sha-256",
                "--pwfile",
                str(pwfile),
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        pwfile.unlink()
        for _attempt in range(3):  # another process may take the free port before the server binds it
            port = free_port()
            options = (
                f"-h 127.0.0.1 -p {port} -k {sockets} -c fsync=off -c synchronous_commit=off "
                f"-c full_page_writes=off -c timezone={SERVER_TIMEZONE}"
            )
            try:
                _run(
                    [str(bindir / "pg_ctl"), "start", "-D", str(data), "-l", str(log), "-w", "-o", options],
                    log,
                )
                started = True
                break
            except RuntimeError:
                if "could not bind" not in log.read_text(errors="replace"):
                    raise
        if not started:
            raise RuntimeError(f"PostgreSQL found no free port:\n{log.read_text(errors='replace')[-3000:]}")
        server = f"postgresql://{USER}:{password}@127.0.0.1:{port}"
        _wait_until_accepting(f"{server}/postgres")
        with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {DATABASE}")
        yield f"{server}/{DATABASE}"
    finally:
        if started:
            subprocess.run(
                _as_owner([str(bindir / "pg_ctl"), "stop", "-D", str(data), "-m", "fast", "-w"]),
                capture_output=True,
                timeout=120,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)


def _wait_until_accepting(url: str, timeout: float = 60) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(url, connect_timeout=5):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a throw-away PostgreSQL server shared by the session (each test uses its own schema)."""
    with postgres_cluster() as url:
        yield url
