"""Shared measuring tools of the benchmarks: peak resident memory sampled while work runs."""

from __future__ import annotations

import contextlib
import threading

import psutil


class RssSampler(threading.Thread):
    """Samples this process's resident memory every ``interval`` seconds and keeps the highest value.

    ``children``: add the resident memory of every process it started (Spark's JVM and its Python
    workers), summed at each sample.
    """

    def __init__(self, interval: float = 0.02, children: bool = False) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.children = children
        self.peak = 0
        self._halt = threading.Event()
        self._process = psutil.Process()

    def run(self) -> None:
        while not self._halt.is_set():
            self.peak = max(self.peak, self._resident())
            self._halt.wait(self.interval)

    def _resident(self) -> int:
        total = self._process.memory_info().rss
        if self.children:
            for child in self._process.children(recursive=True):
                with contextlib.suppress(psutil.Error):  # ended between listing and reading
                    total += child.memory_info().rss
        return total

    def stop(self) -> int:
        """Stop sampling; returns the peak in bytes."""
        self._halt.set()
        self.join()
        return self.peak


GIB = 1024**3
