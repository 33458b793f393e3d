"""Customer attributes and subscription state, from hand-made customers and subscriptions.

Days to the cutoff 2024-07-01: 2024-01-01 is 182 days before, 2023-06-01 396.
"""

from __future__ import annotations

import math

import pandas as pd

from churnguard.features.build import FeatureSpec, discover_spec

BUYERS = [(c, "2024-06-20", 10.0) for c in range(1, 7)]


def test_text_and_numeric_attributes(features):
    customers = pd.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "signup_ts": ["2023-01-01", "2023-01-01", None],
            "region": ["North", None, "South"],
            "age": ["31", "45", None],
        }
    )
    f = features(transactions=BUYERS[:4], customers=customers)
    assert f["attr_region"].to_dict() == {1: "North", 2: "unknown", 3: "South", 4: "unknown"}
    assert f.loc[1, "attr_age"] == 31.0
    assert f.loc[2, "attr_age"] == 45.0
    assert math.isnan(f.loc[3, "attr_age"])
    assert math.isnan(f.loc[4, "attr_age"])  # customer 4 is not in the customers file
    assert f["attr_age"].dtype == "float64"


def test_attribute_names_that_look_like_internal_columns(features):
    # Attributes are user-named: names used inside the query must not be confused with them.
    customers = pd.DataFrame(
        {"customer_id": [1], "cutoff": ["early"], "n_purchases": ["many"], "hand_right": ["left"]}
    )
    f = features(transactions=BUYERS[:1], customers=customers)
    assert f.loc[1, "attr_cutoff"] == "early"
    assert f.loc[1, "attr_n_purchases"] == "many"
    assert f.loc[1, "attr_hand_right"] == "left"
    assert f.loc[1, "n_purchases"] == 1.0
    assert f.loc[1, "cutoff"] == pd.Timestamp("2024-07-01", tz="UTC")


def test_dataset_without_customers_file(features):
    f = features(transactions=BUYERS[:2])
    assert sorted(f.index) == [1, 2]
    assert not [c for c in f.columns if c.startswith("attr_")]
    assert f.loc[1, "tenure_days"] == 11.0  # from the first purchase, 2024-06-20


def test_model_attributes_absent_from_the_data(features):
    # Scoring data without a column the model was trained with: unknown text, null number.
    spec = FeatureSpec(attribute_columns=("region", "age"), numeric_attributes=("age",))
    f = features(transactions=BUYERS[:1], spec=spec)
    assert f.loc[1, "attr_region"] == "unknown"
    assert math.isnan(f.loc[1, "attr_age"])


SUBSCRIPTIONS = [
    # customer, start, end, plan, mrr
    (1, "2023-01-01", "2023-06-01", "basic", 10.0),  # ended long ago
    (1, "2024-01-01", None, "plus", 20.0),  # active, 182 days old
    (2, "2024-03-01", "2024-06-30", "basic", 10.0),  # ended the day before the cutoff
    (3, "2024-01-01", "2024-07-01", "plus", 20.0),  # ends at the cutoff: still active at it
    (5, "2023-06-01", None, "basic", 10.0),  # two active subscriptions
    (5, "2024-02-01", None, "premium", 40.0),
    (6, "2024-07-01", None, "plus", 20.0),  # starts at the cutoff: not known yet
]


def test_subscription_features(features):
    f = features(data_as_of="2025-01-01", transactions=BUYERS, subscriptions=SUBSCRIPTIONS)
    sub = f[["sub_active", "sub_n_ended", "sub_age_days", "sub_mrr", "sub_plan"]]
    assert sub.loc[1].tolist() == [1.0, 1.0, 182.0, 20.0, "plus"]
    assert sub.loc[2, ["sub_active", "sub_n_ended", "sub_mrr", "sub_plan"]].tolist() == [
        0.0,
        1.0,
        0.0,
        "none",
    ]
    assert sub.loc[3].tolist() == [1.0, 0.0, 182.0, 20.0, "plus"]
    # Customer 5: MRR of both, plan of the newest, age of the oldest active one.
    assert sub.loc[5].tolist() == [1.0, 0.0, 396.0, 50.0, "premium"]
    for cid in (2, 4, 6):  # no active subscription (4 never had one, 6's starts at the cutoff)
        assert math.isnan(sub.loc[cid, "sub_age_days"]), cid
    assert sub.loc[4, ["sub_active", "sub_n_ended", "sub_mrr", "sub_plan"]].tolist() == [
        0.0,
        0.0,
        0.0,
        "none",
    ]
    assert sub.loc[6, ["sub_active", "sub_n_ended", "sub_mrr", "sub_plan"]].tolist() == [
        0.0,
        0.0,
        0.0,
        "none",
    ]


def test_end_dates_after_the_load_date_are_not_known(features):
    # Loaded as of the cutoff, customer 3's end on the cutoff day is not known: active, as above.
    f = features(transactions=BUYERS, subscriptions=SUBSCRIPTIONS)
    assert f.loc[3, "sub_active"] == 1.0


def test_subscriptions_without_plan_and_mrr(features, make_source):
    subs = pd.DataFrame({"customer_id": [1], "start_ts": ["2024-01-01"], "end_ts": [None]})
    f = features(transactions=BUYERS[:2], subscriptions=subs)
    assert f["sub_active"].to_dict() == {1: 1.0, 2: 0.0}
    assert "sub_mrr" not in f.columns and "sub_plan" not in f.columns
    # A model trained with plan and MRR scoring such data: no MRR, no plan.
    spec = FeatureSpec(has_subscriptions=True, subscription_mrr=True, subscription_plan=True)
    f = features(transactions=BUYERS[:2], subscriptions=subs, spec=spec)
    assert f["sub_mrr"].to_dict() == {1: 0.0, 2: 0.0}
    assert f["sub_plan"].to_dict() == {1: "none", 2: "none"}


def test_dataset_without_subscriptions_file(features, make_source):
    assert not discover_spec(make_source(transactions=BUYERS[:1])).has_subscriptions
    spec = FeatureSpec(has_subscriptions=True, subscription_mrr=True, subscription_plan=True)
    f = features(transactions=BUYERS[:1], spec=spec)
    assert f.loc[1, ["sub_active", "sub_n_ended", "sub_mrr", "sub_plan"]].tolist() == [0.0, 0.0, 0.0, "none"]
    assert math.isnan(f.loc[1, "sub_age_days"])


def test_numeric_attributes_are_not_categorical(features):
    from churnguard.features.build import is_categorical

    customers = pd.DataFrame({"customer_id": [1], "region": ["North"], "age": ["31"]})
    f = features(transactions=BUYERS[:1], customers=customers)
    assert is_categorical("attr_region", f["attr_region"])
    assert not is_categorical("attr_age", f["attr_age"])
    assert is_categorical("rfm_segment") and not is_categorical("recency_days")
