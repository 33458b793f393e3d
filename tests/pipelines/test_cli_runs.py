"""The `churn` commands as a user runs them: in-process without a Prefect server, as Prefect runs with one,
and Ctrl-C at any moment: exit 130 within 2 s, previous outputs intact, no staged customer data left."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

from churnguard.core.data.generate import generate_sample
from tests.pipelines.conftest import FAST_CONFIG
from tests.pipelines.servers import free_port, post_json, start_server, stop_server

pytestmark = pytest.mark.slow

CHURN = Path(sys.executable).with_name("churn")
PREFECT = Path(sys.executable).with_name("prefect")
INTERRUPT_LIMIT_SECONDS = 2.0


@pytest.fixture(scope="module")
def big_shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10,000 customers: scoring and training last long enough for a Ctrl-C to land in the middle."""
    folder = tmp_path_factory.mktemp("big-shop")
    generate_sample(folder, n_customers=10_000, seed=11)
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, big_shop: Path) -> Path:
    """A project with a champion (trained on a small shop) and a risk list of the big shop."""
    project = tmp_path_factory.mktemp("project")
    (project / "churnguard.yaml").write_text(yaml.safe_dump(FAST_CONFIG), encoding="utf-8")
    shop = project / "shop"
    generate_sample(shop, n_customers=2_000, seed=5)
    for command in (["train", "--data", "shop"], ["score", "--data", str(big_shop), "--out", "lists"]):
        result = churn(*command, cwd=project)
        assert result.returncode == 0, result.stdout + result.stderr
    return project


def local_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI")}
    env["COLUMNS"] = "200"
    return env


def churn(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CHURN), *args], cwd=cwd, env=env or local_env(), capture_output=True, text=True, timeout=600
    )


def interrupted(args: list[str], cwd: Path, when: str, env: dict | None = None) -> tuple[int, float, str]:
    """Run a command, press Ctrl-C once ``when`` is printed: (exit code, seconds to exit, output)."""
    process = subprocess.Popen(
        args,
        cwd=cwd,
        env=env or local_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        start_new_session=True,  # the whole group gets the signal, as from a terminal
    )
    said = []
    for line in process.stdout:
        said.append(line)
        if when in line:
            break
    else:
        process.wait()
        raise AssertionError(f"{when!r} never printed:\n{''.join(said)}")
    pressed = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)
    said.append(process.stdout.read())
    code = process.wait(timeout=60)
    return code, time.monotonic() - pressed, "".join(said)


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) with a hash of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def registry(project: Path) -> tuple[list, list]:
    with sqlite3.connect(project / ".churnguard" / "mlflow.db") as db:
        runs = db.execute("select run_uuid, status, lifecycle_stage from runs order by run_uuid").fetchall()
        aliases = db.execute("select alias, version from registered_model_aliases order by alias").fetchall()
    return runs, aliases


def staged(project: Path) -> list[Path]:
    work = project / ".churnguard" / "work"
    return list(work.iterdir()) if work.exists() else []


@pytest.mark.parametrize("when", ["Scoring with", "Built features"])
def test_ctrl_c_while_scoring_exits_130_fast_and_keeps_the_previous_list(
    trained: Path, big_shop: Path, when: str
) -> None:
    before = fingerprint(trained / "lists")
    code, seconds, said = interrupted(
        [str(CHURN), "score", "--data", str(big_shop), "--out", "lists"], trained, when
    )
    assert code == 130, said
    assert seconds < INTERRUPT_LIMIT_SECONDS, f"{seconds:.2f} s\n{said}"
    assert fingerprint(trained / "lists") == before  # same files, same bytes, no temporary folder
    assert staged(trained) == []
    assert "Traceback" not in said


def test_ctrl_c_while_training_exits_130_fast_and_leaves_the_registry_alone(
    trained: Path, big_shop: Path
) -> None:
    before = registry(trained)
    # The interrupt lands while DuckDB builds the training set: a C call that defers Python's handler.
    code, seconds, said = interrupted(
        [str(CHURN), "train", "--data", str(big_shop)], trained, "Using data validated earlier"
    )
    assert code == 130, said
    assert seconds < INTERRUPT_LIMIT_SECONDS, f"{seconds:.2f} s\n{said}"
    assert registry(trained) == before  # no new run, version or alias
    assert staged(trained) == []


