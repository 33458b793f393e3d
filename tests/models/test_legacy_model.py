"""A model logged before churnguard became one namespace (its entry file imports `models.package`)."""

from __future__ import annotations

import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from churnguard.models import package
from churnguard.models.registry import load_model

LEGACY_ENTRY = (
    "import mlflow\n\nfrom models.package import ChurnModel\n\nmlflow.models.set_model(ChurnModel())\n"
)


@pytest.fixture
def legacy_model_uri(trained, tracking, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Logged exactly as churnguard 0.1 did: the stored entry file names the old top-level package."""
    entry = tmp_path / "pyfunc_entry.py"
    entry.write_text(LEGACY_ENTRY, encoding="utf-8")
    monkeypatch.setattr(package, "ENTRY_POINT", entry)
    if tracking.get_experiment_by_name("legacy") is None:  # artifacts in the temporary store, not ./mlruns
        tracking.create_experiment("legacy", artifact_location=(tmp_path / "artifacts").as_uri())
    mlflow.set_experiment("legacy")
    # Logging validates the model by loading it, which needs the old name as churnguard 0.1 had it.
    with package.legacy_module_names(), mlflow.start_run():
        info = package.log_churn_model(trained.parts, trained.evaluation[0])
    return info.model_uri


def test_a_model_logged_before_the_move_still_scores_identically(legacy_model_uri, trained) -> None:
    assert "models" not in sys.modules
    stored = mlflow.artifacts.download_artifacts(legacy_model_uri)
    assert "from models.package import" in next(Path(stored).rglob("pyfunc_entry.py")).read_text()

    pyfunc, model = load_model(legacy_model_uri)

    assert "models" not in sys.modules and "models.package" not in sys.modules  # names only borrowed
    assert isinstance(model, package.ChurnModel)
    rows = trained.evaluation[0][model.features]
    expected = package.ChurnModel.from_parts(trained.parts).predict(None, rows)
    pd.testing.assert_frame_equal(pyfunc.predict(rows), expected)


def test_another_projects_models_package_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    theirs = type(sys)("models")
    monkeypatch.setitem(sys.modules, "models", theirs)
    with package.legacy_module_names():
        assert sys.modules["models"] is theirs
    assert sys.modules["models"] is theirs
