"""A small generated shop, a project folder with a fast config, and one Prefect test server per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prefect.testing.utilities import prefect_test_harness

from churnguard.core.data.generate import generate_sample

FAST_CONFIG = {
    "training": {"n_trials": 1, "max_rounds": 60, "early_stopping_rounds": 10},
    "features": {"max_cutoffs": 5},
    "outreach": {"capacity": 100},
}


@pytest.fixture(scope="session")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,000 generated customers (the same for every pipeline test)."""
    folder = tmp_path_factory.mktemp("shop")
    generate_sample(folder, n_customers=2_000, seed=5)
    return folder


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder as the working directory, with a fast churnguard.yaml."""
    (tmp_path / "churnguard.yaml").write_text(yaml.safe_dump(FAST_CONFIG), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path
