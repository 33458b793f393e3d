"""A customers table with e-mail addresses and names trains a model whose stored files hold neither."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from churnguard.pipelines.train import train_flow

EMAIL_DOMAIN = "pii-probe.example"  # in every e-mail address, and nowhere else
SURNAME = "Qwzxyvik"  # in every full name, and nowhere else


@pytest.fixture
def shop_with_personal_data(shop: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "crm-export"
    shutil.copytree(shop, folder)
    customers = pd.read_parquet(folder / "customers.parquet")
    ids = customers["customer_id"].astype(str)
    customers["email"] = "buyer" + ids + "@" + EMAIL_DOMAIN
    customers["full_name"] = "Ann " + SURNAME + ids
    customers.to_parquet(folder / "customers.parquet", index=False)
    return folder


@pytest.mark.usefixtures("prefect_server")
def test_personal_columns_never_reach_the_model_store(
    shop_with_personal_data: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = project / "work"
    monkeypatch.setenv("CHURNGUARD_PATHS__WORK", str(work))

    trained = train_flow(data_dir=str(shop_with_personal_data))

    assert trained["promoted"]
    store = project / ".churnguard"
    files = [p for p in store.rglob("*") if p.is_file()]
    assert any(p.name == "bundle.json" for p in files) and any(p.name == "MLmodel" for p in files)
    for path in files:  # every artifact, and the tracking database itself
        content = path.read_bytes()
        for probe in (EMAIL_DOMAIN, SURNAME):
            assert probe.encode() not in content, f"{probe} found in {path.relative_to(store)}"

    bundle = json.loads(next(p for p in files if p.name == "bundle.json").read_text())
    features = bundle["preprocessor"]["features"]
    assert "attr_region" in features
    assert not {"attr_email", "attr_full_name"} & set(features)
    example = json.loads(next(p for p in files if p.name == "input_example.json").read_text())
    assert "customer_id" not in example["columns"]
    run = MlflowClient(tracking_uri=trained["tracking_uri"]).get_run(trained["run_id"])
    schemas = [d.dataset.schema for d in run.inputs.dataset_inputs]
    assert len(schemas) == 2 and all("customer_id" not in schema for schema in schemas)

    assert not work.exists() or not any(work.iterdir()), "the staged copy of the data outlived the run"
