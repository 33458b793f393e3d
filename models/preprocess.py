"""Turn a feature frame into the model matrix, the same way in training and scoring.

Numeric features stay float64 (missing stays NaN: XGBoost learns where to send it); categorical
features become pandas categoricals with the levels seen in training, so an unseen level at scoring
time is treated as missing instead of shifting codes. The whole state is plain JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churnguard.features.spec import feature_names, is_categorical


@dataclass
class Preprocessor:
    """Feature order and categorical levels learned from a training frame."""

    features: list[str]
    categories: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def fit(cls, frame: pd.DataFrame, rows: np.ndarray | None = None) -> Preprocessor:
        """Learn the feature list and categorical levels from training rows (``rows``: a mask, default all)."""
        names = feature_names(frame)
        categories = {
            name: sorted(
                str(v) for v in (frame[name] if rows is None else frame[name][rows]).dropna().unique()
            )
            for name in names
            if is_categorical(name, frame[name])  # a numeric attribute (attr_age) stays a number
        }
        return cls(features=names, categories=categories)

    @property
    def numeric(self) -> list[str]:
        return [n for n in self.features if n not in self.categories]

    def check_columns(self, frame: pd.DataFrame) -> None:
        """Raise a readable error when the frame lacks features the model needs."""
        missing = [n for n in self.features if n not in frame.columns]
        if missing:
            raise ValueError(
                f"the feature table lacks {len(missing)} column(s) the model was trained with: "
                f"{', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}"
            )

    def transform(self, frame: pd.DataFrame, dtype: type = np.float64) -> pd.DataFrame:
        """The model matrix: columns in training order with training dtypes.

        ``dtype`` of the numeric columns: XGBoost works in float32 anyway, so training asks for
        float32 and halves the copy; the values the trees see are the same either way.
        """
        self.check_columns(frame)
        out = {}
        for name in self.features:
            if name in self.categories:
                out[name] = pd.Categorical(frame[name].astype("str"), categories=self.categories[name])
            else:
                out[name] = pd.to_numeric(frame[name], errors="coerce").astype(dtype)
        return pd.DataFrame(out, index=frame.index)

    def to_dict(self) -> dict:
        return {"features": self.features, "categories": self.categories}

    @classmethod
    def from_dict(cls, values: dict) -> Preprocessor:
        return cls(
            features=list(values["features"]),
            categories={k: list(v) for k, v in values["categories"].items()},
        )
