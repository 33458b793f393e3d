"""Parse raw column values into churnguard's types; unparsable values become missing.

Every parser is vectorised and returns a Series aligned with its input, so that validation can
compare "had a value" with "parsed to a value" and report the rows that differ. Text is handled as
Arrow strings: patterns avoid ``\\s``/``\\d`` so pandas runs them in RE2 rather than Python's ``re``,
and text becomes numbers through Arrow casts (pandas' own string-to-number paths go through Python
objects and are 5-10x slower on millions of rows).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

TIMESTAMP_DTYPE = "datetime64[us, UTC]"
IdKind = Literal["int", "str"]

# Leading zeros mean an identifier that must stay text; so do more than 18 digits (may not fit int64).
_INTEGER_ID = r"^-?(?:0|[1-9][0-9]{0,17})$"
# A UTC offset after a time of day; a bare date such as "2024-07-01" ends in "-01" but is naive.
_HAS_OFFSET = (
    r"[Tt ][0-9]{2}(?::?[0-9]{2}(?::?[0-9]{2}(?:[.,][0-9]+)?)?)? ?(?:[zZ]|[+-][0-9]{2}(?::?[0-9]{2})?)$"
)
# A day and month in either order, e.g. 31.10.2026, 03/04/26 14:30 (one separator throughout).
_DAY_MONTH = (
    r"^(?P<first>[0-9]{1,2})(?P<sep>[./-])(?P<second>[0-9]{1,2})(?P<sep2>[./-])(?P<year>[0-9]{4}|[0-9]{2})"
    r"(?P<time>[ T][0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?)?$"
)
_NUMBER = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"  # no "inf", "nan", "1_000"
_INT64_MAX = np.iinfo(np.int64).max
_EXACT_FLOAT = 2**53  # floats beyond this cannot hold every whole number


def is_missing(values: pd.Series) -> pd.Series:
    """True where a value is absent or blank text."""
    missing = values.isna()
    if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
        missing |= values.astype("string").str.strip().fillna("").eq("")
    return missing


def parse_timestamps(values: pd.Series, timezone: str, date_format: str | None = None) -> pd.Series:
    """Parse dates/datetimes; naive values are read in ``timezone``; result is tz-aware UTC.

    Args:
        values: raw column (text, naive or aware datetimes, dates).
        timezone: IANA timezone of naive values.
        date_format: strftime format every text value must match, e.g. ``"%d.%m.%Y"``; None reads
            ISO dates and datetimes (never ``03/04/2026``, which is 3 April or March 4).

    Returns:
        ``datetime64[us, UTC]`` Series with NaT where a value is missing or unparsable.
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").astype(TIMESTAMP_DTYPE)
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return _localize(values.astype("datetime64[us]"), timezone)
    text = values.astype("string").str.strip()
    text = text.mask(text.eq(""))
    if date_format is not None:
        return _parse_with_format(text, date_format, timezone)
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


def _parse_with_format(text: pd.Series, date_format: str, timezone: str) -> pd.Series:
    if "%z" in date_format or "%Z" in date_format:  # every value carries its offset
        parsed = pd.to_datetime(text, format=date_format, utc=True, errors="coerce")
        return parsed.astype(TIMESTAMP_DTYPE)
    parsed = pd.to_datetime(text, format=date_format, errors="coerce")
    return _localize(parsed.astype("datetime64[us]"), timezone)


def day_month_formats(values: pd.Series) -> list[str]:
    """The formats that read numeric day/month dates such as ``31.10.2026`` or ``03/04/2026``.

    Args:
        values: text values ISO parsing refused.

    Returns:
        Day first (``%d.%m.%Y``) when some first number is above 12, month first (``%m/%d/%Y``) when
        some second number is, both (day first first) when every value reads either way (never a
        guess), none when no value looks like such a date or they contradict each other. Separator,
        year digits and time of day follow the first such value.
    """
    text = pa.array(values.dropna().astype("string").drop_duplicates(), type=pa.string())
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    found = pc.extract_regex(text, _DAY_MONTH)
    found = found.filter(found.is_valid())  # unmatched values are null structs of empty fields
    found = found.filter(pc.equal(found.field("sep"), found.field("sep2")))
    if len(found) == 0:
        return []
    first, second = (pc.cast(found.field(name), pa.int64()) for name in ("first", "second"))
    sep, year, time = (found.field(name)[0].as_py() for name in ("sep", "year", "time"))
    rest = ("%Y" if len(year) == 4 else "%y") + _time_format(time)
    candidates = []
    if _all_between(first, 31) and _all_between(second, 12):
        candidates.append(f"%d{sep}%m{sep}{rest}")
    if _all_between(first, 12) and _all_between(second, 31):
        candidates.append(f"%m{sep}%d{sep}{rest}")
    return candidates


