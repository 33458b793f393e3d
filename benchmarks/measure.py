"""Shared measuring tools of the benchmarks: peak resident memory sampled while work runs."""

from __future__ import annotations

import threading

import psutil


class RssSampler(threading.Thread):
    """Samples this process's resident memory every ``interval`` seconds and keeps the highest value."""

    def __init__(self, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.peak = 0
        self._halt = threading.Event()
        self._process = psutil.Process()

    def run(self) -> None:
        while not self._halt.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            self._halt.wait(self.interval)

    def stop(self) -> int:
        """Stop sampling; returns the peak in bytes."""
        self._halt.set()
        self.join()
        return self.peak


GIB = 1024**3
