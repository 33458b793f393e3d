"""Schedules fire: `prefect server` on 127.0.0.1, the deployments of prefect.yaml, a process worker.

This is the path a data engineer takes: deploy from prefect.yaml, let the server's scheduler create the
runs, let a worker serving a project folder elsewhere pick them up. Starting runs by hand would bypass
the scheduler, which is what once hid a scheduler that failed on every loop.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import yaml

from tests.pipelines.conftest import FAST_CONFIG
from tests.pipelines.servers import BIN, REPO, free_port, post_json, run, start_server, stop_server

pytestmark = pytest.mark.slow
PREFECT = str(BIN / "prefect")
SCHEDULE_TEST_QUEUE = "schedule-test"
# The wall-clock times prefect.yaml promises: (weekday or None, day of month or None, hour).
PROMISED = {
    "weekly-training": (0, None, 2),
    "weekly-scoring": (0, None, 5),
    "weekly-outcomes": (0, None, 6),
    "monthly-report": (None, 1, 7),
}


@pytest.fixture
def prefect_api(tmp_path: Path) -> Iterator[tuple[str, dict]]:
    """`prefect server start` on a free port with its own PREFECT_HOME; stopped afterwards."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "CHURNGUARD_PATHS__WORK")}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_API_URL=f"http://127.0.0.1:{port}/api",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
        # The scheduler's own loop (60 s by default) bounds the wait; 5 s keeps the test short.
        PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="5",
    )
    server = start_server(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env,
        tmp_path / "prefect-server.log",
        f"http://127.0.0.1:{port}/api/health",
    )
    try:
        yield env["PREFECT_API_URL"], env
    finally:
        stop_server(server)


def deployments(api: str) -> dict[str, str]:
    """Deployment id -> name."""
    return {d["id"]: d["name"] for d in post_json(f"{api}/deployments/filter", {})}


def flow_runs(api: str, deployment_id: str) -> list[dict]:
    body = {"flow_runs": {"deployment_id": {"any_": [deployment_id]}}, "limit": 200}
    return post_json(f"{api}/flow_runs/filter", body)


def flow_run(api: str, flow_run_id: str) -> dict:
    return post_json(f"{api}/flow_runs/filter", {"flow_runs": {"id": {"any_": [flow_run_id]}}})[0]


def run_logs(api: str, flow_run_id: str) -> str:
    logs = post_json(f"{api}/logs/filter", {"logs": {"flow_run_id": {"any_": [flow_run_id]}}, "limit": 200})
    return "\n".join(entry["message"] for entry in logs)


def started_at(flow: dict, zone: ZoneInfo) -> datetime:
    return datetime.fromisoformat(flow["expected_start_time"]).astimezone(zone)


def next_promised(now: datetime, weekday: int | None, day: int | None, hour: int) -> datetime:
    """The first wall-clock time after ``now`` matching the promise, in ``now``'s timezone."""
    moment = now.replace(minute=0, second=0, microsecond=0)
    while True:
        moment += timedelta(hours=1)
        local = moment.replace(tzinfo=now.tzinfo)
        if local.hour == hour and weekday in (None, local.weekday()) and day in (None, local.day):
            return local


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(2)
    raise AssertionError(f"not within {timeout:.0f} s: {what}")


