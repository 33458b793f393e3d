"""Models-from-code entry point: MLflow runs this file to build the pyfunc, so no pickle is stored.

The model carries a copy of the churnguard modules it needs (its ``code_paths``), which MLflow puts
first on ``sys.path`` before running this file. Where churnguard is installed, the installed package
is imported instead, so the model is the application's own ``ChurnModel`` class and the rest of
churnguard stays importable; the copy serves only where churnguard is missing. A churnguard already
imported is used as it is.
"""

import importlib
import os
import sys

import mlflow

BUNDLE_MARKER = "BUNDLED_WITH_MODEL"  # churnguard.models.package.BUNDLE_MARKER (not importable here)


def import_installed_churnguard() -> None:
    """Import churnguard from anywhere but a model's bundled copy; leave it unimported if there is none."""
    if "churnguard" in sys.modules:
        return
    saved = list(sys.path)
    sys.path[:] = [
        p for p in saved if not os.path.isfile(os.path.join(p or ".", "churnguard", BUNDLE_MARKER))
    ]
    try:
        importlib.import_module("churnguard")
    except ModuleNotFoundError as exc:
        if exc.name != "churnguard":
            raise
    finally:
        sys.path[:] = saved


import_installed_churnguard()

from churnguard.models.package import ChurnModel  # noqa: E402 (after choosing which churnguard)

mlflow.models.set_model(ChurnModel())
