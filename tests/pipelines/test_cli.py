"""The installed `churn` console script: help, exit codes scripts rely on, readable errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

CHURN = Path(sys.executable).with_name("churn")


def churn(*args: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI")}
    env["COLUMNS"] = "200"
    return subprocess.run(
        [str(CHURN), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_help_lists_every_command_and_each_has_its_own_help(tmp_path: Path) -> None:
    result = churn("--help", cwd=tmp_path)
    assert result.returncode == 0
    commands = (
        "generate",
        "validate",
        "features",
        "train",
        "score",
        "report",
        "pipeline",
        "demo",
        "runs",
        "forget",
    )
    for command in commands:
        assert command in result.stdout
        sub = churn(command, "--help", cwd=tmp_path)
        assert sub.returncode == 0, command
        assert command == "generate" or "--config" in sub.stdout, command  # generate reads no settings


def test_generate_then_validate_a_clean_shop(tmp_path: Path) -> None:
    made = churn("generate", "--out", "shop", "--customers", "300", "--seed", "1", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert "300 customers" in made.stdout
    checked = churn("validate", "--data", "shop", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "OK: the data meets the contract." in checked.stdout


def test_invalid_data_exits_2_with_the_whole_report(tmp_path: Path) -> None:
    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "transactions.csv").write_text(
        "order_id,customer_id,ts,amount\n1,1,2024-01-01,10\n1,2,yesterday,12\n", encoding="utf-8"
    )
    result = churn("validate", "--data", "shop", cwd=tmp_path)
    assert result.returncode == 2
    assert "duplicate order_id" in result.stderr
    assert "line 3: ts='yesterday'" in result.stderr


@pytest.mark.parametrize("command", ["train", "score", "report", "pipeline", "features"])
def test_bad_data_stops_every_flow_command_before_prefect_starts_with_one_message(
    tmp_path: Path, command: str
) -> None:
    # Before: ~17 s of Prefect start-up, then the message three times (task, flow, command).
    extra = ["--out", "features.parquet"] if command == "features" else []
    result = churn(command, "--data", "missing-folder", *extra, cwd=tmp_path)
    assert result.returncode == 2
    said = result.stdout + result.stderr
    assert said.count("data directory does not exist") == 1, said
    assert (
        "Traceback" not in said and "Starting temporary server" not in said and "Loading Prefect" not in said
    )


def test_invalid_config_exits_2(tmp_path: Path) -> None:
    (tmp_path / "churnguard.yaml").write_text("churn: {horizon_days: -5}\n", encoding="utf-8")
    result = churn("runs", cwd=tmp_path)
    assert result.returncode == 2
    assert "churn.horizon_days" in result.stderr


def test_runs_without_any_training_says_how_to_start(tmp_path: Path) -> None:
    result = churn("runs", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "churn train --data DIR" in result.stdout
    assert (tmp_path / ".churnguard" / "mlflow.db").exists()  # the embedded store, created on first use


@pytest.mark.slow
def test_score_without_a_model_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    assert churn("generate", "--out", "shop", "--customers", "300", cwd=tmp_path).returncode == 0
    result = churn("score", "--data", "shop", "--out", "lists", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "train a model first: churn train" in result.stderr
    assert not (tmp_path / "lists").exists()
    assert pd.read_parquet(tmp_path / "shop" / "transactions.parquet").shape[0] > 0
