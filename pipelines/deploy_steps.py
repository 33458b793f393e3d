"""Prefect pull step: each deployment's flow runs in the churnguard project folder its worker serves.

``prefect deploy`` would otherwise bake the deploying machine's absolute folder into every deployment, so
a worker on another host, or a project moved to another folder, could not run them.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_DIR_VARIABLE = "CHURNGUARD_PROJECT_DIR"


def enter_project() -> dict[str, str]:
    """Change into the folder named by ``CHURNGUARD_PROJECT_DIR`` in the worker's environment.

    Relative paths in the deployments (data, outputs, ``churnguard.yaml``, the default MLflow store under
    ``.churnguard/``) are then read in that folder.

    Returns:
        ``{"directory": <absolute folder>}``, as Prefect's own ``set_working_directory`` step does.
    """
    folder = os.environ.get(PROJECT_DIR_VARIABLE, "").strip()
    if not folder:
        raise RuntimeError(
            f"{PROJECT_DIR_VARIABLE} is not set in the worker's environment: start the worker with "
            f"{PROJECT_DIR_VARIABLE}=/path/to/your/churnguard/project (the folder holding prefect.yaml, "
            "your data and churnguard.yaml)"
        )
    path = Path(folder).expanduser().resolve()
    if not path.is_dir():
        raise RuntimeError(f"{PROJECT_DIR_VARIABLE}={folder}: no such folder on this worker's machine")
    os.chdir(path)
    return {"directory": str(path)}
