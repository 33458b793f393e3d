"""Engagement, service and NPS features from hand-made events, at the cutoff 2024-07-01.

Engagement windows are 30 and 90 days: [2024-06-01, 2024-07-01) and [2024-04-02, 2024-07-01).
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from churnguard.features.build import FeatureSpec, build_features, discover_spec

# Everyone bought once in June, so everyone is in the (inactivity) population.
BUYERS = [(c, "2024-06-20", 10.0) for c in (1, 2, 3, 4, 5, 6)]
EVENTS = [
    (1, "2024-01-01", "login", 100.0),  # 182 days before: in no window, but still the value of nothing
    (1, "2024-05-01", "login", 3.0),  # 61 days before: 90-day window only
    (1, "2024-06-01", "login", 5.0),  # exactly 30 days before: both windows
    (1, "2024-06-01 12:00:00", "login", 7.0),  # same day: one more login, no extra active day
    (1, "2024-07-01", "login", 1.0),  # at the cutoff: not seen
    (1, "2024-06-05", "email_sent", None),
    (1, "2024-06-06", "email_sent", None),
    (1, "2024-06-07", "email_sent", None),
    (1, "2024-06-08", "email_sent", None),
    (1, "2024-05-01", "email_open", None),
    (1, "2024-06-10", "email_open", None),
    (1, "2024-06-20", "email_open", None),
    (1, "2024-06-20", "email_click", None),
    (1, "2024-03-01", "support_ticket", 1000.0),  # outside 90 days
    (1, "2024-04-15", "support_ticket", 20.0),  # 77 days before
    (1, "2024-06-15", "support_ticket", 10.0),  # 16 days before
    (1, "2024-06-20", "complaint", None),
    (1, "2024-02-01", "nps_response", 10.0),
    (1, "2024-05-01", "nps_response", 6.0),  # the last answer: a detractor
    (3, "2024-06-01", "nps_response", 9.0),
    (3, "2024-06-02", "nps_response", 8.0),
    (4, "2024-06-01", "nps_response", 7.0),
    (5, "2024-06-01", "nps_response", 9.0),
    (6, "2024-06-01", "nps_response", 0.0),
]


@pytest.fixture
def engagement(features):
    return features(data_as_of="2025-01-01", transactions=BUYERS, events=EVENTS)


def test_counts_active_days_and_days_since(engagement):
    row = engagement.loc[1]
    assert row["evt_login_count_30d"] == 2.0  # 2024-06-01 00:00 and 12:00
    assert row["evt_login_active_days_30d"] == 1.0
    assert row["evt_login_count_90d"] == 3.0  # + 2024-05-01
    assert row["evt_login_active_days_90d"] == 2.0
    assert row["evt_login_days_since"] == 29.5  # 2024-06-01 12:00; the login at the cutoff is not seen
    assert row["evt_login_value_mean_90d"] == 5.0  # (3 + 5 + 7) / 3


def test_service_events(engagement):
    row = engagement.loc[1]
    assert row["evt_support_ticket_count_30d"] == 1.0
    assert row["evt_support_ticket_count_90d"] == 2.0
    assert row["evt_support_ticket_value_mean_90d"] == 15.0  # (20 + 10) / 2; the 1000 is older
    assert row["evt_support_ticket_days_since"] == 16.0
    assert row["evt_complaint_count_90d"] == 1.0
    assert row["evt_complaint_days_since"] == 11.0
    assert "evt_complaint_value_mean_90d" not in engagement.columns  # complaints carry no value


def test_email_rates(engagement):
    row = engagement.loc[1]
    assert row["email_click_rate_30d"] == 0.5  # 1 click / 2 opens
    assert row["email_click_rate_90d"] == pytest.approx(1 / 3)  # 1 click / 3 opens
    assert row["email_open_rate_30d"] == 0.5  # 2 opens / 4 sent
    assert row["email_open_rate_90d"] == 0.75  # 3 opens / 4 sent


def test_nps_last_answer_and_class(engagement):
    nps = engagement[["nps_last", "nps_class"]]
    assert nps.loc[1].tolist() == [6.0, "detractor"]  # the later of 10 and 6
    assert nps.loc[3].tolist() == [8.0, "passive"]  # the later of 9 and 8
    assert nps.loc[4].tolist() == [7.0, "passive"]
    assert nps.loc[5].tolist() == [9.0, "promoter"]
    assert nps.loc[6].tolist() == [0.0, "detractor"]
    assert math.isnan(nps.loc[2, "nps_last"])
    assert nps.loc[2, "nps_class"] == "none"


def test_customer_without_events_gets_zero_counts_and_null_recency(engagement):
    row = engagement.loc[2]
    for column in engagement.columns:
        if column.startswith("evt_") and ("_count_" in column or "_active_days_" in column):
            assert row[column] == 0.0, column
        if column.endswith("_days_since") or "_value_mean_" in column or column.startswith("email_"):
            assert math.isnan(row[column]), column


def test_dataset_without_events_file(features, make_source, settings):
    f = features(transactions=BUYERS)
    assert not [c for c in f.columns if c.startswith(("evt_", "email_", "nps_"))]
    # A model trained with events still gets its columns: zero counts, null recency.
    spec = FeatureSpec(event_types=("login", "nps_response"), valued_event_types=("login",))
    f = features(transactions=BUYERS, spec=spec)
    assert (f["evt_login_count_30d"] == 0).all()
    assert f["evt_login_days_since"].isna().all()
    assert f["evt_login_value_mean_90d"].isna().all()
    assert f["nps_last"].isna().all()
    assert (f["nps_class"] == "none").all()


def test_events_without_a_value_column(features):
    events = pd.DataFrame(
        {"customer_id": [1, 1], "ts": ["2024-06-10", "2024-06-11"], "event_type": ["login", "nps_response"]}
    )
    f = features(transactions=BUYERS, events=events)
    assert f.loc[1, "evt_login_count_30d"] == 1.0
    assert math.isnan(f.loc[1, "nps_last"])
    assert f.loc[1, "nps_class"] == "none"


def test_model_event_types_absent_from_the_data(features):
    # Scoring with a model whose spec knows a type this data never shows: zero counts, null values.
    spec = FeatureSpec(event_types=("login", "webinar"), valued_event_types=("webinar",))
    f = features(data_as_of="2025-01-01", transactions=BUYERS, events=EVENTS, spec=spec)
    assert f.loc[1, "evt_login_count_90d"] == 3.0
    assert (f["evt_webinar_count_90d"] == 0).all()
    assert f["evt_webinar_value_mean_90d"].isna().all()


def test_free_text_event_types_become_safe_names(make_source, settings):
    source = make_source(
        transactions=BUYERS,
        events=[
            (1, "2024-06-10", "Swipe Right", None),
            (1, "2024-06-11", "swipe right", None),
            (1, "2024-06-12", "Swipe-Right", None),  # the same feature name: the rarer spelling is dropped
        ],
    )
    spec = discover_spec(source)
    assert spec.event_types == ("swipe right",)  # validation lower-cases event types
    f = build_features(source, "2024-07-01", settings, spec).set_index("customer_id")
    assert f.loc[1, "evt_swipe_right_count_30d"] == 2.0
    assert f.loc[1, "evt_swipe_right_days_since"] == 20.0


def test_engagement_windows_come_from_config(features, settings):
    config = settings.model_copy(
        update={"features": settings.features.model_copy(update={"engagement_windows_days": [7, 61]})}
    )
    f = features(data_as_of="2025-01-01", config=config, transactions=BUYERS, events=EVENTS)
    assert f.loc[1, "evt_login_count_61d"] == 3.0  # 2024-05-01 is exactly 61 days before
    assert f.loc[1, "evt_login_count_7d"] == 0.0
    assert f.loc[1, "evt_login_value_mean_61d"] == 5.0  # means use the longest window
    assert "evt_login_count_30d" not in f.columns
