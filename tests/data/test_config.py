"""Settings: YAML file, environment over file, explicit overrides over both, readable errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from churnguard.core.config import ConfigError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No CHURNGUARD_ variables and no churnguard.yaml from the machine running the tests."""
    for name in list(os.environ):
        if name.upper().startswith("CHURNGUARD_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file() -> None:
    settings = load_settings()

    assert settings.churn.horizon_days == 90
    assert settings.data.timezone == "UTC"


def test_yaml_values_load(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        "churn:\n  horizon_days: 30\n  definition: subscription\n"
        "data:\n  timezone: Europe/Berlin\n  columns:\n    transactions:\n"
        "      cust_no: customer_id\n      order_date: ts\n      net_value: amount\n",
    )

    settings = load_settings(path)

    assert (settings.churn.horizon_days, settings.churn.definition) == (30, "subscription")
    assert settings.churn.lookback_days == 365  # untouched keys keep their default
    assert settings.data.timezone == "Europe/Berlin"
    assert settings.data.columns == {
        "transactions": {"cust_no": "customer_id", "order_date": "ts", "net_value": "amount"}
    }


def test_churnguard_yaml_in_the_working_folder_is_the_default(tmp_path: Path) -> None:
    (tmp_path / "churnguard.yaml").write_text("churn:\n  horizon_days: 45\n", encoding="utf-8")

    assert load_settings().churn.horizon_days == 45


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(tmp_path, "churn:\n  horizon_days: 30\n  definition: subscription\n")
    monkeypatch.setenv("CHURNGUARD_CHURN__HORIZON_DAYS", "60")

    settings = load_settings(path)

    assert settings.churn.horizon_days == 60
    assert settings.churn.definition == "subscription"  # the rest of the file's section stays


def test_explicit_overrides_beat_environment_and_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path, "churn:\n  horizon_days: 30\n  definition: subscription\n")
    monkeypatch.setenv("CHURNGUARD_CHURN__HORIZON_DAYS", "60")

    settings = load_settings(path, churn={"horizon_days": 14})

    assert settings.churn.horizon_days == 14
    assert settings.churn.definition == "subscription"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("data:\n  timezone: Mars/Olympus\n", "data.timezone: unknown timezone 'Mars/Olympus'"),
        ("data:\n  timezone: America\n", "data.timezone: unknown timezone 'America'"),  # a tz folder
        ("churn:\n  horizon_days: -5\n", "churn.horizon_days: Input should be greater than 0 (got -5)"),
        ("chrun:\n  horizon_days: 5\n", "chrun: Extra inputs are not permitted"),
        ("churn:\n  horizon_dayz: 5\n", "churn.horizon_dayz: Extra inputs are not permitted"),
        ("data:\n  columns:\n    transaction:\n      cust_no: customer_id\n", "unknown table 'transaction'"),
        (
            "data:\n  columns:\n    events:\n      kind: event_typ\n",
            "cannot map to unknown column 'event_typ'",
        ),
    ],
    ids=[
        "unknown timezone",
        "timezone folder",
        "negative horizon",
        "unknown section",
        "unknown key",
        "unknown table",
        "unknown column",
    ],
)
def test_invalid_values_raise_a_readable_config_error(tmp_path: Path, text: str, expected: str) -> None:
    path = write_config(tmp_path, text)

    with pytest.raises(ConfigError) as caught:
        load_settings(path)

    message = str(caught.value)
    assert expected in message
    assert str(path) in message
    assert "errors.pydantic.dev" not in message


def test_invalid_environment_value_raises_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHURNGUARD_CHURN__HORIZON_DAYS", "soon")

    with pytest.raises(ConfigError, match=r"churn\.horizon_days: Input should be a valid integer"):
        load_settings()


def test_missing_explicit_config_file_raises(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nowhere.yaml")


@pytest.mark.parametrize(
    "text, expected", [("churn: [unclosed\n", "not valid YAML"), ("- a\n- b\n", "expected a mapping")]
)
def test_malformed_file_raises_config_error(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_settings(write_config(tmp_path, text))


def test_an_unknown_environment_section_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # Ignored before: the capacity silently stayed at its default.
    monkeypatch.setenv("CHURNGUARD_OUTRECH__CAPACITY", "60")
    with pytest.raises(
        ConfigError, match="CHURNGUARD_OUTRECH__CAPACITY: unknown settings section 'outrech'"
    ) as error:
        load_settings(None)
    assert "did you mean CHURNGUARD_OUTREACH__" in str(error.value)


def test_an_unknown_key_of_a_known_environment_section_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHURNGUARD_OUTREACH__CAPACTY", "60")
    with pytest.raises(ConfigError, match="capacty"):
        load_settings(None)


def test_the_project_folder_variable_is_not_a_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CHURNGUARD_PROJECT_DIR", str(tmp_path))
    assert load_settings(None).outreach.capacity is None
