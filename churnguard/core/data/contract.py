"""The data directory contract: which tables churnguard reads and which columns they carry."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TableSpec:
    """One table of a data directory.

    Attributes:
        name: file stem, read from ``NAME.parquet`` or, when absent, ``NAME.csv``.
        required: whether a data directory must contain it.
        required_columns: columns that must exist (after column mapping).
        optional_columns: columns used when present.
        timestamp_columns: columns parsed as timestamps and stored tz-aware UTC.
        numeric_columns: columns that must hold numbers.
        keep_extra: keep unknown columns (customer attributes) instead of dropping them.
    """

    name: str
    required: bool
    required_columns: tuple[str, ...]
    optional_columns: tuple[str, ...] = ()
    timestamp_columns: tuple[str, ...] = ()
    numeric_columns: tuple[str, ...] = ()
    keep_extra: bool = False

    @property
    def known_columns(self) -> tuple[str, ...]:
        return self.required_columns + self.optional_columns


TRANSACTIONS = TableSpec(
    name="transactions",
    required=True,
    required_columns=("customer_id", "ts", "amount"),
    optional_columns=("order_id",),
    timestamp_columns=("ts",),
    numeric_columns=("amount",),
)
CUSTOMERS = TableSpec(
    name="customers",
    required=False,
    required_columns=("customer_id",),
    optional_columns=("signup_ts",),
    timestamp_columns=("signup_ts",),
    keep_extra=True,
)
EVENTS = TableSpec(
    name="events",
    required=False,
    required_columns=("customer_id", "ts", "event_type"),
    optional_columns=("value",),
    timestamp_columns=("ts",),
    numeric_columns=("value",),
)
SUBSCRIPTIONS = TableSpec(
    name="subscriptions",
    required=False,
    required_columns=("customer_id", "start_ts", "end_ts"),
    optional_columns=("plan", "mrr"),
    timestamp_columns=("start_ts", "end_ts"),
    numeric_columns=("mrr",),
)

# Who the retention team contacted and when: read to measure outcomes among contacted customers and
# to enforce contact cooldowns, never as a model input (features do not read it).
CONTACTS = TableSpec(
    name="contacts",
    required=False,
    required_columns=("customer_id", "ts"),
    optional_columns=("channel", "outcome"),
    timestamp_columns=("ts",),
)

TABLES: tuple[TableSpec, ...] = (TRANSACTIONS, CUSTOMERS, EVENTS, SUBSCRIPTIONS, CONTACTS)
TABLES_BY_NAME = {spec.name: spec for spec in TABLES}

# Columns whose empty values are allowed; every other required column must be filled.
NULLABLE_COLUMNS = {"end_ts", "signup_ts", "value", "mrr", "plan", "order_id", "channel", "outcome"}

# Columns whose values must not repeat within their table.
UNIQUE_COLUMNS = {("transactions", "order_id"), ("customers", "customer_id")}
