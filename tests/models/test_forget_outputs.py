"""``churn forget`` on real outputs: a scored risk list, the retention report and a staged copy with
its training set, through the library and through the installed command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from churnguard.core.data.stage import stage_dataset
from churnguard.core.forget import Touched, forget_customers
from churnguard.models.scoring import write_risk_list
from churnguard.reports.build import build_report
from tests.models import scoring_fixtures
from tests.models.scoring_fixtures import ScoringWorld

scoring_world = scoring_fixtures.scoring_world

CHURN = Path(sys.executable).with_name("churn")


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def pristine(scoring_world: ScoringWorld, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder with ``lists/``, ``reports/`` and ``work/`` as churnguard writes them."""
    root = tmp_path_factory.mktemp("outputs")
    w = scoring_world
    write_risk_list(w.scored, root / "lists", w.dataset.as_of)
    build_report(w.dataset, w.settings, root / "reports", root / "lists")
    stage = stage_dataset(w.dataset, root / "work")
    w.training_set.to_parquet(stage.folder / "training_0123456789ab.parquet", index=False)
    return root


@pytest.fixture
def project(pristine: Path, tmp_path: Path) -> Path:
    shutil.copytree(pristine, tmp_path, dirs_exist_ok=True)
    return tmp_path


def chosen_ids(world: ScoringWorld) -> tuple[list[int], list[int]]:
    """Three scored customers (first, middle, last of the list) and one customer who is not scored."""
    risk = world.scored.risk_list["customer_id"]
    scored = [int(risk.iloc[0]), int(risk.iloc[len(risk) // 2]), int(risk.iloc[-1])]
    unscored = sorted(set(world.dataset.customers["customer_id"]) - set(risk))[:1]
    assert unscored, "every customer is scored: the test needs one who is not"
    return scored, unscored


def rows_of(folder: Path, ids: list[int]) -> int:
    return sum(
        int(pd.read_parquet(p, columns=["customer_id"])["customer_id"].isin(ids).sum())
        for p in folder.glob("*.parquet")
    )


def check_forgotten(project: Path, pristine: Path, ids: list[int]) -> None:
    """The ids are gone from every table; every other row, and every other file, is as it was."""
    folder = next((project / "lists").iterdir())
    before = pd.read_parquet(pristine / "lists" / folder.name / "risk_list.parquet")
    after = pd.read_parquet(folder / "risk_list.parquet")
    expected = before[~before["customer_id"].isin(ids)].reset_index(drop=True)
    pd.testing.assert_frame_equal(after, expected)
    lines = (pristine / "lists" / folder.name / "risk_list.csv").read_bytes().splitlines(keepends=True)
    kept = [lines[0]] + [
        line for line, cid in zip(lines[1:], before["customer_id"], strict=True) if cid not in ids
    ]
    assert (folder / "risk_list.csv").read_bytes() == b"".join(kept)
    csv = pd.read_csv(folder / "risk_list.csv", encoding="utf-8-sig")
    assert not csv["customer_id"].isin(ids).any() and len(csv) == len(expected)
    unchanged = {k: v for k, v in snapshot(pristine).items() if not k.startswith(("lists/as_of", "work/"))}
    unchanged[f"lists/{folder.name}/summary.json"] = (
        pristine / "lists" / folder.name / "summary.json"
    ).read_bytes()
    now = snapshot(project)
    assert {k: now.get(k) for k in unchanged} == unchanged  # the report and the summary: aggregates only
    for table in (project / "reports").rglob("*.csv"):
        assert "customer_id" not in pd.read_csv(table, nrows=0).columns, table
    assert list((project / "work").iterdir()) == []
    assert sorted(p.name for p in (project / "lists").iterdir()) == [folder.name]


def test_forget_removes_the_customers_from_every_file(
    scoring_world: ScoringWorld, project: Path, pristine: Path
):
    scored, unscored = chosen_ids(scoring_world)
    ids = scored + unscored
    stage = next((pristine / "work").iterdir())
    folder = next((project / "lists").iterdir())

    report = forget_customers(
        [*map(str, ids), "no-such-customer"], [project / "lists", project / "reports"], project / "work"
    )

    assert report.ids == 5
    assert report.touched == [
        Touched(folder / "risk_list.csv", "rewritten", 3),
        Touched(folder / "risk_list.parquet", "rewritten", 3),
        Touched(project / "work" / stage.name, "deleted", rows_of(stage, ids)),
    ]
    assert rows_of(stage, unscored) > 0  # the unscored customer was only in the staged data
    check_forgotten(project, pristine, ids)

    before = snapshot(project)
    again = forget_customers(map(str, ids), [project / "lists", project / "reports"], project / "work")
    assert again.touched == [] and again.checked == report.checked - len(list(stage.glob("*.parquet")))
    assert snapshot(project) == before


def churn(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI")}
    env |= {"COLUMNS": "200", "CHURNGUARD_PATHS__WORK": "work"}
    return subprocess.run([str(CHURN), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_churn_forget_reports_what_it_touched_and_nothing_about_the_customers(
    scoring_world: ScoringWorld, project: Path, pristine: Path
):
    scored, unscored = chosen_ids(scoring_world)
    (project / "ids.txt").write_text(f"{scored[1]}\n\n{scored[2]}\n{unscored[0]}\n", encoding="utf-8")
    where = ("--risk-lists", "lists", "--reports", "reports")

    result = churn("forget", "--customer-id", str(scored[0]), "--ids-file", "ids.txt", *where, cwd=project)

    assert result.returncode == 0, result.stderr
    day = next((project / "lists").iterdir()).name
    stage = next((pristine / "work").iterdir())
    assert f"lists/{day}/risk_list.csv" in result.stdout and f"lists/{day}/risk_list.parquet" in result.stdout
    assert f"work/{stage.name}" in result.stdout and "deleted" in result.stdout
    rows = 6 + rows_of(stage, scored + unscored)
    assert f"Done: {rows:,} rows removed; 3 files or folders changed" in result.stdout
    removed = scoring_world.scored.risk_list.set_index("customer_id").loc[scored]
    for text in removed[["reason_1", "suggested_action", "rfm_segment"]].to_numpy().ravel():
        assert str(text) not in result.stdout + result.stderr
    check_forgotten(project, pristine, scored + unscored)

    again = churn("forget", "--ids-file", "ids.txt", "-i", str(scored[0]), *where, cwd=project)
    assert again.returncode == 0, again.stderr
    assert "Nothing to remove: no row of the 4 ids" in again.stdout


def test_churn_forget_refuses_bad_input_with_exit_2(tmp_path: Path):
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9\n")
    for args, message in [
        ((), "no customer ids given"),
        (("--ids-file", "missing.txt"), "cannot read the ids file missing.txt"),
        (("--ids-file", "latin1.txt"), "cannot read the ids file latin1.txt"),
        (("-i", "7", "--file", "nowhere.parquet"), "nowhere.parquet: not a Parquet or CSV file"),
    ]:
        result = churn("forget", *args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr, args
