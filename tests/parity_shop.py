"""Generated data on which a second feature engine must reproduce DuckDB's table to the bit.

Timestamps carry microseconds (an engine that rounds times to seconds differs), and a fifth of the
amounts sit on half a cent, some negative (refunds), where rounding to cents is a tie.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from churnguard.core.data.generate import generate_sample

HALF_CENTS = [0.125, 2.675, 10.005, 0.015, 1.005, 8.345]  # x.xx5: rounding to cents is a tie (or nearly)


def write_parity_shop(folder: Path, customers: int, seed: int) -> Path:
    """``customers`` generated customers in ``folder`` with microsecond times and half-cent amounts."""
    generate_sample(folder, n_customers=customers, seed=seed)
    rng = np.random.default_rng(seed)
    tx = pd.read_parquet(folder / "transactions.parquet")
    tx["ts"] = tx["ts"] + pd.to_timedelta(rng.integers(0, 1_000_000, len(tx)), unit="us")
    ties = rng.choice(len(tx), size=len(tx) // 5, replace=False)
    tx.loc[tx.index[ties], "amount"] = rng.choice(HALF_CENTS, size=len(ties)) * rng.choice(
        [1, -1, 7], len(ties)
    )
    tx.to_parquet(folder / "transactions.parquet", index=False)
    events = pd.read_parquet(folder / "events.parquet")
    events["ts"] = events["ts"] + pd.to_timedelta(rng.integers(0, 1_000_000, len(events)), unit="us")
    events.to_parquet(folder / "events.parquet", index=False)
    return folder
