"""Timers and memory probes for the bench."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from types import TracebackType

import numpy as np

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """Current resident set size of this process (Linux /proc; falls back to the peak)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * _PAGE
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PeakRss:
    """Samples RSS in a background thread; ``peak - baseline`` is the run's memory cost."""

    def __init__(self, baseline: int | None = None, interval: float = 0.02) -> None:
        self.baseline = rss_bytes() if baseline is None else baseline
        self.peak = self.baseline
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, rss_bytes())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def delta_mb(self) -> float:
        return max(0, self.peak - self.baseline) / 2**20


def time_calls(
    call: Callable[[], object],
    sync: Callable[[], None],
    warmup: int,
    iterations: int,
    max_seconds: float,
    min_iterations: int = 3,
) -> list[float]:
    """Latencies in seconds of ``call`` after ``warmup`` calls; stops early past ``max_seconds``."""
    for _ in range(warmup):
        call()
    sync()
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < iterations:
        t0 = time.perf_counter()
        call()
        sync()
        times.append(time.perf_counter() - t0)
        if len(times) >= min_iterations and time.perf_counter() - started > max_seconds:
            break
    return times


def percentiles_ms(times: list[float]) -> tuple[float, float, float]:
    p50, p90, p99 = np.percentile(np.asarray(times) * 1000, [50, 90, 99])
    return float(p50), float(p90), float(p99)
