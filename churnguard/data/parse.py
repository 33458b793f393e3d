"""Parse raw column values into churnguard's types; unparsable values become missing.

Every parser is vectorised and returns a Series aligned with its input, so that validation can
compare "had a value" with "parsed to a value" and report the rows that differ.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

TIMESTAMP_DTYPE = "datetime64[us, UTC]"
IdKind = Literal["int", "str"]

_INTEGER_ID = r"^-?(?:0|[1-9]\d*)$"  # leading zeros mean an identifier that must stay text
_HAS_OFFSET = r"(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"


def is_missing(values: pd.Series) -> pd.Series:
    """True where a value is absent or blank text."""
    missing = values.isna()
    if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
        missing |= values.astype("string").str.strip().fillna("").eq("")
    return missing


def parse_timestamps(values: pd.Series, timezone: str) -> pd.Series:
    """Parse ISO dates/datetimes; naive values are read in ``timezone``; result is tz-aware UTC.

    Args:
        values: raw column (text, naive or aware datetimes, dates).
        timezone: IANA timezone of naive values.

    Returns:
        ``datetime64[us, UTC]`` Series with NaT where a value is missing or unparsable.
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").astype(TIMESTAMP_DTYPE)
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return _localize(values.astype("datetime64[us]"), timezone)
    text = values.astype("string").str.strip()
    text = text.mask(text.eq(""))
    out = pd.Series(pd.NaT, index=values.index, dtype=TIMESTAMP_DTYPE)
    aware = text.str.contains(_HAS_OFFSET, regex=True).fillna(False).astype(bool)
    naive = text.notna() & ~aware
    if aware.any():
        out[aware] = pd.to_datetime(text[aware], utc=True, format="ISO8601", errors="coerce").astype(
            TIMESTAMP_DTYPE
        )
    if naive.any():
        parsed = pd.to_datetime(text[naive], format="ISO8601", errors="coerce")
        out[naive] = _localize(parsed.astype("datetime64[us]"), timezone)
    return out


def _localize(values: pd.Series, timezone: str) -> pd.Series:
    # Ambiguous wall times (the repeated hour in autumn) read as standard time; missing ones shift forward.
    localized = values.dt.tz_localize(
        timezone, ambiguous=np.zeros(len(values), dtype=bool), nonexistent="shift_forward"
    )
    return localized.dt.tz_convert("UTC").astype(TIMESTAMP_DTYPE)


def parse_numbers(values: pd.Series) -> pd.Series:
    """float64 values; NaN where missing or not a number."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return pd.Series(np.nan, index=values.index)
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.astype("float64")
    text = values.astype("string").str.strip()
    return pd.to_numeric(text, errors="coerce").astype("float64")


def id_kind_of(values: pd.Series) -> IdKind:
    """Whether customer ids are integers or text (text that looks like integers counts as integers)."""
    present = values[~is_missing(values)]
    if pd.api.types.is_integer_dtype(values.dtype):
        return "int"
    if pd.api.types.is_float_dtype(values.dtype):
        return "int" if bool((present == np.floor(present)).all()) else "str"
    text = present.astype("string").str.strip()
    return "int" if bool(text.str.fullmatch(_INTEGER_ID).all()) else "str"


def parse_ids(values: pd.Series, kind: IdKind) -> pd.Series:
    """Customer ids of one kind; missing where absent or not convertible (e.g. text where ints are used).

    Returns:
        Nullable ``Int64`` for integer ids, ``string`` for text ids.
    """
    if kind == "str":
        if pd.api.types.is_float_dtype(values.dtype):
            values = values.astype("Int64")
        text = values.astype("string").str.strip()
        return text.mask(text.eq(""))
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.astype("Int64")
    if pd.api.types.is_float_dtype(values.dtype):
        return values.where(values == np.floor(values)).astype("Int64")
    text = values.astype("string").str.strip()
    ok = text.str.fullmatch(_INTEGER_ID).fillna(False).astype(bool)
    return pd.to_numeric(text.where(ok), errors="coerce").astype("Int64")


def finalize_ids(values: pd.Series, kind: IdKind) -> pd.Series:
    """Plain ``int64`` / ``str`` ids once validation has ruled out missing ones."""
    return values.astype("int64") if kind == "int" else values.astype("str")
