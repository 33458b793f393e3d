"""Staged copies of customer data go when their run ends; paths.keep_work keeps the newest few."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd

from churnguard.core.data.stage import MARKER, Stage, remove_stage


def _stage(root: Path, name: str, age_seconds: float) -> Stage:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / MARKER).write_text("{}", encoding="utf-8")
    (folder / "transactions.parquet").write_bytes(b"rows")
    stamp = time.time() - age_seconds
    os.utime(folder, (stamp, stamp))
    return Stage(folder, root, pd.Timestamp("2026-01-01", tz="UTC"), "f", {}, [])


def test_a_run_removes_its_own_stage_and_no_other(tmp_path: Path) -> None:
    mine = _stage(tmp_path, "mine", 0)
    other = _stage(tmp_path, "other-run-still-going", 60)
    remove_stage(mine)
    assert not mine.folder.exists() and other.folder.exists()


def test_keep_work_keeps_the_newest_and_never_prunes_a_stage_younger_than_a_day(tmp_path: Path) -> None:
    day = 86_400
    current = _stage(tmp_path, "current", 0)
    _stage(tmp_path, "recent", 600)
    _stage(tmp_path, "two-days", 2 * day)
    _stage(tmp_path, "three-days", 3 * day)
    _stage(tmp_path, "an-hour", 3600)
    (tmp_path / "not-a-stage").mkdir()

    remove_stage(current, keep=2)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["an-hour", "current", "not-a-stage", "recent"]
