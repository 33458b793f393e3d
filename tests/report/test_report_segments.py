"""Customer columns with one value per customer never become report segments (an e-mail column once
made an 882-bar chart and a 6.5 MB page)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from churnguard.core.config import Settings
from churnguard.core.data.dataset import load_dataset
from churnguard.core.data.generate import generate_sample
from churnguard.reports.content import compute_content


def test_columns_with_a_value_per_customer_are_not_segments_of_the_report(tmp_path: Path) -> None:
    generate_sample(tmp_path, n_customers=1_500, seed=3, end="2026-10-31")
    customers = pd.read_parquet(tmp_path / "customers.parquet")
    ids = customers["customer_id"].astype(str)
    customers["email"] = "c" + ids + "@example.com"
    customers["account_code"] = "A-" + ids.str.zfill(6)  # a harmless name, yet one value each
    customers["plan_family"] = ["basic", "plus", "pro"] * (len(customers) // 3) + ["basic"] * (
        len(customers) % 3
    )
    customers.to_parquet(tmp_path / "customers.parquet", index=False)

    content = compute_content(load_dataset(tmp_path, Settings().data, "2026-10-31"), Settings())

    dimensions = set(content.tables["churn_by_segment"]["dimension"])
    assert "plan_family" in dimensions and "region" in dimensions  # real segments stay
    assert not dimensions & {"email", "account_code"}
    assert len(content.tables["churn_by_segment"]) < 50
