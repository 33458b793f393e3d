"""One typed settings object for every command, flow and library call.

Values come, strongest first, from explicit overrides passed to :func:`load_settings` (e.g. command
options), environment variables (``CHURNGUARD_...``, nested with ``__``, e.g.
``CHURNGUARD_CHURN__HORIZON_DAYS=60``), the YAML config file, then the defaults below. Unknown keys
are errors at every level, so a typo never silently falls back to a default. Nothing is read or
created at import time: call :func:`load_settings` when a command starts.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import BaseModel as PydanticModel
from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from churnguard.core.data.contract import TABLES_BY_NAME
from churnguard.core.errors import BadInputError

DEFAULT_CONFIG_FILE = "churnguard.yaml"


class BaseModel(PydanticModel):
    """Base of every settings section: an unknown key (a typo) is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid")


class AttributeSettings(BaseModel):
    """Which customer attributes may become model features (personal data never does)."""

    use: list[str] | None = Field(
        None,
        description="Only these attributes may become features (an allowlist; names that look personal "
        "are then trusted, values are still checked). Default: every attribute that passes the checks.",
    )
    drop: list[str] = Field(default_factory=list, description="Attributes never to use.")
    max_levels: int = Field(
        50, ge=2, description="A text attribute with more distinct values than this is left out."
    )
    max_distinct_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="A text attribute with more distinct values than this share of the customers "
        "identifies them and is left out.",
    )


class CsvSettings(BaseModel):
    """How CSV files are written: spreadsheet exports in much of Europe use ``;`` and ``12,50``."""

    delimiter: str = Field(",", min_length=1, max_length=1, description="Field separator, e.g. ';'.")
    decimal: Literal[".", ","] = Field(".", description="Decimal mark of numbers in CSV files.")
    date_format: str | None = Field(
        None,
        description="strftime format of every date in CSV files, e.g. '%d.%m.%Y' or '%d/%m/%Y %H:%M'. "
        "Default: ISO dates and datetimes (2026-10-31, 2026-10-31 14:30).",
    )

    @model_validator(mode="after")
    def _distinct(self) -> CsvSettings:
        if self.delimiter == self.decimal:
            raise ValueError(f"the delimiter and the decimal mark cannot both be {self.delimiter!r}")
        return self

    @field_validator("date_format")
    @classmethod
    def _reads_whole_dates(cls, value: str | None) -> str | None:
        if value is None:
            return value
        import pandas as pd  # the parser the format is for; imported only when a format is set

        sample = pd.Timestamp("2026-10-31 13:45:30", tz="UTC")
        try:
            read = pd.to_datetime(sample.strftime(value), format=value)
        except ValueError as exc:
            raise ValueError(f"date_format {value!r} cannot be used: {exc}") from exc
        if read.date() != sample.date():
            raise ValueError(f"date_format {value!r} needs a day, a month and a year, e.g. '%d.%m.%Y'")
        return value


