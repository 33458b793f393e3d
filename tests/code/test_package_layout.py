"""The installed layout: one top-level name, and a layer contract that fails on an upward import.

Both are checked on what pip really builds from a copy of the sources, the way `make lint` does.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SOURCES = ("churnguard", "features", "models", "pipelines", "pyproject.toml", "README.md")


def copy_sources(target: Path) -> Path:
    for name in SOURCES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target / name)
    return target


def install(sources: Path, target: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(sources),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return target


def lint_imports(installed: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "lint-imports"), "--no-logo", "--no-cache", str(REPO / "pyproject.toml")],
        cwd=installed,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_sources(tmp_path_factory.mktemp("src"))


def test_pip_installs_one_top_level_package_with_the_users_folders_inside(
    sources: Path, tmp_path: Path
) -> None:
    installed = install(sources, tmp_path / "site")
    packages = {p.name for p in installed.iterdir() if p.is_dir() and not p.name.endswith(".dist-info")}
    assert packages - {"bin"} == {"churnguard"}
    for folder in ("features", "models", "pipelines", "core", "reports"):
        assert (installed / "churnguard" / folder / "__init__.py").is_file(), folder
    assert (installed / "churnguard" / "models" / "pyfunc_entry.py").is_file()


def lint_with_line(sources: Path, module: str, line: str, installed: Path) -> subprocess.CompletedProcess:
    """lint-imports on the sources with ``line`` appended to ``module`` (restored afterwards)."""
    path = sources / module
    original = path.read_text(encoding="utf-8")
    try:
        path.write_text(original + f"\n{line}  # noqa\n", encoding="utf-8")
        return lint_imports(install(sources, installed))
    finally:
        path.write_text(original, encoding="utf-8")


def test_the_layer_contract_holds_and_fails_on_an_upward_import(sources: Path, tmp_path: Path) -> None:
    kept = lint_imports(install(sources, tmp_path / "clean"))
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "2 kept, 0 broken" in kept.stdout

    broken = lint_with_line(
        sources, "features/spec.py", "from churnguard.models import metrics", tmp_path / "up"
    )
    assert broken.returncode != 0
    assert "churnguard.features.spec -> churnguard.models.metrics" in broken.stdout


def test_code_never_imports_the_old_top_level_names(sources: Path, tmp_path: Path) -> None:
    broken = lint_with_line(sources, "churnguard/cli.py", "import models.metrics", tmp_path / "old-name")
    assert broken.returncode != 0
    assert "No imports of the old top-level package names BROKEN" in broken.stdout
