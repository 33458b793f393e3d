"""What the feature table's columns are: the spec a model stores, and which columns are model inputs."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:  # only an annotation: a logged model bundles this module without the Ibis backend
    from churnguard.features.source import FeatureSource

ID_COLUMNS = ["customer_id", "cutoff"]
LABEL = "churned"
VALUE_COLUMN = "trailing_spend"  # net spend of the value window: the basis of customer value, not a feature
CATEGORICAL_FEATURES = {"rfm_segment", "nps_class", "sub_plan"}


@dataclass(frozen=True)
class FeatureSpec:
    """What the feature columns depend on besides settings; stored with a model so scoring matches it."""

    event_types: tuple[str, ...] = ()
    valued_event_types: tuple[str, ...] = ()
    attribute_columns: tuple[str, ...] = ()
    numeric_attributes: tuple[str, ...] = ()
    has_subscriptions: bool = False
    subscription_mrr: bool = False
    subscription_plan: bool = False

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> FeatureSpec:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def discover_spec(source: FeatureSource) -> FeatureSpec:
    """Read the event types, attributes and subscription columns present in the data."""
    event_types = source.event_types()
    counts = source.event_type_counts()
    present = set(counts.loc[counts["n_valued"] > 0, "event_type"].astype(str))
    valued = [t for t in event_types if t in present]
    subs = source.subscriptions
    return FeatureSpec(
        event_types=tuple(event_types),
        valued_event_types=tuple(valued),
        attribute_columns=tuple(source.attribute_columns),
        numeric_attributes=tuple(source.numeric_attributes),
        has_subscriptions=subs is not None,
        subscription_mrr=subs is not None and "mrr" in subs.columns,
        subscription_plan=subs is not None and "plan" in subs.columns,
    )


def feature_names(frame: pd.DataFrame) -> list[str]:
    """The model input columns of a feature frame (everything but ids, value basis and label)."""
    return [c for c in frame.columns if c not in (*ID_COLUMNS, VALUE_COLUMN, LABEL)]


def is_categorical(name: str, values: pd.Series | None = None) -> bool:
    """Whether a feature column is categorical (text) rather than numeric.

    Args:
        name: the feature column.
        values: the column itself; only needed to tell a numeric attribute (``attr_age``, float) from
            a text one, which the name alone cannot. Without it every attribute counts as categorical.
    """
    if name.startswith("attr_") and values is not None:
        return not pd.api.types.is_numeric_dtype(values.dtype)
    return name in CATEGORICAL_FEATURES or name.startswith("attr_")