def test_an_interrupt_swallowed_on_its_way_still_stops_the_run_and_replaces_nothing(tmp_path: Path) -> None:
    """Python drops a KeyboardInterrupt raised inside a finaliser; the run must not go on to commit."""
    target = tmp_path / "list.csv"
    target.write_text("previous\n", encoding="utf-8")
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from churnguard.core import interrupt
        from churnguard.core.atomic import write_file_atomically

        interrupt.install()
        with interrupt.cleanup_on_abort(lambda: Path({str(tmp_path / "cleaned")!r}).touch()):
            print("ready", flush=True)
            try:
                time.sleep(60)
            except KeyboardInterrupt:
                print("swallowed", flush=True)  # as a finaliser would, then the run goes on
            try:
                write_file_atomically(Path({str(target)!r}), lambda tmp: tmp.write_text("new\\n"))
            except KeyboardInterrupt:
                print("refused", flush=True)
            while True:  # a run that hangs on after all
                try:
                    time.sleep(0.05)
                except KeyboardInterrupt:
                    pass
        """
    )
    code, seconds, said = interrupted([sys.executable, "-c", script], tmp_path, "ready")
    assert code == 130, said
    assert seconds < INTERRUPT_LIMIT_SECONDS, f"{seconds:.2f} s\n{said}"
    assert "swallowed" in said and "refused" in said
    assert target.read_text(encoding="utf-8") == "previous\n"
    assert (tmp_path / "cleaned").exists(), "the registered clean-up must run before the forced exit"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file


def test_without_a_prefect_server_commands_run_in_process(trained: Path) -> None:
    result = churn("features", "--data", "shop", "--out", "features.parquet", cwd=trained)
    assert result.returncode == 0, result.stderr
    said = result.stdout + result.stderr
    assert "in this process" in said
    assert "Starting temporary server" not in said and "Traceback" not in said
    assert " features to " in said  # the task's own log line, printed as Prefect would


@pytest.fixture
def prefect_api(tmp_path: Path) -> Iterator[tuple[str, dict]]:
    """`prefect server start` on 127.0.0.1 with its own PREFECT_HOME; stopped afterwards."""
    port = free_port()
    env = local_env()
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
    )
    server = start_server(
        [str(PREFECT), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env,
        tmp_path / "prefect-server.log",
        f"http://127.0.0.1:{port}/api/health",
    )
    try:
        yield f"http://127.0.0.1:{port}/api", {**env, "PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}
    finally:
        stop_server(server)


def runs_of(api: str, flow_name: str) -> list[dict]:
    flows = post_json(f"{api}/flows/filter", {"flows": {"name": {"any_": [flow_name]}}})
    if not flows:
        return []
    return post_json(
        f"{api}/flow_runs/filter", {"flow_runs": {}, "flows": {"id": {"any_": [flows[0]["id"]]}}}
    )


def test_with_prefect_api_url_commands_are_prefect_runs_and_ctrl_c_marks_them_crashed(
    trained: Path, big_shop: Path, prefect_api: tuple[str, dict]
) -> None:
    api, env = prefect_api
    result = churn("features", "--data", "shop", "--out", "features.parquet", cwd=trained, env=env)
    assert result.returncode == 0, result.stderr
    [run] = runs_of(api, "build-features")
    assert run["state_type"] == "COMPLETED"
    tasks = post_json(f"{api}/task_runs/filter", {"flow_runs": {"id": {"any_": [run["id"]]}}})
    assert {t["name"].rsplit("-", 1)[0] for t in tasks} >= {"validate-data", "write-feature-table"}

    churn("features", "--data", "shop", "--out", "features.parquet", cwd=trained)  # no server: no run
    assert len(runs_of(api, "build-features")) == 1

    before = fingerprint(trained / "lists")
    code, seconds, said = interrupted(
        [str(CHURN), "score", "--data", str(big_shop), "--out", "lists"], trained, "Scoring with", env=env
    )
    assert code == 130, said
    assert seconds < INTERRUPT_LIMIT_SECONDS, f"{seconds:.2f} s\n{said}"
    assert fingerprint(trained / "lists") == before
    [scoring] = runs_of(api, "score-customers")
    assert scoring["state_type"] == "CRASHED"


def test_lookup_shows_the_customer_row_earlier_tiers_and_history_that_agree(
    trained: Path, big_shop: Path
) -> None:
    earlier = churn("score", "--data", str(big_shop), "--out", "lists", "--as-of", "2026-10-01", cwd=trained)
    assert earlier.returncode == 0, earlier.stderr
    [newest] = sorted((trained / "lists").glob("as_of=*"))[-1:]
    risk = pd.read_parquet(newest / "risk_list.parquet")
    overdue = risk[risk["reason_1"].str.startswith("No purchase for", na=False)].iloc[0]

    result = churn(
        "lookup", "--customer-id", str(overdue["customer_id"]), "--data", str(big_shop),
        "--risk-lists", "lists", cwd=trained,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    said = result.stdout
    assert f"rank {overdue['rank']:,} of {len(risk):,}" in said
    assert overdue["reason_1"] in said and str(overdue["suggested_action"]) in said
    assert "Earlier lists" in said and "2026-10-01" in said
    # The history's numbers are the reason's: "No purchase for N days" and "N days before".
    days = overdue["reason_1"].removeprefix("No purchase for ").split(" days")[0]
    assert f"({days} days before" in said, said

    unknown = churn("lookup", "--customer-id", "no-such-id", "--risk-lists", "lists", cwd=trained)
    assert unknown.returncode == 2
    assert "'no-such-id' is not on the risk list" in unknown.stderr and "Traceback" not in unknown.stderr
