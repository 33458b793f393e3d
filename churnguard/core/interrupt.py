"""Ctrl-C that stops a command within two seconds and never lets an interrupted run replace outputs.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be. Inside a ``__del__``
method, a weakref callback or some C extensions it is printed and swallowed, and the run goes on
(seen here: a training interrupted inside an Ibis finaliser registered its model 10 s later). So,
once :func:`install` has run (the CLI does it):

- the interrupt is recorded, and the commit points (atomic renames, the start of each task) check
  it with :func:`check`: a run that swallowed it can no longer replace anything;
- a watchdog ends the process with exit code 130 if it is still alive ``ABORT_AFTER_SECONDS``
  later, after running the clean-ups registered with :func:`cleanup_on_abort` (staged customer
  data, temporary files), which ``os._exit`` would otherwise skip;
- a second Ctrl-C does the same at once.

Without :func:`install` (library use, tests, Prefect workers) :func:`check` never raises.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import threading
from collections.abc import Callable, Iterator

EXIT_CODE = 130
ABORT_AFTER_SECONDS = 1.5

_interrupted = threading.Event()
_cleanups: dict[int, Callable[[], None]] = {}
_tokens = itertools.count()
_watching = False


def install() -> None:
    """Handle Ctrl-C as above; call from the main thread."""
    global _watching
    _interrupted.clear()
    signal.signal(signal.SIGINT, _on_interrupt)
    if not _watching:
        # Python runs a signal handler only when the main thread is back in Python code, which a
        # long C call (a DuckDB query, a tree being built) delays; the wake-up pipe is written by
        # the C-level handler at once, so the watchdog starts counting from the key press.
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        threading.Thread(target=_watch, args=(read_end,), name="churn-interrupt", daemon=True).start()
        _watching = True


def interrupted() -> bool:
    return _interrupted.is_set()


def check() -> None:
    """Raise ``KeyboardInterrupt`` if Ctrl-C was pressed, even if the first one was swallowed."""
    if _interrupted.is_set():
        raise KeyboardInterrupt


@contextlib.contextmanager
def cleanup_on_abort(cleanup: Callable[[], None]) -> Iterator[None]:
    """Run ``cleanup`` if the watchdog has to end the process while the block runs.

    The block's own ``finally`` does the clean-up on a normal exit; this is for the forced one.
    """
    token = next(_tokens)
    _cleanups[token] = cleanup
    try:
        yield
    finally:
        _cleanups.pop(token, None)


def _on_interrupt(signum: int, frame: object) -> None:
    _interrupted.set()
    raise KeyboardInterrupt


def _watch(read_end: int) -> None:
    """Start the watchdog at the first Ctrl-C, end the process at the second."""
    presses = 0
    while chunk := os.read(read_end, 64):
        before, presses = presses, presses + chunk.count(signal.SIGINT)
        if presses >= 2:
            _abort()
        if before == 0 and presses == 1:
            _interrupted.set()
            watchdog = threading.Timer(ABORT_AFTER_SECONDS, _abort)
            watchdog.daemon = True  # a process that ends by itself must not wait for it
            watchdog.start()


def _abort() -> None:
    for cleanup in list(_cleanups.values()):
        with contextlib.suppress(Exception):  # best effort: the process is ending either way
            cleanup()
    os.write(2, b"\nchurn: interrupted (stopped after cleaning up)\n")
    os._exit(EXIT_CODE)
