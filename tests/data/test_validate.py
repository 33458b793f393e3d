"""Data-contract tests: each bad input gives its own message, a count and example rows, and stops a load.

Every data directory is a handful of hand-written CSV lines (or a tiny Parquet file), so the expected
line numbers can be read off the test: the header is line 1, the first data row line 2.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from churnguard.core.config import DataSettings
from churnguard.core.data.dataset import load_dataset
from churnguard.core.data.validate import DataValidationError, Problem, validate_data_dir

CLEAN = {
    "transactions.csv": "customer_id,ts,amount,order_id\n1,2024-01-05,10.0,A1\n2,2024-01-06,20.0,A2\n",
    "customers.csv": "customer_id,signup_ts\n1,2023-12-01\n2,2023-12-02\n",
    "events.csv": "customer_id,ts,event_type,value\n1,2024-01-10,login,\n2,2024-01-11,nps_response,9\n",
    "subscriptions.csv": "customer_id,start_ts,end_ts\n1,2024-01-01,\n2,2024-01-01,2024-01-20\n",
}
Files = dict[str, str | bytes | pd.DataFrame | None]


def write_dir(folder: Path, files: Files) -> Path:
    """Write ``CLEAN`` with ``files`` replacing (or, as None, removing) some of its files."""
    folder.mkdir()
    for name, content in {**CLEAN, **files}.items():
        if isinstance(content, pd.DataFrame):
            content.to_parquet(folder / name, index=False)
        elif isinstance(content, bytes):
            (folder / name).write_bytes(content)
        elif content is not None:
            (folder / name).write_text(content, encoding="utf-8")
    return folder


def fatal_problems(folder: Path, settings: DataSettings | None = None) -> list[Problem]:
    """The problems validation reports; also checks that loading refuses with the same report."""
    settings = settings or DataSettings()
    report, tables = validate_data_dir(folder, settings)
    assert not report.ok
    assert tables is None
    with pytest.raises(DataValidationError) as caught:
        load_dataset(folder, settings)
    assert caught.value.report.problems == report.problems
    return report.problems


def test_clean_directory_validates(tmp_path: Path) -> None:
    report, tables = validate_data_dir(write_dir(tmp_path / "d", {}), DataSettings())

    assert report.ok, report.render()
    assert tables is not None
    assert report.row_counts == {"transactions": 2, "customers": 2, "events": 2, "subscriptions": 2}
    assert "OK: the data meets the contract." in report.render()


BAD_INPUTS = {
    # pandas renames a repeated CSV header ("customer_id.1"): 25,200 rows once became one customer.
    "doubled id column in a CSV header": (
        {"transactions.csv": "customer_id,ts,amount,customer_id\n1,2024-01-05,10,2\n2,2024-01-06,20,3\n"},
        Problem("transactions", "transactions.csv", "customer_id", "column appears more than once", 0),
    ),
    "doubled amount column in a CSV header": (
        {"transactions.csv": "customer_id,ts,amount,amount\n1,2024-01-05,10,99\n2,2024-01-06,20,99\n"},
        Problem("transactions", "transactions.csv", "amount", "column appears more than once", 0),
    ),
    "doubled attribute in a CSV header": (
        {"customers.csv": "customer_id,region,region\n1,north,south\n2,south,north\n"},
        Problem("customers", "customers.csv", "region", "column appears more than once", 0),
    ),
    "missing required table": (
        {"transactions.csv": None},
        Problem(
            "transactions", "transactions.parquet or transactions.csv", None, "required table missing", 0
        ),
    ),
    "missing required column": (
        {"transactions.csv": "customer_id,ts,order_id\n1,2024-01-05,A1\n"},
        Problem(
            "transactions",
            "transactions.csv",
            "amount",
            "required column missing",
            0,
            ["columns found: customer_id, ts, order_id"],
        ),
    ),
    "unparsable timestamp": (
        {"transactions.csv": "customer_id,ts,amount\n1,2024-01-05,10\n2,yesterday,20\n"},
        Problem(
            "transactions",
            "transactions.csv",
            "ts",
            "unparsable timestamp (expected ISO date or datetime)",
            1,
            ["line 3: ts='yesterday'"],
        ),
    ),
    "amount not a number": (
        {
            "transactions.csv": 'customer_id,ts,amount\n1,2024-01-05,"12,50"\n2,2024-01-06,abc\n3,2024-01-07,7\n'
        },
        Problem(
            "transactions",
            "transactions.csv",
            "amount",
            "not a number",
            2,
            ["line 2: amount='12,50'", "line 3: amount='abc'"],
        ),
    ),
    "duplicate order_id": (
        {
            "transactions.csv": "customer_id,ts,amount,order_id\n1,2024-01-05,1,A1\n2,2024-01-06,2,\n"
            "2,2024-01-07,3,A1\n1,2024-01-08,4,\n"
        },
        Problem(
            "transactions",
            "transactions.csv",
            "order_id",
            "duplicate order_id",
            2,
            ["line 2: order_id='A1'", "line 4: order_id='A1'"],
        ),
    ),
    "events for an unknown customer": (
        {"events.csv": "customer_id,ts,event_type\n1,2024-01-10,login\n9,2024-01-11,login\n"},
        Problem(
            "events",
            "events.csv",
            "customer_id",
            "customer never appears in transactions or customers",
            1,
            ["line 3: customer_id='9'"],
        ),
    ),
    "subscription for an unknown customer": (
        {"subscriptions.csv": "customer_id,start_ts,end_ts\n77,2024-01-01,\n"},
        Problem(
            "subscriptions",
            "subscriptions.csv",
            "customer_id",
            "customer never appears in transactions or customers",
            1,
            ["line 2: customer_id='77'"],
        ),
    ),
    "subscription ending before it starts": (
        {
            "subscriptions.csv": "customer_id,start_ts,end_ts,plan\n1,2024-01-01,,\n2,2024-03-01,2024-02-01,pro\n"
        },
        Problem(
            "subscriptions",
            "subscriptions.csv",
            None,
            "subscription ends before it starts",
            1,
            ["line 3: customer_id='2', start_ts='2024-03-01', end_ts='2024-02-01', plan='pro'"],
        ),
    ),
    "empty table": (
        {"events.csv": "customer_id,ts,event_type\n"},
        Problem("events", "events.csv", None, "table is empty (no rows)", 0),
    ),
    "empty file": (
        {"customers.csv": ""},
        Problem("customers", "customers.csv", None, "table is empty (the file has no header and no rows)", 0),
    ),
    "empty required value": (
        {"transactions.csv": "customer_id,ts,amount\n1,2024-01-05,10\n,2024-01-06,20\n"},
        Problem(
            "transactions",
            "transactions.csv",
            "customer_id",
            "empty value in a required column",
            1,
            ["line 3: customer_id=<empty>"],
        ),
    ),
    "blank amount is empty, not also 'not a number'": (
        {"transactions.csv": "customer_id,ts,amount\n1,2024-01-05,10\n2,2024-01-06,  \n"},
        Problem(
            "transactions",
            "transactions.csv",
            "amount",
            "empty value in a required column",
            1,
            ["line 3: amount='  '"],
        ),
    ),
    "duplicate customer": (
        {"customers.csv": "customer_id,region\n1,north\n2,south\n1,east\n"},
        Problem(
            "customers",
            "customers.csv",
            "customer_id",
            "duplicate customer_id",
            2,
            ["line 2: customer_id='1'", "line 4: customer_id='1'"],
        ),
    ),
    "text id where the ids are integers (not also reported as unknown)": (
        {"events.csv": "customer_id,ts,event_type\nC-9,2024-01-11,login\n"},
        Problem(
            "events",
            "events.csv",
            "customer_id",
            "not a valid integer customer id",
            1,
            ["line 2: customer_id='C-9'"],
        ),
    ),
    "fractional order id": (
        {
            "transactions.parquet": pd.DataFrame(
                {
                    "customer_id": [1, 2],
                    "ts": ["2024-01-05", "2024-01-06"],
                    "amount": [1.0, 2.0],
                    "order_id": [7.0, 7.5],
                }
            )
        },
        Problem(
            "transactions",
            "transactions.parquet",
            "order_id",
            "not a valid order id",
            1,
            ["row 2: order_id='7.5'"],
        ),
    ),
    "Parquet rows are numbered from 1": (
        {
            "transactions.parquet": pd.DataFrame(
                {
                    "customer_id": [1, 2, 2],
                    "ts": pd.to_datetime(["2024-01-05"] * 3),
                    "amount": [1.0, None, 3.0],
                }
            )
        },
        Problem(
            "transactions",
            "transactions.parquet",
            "amount",
            "empty value in a required column",
            1,
            ["row 2: amount=<empty>"],
        ),
    ),
}


@pytest.mark.parametrize("files, expected", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_reports_its_own_problem(tmp_path: Path, files: Files, expected: Problem) -> None:
    assert fatal_problems(write_dir(tmp_path / "d", files)) == [expected]


def test_missing_mapped_column_names_the_users_column(tmp_path: Path) -> None:
    folder = write_dir(tmp_path / "d", {"transactions.csv": "cust_no,order_date\n1,2024-01-05\n"})
    settings = DataSettings(
        columns={"transactions": {"cust_no": "customer_id", "order_date": "ts", "net_value": "amount"}}
    )

    assert fatal_problems(folder, settings) == [
        Problem(
            "transactions",
            "transactions.csv",
            "amount",
            "required column missing (mapped from 'net_value')",
            0,
            ["columns found: customer_id, ts"],
        )
    ]


def test_corrupt_parquet_is_reported_not_raised(tmp_path: Path) -> None:
    # transactions.csv is clean, but the Parquet file wins and cannot be read.
    folder = write_dir(tmp_path / "d", {"transactions.parquet": b"PAR1 this is not parquet"})

    [problem] = fatal_problems(folder)

    assert (problem.file, problem.column, problem.count) == ("transactions.parquet", None, 0)
    assert problem.message.startswith("cannot be read: ")


def test_row_with_more_fields_than_the_header_is_an_error_not_a_shift(tmp_path: Path) -> None:
    # A lenient reader would take the first field as an index and move every value one column left.
    folder = write_dir(
        tmp_path / "d", {"transactions.csv": "customer_id,ts,amount\n1,2024-01-05,10\n2,2024-01-06,1,5\n"}
    )

    [problem] = fatal_problems(folder)

    assert problem.file == "transactions.csv"
    assert problem.message.startswith("cannot be read: ")
    assert "2,2024-01-06,1,5" in problem.message


def test_unusable_transactions_do_not_make_other_tables_look_wrong(tmp_path: Path) -> None:
    # Text ids and events for a customer known only from transactions: with transactions broken,
    # neither the id kind nor the set of known customers may be guessed from what is left.
    folder = write_dir(
        tmp_path / "d",
        {
            "transactions.parquet": b"not parquet",
            "customers.csv": "customer_id\nC-1\n",
            "events.csv": "customer_id,ts,event_type\nC-2,2024-01-10,login\n",
            "subscriptions.csv": None,
        },
    )

    assert [p.file for p in fatal_problems(folder)] == ["transactions.parquet"]


def test_every_problem_of_every_table_is_reported_together(tmp_path: Path) -> None:
    folder = write_dir(
        tmp_path / "d",
        {
            "transactions.csv": "customer_id,ts,amount,order_id\n1,2024-01-05,10,A1\n"
            "2,not-a-date,x,A1\n,2024-01-07,5,A3\n",
            "customers.csv": "customer_id,signup_ts\n1,2023-12-01\n2,someday\n",
            "events.csv": "customer_id,ts,event_type,value\n5,2024-01-10,login,\n1,2024-01-11,,ten\n",
            "subscriptions.csv": "customer_id,start_ts,end_ts\n1,2024-02-01,2024-01-01\n6,2024-01-01,\n",
        },
    )

    found = {(p.file, p.column, p.message, p.count) for p in fatal_problems(folder)}

    assert found == {
        ("transactions.csv", "customer_id", "empty value in a required column", 1),
        ("transactions.csv", "ts", "unparsable timestamp (expected ISO date or datetime)", 1),
        ("transactions.csv", "amount", "not a number", 1),
        ("transactions.csv", "order_id", "duplicate order_id", 2),
        ("customers.csv", "signup_ts", "unparsable timestamp (expected ISO date or datetime)", 1),
        ("events.csv", "customer_id", "customer never appears in transactions or customers", 1),
        ("events.csv", "event_type", "empty value in a required column", 1),
        ("events.csv", "value", "not a number", 1),
        ("subscriptions.csv", None, "subscription ends before it starts", 1),
        ("subscriptions.csv", "customer_id", "customer never appears in transactions or customers", 1),
    }


def test_examples_are_capped_but_the_count_is_not(tmp_path: Path) -> None:
    rows = "".join(f"{i},bad-{i},1\n" for i in range(8))
    folder = write_dir(tmp_path / "d", {"transactions.csv": "customer_id,ts,amount\n" + rows})

    [problem] = fatal_problems(folder)
    [fewer] = fatal_problems(folder, DataSettings(example_rows=2))

    assert problem.count == 8
    assert problem.examples == [f"line {i + 2}: ts='bad-{i}'" for i in range(5)]
    assert fewer.count == 8
    assert fewer.examples == ["line 2: ts='bad-0'", "line 3: ts='bad-1'"]


def test_render_lists_file_column_count_and_examples(tmp_path: Path) -> None:
    folder = write_dir(
        tmp_path / "d",
        {
            "transactions.csv": "customer_id,ts,amount\n1,2024-01-05,10\n2,2024-13-01,abc\n",
            "events.csv": None,
            "subscriptions.csv": None,
        },
    )
    report, _ = validate_data_dir(folder, DataSettings())

    with pytest.raises(DataValidationError) as caught:
        load_dataset(folder, DataSettings())

    assert str(caught.value) == report.render()
    assert report.render().splitlines() == [
        f"Validation of {folder}",
        "  transactions: 2 rows read",
        "  customers: 2 rows read",
        "2 problem(s) stop the run:",
        "- transactions.csv, column 'ts': unparsable timestamp (expected ISO date or datetime) (1 row)",
        "    line 3: ts='2024-13-01'",
        "- transactions.csv, column 'amount': not a number (1 row)",
        "    line 3: amount='abc'",
    ]


SEMICOLONS = "customer_id;ts;amount\n1;2024-01-05;12,50\n2;2024-01-06;1.234,50\n"


def test_a_semicolon_file_is_named_as_such_when_the_options_are_missing(tmp_path: Path) -> None:
    # Before: "CSV parse error: Expected 1 columns, got 2" and nothing else.
    [problem] = fatal_problems(write_dir(tmp_path / "d", {"transactions.csv": SEMICOLONS}))
    assert problem.file == "transactions.csv"
    assert "the file looks ';'-separated, not ','" in problem.message
    assert "data.csv.delimiter: ';'" in problem.message and "data.csv.decimal: ','" in problem.message


def test_a_semicolon_header_without_commas_in_the_rows_is_named_too(tmp_path: Path) -> None:
    # Before: "required column missing ... columns found: customer_id;ts;amount".
    files = {"transactions.csv": "customer_id;ts;amount\n1;2024-01-05;12\n"}
    [problem] = fatal_problems(write_dir(tmp_path / "d", files))
    assert problem.message.startswith("the header reads as one column; the file looks ';'-separated")


def test_semicolons_and_decimal_commas_load_with_the_csv_options(tmp_path: Path) -> None:
    folder = write_dir(
        tmp_path / "d",
        {
            "transactions.csv": SEMICOLONS,
            "customers.csv": None,
            "events.csv": None,
            "subscriptions.csv": None,
        },
    )
    settings = DataSettings(csv={"delimiter": ";", "decimal": ","})
    data = load_dataset(folder, settings)
    assert data.transactions["amount"].tolist() == [12.5, 1234.5]
