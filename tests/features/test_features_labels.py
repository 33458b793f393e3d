"""Population and churn labels for both definitions, at the cutoff 2024-07-01 with a 90-day horizon.

The label window is [2024-07-01, 2024-09-29); 2023-07-02 is exactly 365 days before the cutoff.
Data is loaded as of 2025-01-01 so the whole horizon is known.
"""

from __future__ import annotations

import pandas as pd
import pytest

from churnguard.features.build import build_features, discover_spec, feature_table, to_frame

CUTOFF = "2024-07-01"


@pytest.fixture
def labelled(make_source, settings):
    """``labelled(config, **tables)``: {customer_id: churned} of the population at the cutoff."""

    def build(config=None, **tables) -> dict[int, int]:
        config = config or settings
        source = make_source(as_of="2025-01-01", config=config, **tables)
        expr = feature_table(source, [CUTOFF], config, discover_spec(source), with_labels=True)
        frame = to_frame(source, expr)
        assert (frame["cutoff"] == pd.Timestamp(CUTOFF, tz="UTC")).all()
        return dict(zip(frame["customer_id"], frame["churned"].astype(int), strict=True))

    return build


INACTIVITY = [
    (1, "2024-06-01", 10.0),
    (1, "2024-08-01", 10.0),  # buys again in the horizon: kept
    (2, "2024-06-01", 10.0),
    (2, "2024-09-29", 10.0),  # buys again just after the horizon: churned
    (3, "2023-07-02", 10.0),  # bought exactly 365 days before: active, never again: churned
    (4, "2023-07-01", 10.0),  # bought 366 days before: not active, so not scored...
    (4, "2024-08-01", 10.0),  # ...even though it buys in the horizon
    (5, "2024-07-01", 10.0),  # first purchase at the cutoff: not active yet
    (6, "2024-06-01", 10.0),
    (6, "2024-07-15", -10.0),  # a refund in the horizon is not a purchase: churned
    (7, "2024-06-01", 10.0),
    (7, "2024-07-01", 10.0),  # buys at the cutoff: inside the horizon, kept
    (8, "2023-01-01", 10.0),
    (8, "2024-06-01", -10.0),  # only a refund in the lookback: not active
]


def test_inactivity_population_and_labels(labelled):
    assert labelled(transactions=INACTIVITY) == {1: 0, 2: 1, 3: 1, 6: 1, 7: 0}


def test_inactivity_lookback_comes_from_config(labelled, settings):
    config = settings.model_copy(update={"churn": settings.churn.model_copy(update={"lookback_days": 30})})
    # Only purchases in [2024-06-01, 2024-07-01) make a customer active.
    assert labelled(config=config, transactions=INACTIVITY) == {1: 0, 2: 1, 6: 1, 7: 0}


def test_inactivity_horizon_comes_from_config(labelled, settings):
    config = settings.model_copy(update={"churn": settings.churn.model_copy(update={"horizon_days": 31})})
    # Horizon [2024-07-01, 2024-08-01): customer 1's purchase on 2024-08-01 is now too late.
    assert labelled(config=config, transactions=INACTIVITY) == {1: 1, 2: 1, 3: 1, 6: 1, 7: 0}


SUBSCRIPTIONS = [
    (1, "2024-01-01", None, "basic", 10.0),  # stays: kept
    (2, "2024-01-01", "2024-08-01", "basic", 10.0),  # ends in the horizon, nothing else: churned
    (3, "2024-01-01", "2024-08-01", "basic", 10.0),  # ends in the horizon...
    (3, "2024-08-01", None, "plus", 20.0),  # ...but moves to another plan: kept
    (4, "2024-01-01", "2024-09-29", "basic", 10.0),  # ends exactly at the horizon's end: kept
    (5, "2024-01-01", "2024-06-01", "basic", 10.0),  # ended before the cutoff: not scored
    (6, "2024-07-01", None, "basic", 10.0),  # starts at the cutoff: not scored
    (7, "2024-01-01", "2024-07-01", "basic", 10.0),  # ends at the cutoff: active at it, churned
    (8, "2024-01-01", "2024-08-01", "basic", 10.0),  # one of two subscriptions ends...
    (8, "2024-02-01", None, "plus", 20.0),  # ...the other continues: kept
    (9, "2024-01-01", "2024-07-15", "basic", 10.0),  # lapses in the horizon...
    (9, "2024-08-15", None, "basic", 10.0),  # ...and comes back: subscribed at the horizon's end, kept
]


def test_subscription_population_and_labels(labelled, settings):
    config = settings.model_copy(
        update={"churn": settings.churn.model_copy(update={"definition": "subscription"})}
    )
    # Customer 10 buys but never subscribes: not scored. Customers 1-9 never bought: still scored.
    labels = labelled(
        config=config,
        transactions=[(10, "2024-06-01", 10.0)],
        customers=[(c, "2023-01-01") for c in range(1, 11)],
        subscriptions=SUBSCRIPTIONS,
    )
    assert labels == {1: 0, 2: 1, 3: 0, 4: 0, 7: 1, 8: 0, 9: 0}


def test_subscribers_who_never_bought_get_empty_purchase_history(make_source, settings):
    config = settings.model_copy(
        update={"churn": settings.churn.model_copy(update={"definition": "subscription"})}
    )
    source = make_source(
        config=config,
        transactions=[(2, "2024-06-01", 10.0)],
        subscriptions=[(1, "2024-01-01", None, "basic", 10.0), (2, "2024-01-01", None, "basic", 10.0)],
        customers=[(1, "2024-03-01"), (2, "2023-12-01")],
    )
    f = build_features(source, CUTOFF, config).set_index("customer_id")
    assert f.loc[1, "n_purchases"] == 0.0
    assert f.loc[1, "spend_total_365d"] == 0.0
    assert pd.isna(f.loc[1, "recency_days"])
    assert f.loc[1, "tenure_days"] == 122.0  # from signup, 2024-03-01
    assert f.loc[1, "rfm_r"] == 1.0  # never bought: ranks below every buyer
    assert f.loc[2, "rfm_r"] == 5.0


def test_subscription_definition_needs_subscriptions(make_source, settings):
    config = settings.model_copy(
        update={"churn": settings.churn.model_copy(update={"definition": "subscription"})}
    )
    source = make_source(config=config, transactions=[(1, "2024-06-01", 10.0)])
    with pytest.raises(ValueError, match="no subscriptions table"):
        build_features(source, CUTOFF, config)


def test_scoring_population_is_the_labelled_population(make_source, settings):
    # Scoring (build_features) and training (with labels) describe the same customers at a cutoff.
    source = make_source(as_of="2025-01-01", transactions=INACTIVITY)
    spec = discover_spec(source)
    scored = build_features(source, CUTOFF, settings, spec)
    labelled = to_frame(source, feature_table(source, [CUTOFF], settings, spec, with_labels=True))
    pd.testing.assert_frame_equal(scored, labelled.drop(columns="churned"))
