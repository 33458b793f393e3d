"""The training artifact's table: XGBoost beside the baselines in the report's plain words."""

from __future__ import annotations

from churnguard.core.config import Settings
from churnguard.pipelines.train import metrics_table


def test_the_training_table_speaks_the_reports_words() -> None:
    metrics = {
        "test_pr_auc": 0.8391, "test_pr_auc_sd": 0.0021, "test_roc_auc": 0.861, "test_lift_at_10": 2.368,
        "test_capture_at_10": 0.2412, "test_expected_profit": 25_076.4, "test_log_loss": 0.47,
        "test_brier": 0.151, "test_ece": 0.0123, "test_churn_rate": 0.41,
        "logistic_test_pr_auc": 0.825, "logistic_test_roc_auc": 0.85, "logistic_test_lift_at_10": 2.3,
        "logistic_test_capture_at_10": 0.23, "logistic_test_expected_profit": float("nan"),
    }  # fmt: skip
    rows = {row["measure"]: row for row in metrics_table(metrics, Settings(report={"currency": "EUR"}))}
    assert rows["Churners at the top (PR AUC)"]["XGBoost"] == "0.839 ± 0.002"
    assert rows["Churners at the top (PR AUC)"]["logistic regression"] == "0.825"
    assert rows["Lift in the top 10%"]["XGBoost"] == "2.4x"
    assert rows["Churners in the top 10%"]["XGBoost"] == "24.1%"
    assert rows["Calibration error"]["XGBoost"] == "1.2 points"
    assert rows["Outreach profit in the test periods"]["XGBoost"] == "25,076 EUR"
    assert rows["Outreach profit in the test periods"]["logistic regression"] == "–"
    assert not any(key in str(rows) for key in ("ece", "lift_at", "pr_auc", "nan"))