class DataSettings(BaseModel):
    """How a data directory is read."""

    timezone: str = Field("UTC", description="Timezone of naive timestamps in the input files.")
    columns: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Per table, the user's column name mapped to churnguard's, "
        "e.g. {transactions: {cust_no: customer_id, order_date: ts, net_value: amount}}.",
    )
    example_rows: int = Field(5, ge=1, description="Example rows shown per validation problem.")
    attributes: AttributeSettings = Field(default_factory=AttributeSettings)
    csv: CsvSettings = Field(default_factory=CsvSettings)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # "America" is a folder: OSError
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @field_validator("columns")
    @classmethod
    def _known_tables_and_columns(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for table, mapping in value.items():
            spec = TABLES_BY_NAME.get(table)
            if spec is None:
                raise ValueError(f"unknown table {table!r} (tables: {', '.join(TABLES_BY_NAME)})")
            for target in mapping.values():
                if not spec.keep_extra and target not in spec.known_columns:
                    known = ", ".join(spec.known_columns)
                    raise ValueError(f"{table}: cannot map to unknown column {target!r} (columns: {known})")
            doubled = sorted({t for t in mapping.values() if list(mapping.values()).count(t) > 1})
            if doubled:
                raise ValueError(f"{table}: several columns map to {', '.join(map(repr, doubled))}")
        return value


class FeatureSettings(BaseModel):
    """Windows and cutoffs of the point-in-time features."""

    windows_days: list[int] = Field(default_factory=lambda: [30, 90, 180, 365])
    engagement_windows_days: list[int] = Field(default_factory=lambda: [30, 90])
    trend_days: int = Field(90, gt=0, description="Recent-vs-previous comparison window.")
    cutoff_every_days: int = Field(30, gt=0)
    min_history_days: int = Field(
        180, ge=0, description="The first training cutoff lies this long after the first transaction."
    )
    max_cutoffs: int | None = Field(
        12, gt=0, description="Keep only the latest N training cutoffs (recent behaviour matters most)."
    )
    duckdb_threads: int | None = Field(None, gt=0)
    duckdb_memory_limit: str | None = Field(None, description="e.g. '2GB'; DuckDB spills beyond it.")

    @field_validator("windows_days", "engagement_windows_days")
    @classmethod
    def _positive_sorted(cls, value: list[int]) -> list[int]:
        if not value or any(w <= 0 for w in value):
            raise ValueError("windows must be a non-empty list of positive day counts")
        return sorted(set(value))


class ChurnSettings(BaseModel):
    """What churn means for this business."""

    definition: Literal["inactivity", "subscription"] = "inactivity"
    horizon_days: int = Field(90, gt=0)
    lookback_days: int = Field(365, gt=0, description="Active = at least one purchase in this many days.")


class TrainingSettings(BaseModel):
    experiment: str = "churnguard"
    n_trials: int = Field(6, ge=1, description="Hyper-parameter combinations tried on the backtest folds.")
    backtest_folds: int = Field(
        3,
        ge=1,
        description="Rolling-origin test cutoffs, at least one horizon apart where the history allows.",
    )
    max_rounds: int = Field(400, ge=10)
    early_stopping_rounds: int = Field(30, ge=5)
    seed: int = 42
    n_threads: int | None = Field(None, gt=0)


class ValueSettings(BaseModel):
    margin: float = Field(0.3, gt=0, le=1, description="Share of spend that is profit.")
    window_days: int = Field(365, gt=0, description="Trailing spend window of customer value.")


# Risk tiers, riskiest first: the one list every layer names them by (scoring, playbook, report).
RISK_TIERS = ("critical", "high", "medium", "low")
# Customers already gone (no purchase for scoring.lapsed_after_days): kept apart, outside the ranked tiers.
LAPSED_TIER = "lapsed"
# Every tier a row of a risk list can have: the ranked ones, then the lapsed customers.
ALL_TIERS = (*RISK_TIERS, LAPSED_TIER)
# The kinds of reasons a risk list gives (models/reasons.py), which a playbook rule can ask for: what
# changed in a customer's behaviour. Segments, rhythm alone and attributes are not reasons.
REASON_KINDS = ("recency", "trend", "monetary", "engagement", "service", "nps", "subscription")
RFM_SEGMENTS = ("Champions", "Can't lose them", "Loyal", "New", "Potential", "At risk", "Hibernating", "Lost")


def did_you_mean(value: str, known: Sequence[str], spell: str = "{!r}") -> str:
    """``"did you mean 'service'? "`` for the known name nearest to a misspelt one, else ``""``."""
    near = difflib.get_close_matches(value, list(known), n=1)
    return f"did you mean {spell.format(near[0])}? " if near else ""


def _known(values: list[str], known: tuple[str, ...], what: str) -> list[str]:
    """``values`` when each is one of ``known``; else an error naming the stranger and its nearest match."""
    for value in values:
        if value not in known:
            raise ValueError(
                f"unknown {what} {value!r}: {did_you_mean(value, known)}({what}s: {', '.join(known)})"
            )
    return values


class OutreachSettings(BaseModel):
    cost_per_contact: float = Field(5.0, ge=0)
    save_rate: float = Field(0.2, ge=0, le=1, description="Share of contacted churners kept.")
    capacity: int | None = Field(None, ge=0, description="Customers the team can contact per list.")
    control_share: float = Field(0.1, ge=0, lt=1, description="Random share of candidates held out.")
    eligible_tiers: list[str] = Field(
        default_factory=lambda: list(RISK_TIERS[:2]),
        description=f"Tiers whose customers may be contacted; add {LAPSED_TIER!r} to win back lapsed ones too.",
    )
    seed: int = 7
    cooldown_days: int = Field(
        30,
        ge=0,
        description="Customers contacted (contacts table) within this many days before as_of are not picked "
        "for outreach again (group 'cooldown'); their places go to the next customers. 0: no cooldown.",
    )

    @field_validator("eligible_tiers")
    @classmethod
    def _known_tiers(cls, value: list[str]) -> list[str]:
        return _known(value, ALL_TIERS, "tier")


class PromotionSettings(BaseModel):
    primary_metric: Literal["pr_auc", "roc_auc", "lift_at_10", "expected_profit"] = "pr_auc"
    min_gain: float = Field(0.0, ge=0)


class RegistrySettings(BaseModel):
    model_name: str = "churnguard-churn"


def masked_uri(uri: str) -> str:
    """The URI as it may be logged: credentials in it (``http://user:password@host``) become ``***``."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


class TrackingSettings(BaseModel):
    home: Path = Field(Path(".churnguard"), description="Embedded MLflow store when no URI is set.")
    tracking_uri: str | None = None

    def resolved_uri(self) -> str:
        """The tracking URI: settings, then MLFLOW_TRACKING_URI, then SQLite under ``home``."""
        if self.tracking_uri:
            return self.tracking_uri
        if os.environ.get("MLFLOW_TRACKING_URI"):
            return os.environ["MLFLOW_TRACKING_URI"]
        return f"sqlite:///{(self.home / 'mlflow.db').resolve()}"

    def artifact_location(self) -> str | None:
        """Artifacts beside a SQLite store's file (never MLflow's default ./mlruns); a server chooses its own."""
        uri = self.resolved_uri()
        if not uri.startswith("sqlite:///"):
            return None
        return (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").resolve().as_uri()


class TierSettings(BaseModel):
    """Risk tiers: by share of the ranked list, or by calibrated probability."""

    by: Literal["rank_share", "probability"] = "rank_share"
    critical: float = Field(0.05, gt=0, le=1)
    high: float = Field(0.15, gt=0, le=1)
    medium: float = Field(0.40, gt=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> TierSettings:
        if self.by == "rank_share" and not self.critical <= self.high <= self.medium:
            raise ValueError("rank shares must grow: critical <= high <= medium")
        if self.by == "probability" and not self.critical >= self.high >= self.medium:
            raise ValueError("probability cut points must fall: critical >= high >= medium")
        return self


class PlaybookRule(BaseModel):
    """One ordered rule: the first rule whose conditions all hold names the action."""

    name: str
    action: str
    reason_kinds: list[str] = Field(default_factory=list, description="Any of these reason kinds.")
    segments: list[str] = Field(default_factory=list)
    tiers: list[str] = Field(default_factory=list)
    min_value: float | None = None
    max_value: float | None = None

    @field_validator("reason_kinds")
    @classmethod
    def _known_kinds(cls, value: list[str]) -> list[str]:
        return _known(value, REASON_KINDS, "reason kind")

    @field_validator("segments")
    @classmethod
    def _known_segments(cls, value: list[str]) -> list[str]:
        return _known(value, RFM_SEGMENTS, "segment")

    @field_validator("tiers")
    @classmethod
    def _known_tiers(cls, value: list[str]) -> list[str]:
        return _known(value, ALL_TIERS, "tier")

    @property
    def catches_all(self) -> bool:
        """No condition: every customer that reaches this rule matches it."""
        conditions = (self.reason_kinds, self.segments, self.tiers)
        return not any(conditions) and self.min_value is None and self.max_value is None


def _default_playbook() -> list[PlaybookRule]:
    at_risk = list(RISK_TIERS[:3])
    return [
        PlaybookRule(
            name="service recovery",
            action="Support follow-up call within 48 hours; resolve open tickets",
            reason_kinds=["service"],
            tiers=at_risk,
        ),
        PlaybookRule(
            name="vip save",
            action="Account manager call with a VIP retention offer",
            tiers=list(RISK_TIERS[:2]),
            min_value=150.0,
        ),
        PlaybookRule(
            name="detractor",
            action="Feedback call from customer care to hear and fix the complaint",
            reason_kinds=["nps"],
            tiers=at_risk,
        ),
        PlaybookRule(
            name="lapsing buyer",
            action="Personalised win-back offer based on past purchases",
            reason_kinds=["recency", "trend"],
            tiers=at_risk,
        ),
        PlaybookRule(
            name="disengaged",
            action="Re-engagement email series with preference update",
            reason_kinds=["engagement"],
            tiers=at_risk,
        ),
        PlaybookRule(name="low value", action="Automated retention email", tiers=at_risk),
        # A call rarely reaches someone who left months ago; an offer by e-mail is cheap to send to all.
        PlaybookRule(name="lapsed win-back", action="Win-back offer by e-mail", tiers=[LAPSED_TIER]),
        PlaybookRule(name="low risk", action="No outreach: keep in regular communication"),
    ]


class DriftSettings(BaseModel):
    """When scoring data has moved away from the model's training data (population stability index)."""

    watch: float = Field(0.1, gt=0, description="PSI from which a feature or the score is worth watching.")
    alert: float = Field(0.25, gt=0, description="PSI from which the model should not be trusted unchecked.")
    top: int = Field(5, ge=1, description="Drifting features named in the summary and the report.")
    carrying_share: float = Field(
        0.8,
        gt=0,
        le=1,
        description="The features that carry the model: largest share of its importance (XGBoost gain) first, "
        "until they make up this share. Only they (or the score) raise alert; any other feature at most watch.",
    )
    ignore: list[str] = Field(
        default_factory=list,
        description="Features that cycle by design (e.g. days since a quarterly survey): still measured and "
        "listed, never raise the status.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> DriftSettings:
        if self.alert < self.watch:
            raise ValueError("drift.alert must be at least drift.watch")
        return self


class ScoringSettings(BaseModel):
    tiers: TierSettings = Field(default_factory=TierSettings)
    playbook: list[PlaybookRule] = Field(default_factory=_default_playbook)
    exact_contributions: Literal["outreach", "all", "none"] = Field(
        "outreach",
        description="Who gets exact TreeSHAP reasons; everyone else gets XGBoost's fast approximation.",
    )
    exact_max_rows: int = Field(
        5_000,
        ge=0,
        description="Cap on exactly explained rows, highest risk first (exact TreeSHAP is ~30x slower).",
    )
    batch_rows: int = Field(200_000, gt=0, description="Rows scored per batch (bounds memory).")
    lapsed_after_days: int | None = Field(
        None,
        ge=0,
        description=f"Customers whose last purchase is longer ago than this are tier {LAPSED_TIER!r}, kept "
        "out of the ranked tiers. Default: churn.horizon_days under the inactivity definition (a whole "
        "horizon without a purchase: already churned by that definition); none under the subscription "
        "definition (every scored customer still subscribes). 0: no lapsed tier.",
    )
    drift: DriftSettings = Field(default_factory=DriftSettings)
    carry_columns: list[str] = Field(
        default_factory=list,
        description="Columns of the customers table (e.g. region, account manager, e-mail) copied into the "
        "risk list after customer_id; only the list gets them, never features or the model.",
    )

    @field_validator("carry_columns")
    @classmethod
    def _carry_once_each(cls, value: list[str]) -> list[str]:
        if "customer_id" in value:
            raise ValueError("customer_id is the list's first column already: leave it out of carry_columns")
        doubled = sorted({c for c in value if value.count(c) > 1})
        if doubled:
            raise ValueError(f"carry_columns lists {', '.join(map(repr, doubled))} more than once")
        return value

    @field_validator("playbook")
    @classmethod
    def _ends_in_a_catch_all(cls, value: list[PlaybookRule]) -> list[PlaybookRule]:
        # Without one, customers no rule matches (outreach ones included) would get no action at all.
        if not value or not value[-1].catches_all:
            raise ValueError(
                "the playbook must end with a rule without conditions (a catch-all), so that every "
                "customer gets an action; e.g. {name: other, action: Automated retention email}"
            )
        return value


class ReportSettings(BaseModel):
    months: int = Field(24, gt=0, description="Months of churn-rate history in the report.")
    currency: str = Field(
        "",
        max_length=8,
        description="Currency of the data's amounts, shown with every money value of the report: an ISO "
        "code (EUR: 1,234 EUR) or a symbol (€: €1,234); empty shows plain numbers.",
    )

    acquisition_cost: dict[str, float] = Field(
        default_factory=dict,
        description="What winning one customer costs (CAC) per acquisition channel, e.g. {web: 35, app: 22}; "
        "the report sets customer value against it (CLV:CAC). Empty: no CLV:CAC table.",
    )
    acquisition_channel: str = Field(
        "channel", description="Column of the customers table that names each customer's acquisition channel."
    )

    @field_validator("acquisition_cost")
    @classmethod
    def _costs_positive(cls, value: dict[str, float]) -> dict[str, float]:
        bad = sorted(k for k, v in value.items() if not v > 0)
        if bad:
            raise ValueError(f"acquisition_cost must be positive (channel {', '.join(map(repr, bad))})")
        return value

    @field_validator("currency")
    @classmethod
    def _trimmed(cls, value: str) -> str:
        return value.strip()


class SparkSettings(BaseModel):
    """The Spark session of ``engine: spark``: features, training and scoring run there."""

    master: str = Field(
        "local[*]",
        description="local[*] (this machine), spark://HOST:7077, yarn or k8s://...; a session already "
        "running in the process (a notebook on a cluster) is used as it is.",
    )
    app_name: str = Field("churnguard", description="Application name shown by the cluster manager.")
    conf: dict[str, str] = Field(
        default_factory=dict,
        description="Extra Spark settings, e.g. {spark.driver.memory: 8g, spark.executor.memory: 16g}.",
    )
    shuffle_partitions: int = Field(
        8, gt=0, description="spark.sql.shuffle.partitions: a few per core of the cluster."
    )
    xgboost_workers: int = Field(
        1, gt=0, description="Spark tasks that train XGBoost together (each needs a free core)."
    )
    backtest_customers: int = Field(
        200_000,
        gt=0,
        description="Customers (with all their cutoffs) whose rows the backtest, calibration and "
        "explanations read on the driver; the production model is trained on every row in Spark.",
    )


class PostgresSettings(BaseModel):
    """Where the tables are when ``engine: postgres``."""

    url: str | None = Field(
        None,
        description="postgresql://USER@HOST:PORT/DB without a password (default: CHURNGUARD_POSTGRES_URL); "
        "the password comes from that variable, PGPASSWORD or ~/.pgpass, never from this file.",
    )
    schema_name: str = Field("public", description="Schema holding the tables.")
    tables: dict[str, str] = Field(
        default_factory=dict,
        description="Contract table -> the database's table name, e.g. {transactions: orders}.",
    )
    sample_rows: int = Field(
        200_000, gt=0, description="Customers sampled to screen attributes; every other check reads all rows."
    )

    @field_validator("url")
    @classmethod
    def _no_password(cls, value: str | None) -> str | None:
        if value and urlsplit(value).password:
            raise ValueError(
                "postgres.url holds a password: keep it out of files; set CHURNGUARD_POSTGRES_URL, "
                "PGPASSWORD or ~/.pgpass instead"
            )
        return value

    @field_validator("tables")
    @classmethod
    def _known_tables(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(TABLES_BY_NAME))
        if unknown:
            raise ValueError(f"unknown table {unknown[0]!r} (tables: {', '.join(TABLES_BY_NAME)})")
        return value


class PathSettings(BaseModel):
    """Where outputs go by default; every command also takes an explicit --out."""

    output: Path = Path("output")
    work: Path = Field(Path(".churnguard/work"), description="Validated data staged for feature queries.")
    keep_work: int = Field(
        0,
        ge=0,
        description="Staged copies of the data (with their training sets) kept after a run, newest first; "
        "0 removes each run's copy when the run ends (they hold customer data).",
    )

    @property
    def risk_lists(self) -> Path:
        return self.output / "risk_lists"

    @property
    def reports(self) -> Path:
        return self.output / "reports"

    @property
    def outcomes(self) -> Path:
        return self.output / "outcomes"


class Settings(BaseSettings):
    """All of churnguard's settings."""

    model_config = SettingsConfigDict(env_prefix="CHURNGUARD_", env_nested_delimiter="__", extra="forbid")

    engine: Literal["duckdb", "postgres", "spark"] = Field(
        "duckdb",
        description="Where features are computed: DuckDB on a data folder, PostgreSQL, or Spark (which "
        "then also trains and scores).",
    )
    postgres: PostgresSettings = Field(default_factory=PostgresSettings)
    spark: SparkSettings = Field(default_factory=SparkSettings)
    data: DataSettings = Field(default_factory=DataSettings)
    features: FeatureSettings = Field(default_factory=FeatureSettings)
    churn: ChurnSettings = Field(default_factory=ChurnSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    value: ValueSettings = Field(default_factory=ValueSettings)
    outreach: OutreachSettings = Field(default_factory=OutreachSettings)
    promotion: PromotionSettings = Field(default_factory=PromotionSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    scoring: ScoringSettings = Field(default_factory=ScoringSettings)
    report: ReportSettings = Field(default_factory=ReportSettings)
    paths: PathSettings = Field(default_factory=PathSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Overrides arrive as init kwargs and beat the environment, which beats the YAML file.
        return init_settings, env_settings, _FileSource(settings_cls)


# The YAML values of the load_settings call in progress (set only for the duration of that call).
_FILE_VALUES: ContextVar[dict[str, Any] | None] = ContextVar("churnguard_file_values", default=None)


class _FileSource(PydanticBaseSettingsSource):
    """The config file's values, below the environment and above the defaults."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return _FILE_VALUES.get() or {}


class ConfigError(BadInputError, ValueError):
    """The config file cannot be read or holds invalid values."""


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Read settings from a YAML file (default ``./churnguard.yaml`` when present) and the environment.

    Args:
        config_file: YAML file; ``None`` uses ``churnguard.yaml`` in the working folder if it exists.
        overrides: sections merged over the file and the environment, e.g. ``churn={"horizon_days": 60}``.

    Returns:
        The validated settings.

    Raises:
        ConfigError: the file is missing (when given), unreadable, or a value is invalid.
    """
    path = Path(config_file) if config_file else Path(DEFAULT_CONFIG_FILE)
    values: dict[str, Any] = {}
    if config_file and not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    if path.is_file():
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot be read: {exc}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of sections at the top level")
        values = loaded
    _check_environment_sections(os.environ)
    token = _FILE_VALUES.set(values)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        source = (
            f"{path} or CHURNGUARD_* environment variables"
            if values
            else "CHURNGUARD_* environment variables or arguments"
        )
        raise ConfigError(f"invalid settings (from {source}):\n{_describe(exc)}") from exc
    finally:
        _FILE_VALUES.reset(token)


# CHURNGUARD_ variables that are not settings: the project folder a Prefect worker enters, the database
# `churn load-postgres` writes to (a secret: never in a file).
_OTHER_VARIABLES = {"CHURNGUARD_PROJECT_DIR", "CHURNGUARD_POSTGRES_URL"}


def _check_environment_sections(environment: Mapping[str, str]) -> None:
    """An unknown section in a ``CHURNGUARD_`` variable is an error, not a silently ignored setting.

    pydantic-settings drops variables whose section names no field (``CHURNGUARD_OUTRECH__CAPACITY``);
    unknown keys inside a known section are already refused by the section itself.
    """
    sections = set(Settings.model_fields)
    for name in sorted(environment):
        if not name.upper().startswith("CHURNGUARD_") or name.upper() in _OTHER_VARIABLES:
            continue
        section = name[len("CHURNGUARD_") :].split("__", 1)[0].lower()
        if section not in sections:
            hint = did_you_mean(
                section.upper(), sorted(s.upper() for s in sections), spell="CHURNGUARD_{}__..."
            )
            raise ConfigError(
                f"environment variable {name}: unknown settings section {section!r}: {hint}"
                f"(sections: {', '.join(sorted(sections))})"
            )


def _describe(exc: ValidationError) -> str:
    """One line per error: ``churn.horizon_days: Input should be greater than 0 (got -5)``."""
    lines = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "settings"
        message = error["msg"].removeprefix("Value error, ")
        shown = error["type"] not in ("missing", "extra_forbidden", "value_error")  # ours name the value
        got = f" (got {error['input']!r})" if shown else ""
        lines.append(f"  {where}: {message}{got}")
    return "\n".join(lines)
