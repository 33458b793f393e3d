"""Which customer attributes may become model features: never contact data, never an identifier.

Every level of a categorical feature is stored in the model (its category list), and the model store
is usually read by far more people than the CRM. So an attribute reaches the model only when it is a
segment (region, channel, tier) or a plain number (age, employees), never when it names, reaches or
identifies a person. Columns are judged by their name (unless the user's allowlist vouches for it)
and, always, by their values. Pure functions: the caller reports the refusals and drops the columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from churnguard.core.config import AttributeSettings

# Name tokens (lower case, split at "_", "-", spaces and camelCase) that mark personal or contact data.
_NAME_WORDS = {
    "contact data": {"email", "mail", "phone", "mobile", "telephone", "tel", "fax", "cell", "whatsapp"},
    "a person's name": {
        "name",
        "names",
        "firstname",
        "lastname",
        "fullname",
        "surname",
        "forename",
        "givenname",
        "nickname",
        "username",
    },
    "an address": {"address", "addr", "street", "postcode", "postal", "zip", "zipcode", "ip"},
    "an identity document or account": {"ssn", "passport", "iban", "bic"},
    "a birth date": {"birth", "birthday", "birthdate", "dob"},
    "an identifier": {"id", "ids", "uuid", "guid"},
    "free text": {
        "note",
        "notes",
        "comment",
        "comments",
        "description",
        "remark",
        "remarks",
        "message",
        "bio",
    },
}
# Joined spellings a token split cannot see ("emailaddress", "phonenumber").
_NAME_PARTS = ("email", "phone", "address", "firstname", "lastname", "fullname", "birth")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"^\+?[\d\s()./-]{7,}$")
_SAMPLE = 20_000  # values looked at per column for e-mails, phones and free text
_MIN_IDENTIFIER_LEVELS = 20  # fewer distinct values than this is never an identifier, however few the rows


@dataclass(frozen=True)
class Refusal:
    """An attribute kept out of the model, and why (no values: the reason must not leak them)."""

    column: str
    reason: str


def name_tokens(column: str) -> list[str]:
    """``"customerEmail_2"`` -> ``["customer", "email", "2"]``."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", column)
    return [t for t in re.split(r"[^0-9a-zA-Z]+", spaced.lower()) if t]


def screen_attributes(
    customers: pd.DataFrame, columns: list[str], settings: AttributeSettings
) -> tuple[list[str], list[Refusal]]:
    """Split attribute ``columns`` of ``customers`` into those the model may use and those it may not.

    Args:
        customers: the typed customers table (one row per customer).
        columns: its attribute columns (everything beyond id and signup).
        settings: ``data.attributes``: an allowlist (``use``), a blocklist (``drop``) and the bounds.

    Returns:
        The usable attributes in table order, and a refusal with a reason for each of the others.
    """
    kept: list[str] = []
    refused: list[Refusal] = []
    for column in columns:
        if settings.use is not None and column not in settings.use:
            refused.append(Refusal(column, "not listed in data.attributes.use"))
            continue
        if column in settings.drop:
            refused.append(Refusal(column, "listed in data.attributes.drop"))
            continue
        reason = None if column in (settings.use or ()) else _by_name(column)
        reason = reason or _by_values(customers[column], settings)
        if reason:
            refused.append(Refusal(column, reason))
        else:
            kept.append(column)
    return kept, refused


def _by_name(column: str) -> str | None:
    tokens = set(name_tokens(column))
    for what, words in _NAME_WORDS.items():
        if tokens & words:
            return f"its name says {what} (list it in data.attributes.use if it is not)"
    joined = "".join(tokens)
    for part in _NAME_PARTS:
        if part in joined:
            return f"its name says personal data ({part!r}; list it in data.attributes.use if it is not)"
    return None


def _by_values(values: pd.Series, settings: AttributeSettings) -> str | None:
    present = values.dropna()
    if present.empty:
        return "it is empty"
    distinct = int(present.nunique())
    if pd.api.types.is_numeric_dtype(present.dtype):
        whole = bool((present == present.round()).all())
        if whole and distinct >= _MIN_IDENTIFIER_LEVELS and distinct > 0.9 * len(present):
            return f"whole numbers, {distinct:,} different in {len(present):,} rows: an identifier"
        return None
    text = present.astype("str")
    sample = text.sample(min(_SAMPLE, len(text)), random_state=0) if len(text) > _SAMPLE else text
    if sample.str.contains(_EMAIL).any():
        return "its values hold e-mail addresses"
    if sample.str.match(_PHONE).mean() > 0.5 and sample.str.count(r"\d").median() >= 7:
        return "its values look like phone numbers"
    if sample.str.split().str.len().median() >= 4:
        return "its values are free text"
    if distinct >= _MIN_IDENTIFIER_LEVELS and distinct > settings.max_distinct_share * len(present):
        return (
            f"{distinct:,} different values in {len(present):,} rows, nearly one per customer "
            f"(more than data.attributes.max_distinct_share = {settings.max_distinct_share:g}): it identifies customers"
        )
    if distinct > settings.max_levels:
        return (
            f"{distinct:,} different values, more than data.attributes.max_levels = {settings.max_levels}: "
            "too many for a segment, and rare values can single a customer out"
        )
    return None