def test_schedules_fire_and_a_worker_elsewhere_completes_the_runs(
    shop: Path, tmp_path: Path, prefect_api: tuple[str, dict]
) -> None:
    api, env = prefect_api
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    zone = ZoneInfo(spec["definitions"]["timezone"])
    # Test only: the training deployment once more, due every minute, on a queue of its own.
    training = next(d for d in spec["deployments"] if d["name"] == "weekly-training")
    spec["deployments"].append(
        {
            **training,
            "name": "every-minute-training",
            "schedules": [{"cron": "* * * * *", "timezone": str(zone)}],
            "work_pool": {**training["work_pool"], "work_queue_name": SCHEDULE_TEST_QUEUE},
        }
    )
    deploy_file = tmp_path / "deploy" / "prefect.yaml"
    deploy_file.parent.mkdir()
    deploy_file.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")

    # The worker's project: data, settings and outputs in a folder the deploying shell never saw.
    project = tmp_path / "worker-project"
    shutil.copytree(shop, project / "data" / "sample")
    (project / "churnguard.yaml").write_text(yaml.safe_dump(FAST_CONFIG), encoding="utf-8")
    worker_env = dict(env, CHURNGUARD_PROJECT_DIR=str(project))

    run([PREFECT, "work-pool", "create", "churnguard", "--type", "process"], env)
    deployed = run(
        [PREFECT, "--no-prompt", "deploy", "--all", "--prefect-file", str(deploy_file)], env, cwd=tmp_path
    )
    assert "train-churn-model/weekly-training" in deployed
    by_name = {name: id_ for id_, name in deployments(api).items()}
    assert set(PROMISED) | {"pipeline-on-demand", "every-minute-training"} <= set(by_name)
    for name in by_name:
        detail = post_json(f"{api}/deployments/filter", {"deployments": {"id": {"any_": [by_name[name]]}}})[0]
        assert str(tmp_path) not in str(detail["pull_steps"]) + str(detail["path"]), (
            "absolute folder baked in"
        )

    # The scheduler creates the runs by itself, at the promised wall-clock times in the configured zone.
    now = datetime.now(UTC).astimezone(zone)
    for name, promise in PROMISED.items():
        scheduled = wait_for(
            lambda name=name: [r for r in flow_runs(api, by_name[name]) if r["state"]["type"] == "SCHEDULED"],
            120,
            f"the scheduler creates runs for {name}",
        )
        times = sorted(started_at(r, zone) for r in scheduled)
        assert all(r["auto_scheduled"] for r in scheduled)
        assert times[0] == next_promised(now, *promise), (name, times[0])
        weekday, day, hour = promise
        assert all(t.hour == hour and t.minute == 0 and day in (None, t.day) for t in times), (name, times)
        assert all(weekday in (None, t.weekday()) for t in times), (name, times)
    assert not flow_runs(api, by_name["pipeline-on-demand"]), "the on-demand deployment has no schedule"

    # "Run one now" on a fresh set-up: scoring before any training fails once, with one plain message.
    started = run([PREFECT, "deployment", "run", "score-customers/weekly-scoring"], env)
    scoring_id = re.search(r"UUID: ([0-9a-f-]{36})", started).group(1)
    run(
        [PREFECT, "worker", "start", "--pool", "churnguard", "--work-queue", "default", "--run-once"],
        worker_env,
    )
    failed = flow_run(api, scoring_id)
    assert failed["state"]["type"] == "FAILED"
    assert "train-churn-model/weekly-training" in failed["state"]["message"]
    logs = run_logs(api, scoring_id)
    assert "Traceback" not in logs, logs

    # A scheduled training run: due within a minute, picked up and completed by the worker.
    minute_runs = wait_for(
        lambda: [
            r
            for r in flow_runs(api, by_name["every-minute-training"])
            if datetime.fromisoformat(r["expected_start_time"]) <= datetime.now(UTC) + timedelta(seconds=5)
        ],
        120,
        "a run of the every-minute schedule falls due",
    )
    assert started_at(minute_runs[0], zone).second == 0 and minute_runs[0]["auto_scheduled"]
    run(
        [
            PREFECT,
            "worker",
            "start",
            "--pool",
            "churnguard",
            "--work-queue",
            SCHEDULE_TEST_QUEUE,
            "--run-once",
        ],
        worker_env,
        timeout=900,
    )
    completed = [
        r for r in flow_runs(api, by_name["every-minute-training"]) if r["state"]["type"] == "COMPLETED"
    ]
    assert completed and all(r["auto_scheduled"] for r in completed)
    assert (
        project / ".churnguard" / "mlflow.db"
    ).is_file()  # relative paths resolved in the worker's project

    # With a champion, the weekly scoring and the report complete when started by hand too.
    deployments_by_hand = (
        "score-customers/weekly-scoring",
        "measure-outcomes/weekly-outcomes",
        "retention-report/monthly-report",
    )
    for deployment in deployments_by_hand:
        run([PREFECT, "deployment", "run", deployment], env)
    run(
        [PREFECT, "worker", "start", "--pool", "churnguard", "--work-queue", "default", "--run-once"],
        worker_env,
    )
    for name in ("weekly-scoring", "weekly-outcomes", "monthly-report"):
        states = [r["state"]["type"] for r in flow_runs(api, by_name[name]) if not r["auto_scheduled"]]
        assert "COMPLETED" in states, (name, states)
    risk = pd.read_parquet(next((project / "output" / "risk_lists").glob("as_of=*")) / "risk_list.parquet")
    assert len(risk) > 0 and risk["model_version"].eq("1").all()
    assert next((project / "output" / "reports").glob("as_of=*/report.html")).is_file()
