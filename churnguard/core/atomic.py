"""Writes that never leave a half-written file or folder behind: build aside, then rename into place.

Two writers of one target take turns through :func:`folder_lock`; readers need no lock, since a
folder is swapped in whole (in one step where Linux's ``renameat2`` can exchange two paths).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from churnguard.core import interrupt

LOCK_TIMEOUT_SECONDS = 600.0
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


class LockTimeout(TimeoutError):
    """Another process held a target's lock for longer than the caller would wait."""


def write_file_atomically(target: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` for a temporary file beside ``target``, then rename it over ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    tmp = Path(name)
    try:
        with interrupt.cleanup_on_abort(lambda: tmp.unlink(missing_ok=True)):
            write(tmp)
            tmp.chmod(0o644)
            interrupt.check()  # an interrupted run must not replace the file, even if it went on
            os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def replace_folder(target: Path, fill: Callable[[Path], None]) -> None:
    """Fill a temporary folder beside ``target`` and swap it in; on failure ``target`` is untouched.

    Where the file system can exchange two paths in one step, the new folder and the old one trade
    places, so a reader finds either the old folder or the new one, never none; elsewhere the old
    folder is renamed aside, the new one renamed in (the old one is put back if that fails). The
    old folder is then deleted. Concurrent writers of one target hold :func:`folder_lock` around this.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        with interrupt.cleanup_on_abort(lambda: shutil.rmtree(tmp, ignore_errors=True)):
            fill(tmp)
            tmp.chmod(0o755)
            interrupt.check()  # an interrupted run must not replace the folder, even if it went on
            swapped = target.exists() and _exchange(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if swapped:
        shutil.rmtree(tmp, ignore_errors=True)  # it holds the old folder now
        return
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


def lock_path(target: Path) -> Path:
    """The lock file of ``target``: ``.NAME.lock`` beside it."""
    return target.with_name(f".{target.name}.lock")


@contextmanager
def folder_lock(target: Path, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold the exclusive lock of ``target`` (a file or folder, which need not exist yet).

    A second process asking for the same lock waits until the first lets go, then proceeds. The
    lock is an ``flock`` on :func:`lock_path`, which the kernel releases when its holder exits,
    however it exits; the file is removed on release. Not re-entrant: take it once per process.

    Args:
        target: what the holder is about to write.
        timeout: seconds to wait before giving up.

    Raises:
        LockTimeout: another process held the lock for ``timeout`` seconds.
    """
    path = lock_path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _wait_for(fd, path, target, timeout, deadline)
            held = os.fstat(fd)
            current = os.stat(path)
        except FileNotFoundError:
            os.close(fd)  # the previous holder removed the file as it let go: lock the next one
            continue
        except BaseException:
            os.close(fd)
            raise
        if (held.st_dev, held.st_ino) == (current.st_dev, current.st_ino):
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        path.unlink(missing_ok=True)  # still holding the lock, so no one else is using this file
        os.close(fd)


def _wait_for(fd: int, path: Path, target: Path, timeout: float, deadline: float) -> None:
    delay = 0.01
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = path.read_text(encoding="utf-8", errors="replace").strip() or "unknown"
                raise LockTimeout(
                    f"{target} has been locked by another process (pid {holder}) for over {timeout:.0f} s; "
                    f"try again when it has finished (lock file {path})"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


@cache
def _renameat2() -> Callable[..., int] | None:
    try:
        call = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError, TypeError):  # not glibc >= 2.28: no exchange
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    call.restype = ctypes.c_int
    return call


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one step; ``False`` where the system or file system cannot."""
    call = _renameat2()
    if call is None:
        return False
    if call(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(code, os.strerror(code), str(b))