def _all_between(numbers: pa.Array, most: int) -> bool:
    return bool(pc.all(pc.and_(pc.greater_equal(numbers, 1), pc.less_equal(numbers, most))).as_py())


def _time_format(time: str) -> str:
    """`` %H:%M`` for `` 14:30``, ``T%H:%M:%S`` for ``T14:30:05``, empty for no time."""
    if not time:
        return ""
    return time[0] + ("%H:%M:%S" if time.count(":") == 2 else "%H:%M")


def _localize(values: pd.Series, timezone: str) -> pd.Series:
    # Ambiguous wall times (the repeated hour in autumn) read as standard time; missing ones shift forward.
    localized = values.dt.tz_localize(
        timezone, ambiguous=np.zeros(len(values), dtype=bool), nonexistent="shift_forward"
    )
    return localized.dt.tz_convert("UTC").astype(TIMESTAMP_DTYPE)


def parse_numbers(values: pd.Series, decimal: str = ".") -> pd.Series:
    """float64 values; NaN where missing or not a finite number.

    With ``decimal=","`` text is read as written in much of Europe: ``12,50`` and ``1.234,50``
    (a dot followed by three digits is a thousands separator there).
    """
    if pd.api.types.is_bool_dtype(values.dtype):
        return pd.Series(np.nan, index=values.index)
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers = values.astype("float64")
    else:
        text = values.astype("string").str.strip()
        if decimal == ",":
            text = text.str.replace(r"(?<=\d)\.(?=\d{3}(?!\d))", "", regex=True).str.replace(",", ".")
        numbers = _cast_where(text, text.str.fullmatch(_NUMBER), pa.float64())
    return numbers.where(np.isfinite(numbers))


def id_kind_of(values: pd.Series) -> IdKind:
    """Whether customer ids are integers or text (text that looks like integers counts as integers)."""
    present = values[~is_missing(values)]
    if pd.api.types.is_bool_dtype(values.dtype):
        return "str"
    if pd.api.types.is_integer_dtype(values.dtype):
        return "int" if present.empty or present.max() <= _INT64_MAX else "str"
    if pd.api.types.is_float_dtype(values.dtype):
        return "int"  # numbers: fractional ones are then reported as invalid integer ids
    text = present.astype("string").str.strip()
    return "int" if bool(text.str.fullmatch(_INTEGER_ID).all()) else "str"


def parse_ids(values: pd.Series, kind: IdKind) -> pd.Series:
    """Customer ids of one kind; missing where absent or not convertible (e.g. text where ints are used).

    Returns:
        Nullable ``Int64`` for integer ids, ``string`` for text ids.
    """
    if pd.api.types.is_float_dtype(values.dtype):
        values = _whole_numbers(values)
    if kind == "str":
        text = values.astype("string").str.strip()
        return text.mask(text.eq(""))
    if pd.api.types.is_integer_dtype(values.dtype):
        if values.dtype.kind == "u":
            values = values.astype("UInt64")
            values = values.where(values <= _INT64_MAX)
        return values.astype("Int64")
    text = values.astype("string").str.strip()
    return _cast_where(text, text.str.fullmatch(_INTEGER_ID), pa.int64())


def _cast_where(text: pd.Series, ok: pd.Series, to: pa.DataType) -> pd.Series:
    """Arrow-cast the text where ``ok`` (elsewhere missing): ``float64`` with NaN, or ``Int64``."""
    kept = pc.if_else(pa.array(ok.fillna(False).to_numpy(dtype=bool)), pa.array(text), None)
    cast = pc.cast(kept, to)
    if pa.types.is_integer(to):
        return pd.Series(cast.to_pandas(types_mapper={to: pd.Int64Dtype()}.get), index=text.index)
    return pd.Series(cast.to_numpy(zero_copy_only=False), index=text.index, dtype="float64")


def _whole_numbers(values: pd.Series) -> pd.Series:
    """Float ids as ``Int64``; fractional or imprecisely large values become missing."""
    whole = values.eq(np.floor(values)) & values.abs().le(_EXACT_FLOAT)
    return values.where(whole).astype("Int64")


def finalize_ids(values: pd.Series, kind: IdKind) -> pd.Series:
    """Plain ``int64`` / ``str`` ids once validation has ruled out missing ones."""
    return values.astype("int64") if kind == "int" else values.astype("str")


def parse_text(values: pd.Series) -> pd.Series:
    """Stripped ``str`` values, the same from CSV text, Parquet strings or categories; blank is missing."""
    text = values.astype("string").str.strip()
    return text.mask(text.eq("")).astype("str")
