"""A cached training set is reused only for the same data, settings and feature code."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from churnguard.core.config import Settings
from churnguard.features import version
from churnguard.pipelines.train import training_set_key


def test_the_key_changes_with_the_data_the_settings_and_the_feature_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings()
    key = training_set_key(settings, "fingerprint-a")

    assert training_set_key(Settings(), "fingerprint-a") == key
    assert training_set_key(settings, "fingerprint-b") != key
    assert training_set_key(Settings(churn={"horizon_days": 60}), "fingerprint-a") != key
    assert training_set_key(Settings(training={"n_trials": 2}), "fingerprint-a") == key  # no effect on rows
    monkeypatch.setattr("churnguard.pipelines.train.feature_code_version", lambda: "edited-code")
    assert training_set_key(settings, "fingerprint-a") != key


def test_any_edit_of_a_feature_module_changes_the_code_version(tmp_path: Path) -> None:
    copy = tmp_path / "features"
    shutil.copytree(Path(version.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = version.code_version(copy)
    assert before == version.feature_code_version()

    module = copy / "transactions.py"
    module.write_text(module.read_text() + "\n# a changed window\n")
    assert version.code_version(copy) != before
