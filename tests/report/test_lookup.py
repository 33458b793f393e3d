"""`churn lookup`'s history of one customer: the numbers the reasons use, refunds told apart."""

from __future__ import annotations

from pathlib import Path

from churnguard.core.config import Settings
from churnguard.core.data.dataset import load_dataset
from churnguard.reports.lookup import history_summary


def test_the_last_purchase_is_the_last_positive_amount_and_refunds_are_told_apart(tmp_path: Path) -> None:
    (tmp_path / "transactions.csv").write_text(
        "customer_id,ts,amount\n"
        "7,2026-09-30T22:00:00,86.37\n"
        "7,2026-10-02T10:00:00,23.13\n"
        "7,2026-10-25T09:00:00,-75.67\n"  # a refund: not a purchase, as in the features
        "8,2026-10-20T00:00:00,10.00\n",
        encoding="utf-8",
    )
    dataset = load_dataset(tmp_path, Settings().data, "2026-10-31")
    facts = dict(history_summary(dataset, "7"))
    assert (
        facts["Last purchase"] == "2026-10-02 (29 days before 2026-10-31)"
    )  # 28.6 days, rounded as the reasons round
    assert facts["First purchase"] == "2026-09-30 (30 days before 2026-10-31)"
    assert facts["Purchases"] == "2 in all, 2 in the last 365 days"
    assert facts["Refunds"] == "1, the last 2026-10-25 (6 days before 2026-10-31)"
    assert facts["Spend in the last 365 days"] == "33.83 (refunds deducted)"
    assert facts["Usual gap between purchases"] == "2 days (mean of 1)"
    assert history_summary(dataset, "no-such-id") == []
