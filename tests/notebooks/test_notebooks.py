"""The notebooks run top to bottom on a small demo project in a temporary folder.

The project (3,000 generated customers through the churn pipeline, then a second training) is built
by ``demo_project.py`` in a subprocess; each notebook runs in a kernel of the interpreter running
the tests (the project's venv) with the project as its working folder. HOME and every tool's state
folder point into the temporary folder, so nothing is written to the user's home or the repository.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from ipykernel.kernelspec import RESOURCES, get_kernel_dict
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbformat import NotebookNode

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NAMES = ("01_explore_data.ipynb", "02_compare_runs.ipynb", "03_review_risk_list.ipynb")
BUILD = Path(__file__).with_name("demo_project.py")  # the demo project, built in a subprocess
CONFIG = "training: {n_trials: 1, max_rounds: 80}\noutreach: {capacity: 200}\n"
MODEL = "churnguard-churn"


class ProjectKernelSpecs(KernelSpecManager):
    """``python3`` is always the kernel of this interpreter, whatever kernels the user registered."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return KernelSpec(resource_dir=RESOURCES, **get_kernel_dict())


def isolated_env(home: Path) -> dict[str, str]:
    """The environment for the build and the kernels: tool state under ``home``, no user settings."""
    own = ("CHURNGUARD_", "MLFLOW_", "PREFECT_", "JUPYTER_")
    # Without MPLBACKEND (e.g. Agg from the suite's conftest) the kernel draws inline: figures are outputs.
    env = {k: v for k, v in os.environ.items() if not k.startswith(own) and k != "MPLBACKEND"}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_DATA_HOME=str(home / ".local/share"),
        IPYTHONDIR=str(home / ".ipython"),
        MPLCONFIGDIR=str(home / ".matplotlib"),
        PREFECT_HOME=str(home / ".prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
        OMP_WAIT_POLICY="PASSIVE",
    )
    return env


