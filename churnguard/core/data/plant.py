"""A known save effect to plant on a past risk list, and the contacts the retention team made for it.

:func:`churnguard.core.data.generate.generate_sample` takes a :class:`PlantedSave` (read from a list with
:func:`read_planted_save`): the world is drawn as without it, then a share of the outreach group's
would-be churners stays, and ``contacts.parquet`` records the outreach.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from churnguard.core.errors import BadInputError

CONTACT_CHANNELS, CONTACT_OUTCOMES = ("phone", "email"), ("reached", "no_answer")


@dataclass(frozen=True, eq=False)
class PlantedSave:
    """A known save effect to plant on a past risk list's outreach group.

    Attributes:
        outreach_ids: customer ids of the list's outreach group.
        control_ids: customer ids of its control group (never contacted, never changed).
        as_of: the list's date.
        save_share: share (0..1) of the outreach group's would-be churners who stay.
        horizon_days: the churn horizon: a would-be churner has no purchase in ``[as_of, as_of + horizon)``.
        seed: seed of the plant's own random numbers.
    """

    outreach_ids: np.ndarray
    control_ids: np.ndarray
    as_of: pd.Timestamp
    save_share: float
    horizon_days: int = 90
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.save_share <= 1.0:
            raise BadInputError(f"the save share must lie between 0 and 1, got {self.save_share}")
        if self.horizon_days < 7:
            raise BadInputError(
                f"the horizon must be at least 7 days (contacts take 5), got {self.horizon_days}"
            )
        stamp = pd.Timestamp(self.as_of)
        object.__setattr__(
            self, "as_of", stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        )
        for name in ("outreach_ids", "control_ids"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=np.int64))
        if np.intersect1d(self.outreach_ids, self.control_ids).size:
            raise BadInputError("a customer is in both the outreach and the control group")


def read_planted_save(risk_list: Path | str, save_share: float, seed: int = 0) -> PlantedSave:
    """A :class:`PlantedSave` from a risk list written by ``churn score``.

    Args:
        risk_list: the list's folder (``as_of=YYYY-MM-DD``) or its ``risk_list.parquet``.
        save_share: share (0..1) of the outreach group's would-be churners who stay.
        seed: seed of the plant's random numbers.

    Returns:
        Its outreach and control groups (column ``group``), its date (``as_of``) and its horizon
        (``horizon_days`` of ``summary.json`` beside it, else 90).

    Raises:
        BadInputError: no such list, or it lacks the columns, a single date or integer customer ids.
    """
    path = Path(risk_list)
    path = path / "risk_list.parquet" if path.is_dir() else path
    if not path.is_file() or path.suffix != ".parquet":
        raise BadInputError(
            f"no risk list at {risk_list}: give a folder as_of=YYYY-MM-DD or its risk_list.parquet"
        )
    columns = set(pq.read_schema(path).names)
    missing = [c for c in ("customer_id", "group", "as_of") if c not in columns]
    if missing:
        raise BadInputError(
            f"{path} has no column {', '.join(map(repr, missing))}: planting needs the list's outreach and "
            "control groups (column 'group') and its date (column 'as_of')"
        )
    frame = pd.read_parquet(path, columns=["customer_id", "group", "as_of"])
    dates = pd.to_datetime(frame["as_of"].astype(str)).unique()
    if len(dates) != 1:
        raise BadInputError(f"{path}, column 'as_of': expected one date, found {len(dates)}")
    if not pd.api.types.is_integer_dtype(frame["customer_id"].dtype):
        raise BadInputError(f"{path}, column 'customer_id': the generator's customer ids are integers")
    groups = frame["group"].astype(str)
    summary = path.parent / "summary.json"
    horizon = (
        json.loads(summary.read_text(encoding="utf-8")).get("horizon_days", 90) if summary.is_file() else 90
    )
    return PlantedSave(
        outreach_ids=frame.loc[groups.eq("outreach"), "customer_id"].to_numpy(),
        control_ids=frame.loc[groups.eq("control"), "customer_id"].to_numpy(),
        as_of=pd.Timestamp(dates[0]),
        save_share=save_share,
        horizon_days=int(horizon),
        seed=seed,
    )


def contact_days(as_of: pd.Timestamp, start_ts: pd.Timestamp) -> np.ndarray:
    """Midnights (seconds since ``start_ts``) of the weekdays among the 5 days from ``as_of``'s date on;
    5 consecutive days hold at least 3 weekdays."""
    days = pd.date_range(as_of.normalize(), periods=5, freq="D")
    return np.array([(day - start_ts) // pd.Timedelta(seconds=1) for day in days[days.day_of_week < 5]])


def draw_contacts(rng, outreach: np.ndarray, a: int, days: np.ndarray) -> tuple[np.ndarray, ...]:
    """One contact per outreach customer on one of ``days`` in office hours (9-17), never before
    ``as_of`` (second ``a``); ~60% by phone, ~75% reached. Returns (seconds, channel, outcome) codes."""
    t = days[rng.integers(0, days.size, outreach.size)] + rng.integers(9 * 3600, 17 * 3600, outreach.size)
    channel = (rng.random(outreach.size) >= 0.6).astype(np.int8)
    outcome = (rng.random(outreach.size) >= 0.75).astype(np.int8)
    return np.maximum(t, a), channel, outcome
