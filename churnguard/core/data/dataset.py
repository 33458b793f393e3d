"""Load a validated data directory as of a date: the single entry point every command uses."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from churnguard.core.config import AttributeSettings, DataSettings, did_you_mean
from churnguard.core.data.attributes import screen_attributes
from churnguard.core.data.parse import IdKind
from churnguard.core.data.validate import DataValidationError, Problem, ValidationReport, validate_data_dir

DAY = pd.Timedelta(days=1)


@dataclass
class Dataset:
    """Validated, typed tables holding only what was known before ``as_of``.

    ``customers`` always exists (derived from transactions when the file is absent); ``events``,
    ``subscriptions`` and ``contacts`` are ``None`` when the data directory has no such table.
    ``contacts`` (who the retention team reached, when) is for outcomes and cooldowns only: it is not
    in :meth:`tables`, the tables features read. ``carry`` holds
    ``customer_id`` and the customers columns the risk list carries (``scoring.carry_columns``), taken
    before attributes are screened: it is for the list only, never a table features read.
    """

    data_dir: Path
    as_of: pd.Timestamp
    transactions: pd.DataFrame
    customers: pd.DataFrame
    events: pd.DataFrame | None
    subscriptions: pd.DataFrame | None
    id_kind: IdKind
    fingerprint: str
    report: ValidationReport
    carry: pd.DataFrame | None = None
    contacts: pd.DataFrame | None = None

    @property
    def attribute_columns(self) -> list[str]:
        """Customer attribute columns (everything in customers beyond id and signup)."""
        return [c for c in self.customers.columns if c not in ("customer_id", "signup_ts")]

    def tables(self) -> dict[str, pd.DataFrame]:
        """The model's input tables that are present (never ``contacts``)."""
        present = {
            "transactions": self.transactions,
            "customers": self.customers,
            "events": self.events,
            "subscriptions": self.subscriptions,
        }
        return {name: frame for name, frame in present.items() if frame is not None}


def to_utc_timestamp(value: str | pd.Timestamp) -> pd.Timestamp:
    """A date or datetime as a tz-aware UTC timestamp (naive values are taken as UTC)."""
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def default_as_of(transactions: pd.DataFrame) -> pd.Timestamp:
    """The day after the newest transaction: scoring as of the freshest data."""
    return transactions["ts"].max().floor("D") + DAY


def fingerprint_files(paths: list[Path], salt: str = "") -> str:
    """A short content hash of the input files, stable across copies and renames of the folder.

    Args:
        paths: the files read.
        salt: anything else that changes what the files mean (the timezone, the column mapping).
    """
    digest = hashlib.sha256(salt.encode())
    for path in sorted(paths, key=lambda p: p.name):
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def load_dataset(
    data_dir: Path | str,
    settings: DataSettings,
    as_of: str | pd.Timestamp | None = None,
    carry_columns: Sequence[str] = (),
) -> Dataset:
    """Validate a data directory and keep what was known before ``as_of``.

    Args:
        data_dir: the data directory.
        settings: data settings (timezone, column mapping).
        as_of: run date; rows at or after it are excluded and counted. Defaults to the day after
            the newest transaction.
        carry_columns: ``scoring.carry_columns``, customers columns kept aside for the risk list
            (``Dataset.carry``); each must exist in the customers file.

    Returns:
        The dataset.

    Raises:
        DataValidationError: the data breaks the contract; the error's report lists every problem.
    """
    data_dir = Path(data_dir)
    report, validated = validate_data_dir(data_dir, settings)
    if validated is None:
        raise DataValidationError(report)
    tables = validated.tables
    stamp = to_utc_timestamp(as_of) if as_of is not None else default_as_of(tables["transactions"])

    names = {table: path.name for table, path in validated.files.items()}
    transactions = _before(tables["transactions"], "ts", stamp, report, names["transactions"])
    if transactions.empty:
        report.problems.append(
            Problem(
                "transactions", names["transactions"], "ts", f"no transaction before as_of {_when(stamp)}", 0
            )
        )
        raise DataValidationError(report)
    refunds = int((transactions["amount"] < 0).sum())
    if refunds:
        report.notes.append(
            Problem(
                "transactions",
                names["transactions"],
                "amount",
                "negative amounts counted as refunds",
                refunds,
            )
        )

    customers = tables["customers"]
    if customers is None:
        customers = pd.DataFrame({"customer_id": transactions["customer_id"].drop_duplicates().sort_values()})
        customers = customers.reset_index(drop=True)
    elif "signup_ts" in customers:
        future = customers["signup_ts"] >= stamp
        _note_future(report, names["customers"], "signup_ts", int(future.sum()), stamp)
        customers = customers[~future].reset_index(drop=True)
    carry = _carry(tables["customers"], customers, carry_columns, report, names.get("customers"))
    if tables["customers"] is not None:
        customers = _model_safe_attributes(customers, settings.attributes, report, names["customers"])

    events = tables["events"]
    if events is not None:
        events = _before(events, "ts", stamp, report, names["events"])

    subscriptions = tables["subscriptions"]
    if subscriptions is not None:
        subscriptions = _before(subscriptions, "start_ts", stamp, report, names["subscriptions"])
        # An end date after as_of is not known yet at as_of: the subscription is still active.
        ends_later = subscriptions["end_ts"] >= stamp
        _note_future(
            report, names["subscriptions"], "end_ts", int(ends_later.sum()), stamp, "treated as active"
        )
        subscriptions = subscriptions.assign(end_ts=subscriptions["end_ts"].mask(ends_later))

    contacts = tables["contacts"]
    if contacts is not None:
        contacts = _before(contacts, "ts", stamp, report, names["contacts"])

    return Dataset(
        data_dir=data_dir,
        as_of=stamp,
        transactions=transactions,
        customers=customers,
        events=events,
        subscriptions=subscriptions,
        id_kind=validated.id_kind,
        # The same bytes read in another timezone or with another mapping are other data.
        fingerprint=fingerprint_files(
            list(validated.files.values()),
            salt=settings.model_dump_json(include={"timezone", "columns", "attributes", "csv"}),
        ),
        report=report,
        carry=carry,
        contacts=contacts,
    )