def execute(name: str, folder: Path, env: dict[str, str], runtime: Path) -> NotebookNode:
    """Run a notebook top to bottom in ``folder``; raises CellExecutionError when a cell fails."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    km = AsyncKernelManager(
        kernel_name="python3",
        kernel_spec_manager=ProjectKernelSpecs(),
        connection_file=str(runtime / f"kernel-{Path(name).stem}.json"),
    )
    assert km.kernel_spec.argv[0] == sys.executable
    client = NotebookClient(
        nb, km=km, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    )
    return client.execute(env=env)


@dataclass
class DemoProject:
    folder: Path
    env: dict[str, str]
    runtime: Path  # kernel connection files
    first: dict  # training summary of the pipeline run
    second: dict  # training summary of the challenger run
    compare_with_one_run: NotebookNode  # 02_compare_runs executed before the challenger existed

    def execute(self, name: str) -> NotebookNode:
        return execute(name, self.folder, self.env, self.runtime)


def step(build: subprocess.Popen, name: str, log: Path) -> dict:
    """The training summary the build prints when it has finished ``name``."""
    for line in build.stdout:
        if line.startswith(f"{name} "):
            return json.loads(line.removeprefix(f"{name} "))
    build.wait()
    pytest.fail(f"building the demo project failed before '{name}':\n{log.read_text()[-6000:]}")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoProject:
    root = tmp_path_factory.mktemp("notebooks")
    folder, home, runtime, log = root / "project", root / "home", root / "runtime", root / "build.log"
    for path in (folder, home, runtime):
        path.mkdir()
    (folder / "churnguard.yaml").write_text(CONFIG, encoding="utf-8")
    env = isolated_env(home)
    with (
        log.open("w") as errors,
        subprocess.Popen(
            [sys.executable, str(BUILD)],
            cwd=folder,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        ) as build,
    ):
        carry_on = False
        try:
            first = step(build, "pipeline", log)
            one_run = execute("02_compare_runs.ipynb", folder, env, runtime)
            carry_on = True
        finally:
            if build.poll() is None:  # let it stop its Prefect server itself, even when a step failed
                build.stdin.write("go on\n" if carry_on else "stop\n")
                build.stdin.close()
        second = step(build, "challenger", log)
    return DemoProject(folder, env, runtime, first, second, one_run)


def text_of(nb: NotebookNode) -> str:
    """Everything the notebook printed or displayed as text."""
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                parts.append(output.text)
            elif "data" in output:
                parts.append(output.data.get("text/plain", ""))
    return "\n".join(parts)


def images_in(nb: NotebookNode) -> int:
    return sum("image/png" in o.get("data", {}) for cell in nb.cells for o in cell.get("outputs", []))


def test_notebooks_are_stripped_and_use_the_python3_kernel() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == list(NAMES)  # each one is executed below
    for name in NAMES:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        nbformat.validate(nb)
        assert nb.metadata.kernelspec.name == "python3", name
        code = [cell for cell in nb.cells if cell.cell_type == "code"]
        assert code and all(not c.outputs and c.execution_count is None for c in code), name
        assert "_truth" not in "".join(c.source for c in code), name  # the generator's answers, tests only


@pytest.mark.slow
def test_explore_data_notebook(demo: DemoProject) -> None:
    nb = demo.execute("01_explore_data.ipynb")
    text = text_of(nb)
    assert "OK: the data meets the contract." in text
    assert re.search(r"[\d,]+ active customers at \d{4}-\d\d-\d\d", text)
    assert "churn_rate" in text and "retention_rate" in text  # the monthly KPI table
    changed = re.search(r"Customer \d+: (\d+) of \d+ columns changed between", text)
    assert changed and int(changed.group(1)) > 0
    assert "identical whether built from all the data" in text
    assert images_in(nb) == 3  # volumes over time, R/F/M distributions, monthly churn


@pytest.mark.slow
def test_compare_runs_notebook_shows_champion_and_challenger(demo: DemoProject) -> None:
    nb = demo.execute("02_compare_runs.ipynb")
    text = text_of(nb)
    assert "2 training run(s)" in text
    for row in ("PR AUC", "PR AUC, logistic baseline", "PR AUC, recency baseline", "lift@10%", "Brier"):
        assert row in text
    second = demo.second["version"]
    if demo.second["promoted"]:
        assert f"Champion: {MODEL} v{second}" in text
        assert "Gains curves of champion: v2, v1: the champion it replaced" in text
    else:
        assert f"Champion: {MODEL} v1" in text
        assert f"Latest challenger: v{second} not promoted" in text
        assert f"Gains curves of champion: v1, latest challenger: v{second} (not promoted)" in text
    assert demo.second["decision"].split(": ", 1)[1] in text  # the promotion reason, from the tags
    assert "no gains plot" not in text
    assert images_in(nb) == 1


@pytest.mark.slow
def test_compare_runs_notebook_with_a_single_run(demo: DemoProject) -> None:
    text = text_of(demo.compare_with_one_run)
    assert "1 training run(s)" in text
    assert "Only one model so far: v1 is both the champion and the latest challenger" in text
    assert f"Champion: {MODEL} v1" in text and "first model: no champion yet" in text
    assert images_in(demo.compare_with_one_run) == 1


@pytest.mark.slow
def test_review_risk_list_notebook(demo: DemoProject) -> None:
    nb = demo.execute("03_review_risk_list.ipynb")
    text = text_of(nb)
    assert f"scored by {MODEL} v1" in text  # the pipeline's list, scored by the first champion
    assert "critical" in text and "value_at_risk" in text
    assert "main_reason" in text  # the most common reasons
    assert text.count("suggested action: ") == 3  # three customers explained
    assert re.search(r"Outreach 200 customers, control \d+ customers\.", text)  # capacity 200
    assert "Kolmogorov-Smirnov" in text and "chi-square" in text
    assert "Control vs outreach:" in text
    assert images_in(nb) == 2  # value at risk per tier, the groups' distributions
