"""The optional contacts table (who the retention team contacted, when) is validated like every table,
staged with the run for outcomes and cooldowns, and never read by the features."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from churnguard.core.config import DataSettings, FeatureSettings, Settings
from churnguard.core.data.dataset import load_dataset
from churnguard.core.data.stage import load_stage, read_contacts, read_stage, stage_dataset
from churnguard.core.data.validate import DataValidationError, Problem, validate_data_dir
from churnguard.features.build import build_features
from churnguard.features.source import source_from_parquet

TRANSACTIONS = "customer_id,ts,amount\n" + "".join(
    f"{c},2024-0{m}-10,20.0\n" for c in (1, 2, 3) for m in range(1, 7)
)
CONTACTS = (
    "customer_id,ts,channel,outcome\n"
    "1,2024-05-02 10:15,Phone,reached\n"
    "2,2024-05-03T09:00:00+02:00,email,\n"
    "3,2024-07-01,phone,no_answer\n"
)


def _data_dir(folder: Path, contacts: str | pd.DataFrame | None = CONTACTS, name: str = "contacts") -> Path:
    folder.mkdir()
    (folder / "transactions.csv").write_text(TRANSACTIONS, encoding="utf-8")
    if isinstance(contacts, pd.DataFrame):
        contacts.to_parquet(folder / f"{name}.parquet", index=False)
    elif contacts is not None:
        (folder / f"{name}.csv").write_text(contacts, encoding="utf-8")
    return folder


def _problems(folder: Path, settings: DataSettings | None = None) -> list[Problem]:
    report, tables = validate_data_dir(folder, settings or DataSettings())
    assert tables is None
    with pytest.raises(DataValidationError):
        load_dataset(folder, settings or DataSettings())
    return report.problems


def test_contacts_load_typed_and_rows_on_or_after_as_of_are_excluded_and_counted(tmp_path: Path) -> None:
    dataset = load_dataset(_data_dir(tmp_path / "d"), DataSettings(), as_of="2024-06-15")

    contacts = dataset.contacts
    assert list(contacts.columns) == ["customer_id", "ts", "channel", "outcome"]
    assert str(contacts["ts"].dt.tz) == "UTC"
    assert contacts["customer_id"].tolist() == [1, 2]  # customer 3's contact of July is after as_of
    assert contacts["ts"].tolist() == [
        pd.Timestamp("2024-05-02 10:15", tz="UTC"),
        pd.Timestamp("2024-05-03 07:00", tz="UTC"),  # +02:00 converted
    ]
    assert contacts["channel"].tolist() == ["phone", "email"]  # compared lowercased
    assert contacts["outcome"].isna().tolist() == [False, True]  # an unknown outcome is allowed
    assert dataset.report.row_counts["contacts"] == 3
    [note] = [n for n in dataset.report.notes if n.table == "contacts"]
    assert (note.file, note.column, note.count) == ("contacts.csv", "ts", 1)
    assert note.message == "dated on or after as_of 2024-06-15: excluded"
    assert "contacts" not in dataset.tables()  # the model's tables


def test_without_a_contacts_table_there_are_none(tmp_path: Path) -> None:
    dataset = load_dataset(_data_dir(tmp_path / "d", contacts=None), DataSettings())
    assert dataset.contacts is None
    assert "contacts" not in dataset.report.row_counts


BAD_CONTACTS = {
    "unknown customer": (
        "customer_id,ts\n1,2024-05-02\n9,2024-05-03\n",
        Problem(
            "contacts",
            "contacts.csv",
            "customer_id",
            "customer never appears in transactions or customers",
            1,
            ["line 3: customer_id='9'"],
        ),
    ),
    "unparsable ts": (
        "customer_id,ts\n1,2024-05-02\n2,last tuesday\n",
        Problem(
            "contacts",
            "contacts.csv",
            "ts",
            "unparsable timestamp (expected ISO date or datetime)",
            1,
            ["line 3: ts='last tuesday'"],
        ),
    ),
    "empty ts": (
        "customer_id,ts,channel\n1,2024-05-02,phone\n2,,email\n",
        Problem(
            "contacts",
            "contacts.csv",
            "ts",
            "empty value in a required column",
            1,
            ["line 3: ts=<empty>"],
        ),
    ),
    "missing ts column": (
        "customer_id,contacted_at\n1,2024-05-02\n",
        Problem(
            "contacts",
            "contacts.csv",
            "ts",
            "required column missing",
            0,
            ["columns found: customer_id"],  # unknown columns are dropped when read
        ),
    ),
}


@pytest.mark.parametrize("contacts, expected", BAD_CONTACTS.values(), ids=BAD_CONTACTS.keys())
def test_bad_contacts_name_file_column_and_rows(tmp_path: Path, contacts: str, expected: Problem) -> None:
    assert _problems(_data_dir(tmp_path / "d", contacts)) == [expected]


def test_parquet_contacts_with_mapped_columns_and_bad_rows(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "cust_no": [1, 2, None],
            "contacted_at": pd.to_datetime(["2024-05-02", "2024-05-03", "2024-05-04"]),
            "medium": ["phone", "email", "phone"],
        }
    )
    settings = DataSettings(
        columns={"contacts": {"cust_no": "customer_id", "contacted_at": "ts", "medium": "channel"}}
    )

    assert _problems(_data_dir(tmp_path / "bad", frame), settings) == [
        Problem(
            "contacts",
            "contacts.parquet",
            "customer_id",
            "empty value in a required column",
            1,
            ["row 3: customer_id=<empty>"],
        )
    ]
    good = load_dataset(_data_dir(tmp_path / "good", frame.iloc[:2]), settings)
    assert good.contacts["channel"].tolist() == ["phone", "email"]
    assert good.contacts["ts"].dt.tz is not None


def test_contacts_are_staged_for_later_steps_and_never_reach_the_features(tmp_path: Path) -> None:
    with_contacts = load_dataset(_data_dir(tmp_path / "d"), DataSettings(), as_of="2024-06-15")
    without = load_dataset(_data_dir(tmp_path / "n", contacts=None), DataSettings(), as_of="2024-06-15")
    stage = read_stage(stage_dataset(with_contacts, tmp_path / "work").folder)
    bare = stage_dataset(without, tmp_path / "work")

    staged = read_contacts(stage)
    assert_frame_equal(staged, with_contacts.contacts)
    assert str(staged["ts"].dt.tz) == "UTC"
    assert stage.rows["contacts"] == 2
    assert read_contacts(bare) is None
    assert_frame_equal(load_stage(stage).contacts, with_contacts.contacts)

    source = source_from_parquet(stage.folder, FeatureSettings())
    tables = {
        row[0]
        for row in source.backend.con.sql("SELECT table_name FROM information_schema.tables").fetchall()
    }
    assert "transactions" in tables and "contacts" not in tables
    features = build_features(source, stage.as_of, Settings())
    unaware = build_features(source_from_parquet(bare.folder, FeatureSettings()), bare.as_of, Settings())
    assert_frame_equal(features, unaware)


def test_churn_validate_lists_the_contacts_table(tmp_path: Path) -> None:
    _data_dir(tmp_path / "d")
    churn = Path(sys.executable).with_name("churn")
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI")}
    result = subprocess.run(
        [str(churn), "validate", "--data", "d", "--as-of", "2024-06-15"],
        cwd=tmp_path,
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "  contacts: 3 rows read" in result.stdout
    assert "contacts.csv, column 'ts': dated on or after as_of 2024-06-15: excluded (1 row)" in result.stdout
