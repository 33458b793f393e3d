"""What changed since the previous risk list in the same folder: each customer's tier then, and who is new at risk.

Lists live in ``out_dir/as_of=YYYY-MM-DD/``; the previous list of a date is the newest one dated
before it, so a re-run for the same date compares with the same list again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from churnguard.core.config import RISK_TIERS

# The tiers a team calls: a customer entering one of them is news, moving between them is not.
AT_RISK = RISK_TIERS[:2]
_FOLDER = re.compile(r"^as_of=(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class PreviousList:
    """The tiers of the previous risk list, by customer."""

    as_of: date
    tiers: pd.Series  # risk_tier indexed by customer_id


def list_folder(out_dir: Path, as_of: pd.Timestamp) -> Path:
    """``out_dir/as_of=YYYY-MM-DD``: where the risk list of ``as_of`` is written."""
    return Path(out_dir) / f"as_of={as_of.date()}"


def risk_list_dates(out_dir: Path) -> list[date]:
    """Dates of the risk lists in ``out_dir`` (``as_of=YYYY-MM-DD/risk_list.parquet``), oldest first."""
    folder = Path(out_dir)
    if not folder.is_dir():
        return []
    return sorted(
        day
        for path in folder.iterdir()
        if (day := _folder_day(path.name)) is not None and (path / "risk_list.parquet").is_file()
    )


def previous_risk_list(out_dir: Path, as_of: pd.Timestamp) -> PreviousList | None:
    """The newest risk list in ``out_dir`` dated before ``as_of``, or ``None`` when there is none.

    Args:
        out_dir: the folder of dated risk lists (``write_risk_list``'s ``out_dir``).
        as_of: the date of the list being made.
    """
    earlier = [day for day in risk_list_dates(out_dir) if day < as_of.date()]
    if not earlier:
        return None
    path = list_folder(out_dir, pd.Timestamp(earlier[-1])) / "risk_list.parquet"
    frame = pd.read_parquet(path, columns=["customer_id", "risk_tier"])
    tiers = frame.set_index("customer_id")["risk_tier"]
    return PreviousList(as_of=earlier[-1], tiers=tiers[~tiers.index.duplicated()])


def picked_within(out_dir: Path, as_of: pd.Timestamp, days: int) -> pd.Index:
    """Customers put in the outreach or control group of a list dated in the ``days`` before ``as_of``.

    Both groups rest alike (``outreach.cooldown_days``): if only the contacted ones did, the next list's
    control group would hold the earlier control customers while its outreach group could not, and the
    two groups would no longer be alike.
    """
    since = (as_of - pd.Timedelta(days=days)).date()
    picked = []
    for day in risk_list_dates(out_dir):
        if since <= day < as_of.date():
            path = list_folder(out_dir, pd.Timestamp(day)) / "risk_list.parquet"
            rows = pd.read_parquet(path, columns=["customer_id", "group"])
            picked.append(rows.loc[rows["group"].isin(["outreach", "control"]), "customer_id"])
    return pd.Index(pd.concat(picked).unique()) if picked else pd.Index([])


def compare_tiers(
    customer_ids: pd.Series, tiers: pd.Series, previous: PreviousList | None
) -> tuple[np.ndarray, np.ndarray]:
    """``previous_tier`` (None where the customer was not listed) and ``new_this_week`` per customer.

    New means critical or high now and neither before, absent from the previous list included; without
    a previous list every critical and high customer is new (nobody has seen them yet).
    """
    if previous is None:
        before = pd.Series(None, index=range(len(customer_ids)), dtype=object)
    else:
        before = previous.tiers.reindex(pd.Index(customer_ids)).astype(object).reset_index(drop=True)
    before = before.where(before.notna(), None)
    now = pd.Series(np.asarray(tiers, dtype=object))
    new = now.isin(AT_RISK) & ~before.isin(AT_RISK)
    return before.to_numpy(dtype=object), new.to_numpy(dtype=bool)


def _folder_day(name: str) -> date | None:
    match = _FOLDER.match(name)
    if not match:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:  # as_of=2026-13-45: not a list folder
        return None