def _carry(
    source: pd.DataFrame | None,
    customers: pd.DataFrame,
    columns: Sequence[str],
    report: ValidationReport,
    file: str | None,
) -> pd.DataFrame | None:
    """``customer_id`` and the carry columns, read before screening (an e-mail column is carried, not modelled)."""
    if not columns:
        return None
    if source is None:
        report.problems.append(
            Problem(
                "customers",
                "customers",
                None,
                f"scoring.carry_columns names {', '.join(map(repr, columns))}, but the data directory has "
                "no customers file to carry them from",
                0,
            )
        )
        raise DataValidationError(report)
    present = [c for c in customers.columns if c != "customer_id"]
    unknown = [c for c in columns if c not in present]
    for column in unknown:
        hint = did_you_mean(column, present)
        report.problems.append(
            Problem(
                "customers",
                file or "customers",
                column,
                f"scoring.carry_columns names {column!r}, which the file does not have: {hint}"
                f"(columns: {', '.join(present) or 'none'})",
                0,
            )
        )
    if unknown:
        raise DataValidationError(report)
    return customers[["customer_id", *columns]].copy()


def _model_safe_attributes(
    customers: pd.DataFrame, settings: AttributeSettings, report: ValidationReport, file: str
) -> pd.DataFrame:
    """The customers table without the attributes no model may see; a note names each and why."""
    columns = [c for c in customers.columns if c not in ("customer_id", "signup_ts")]
    unknown = sorted(set(settings.use or ()) - set(columns))
    if unknown:
        report.problems.append(
            Problem(
                "customers",
                file,
                None,
                f"data.attributes.use names {', '.join(map(repr, unknown))}, which the file does not have "
                f"(attributes: {', '.join(columns) or 'none'})",
                0,
            )
        )
        raise DataValidationError(report)
    kept, refused = screen_attributes(customers, columns, settings)
    for refusal in refused:
        report.notes.append(
            Problem("customers", file, refusal.column, f"left out of the model: {refusal.reason}", 0)
        )
    for name in sorted(set(settings.drop) - set(columns)):
        report.notes.append(
            Problem(
                "customers",
                file,
                None,
                f"data.attributes.drop names {name!r}, which the file does not have",
                0,
            )
        )
    return customers.drop(columns=[c for c in columns if c not in kept])


def _before(
    frame: pd.DataFrame, column: str, stamp: pd.Timestamp, report: ValidationReport, file: str
) -> pd.DataFrame:
    future = frame[column] >= stamp
    _note_future(report, file, column, int(future.sum()), stamp)
    return frame[~future].reset_index(drop=True) if future.any() else frame


def _note_future(
    report: ValidationReport,
    file: str,
    column: str,
    count: int,
    stamp: pd.Timestamp,
    outcome: str = "excluded",
) -> None:
    if count:
        table = Path(file).stem
        report.notes.append(
            Problem(table, file, column, f"dated on or after as_of {_when(stamp)}: {outcome}", count)
        )


def _when(stamp: pd.Timestamp) -> str:
    """``2024-07-01`` for midnight UTC, the full time otherwise."""
    return str(stamp.date()) if stamp == stamp.normalize() else stamp.isoformat()
