"""Tiny hand-made data directories for the feature tests, read the way every command reads them.

The helpers live here as fixtures rather than in an importable ``helpers.py``: test folders have no
``__init__.py``, so a plain module name could clash with another test folder's under pytest's
default import mode.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from churnguard.core.config import Settings
from churnguard.core.data.dataset import load_dataset
from churnguard.features.build import FeatureSpec, build_features
from churnguard.features.source import FeatureSource, source_from_dataset

CUTOFF = "2024-07-01"
COLUMNS = {
    "transactions": ("customer_id", "ts", "amount"),
    "customers": ("customer_id", "signup_ts"),
    "events": ("customer_id", "ts", "event_type", "value"),
    "subscriptions": ("customer_id", "start_ts", "end_ts", "plan", "mrr"),
}
Rows = list[tuple] | pd.DataFrame | None


def as_frame(table: str, rows: Rows) -> pd.DataFrame | None:
    """Rows as tuples in the order of ``COLUMNS[table]``, or a ready frame for other column sets."""
    if rows is None or isinstance(rows, pd.DataFrame):
        return rows
    return pd.DataFrame(rows, columns=list(COLUMNS[table]))


def write_data_dir(folder: Path, **tables: Rows) -> Path:
    """Write each given table as ``NAME.csv`` into ``folder`` (tables left as None are not written)."""
    folder.mkdir(parents=True)
    for name, rows in tables.items():
        frame = as_frame(name, rows)
        if frame is not None:
            frame.to_csv(folder / f"{name}.csv", index=False)
    return folder


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def make_source(tmp_path: Path, settings: Settings) -> Callable[..., FeatureSource]:
    """``make_source(transactions=[...], events=[...], as_of=...)``: a source over a fresh data dir."""
    counter = itertools.count()

    def make(as_of: str = CUTOFF, config: Settings | None = None, **tables: Rows) -> FeatureSource:
        config = config or settings
        folder = write_data_dir(tmp_path / f"data{next(counter)}", **tables)
        dataset = load_dataset(folder, config.data, as_of)
        return source_from_dataset(dataset, config.features)

    return make


@pytest.fixture
def features(make_source, settings: Settings) -> Callable[..., pd.DataFrame]:
    """``features(transactions=[...], ...)``: the feature frame at ``CUTOFF``, indexed by customer_id."""

    def build(
        cutoff: str = CUTOFF,
        data_as_of: str | None = None,
        config: Settings | None = None,
        spec: FeatureSpec | None = None,
        **tables: Rows,
    ) -> pd.DataFrame:
        """Features at ``cutoff`` of data loaded as of ``data_as_of`` (default: the cutoff itself)."""
        config = config or settings
        source = make_source(as_of=data_as_of or cutoff, config=config, **tables)
        return build_features(source, cutoff, config, spec).set_index("customer_id")

    return build
