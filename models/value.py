"""Customer value: the one definition that training, promotion, scoring and the report share."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnguard.features.build import VALUE_COLUMN


def customer_value(frame: pd.DataFrame, margin: float) -> np.ndarray:
    """Trailing net spend times margin; net refunders are worth 0, not a negative amount."""
    return np.clip(frame[VALUE_COLUMN].to_numpy(dtype=float), 0, None) * margin
