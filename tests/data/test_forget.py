"""``forget_customers`` on tiny hand-made folders: which rows go, what else changes, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from churnguard.core.errors import BadInputError
from churnguard.core.forget import Touched, forget_customers, read_ids_file

DAY = "as_of=2026-10-31"


def write_table(folder: Path, frame: pd.DataFrame, name: str = "risk_list") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(folder / f"{name}.parquet", index=False)
    frame.to_csv(folder / f"{name}.csv", index=False, encoding="utf-8-sig")


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_text_ids_match_exactly_and_only_their_rows_go(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"customer_id": ["007", "7", "C-1", "C-2"], "reason_1": ["a, b", 'say "hi"', None, "d"]}
    )
    write_table(tmp_path / "lists" / DAY, frame)
    (tmp_path / "lists" / DAY / "summary.json").write_text(json.dumps({"customers": 4}))
    before = snapshot(tmp_path / "lists")

    report = forget_customers(["007", " C-2 ", "nobody"], outputs=[tmp_path / "lists"])

    folder = tmp_path / "lists" / DAY
    assert report.ids == 3 and report.checked == 2 and report.rows == 4
    assert report.touched == [
        Touched(folder / "risk_list.csv", "rewritten", 2),
        Touched(folder / "risk_list.parquet", "rewritten", 2),
    ]
    kept = frame.iloc[[1, 2]].reset_index(drop=True)
    pd.testing.assert_frame_equal(pd.read_parquet(folder / "risk_list.parquet"), kept)
    csv = before[f"{DAY}/risk_list.csv"].decode("utf-8-sig").splitlines(keepends=True)
    assert (folder / "risk_list.csv").read_bytes() == "".join([csv[0], csv[2], csv[3]]).encode("utf-8-sig")
    assert (folder / "summary.json").read_bytes() == before[f"{DAY}/summary.json"]  # counts, not people
    assert sorted(p.name for p in (tmp_path / "lists").iterdir()) == [DAY]


def test_integer_ids_match_integer_columns_in_parquet_and_csv(tmp_path: Path) -> None:
    write_table(tmp_path / "lists" / DAY, pd.DataFrame({"customer_id": [7, 70, 8], "p": [0.1, 0.2, 0.3]}))
    report = forget_customers(["07", "8"], outputs=[tmp_path / "lists"])
    assert [(t.path.name, t.rows) for t in report.touched] == [("risk_list.csv", 2), ("risk_list.parquet", 2)]
    for back in (pd.read_parquet(tmp_path / "lists" / DAY / "risk_list.parquet"),
                 pd.read_csv(tmp_path / "lists" / DAY / "risk_list.csv", encoding="utf-8-sig")):  # fmt: skip
        assert back["customer_id"].tolist() == [70]


def test_a_page_showing_removed_rows_is_removed_and_other_files_stay(tmp_path: Path) -> None:
    folder = tmp_path / "reports" / DAY
    write_table(folder, pd.DataFrame({"customer_id": [1, 2], "value": [3.0, 4.0]}), name="top_customers")
    (folder / "report.html").write_text("<table><tr><td>1</td></tr></table>")
    pd.DataFrame({"tier": ["high"], "customers": [2]}).to_csv(folder / "tiers.csv", index=False)
    tiers = (folder / "tiers.csv").read_bytes()

    report = forget_customers([1], outputs=[tmp_path / "reports"])

    assert Touched(folder / "report.html", "removed", 0) in report.touched
    assert sorted(p.name for p in folder.iterdir()) == [
        "tiers.csv",
        "top_customers.csv",
        "top_customers.parquet",
    ]
    assert (folder / "tiers.csv").read_bytes() == tiers


def test_leftovers_and_staged_copies_holding_the_ids_are_deleted(tmp_path: Path) -> None:
    lists, work = tmp_path / "lists", tmp_path / "work"
    write_table(lists / DAY, pd.DataFrame({"customer_id": [5, 6]}))
    write_table(lists / f".{DAY}.ab12cd34.tmp", pd.DataFrame({"customer_id": [5]}))  # an interrupted run's
    write_table(lists / f".{DAY}.old-12345678", pd.DataFrame({"customer_id": [6]}))
    write_table(
        work / "f1-20261031T000000-aaaa", pd.DataFrame({"customer_id": [5, 5, 9]}), name="transactions"
    )
    write_table(work / "f2-20261031T000000-bbbb", pd.DataFrame({"customer_id": [9]}), name="transactions")
    kept = snapshot(work / "f2-20261031T000000-bbbb")

    report = forget_customers(["5"], outputs=[lists], work=work)

    deleted = {t.path: t.rows for t in report.touched if t.action == "deleted"}
    assert deleted == {lists / f".{DAY}.ab12cd34.tmp": 2, work / "f1-20261031T000000-aaaa": 4}
    assert sorted(p.name for p in lists.iterdir()) == [f".{DAY}.old-12345678", DAY]
    assert [p.name for p in work.iterdir()] == ["f2-20261031T000000-bbbb"]
    assert snapshot(work / "f2-20261031T000000-bbbb") == kept


def test_a_second_run_changes_nothing(tmp_path: Path) -> None:
    write_table(tmp_path / "lists" / DAY, pd.DataFrame({"customer_id": [1, 2, 3]}))
    extra = tmp_path / "features.parquet"
    pd.DataFrame({"customer_id": [3, 4], "x": [1, 2]}).to_parquet(extra, index=False)
    first = forget_customers(["3"], outputs=[tmp_path / "lists"], files=[extra])
    assert [(t.path.name, t.rows) for t in first.touched] == [
        ("risk_list.csv", 1),
        ("risk_list.parquet", 1),
        ("features.parquet", 1),
    ]
    before = snapshot(tmp_path)
    again = forget_customers(["3"], outputs=[tmp_path / "lists"], files=[extra])
    assert again.touched == [] and again.checked == 3
    assert snapshot(tmp_path) == before


def test_bad_input_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="no customer ids given"):
        forget_customers([" ", ""], outputs=[tmp_path])
    with pytest.raises(BadInputError, match="not a Parquet or CSV file"):
        forget_customers(["1"], outputs=[tmp_path], files=[tmp_path / "missing.parquet"])
    (tmp_path / "lists" / DAY).mkdir(parents=True)
    (tmp_path / "lists" / DAY / "risk_list.csv").write_bytes(b"customer_id\n\xff\xfe\n")
    with pytest.raises(BadInputError, match=r"cannot read .*risk_list\.csv"):
        forget_customers(["1"], outputs=[tmp_path / "lists"])
    ids = tmp_path / "ids.txt"
    ids.write_bytes(b"1\n\xff\n")
    with pytest.raises(BadInputError, match="cannot read the ids file"):
        read_ids_file(ids)
    ids.write_text("\ufeff12\n\n C-3 \n", encoding="utf-8")
    assert read_ids_file(ids) == ["12", "C-3"]
