"""Suite-wide isolation: Prefect, MLflow and churnguard's stores live in a temporary folder.

Nothing a test runs may write into the user's home or the repository; each test that needs a store
still points its settings at its own tmp_path.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def pytest_configure(config) -> None:
    home = Path(tempfile.mkdtemp(prefix="churnguard-tests-"))
    os.environ["PREFECT_HOME"] = str(home / "prefect")
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"  # no telemetry calls from a closed network
    os.environ.pop("PREFECT_API_URL", None)  # never run tests against a developer's server
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ["CHURNGUARD_PATHS__WORK"] = str(home / "work")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # XGBoost threads must not spin on a 2-core CI box
    os.environ["MPLBACKEND"] = "Agg"
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"  # MLflow would write ~/.config/mlflow/telemetry.json
