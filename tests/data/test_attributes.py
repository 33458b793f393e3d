"""Customer attributes reach the model only when they are segments or plain numbers, never personal data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnguard.core.config import AttributeSettings, DataSettings
from churnguard.core.data.attributes import name_tokens, screen_attributes
from churnguard.core.data.dataset import load_dataset
from churnguard.core.data.validate import DataValidationError

N = 400


def customers() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    ids = np.arange(1, N + 1)
    return pd.DataFrame(
        {
            "customer_id": ids,
            "region": rng.choice(["north", "south", "east", "west"], N),
            "plan_tier": rng.choice(["basic", "plus"], N),
            "age": rng.integers(18, 80, N).astype(float),
            "contact": [f"c{i}@mail.example.org" for i in ids],  # an innocent name, e-mail values
            "hotline": [f"+49 151 {1000000 + i}" for i in ids],
            "remarks_by_agent": ["called twice about the late delivery"] * N,
            "member_no": ids.astype(float) + 50_000,
            "city": [f"city{i % 120}" for i in ids],  # 120 levels: not an id, too many for a segment
            "voucher": [f"V{i:05d}" for i in ids],  # one per customer
            "email": [f"x{i}@example.org" for i in ids],
            "FullName": [f"Person {i}" for i in ids],
            "empty": [None] * N,
        }
    )


def refusals(settings: AttributeSettings | None = None) -> tuple[list[str], dict[str, str]]:
    frame = customers()
    columns = [c for c in frame if c != "customer_id"]
    kept, refused = screen_attributes(frame, columns, settings or AttributeSettings())
    return kept, {r.column: r.reason for r in refused}


def test_segments_and_plain_numbers_are_kept_everything_personal_is_not() -> None:
    kept, refused = refusals()

    assert kept == ["region", "plan_tier", "age"]
    assert "e-mail" in refused["contact"]
    assert "phone" in refused["hotline"]
    assert "free text" in refused["remarks_by_agent"]
    assert "identifier" in refused["member_no"]
    assert "max_levels = 50" in refused["city"]
    assert "identifies customers" in refused["voucher"]
    assert "contact data" in refused["email"]
    assert "name" in refused["FullName"]
    assert "empty" in refused["empty"]


def test_reasons_never_quote_a_value() -> None:
    _, refused = refusals()
    frame = customers()
    for column, reason in refused.items():
        values = set(frame[column].dropna().astype(str))
        assert not any(value in reason for value in values), (column, reason)


def test_the_allowlist_trusts_names_but_never_values() -> None:
    frame = customers().assign(address_region=lambda f: f["region"])
    settings = AttributeSettings(use=["region", "address_region", "contact", "city"], max_levels=200)
    kept, refused = screen_attributes(frame, [c for c in frame if c != "customer_id"], settings)

    assert kept == ["region", "city", "address_region"]
    assert "e-mail" in next(r.reason for r in refused if r.column == "contact")
    assert next(r.reason for r in refused if r.column == "age") == "not listed in data.attributes.use"


def test_drop_removes_a_safe_attribute() -> None:
    kept, refused = refusals(AttributeSettings(drop=["plan_tier"]))
    assert kept == ["region", "age"]
    assert refused["plan_tier"] == "listed in data.attributes.drop"


@pytest.mark.parametrize(
    ("column", "tokens"),
    [("customerEmail_2", ["customer", "email", "2"]), ("Full Name", ["full", "name"]), ("IBAN", ["iban"])],
)
def test_name_tokens(column: str, tokens: list[str]) -> None:
    assert name_tokens(column) == tokens


def _data_dir(folder: Path) -> Path:
    folder.mkdir()
    frame = customers()
    frame.insert(1, "signup_ts", "2024-01-01")
    frame.to_csv(folder / "customers.csv", index=False)
    pd.DataFrame(
        {
            "customer_id": frame["customer_id"],
            "ts": "2024-03-01",
            "amount": 10.0,
            "order_id": frame["customer_id"],
        }
    ).to_csv(folder / "transactions.csv", index=False)
    return folder


def test_loading_leaves_personal_columns_out_with_a_note_naming_each(tmp_path: Path) -> None:
    dataset = load_dataset(_data_dir(tmp_path / "d"), DataSettings())

    assert list(dataset.customers.columns) == ["customer_id", "signup_ts", "region", "plan_tier", "age"]
    noted = {n.column: n.message for n in dataset.report.notes if n.file == "customers.csv"}
    assert set(noted) == {
        "contact",
        "hotline",
        "remarks_by_agent",
        "member_no",
        "city",
        "voucher",
        "email",
        "FullName",
        "empty",
    }
    assert all(message.startswith("left out of the model: ") for message in noted.values())
    assert "x1@example.org" not in dataset.report.render()


def test_the_fingerprint_changes_with_the_attribute_settings(tmp_path: Path) -> None:
    folder = _data_dir(tmp_path / "d")
    default = load_dataset(folder, DataSettings()).fingerprint
    assert load_dataset(folder, DataSettings(attributes={"drop": ["age"]})).fingerprint != default


def test_an_allowlisted_column_the_file_lacks_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError) as error:
        load_dataset(_data_dir(tmp_path / "d"), DataSettings(attributes={"use": ["region", "segmnt"]}))
    message = str(error.value)
    assert "customers.csv" in message and "'segmnt'" in message and "region" in message
