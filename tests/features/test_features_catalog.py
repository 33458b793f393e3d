"""The feature catalog: every column of a real feature frame has a family, a meaning and a kind."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from churnguard.core.data.generate import generate_sample
from churnguard.features.build import build_features, discover_spec, feature_names
from churnguard.features.catalog import ENTRIES, FAMILIES, KINDS, FeatureInfo, feature_catalog
from churnguard.features.source import source_from_parquet


@pytest.mark.parametrize(
    ("name", "family", "meaning", "kind"),
    [
        ("evt_support_ticket_count_90d", "service", "support ticket events in the last 90 days", "count"),
        ("evt_complaint_days_since", "service", "days since the last complaint event", "days"),
        (
            "evt_support_ticket_value_mean_90d",
            "service",
            "average support ticket value in the last 90 days",
            "number",
        ),
        ("evt_login_active_days_30d", "engagement", "days with a login event in the last 30 days", "count"),
        ("evt_nps_response_count_30d", "nps", "NPS response events in the last 30 days", "count"),
        ("spend_trend_90d", "trend", "net spend in the last 90 days relative to the 90 days before", "ratio"),
        ("n_purchases_365d", "frequency", "purchases in the last 365 days", "count"),
        ("recency_days", "recency", "days since the last purchase", "days"),
        ("overdue_ratio", "rhythm", "days since the last purchase relative to the usual gap", "ratio"),
        (
            "btyd_p_alive",
            "recency",
            "chance of still being an active buyer (BG/NBD model)",
            "probability",
        ),
        (
            "btyd_expected_purchases",
            "frequency",
            "expected purchases in the churn horizon (BG/NBD model)",
            "number",
        ),
        ("email_click_rate_30d", "engagement", "email clicks per email opened in the last 30 days", "ratio"),
        ("nps_class", "nps", "last NPS answer: promoter, passive or detractor", "category"),
        ("sub_mrr", "subscription", "monthly recurring revenue of active subscriptions", "amount"),
        ("attr_region", "attribute", "customer region", "category"),
        ("attr_loyalty_tier", "attribute", "customer loyalty tier", "category"),
        ("rfm_segment", "segment", "RFM segment", "category"),
    ],
)
def test_concrete_names(name, family, meaning, kind):
    assert feature_catalog()[name] == FeatureInfo(name, family, meaning, kind)


@pytest.mark.parametrize(
    "name", ["churned", "customer_id", "cutoff", "n_purchases_d", "evt_login_count", "foo"]
)
def test_unknown_names_raise_key_error(name):
    with pytest.raises(KeyError):
        feature_catalog()[name]
    assert name not in feature_catalog()


def test_numeric_attributes_need_the_spec():
    from churnguard.features.build import FeatureSpec

    spec = FeatureSpec(attribute_columns=("age", "region"), numeric_attributes=("age",))
    assert feature_catalog(spec)["attr_age"].kind == "number"
    assert feature_catalog(spec)["attr_region"].kind == "category"
    assert feature_catalog()["attr_age"].kind == "category"


def test_entries_use_known_families_and_kinds():
    for entry in ENTRIES:
        assert entry.kind in KINDS, entry
        assert entry.family in (*FAMILIES, "by event type"), entry


def test_every_column_of_a_generated_feature_frame_is_catalogued(tmp_path, settings):
    summary = generate_sample(tmp_path / "data", n_customers=300, seed=3)
    source = source_from_parquet(tmp_path / "data", settings.features)
    spec = discover_spec(source)
    frame = build_features(source, summary.end - pd.Timedelta(days=60), settings, spec)
    assert len(frame) > 50
    catalog = feature_catalog(spec)
    columns = [*feature_names(frame), "trailing_spend"]
    assert len(columns) > 60
    infos = [catalog[name] for name in columns]
    assert {info.family for info in infos} == set(FAMILIES)  # the generated data reaches every family
    assert all(info.meaning and info.kind in KINDS for info in infos)


def test_readme_documents_every_pattern():
    readme = (Path(__file__).resolve().parents[2] / "features" / "README.md").read_text(encoding="utf-8")
    missing = [entry.pattern for entry in ENTRIES if f"`{entry.pattern}`" not in readme]
    assert not missing
