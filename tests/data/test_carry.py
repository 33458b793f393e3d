"""Columns the risk list carries (scoring.carry_columns) are checked when the data is validated and
staged apart from the tables features read, so a carried e-mail address never reaches the model."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from churnguard.core.config import ConfigError, DataSettings, FeatureSettings, Settings, load_settings
from churnguard.core.data.dataset import load_dataset
from churnguard.core.data.stage import CARRY_FILE, read_carry, read_stage, remove_stage, stage_dataset
from churnguard.core.data.validate import DataValidationError
from churnguard.core.errors import BadInputError
from churnguard.features.build import build_features
from churnguard.features.source import source_from_parquet

N = 60


def _data_dir(folder: Path, with_customers: bool = True) -> Path:
    """60 customers buying monthly; the customers file (without customer 60) has an e-mail column."""
    folder.mkdir()
    ids = list(range(1, N + 1))
    if with_customers:
        pd.DataFrame(
            {
                "customer_id": ids[:-1],
                "signup_ts": "2024-01-01",
                "region": ["north", "south", "east"] * (N // 3 - 1) + ["north", "south"],
                "email": [f"buyer{i}@shop.example" for i in ids[:-1]],
                "account_manager": [f"AM {i % 4}" for i in ids[:-1]],
            }
        ).to_csv(folder / "customers.csv", index=False)
    months = pd.date_range("2024-01-15", periods=6, freq="MS")
    pd.DataFrame(
        {
            "customer_id": [i for i in ids for _ in months],
            "ts": [str(m.date()) for _ in ids for m in months],
            "amount": 20.0,
        }
    ).to_csv(folder / "transactions.csv", index=False)
    return folder


def test_carry_columns_are_kept_aside_before_personal_data_is_screened_out(tmp_path: Path) -> None:
    dataset = load_dataset(_data_dir(tmp_path / "d"), DataSettings(), carry_columns=["email", "region"])

    assert "email" not in dataset.customers.columns  # screened out of the model's attributes
    assert list(dataset.carry.columns) == ["customer_id", "email", "region"]
    assert dataset.carry.set_index("customer_id").loc[7, "email"] == "buyer7@shop.example"
    assert "carry" not in dataset.tables()
    assert load_dataset(tmp_path / "d", DataSettings()).carry is None


def test_the_stage_holds_carry_columns_in_a_file_features_never_read(tmp_path: Path) -> None:
    dataset = load_dataset(_data_dir(tmp_path / "d"), DataSettings(), carry_columns=["email", "region"])
    stage = stage_dataset(dataset, tmp_path / "work")

    assert (stage.folder / CARRY_FILE).is_file()
    assert "email" not in pd.read_parquet(stage.folder / "customers.parquet").columns
    assert read_stage(stage.folder).carry_columns == ["email", "region"]
    carried = read_carry(read_stage(stage.folder), ["region", "email"])
    assert list(carried.columns) == ["customer_id", "region", "email"]
    assert carried.set_index("customer_id").loc[59, "email"] == "buyer59@shop.example"
    assert read_carry(stage, []) is None

    features = build_features(source_from_parquet(stage.folder, FeatureSettings()), dataset.as_of, Settings())
    assert len(features) == N
    assert not [c for c in features.columns if "email" in c]
    assert "attr_region" in features.columns  # a carried column may still be a model attribute

    remove_stage(stage)
    assert not stage.folder.exists()


def test_an_unknown_carry_column_stops_validation_with_the_nearest_name(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError) as error:
        load_dataset(_data_dir(tmp_path / "d"), DataSettings(), carry_columns=["regoin", "email"])
    message = str(error.value)
    assert "customers.csv, column 'regoin'" in message
    assert (
        "scoring.carry_columns names 'regoin', which the file does not have: did you mean 'region'?"
        in message
    )
    assert "email" in message.split("(columns: ")[1]  # a screened-out column can be carried


def test_carry_columns_without_a_customers_file_are_an_error(tmp_path: Path) -> None:
    folder = _data_dir(tmp_path / "d", with_customers=False)
    with pytest.raises(DataValidationError, match="no customers file to carry them from"):
        load_dataset(folder, DataSettings(), carry_columns=["region"])


def test_scoring_with_carry_columns_the_stage_lacks_is_refused(tmp_path: Path) -> None:
    stage = stage_dataset(load_dataset(_data_dir(tmp_path / "d"), DataSettings()), tmp_path / "work")
    with pytest.raises(BadInputError, match=r"names 'region', but the data .* was validated without it"):
        read_carry(stage, ["region"])


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ("[customer_id, region]", "first column already"),
        ("[region, email, region]", "'region' more than once"),
    ],
)
def test_carry_columns_name_each_column_once(tmp_path: Path, columns: str, message: str) -> None:
    config = tmp_path / "churnguard.yaml"
    config.write_text(f"scoring:\n  carry_columns: {columns}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_settings(config)
