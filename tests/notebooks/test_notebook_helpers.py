"""find_project: the notebooks find the demo project from the project folder or from notebooks/."""

from __future__ import annotations

from pathlib import Path

import pytest

from churnguard.notebook_helpers import find_project


def make_project(root: Path) -> Path:
    (root / "data/sample").mkdir(parents=True)
    (root / "output").mkdir()
    (root / "notebooks").mkdir()
    return root


def test_the_project_folder_itself(tmp_path: Path) -> None:
    project = make_project(tmp_path / "shop")
    assert find_project("data/sample", "output", start=project) == project.resolve()


def test_from_the_notebooks_folder_jupyter_starts_in(tmp_path: Path) -> None:
    project = make_project(tmp_path / "shop")
    assert find_project("data/sample", start=project / "notebooks") == project.resolve()


def test_the_working_folder_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = make_project(tmp_path / "shop")
    monkeypatch.chdir(project / "notebooks")
    assert find_project("data/sample") == project.resolve()


def test_every_path_must_be_there(tmp_path: Path) -> None:
    project = make_project(tmp_path / "shop")
    (project / "output").rmdir()
    with pytest.raises(FileNotFoundError, match="make demo"):
        find_project("data/sample", "output", start=project / "notebooks")
