"""A logged model loads and scores where churnguard is not installed, and as before where it is.

The model is logged once to a temporary SQLite store. Other Pythons load it in subprocesses: the
same venv's interpreter, in isolated mode (no cwd or PYTHONPATH on ``sys.path``), started in an
empty folder and writing no bytecode into the store, so churnguard comes only from the editable
install or from the model itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
import pytest

import churnguard
from churnguard.models import package
from churnguard.models.registry import load_model
from churnguard.models.tracking import configure_tracking

# Takes churnguard away as if it had never been installed: the editable install is a finder on
# sys.meta_path and a path hook, both added by its .pth file; nothing else can import it here.
HIDE_CHURNGUARD = """
import sys
sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
sys.path_hooks[:] = [h for h in sys.path_hooks if not getattr(h, "__module__", "").startswith("__editable__")]
sys.path_importer_cache.clear()
try:
    import churnguard
except ModuleNotFoundError as exc:
    assert exc.name == "churnguard", exc
else:
    raise AssertionError(f"churnguard is still importable, from {churnguard.__file__}")
"""

# argv: model URI, pickled feature rows, output file. Writes what the loaded model computed and
# which modules loading it imported.
LOAD_AND_SCORE = """
import sys
import mlflow
import pandas as pd

uri, rows, out = sys.argv[1:]
pyfunc = mlflow.pyfunc.load_model(uri)
rows = pd.read_pickle(rows)
model = pyfunc.unwrap_python_model()
import churnguard.models.package
pd.to_pickle(
    {
        "predictions": pyfunc.predict(rows),
        "contributions": model.contributions(rows),
        "churnguard": churnguard.__file__,
        "is_churnguards_class": isinstance(model, churnguard.models.package.ChurnModel),
        "modules": sorted(sys.modules),
    },
    out,
)
"""


@dataclass
class Logged:
    uri: str
    tracking_uri: str
    rows: pd.DataFrame
    model: package.ChurnModel  # the trained model, in this process


@pytest.fixture(scope="module")
def logged(trained, store_settings) -> Logged:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        client = configure_tracking(store_settings)
        if client.get_experiment_by_name("portable") is None:  # artifacts beside the store, not in ./mlruns
            client.create_experiment(
                "portable", artifact_location=store_settings.tracking.artifact_location()
            )
        mlflow.set_experiment("portable")
        with mlflow.start_run():
            info = package.log_churn_model(trained.parts, trained.evaluation[0])
    model = package.ChurnModel.from_parts(trained.parts)
    rows = trained.evaluation[0][model.features]
    assert rows.isna().any().any() and model.parts.preprocessor.categories  # the hard cases are in
    return Logged(info.model_uri, store_settings.tracking.resolved_uri(), rows, model)


def score_elsewhere(logged: Logged, tmp_path: Path, bootstrap: str = "") -> dict:
    """Load and score the logged model in a new Python; ``bootstrap`` runs first."""
    rows, out = tmp_path / "rows.pkl", tmp_path / "out.pkl"
    logged.rows.to_pickle(rows)
    env = {**os.environ, "MLFLOW_TRACKING_URI": logged.tracking_uri}
    env.pop("MLFLOW_REGISTRY_URI", None)
    done = subprocess.run(
        [sys.executable, "-I", "-B", "-c", bootstrap + LOAD_AND_SCORE, logged.uri, str(rows), str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return pd.read_pickle(out)


def assert_scores_equal(result: dict, model: package.ChurnModel, rows: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(result["predictions"], model.predict(None, rows), check_exact=True)
    pd.testing.assert_frame_equal(result["contributions"], model.contributions(rows), check_exact=True)


def test_the_model_scores_identically_where_churnguard_is_not_installed(
    logged: Logged, tmp_path: Path
) -> None:
    result = score_elsewhere(logged, tmp_path, bootstrap=HIDE_CHURNGUARD)

    assert_scores_equal(result, logged.model, logged.rows)
    # It ran on the copy it carries, which is only the modules it needs and needs no feature engine.
    bundled = Path(result["churnguard"]).parent
    assert bundled.parent.name == "code" and (bundled / package.BUNDLE_MARKER).is_file()
    assert sorted(str(p.relative_to(bundled.parent)) for p in bundled.rglob("*.py")) == [
        "churnguard/__init__.py",
        "churnguard/features/__init__.py",
        "churnguard/features/spec.py",
        "churnguard/models/__init__.py",
        "churnguard/models/calibrate.py",
        "churnguard/models/package.py",
        "churnguard/models/preprocess.py",
    ]
    imported = {m for m in result["modules"] if m == "churnguard" or m.startswith("churnguard.")}
    assert imported == {"churnguard", "churnguard.features", "churnguard.models", *package.BUNDLED_MODULES}
    assert not {"ibis", "duckdb", "prefect"} & set(result["modules"])


def test_an_installed_churnguard_wins_over_the_copy_when_the_model_loads_first(
    logged: Logged, tmp_path: Path
) -> None:
    # Nothing imported churnguard before the load: the copy is first on sys.path then, yet the
    # installed package is the one used, so the rest of churnguard stays importable afterwards.
    result = score_elsewhere(
        logged, tmp_path, bootstrap="import sys\nassert 'churnguard' not in sys.modules\n"
    )

    assert result["churnguard"] == churnguard.__file__
    assert result["is_churnguards_class"]
    assert_scores_equal(result, logged.model, logged.rows)


def test_in_process_the_model_is_churnguards_own_class(logged: Logged, tracking) -> None:
    modules_before = {name: sys.modules[name] for name in package.BUNDLED_MODULES}

    pyfunc, model = load_model(logged.uri)

    # The copy on sys.path changed nothing already imported: same modules, same class.
    assert {name: sys.modules[name] for name in package.BUNDLED_MODULES} == modules_before
    assert type(model) is package.ChurnModel
    assert pyfunc.unwrap_python_model() is model
    pd.testing.assert_frame_equal(
        pyfunc.predict(logged.rows), logged.model.predict(None, logged.rows), check_exact=True
    )
    pd.testing.assert_frame_equal(
        model.contributions(logged.rows), logged.model.contributions(logged.rows), check_exact=True
    )
