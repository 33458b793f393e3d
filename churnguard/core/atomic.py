"""Writes that never leave a half-written file or folder behind: build aside, then rename into place."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path


def write_file_atomically(target: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` for a temporary file beside ``target``, then rename it over ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    tmp = Path(name)
    try:
        write(tmp)
        tmp.chmod(0o644)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def replace_folder(target: Path, fill: Callable[[Path], None]) -> None:
    """Fill a temporary folder beside ``target`` and swap it in; on failure ``target`` is untouched.

    The old folder is renamed aside, the new one renamed in, then the old one deleted; if the
    swap itself fails the old folder is put back.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        fill(tmp)
        tmp.chmod(0o755)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    had_old = target.exists()
    if had_old:
        os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        if had_old:
            os.replace(old, target)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if had_old:
        shutil.rmtree(old, ignore_errors=True)
