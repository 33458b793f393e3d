"""Small helpers the notebooks in ``notebooks/`` share, so no notebook copies another's code."""

from __future__ import annotations

from pathlib import Path


def find_project(*paths: str, start: Path | str | None = None) -> Path:
    """The nearest folder, from ``start`` upwards, that holds every one of ``paths``.

    Jupyter starts a notebook's kernel in the notebook's own folder (``notebooks/``), while
    ``make demo`` writes ``data/sample``, ``output`` and ``.churnguard`` into the project folder
    above it; a notebook changes into the folder this returns so its relative paths work from both.

    Args:
        paths: relative paths the project folder must contain, e.g. ``"data/sample"``.
        start: where to start looking (default: the working folder).

    Returns:
        The folder, absolute.

    Raises:
        FileNotFoundError: no folder from ``start`` upwards holds them all.
    """
    first = Path(start or Path.cwd()).resolve()
    for folder in (first, *first.parents):
        if all((folder / path).exists() for path in paths):
            return folder
    raise FileNotFoundError(
        f"no folder from {first} upwards holds {', '.join(paths)}: "
        "run `make demo` in the project folder first (or change into your project folder)"
    )
