"""``data.csv.date_format``: spreadsheet dates such as 31.10.2026 are read as written, never guessed.

Each data directory is a few hand-written CSV lines (header is line 1), loaded through
``load_dataset`` with settings built as a user's churnguard.yaml would build them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from churnguard.core.config import DataSettings, Settings
from churnguard.core.data.dataset import load_dataset
from churnguard.core.data.validate import DataValidationError, Problem

ISO = {
    "transactions.csv": "customer_id,ts,amount\n1,2024-01-05,12.50\n2,2024-01-31,1234.50\n",
    "customers.csv": "customer_id,signup_ts\n1,2023-12-01\n2,2023-12-13\n",
    "events.csv": "customer_id,ts,event_type,value\n1,2024-01-10,login,\n2,2024-01-11,nps_response,9\n",
    "subscriptions.csv": "customer_id,start_ts,end_ts\n1,2024-01-01,\n2,2024-01-02,2024-01-20\n",
}
# The same data as a European spreadsheet exports it.
EUROPEAN = {
    "transactions.csv": "customer_id;ts;amount\n1;05.01.2024;12,50\n2;31.01.2024;1.234,50\n",
    "customers.csv": "customer_id;signup_ts\n1;01.12.2023\n2;13.12.2023\n",
    "events.csv": "customer_id;ts;event_type;value\n1;10.01.2024;login;\n2;11.01.2024;nps_response;9\n",
    "subscriptions.csv": "customer_id;start_ts;end_ts\n1;01.01.2024;\n2;02.01.2024;20.01.2024\n",
}
EUROPEAN_CSV = {"delimiter": ";", "decimal": ",", "date_format": "%d.%m.%Y"}


def write_dir(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def data_settings(**csv: str) -> DataSettings:
    return Settings(data={"timezone": "Europe/Berlin", "csv": csv}).data


def refusal(folder: Path, settings: DataSettings) -> list[Problem]:
    with pytest.raises(DataValidationError) as caught:
        load_dataset(folder, settings, as_of="2024-03-01")
    return caught.value.report.problems


def test_semicolons_decimal_commas_and_day_first_dates_load_like_iso(tmp_path: Path) -> None:
    european = load_dataset(
        write_dir(tmp_path / "eu", EUROPEAN), data_settings(**EUROPEAN_CSV), as_of="2024-03-01"
    )
    iso = load_dataset(write_dir(tmp_path / "iso", ISO), data_settings(), as_of="2024-03-01")

    # Naive dates are midnight in data.timezone (Berlin, UTC+1 in winter), as without the option.
    assert european.transactions["ts"].tolist() == [
        pd.Timestamp("2024-01-04 23:00", tz="UTC"),
        pd.Timestamp("2024-01-30 23:00", tz="UTC"),
    ]
    assert european.transactions["amount"].tolist() == [12.5, 1234.5]
    assert european.tables().keys() == iso.tables().keys()
    for name, frame in european.tables().items():
        pd.testing.assert_frame_equal(frame, iso.tables()[name], check_like=True)


def test_a_format_with_a_time_reads_naive_times_in_the_data_timezone(tmp_path: Path) -> None:
    files = {"transactions.csv": "customer_id,ts,amount\n1,01/07/2024 14:30,10\n2,31/12/2024 08:05,20\n"}
    data = load_dataset(write_dir(tmp_path / "d", files), data_settings(date_format="%d/%m/%Y %H:%M"))

    assert data.transactions["ts"].tolist() == [
        pd.Timestamp("2024-07-01 12:30", tz="UTC"),  # summer time, UTC+2
        pd.Timestamp("2024-12-31 07:05", tz="UTC"),
    ]


def test_values_not_matching_the_format_are_reported_with_their_lines(tmp_path: Path) -> None:
    files = {
        **EUROPEAN,
        "transactions.csv": "customer_id;ts;amount\n1;05.01.2024;1\n2;2024-01-06;2\n1;7.1.24;3\n2;08.01.2024;4\n",
        "subscriptions.csv": "customer_id;start_ts;end_ts\n1;01.01.2024;\n2;02.01.2024;31.02.2024\n",
    }

    problems = refusal(write_dir(tmp_path / "d", files), data_settings(**EUROPEAN_CSV))

    expected = "unparsable timestamp (expected data.csv.date_format '%d.%m.%Y', e.g. '31.10.2026')"
    assert problems == [
        Problem(
            "transactions",
            "transactions.csv",
            "ts",
            expected,
            2,
            ["line 3: ts='2024-01-06'", "line 4: ts='7.1.24'"],
        ),
        Problem("subscriptions", "subscriptions.csv", "end_ts", expected, 1, ["line 3: end_ts='31.02.2024'"]),
    ]


def test_dates_that_read_either_way_are_refused_with_the_option_named(tmp_path: Path) -> None:
    # 03/04/2024 is 3 April in Europe and March 4 in the US: without a format it is never guessed.
    files = {"transactions.csv": "customer_id,ts,amount\n1,2024-01-05,10\n2,03/04/2024,20\n1,05/06/2024,30\n"}

    [problem] = refusal(write_dir(tmp_path / "d", files), data_settings())

    assert (problem.file, problem.column, problem.count) == ("transactions.csv", "ts", 2)
    assert problem.examples == ["line 3: ts='03/04/2024'", "line 4: ts='05/06/2024'"]
    assert problem.message == (
        "unparsable timestamp (expected ISO date or datetime); these dates read as day/month or as "
        "month/day: in churnguard.yaml set data.csv.date_format: '%d/%m/%Y' (day first) or "
        "'%m/%d/%Y' (month first)"
    )


@pytest.mark.parametrize(
    ("value", "suggested"),
    [("31.01.2024", "'%d.%m.%Y'"), ("01/31/2024 14:30", "'%m/%d/%Y %H:%M'")],
)
def test_dates_that_read_one_way_only_get_that_format_suggested(
    tmp_path: Path, value: str, suggested: str
) -> None:
    files = {"transactions.csv": f"customer_id,ts,amount\n1,{value},10\n"}

    [problem] = refusal(write_dir(tmp_path / "d", files), data_settings())

    assert problem.message.endswith(f"in churnguard.yaml set data.csv.date_format: {suggested}")
    assert problem.examples == [f"line 2: ts='{value}'"]


def test_text_that_is_no_date_gets_no_date_format_hint(tmp_path: Path) -> None:
    files = {"transactions.csv": "customer_id,ts,amount\n1,yesterday,10\n2,2024-13-01,20\n"}

    [problem] = refusal(write_dir(tmp_path / "d", files), data_settings())

    assert problem.message == "unparsable timestamp (expected ISO date or datetime)"


def test_parquet_timestamps_ignore_the_csv_date_format(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    pd.DataFrame(
        {"customer_id": [1, 2], "ts": ["2024-01-05", "2024-01-06"], "amount": [1.0, 2.0]}
    ).to_parquet(folder / "transactions.parquet", index=False)

    data = load_dataset(folder, data_settings(date_format="%d.%m.%Y"))

    assert data.transactions["ts"].tolist() == [
        pd.Timestamp("2024-01-04 23:00", tz="UTC"),
        pd.Timestamp("2024-01-05 23:00", tz="UTC"),
    ]


@pytest.mark.parametrize("date_format", ["%d.%m", "%H:%M", "31.10.2026", "%-d.%m.%Y"])
def test_a_format_that_cannot_read_whole_dates_is_refused_in_the_settings(date_format: str) -> None:
    with pytest.raises(ValidationError, match=r"date_format '.*' (needs a day|cannot be used)"):
        Settings(data={"csv": {"date_format": date_format}})
