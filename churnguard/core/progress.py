"""Progress messages from library code to whoever listens (the CLI's progress display, flow logs).

Library functions take a ``progress`` callback; flows pass :func:`reporter`, which forwards to the
Prefect run logger and to listeners registered here by the CLI, so long work shows as it happens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Listener = Callable[[str], None]
_listeners: list[Listener] = []


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Send every progress message to ``listener`` while the block runs."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


def reporter(logger: logging.Logger | logging.LoggerAdapter | None = None) -> Listener:
    """A progress callback that logs each message and forwards it to the current listeners."""

    def say(message: str) -> None:
        if logger is not None:
            logger.info(message)
        for listener in list(_listeners):
            listener(message)

    return say
