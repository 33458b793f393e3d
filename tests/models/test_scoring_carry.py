"""Customers columns the team asks for (scoring.carry_columns) ride along in the risk list, and only there."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from churnguard.core.data.dataset import load_dataset
from churnguard.core.data.stage import read_carry, stage_dataset
from churnguard.core.errors import BadInputError
from churnguard.features.build import build_features
from churnguard.features.source import source_from_parquet
from churnguard.models.scoring import RISK_LIST_COLUMNS, ScoredList, score_customers, write_risk_list
from tests.models import scoring_fixtures
from tests.models.scoring_fixtures import ACCENTED_REGION, ScoringWorld

scoring_world = scoring_fixtures.scoring_world

CARRIED = ["email", "region", "channel"]


def score_with(w: ScoringWorld, carry: pd.DataFrame | None) -> ScoredList:
    return score_customers(
        w.features,
        w.pyfunc,
        w.model,
        w.settings,
        w.settings.registry.model_name,
        w.version,
        w.dataset.as_of,
        w.dataset.fingerprint,
        carry=carry,
    )


def test_carried_columns_follow_customer_id_with_each_customers_own_values(
    scoring_world: ScoringWorld, tmp_path
):
    w = scoring_world
    data = shutil.copytree(w.dataset.data_dir, tmp_path / "data")
    customers = pd.read_parquet(data / "customers.parquet")
    absent = w.scored.risk_list["customer_id"].iloc[3]  # listed, but the CRM export lacks the customer
    customers = customers[customers["customer_id"] != absent].copy()
    customers["email"] = "c" + customers["customer_id"].astype(str) + "@crm.example"
    customers.to_parquet(data / "customers.parquet", index=False)

    dataset = load_dataset(data, w.settings.data, carry_columns=CARRIED)
    stage = stage_dataset(dataset, tmp_path / "work")
    risk = score_with(w, read_carry(stage, CARRIED)).risk_list

    assert list(risk.columns) == ["customer_id", *CARRIED, *RISK_LIST_COLUMNS[1:]]
    own = customers.set_index("customer_id")
    listed = risk[risk["customer_id"] != absent]
    for column in CARRIED:
        assert listed[column].tolist() == own.loc[listed["customer_id"], column].tolist(), column
    assert risk.loc[risk["customer_id"] == absent, CARRIED].isna().all(axis=None)
    assert ACCENTED_REGION in set(risk["region"])
    pd.testing.assert_frame_equal(risk.drop(columns=CARRIED), w.scored.risk_list)  # nothing else moves

    folder = write_risk_list(ScoredList(risk, w.scored.summary), tmp_path / "lists", w.dataset.as_of)
    back = pd.read_csv(folder / "risk_list.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(back.columns[:4]) == ["customer_id", *CARRIED]
    by_id = back.set_index("customer_id")
    assert by_id.loc[str(absent), CARRIED].tolist() == ["", "", ""]  # empty cells, not "nan"
    first = listed["customer_id"].iloc[0]
    assert by_id.loc[str(first), "email"] == f"c{first}@crm.example"

    # The e-mail address reaches the list only: the features (the model's inputs) never see it.
    features = build_features(
        source_from_parquet(stage.folder, w.settings.features),
        w.dataset.as_of,
        w.settings,
        w.model.parts.feature_spec,
    )
    assert list(features.columns) == list(w.features.columns)
    assert "attr_email" not in features.columns
    text = features.select_dtypes(exclude="number").astype(str)
    assert not text.apply(lambda column: column.str.contains("@crm.example")).any(axis=None)
    assert "attr_region" in w.model.features  # carried and a model attribute at once


def test_a_carried_column_named_like_a_list_column_is_refused(scoring_world: ScoringWorld):
    ids = scoring_world.features["customer_id"]
    carry = pd.DataFrame({"customer_id": ids, "group": "key accounts"})
    with pytest.raises(BadInputError, match="'group' is a column of the risk list already"):
        score_with(scoring_world, carry)
