"""A version of the feature code, so a training set built by other feature code is never reused."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path


def code_version(folder: Path) -> str:
    """A short hash of the Python modules in ``folder`` (changes with any edit, not only a release)."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@cache
def feature_code_version() -> str:
    """:func:`code_version` of the feature package."""
    return code_version(Path(__file__).parent)
