"""memo's default intra-op thread count and inference batch size for scoring and benchmarks.

The libraries' own default (one thread per core, synchronised after every operator) is the
fastest on an idle machine and collapses when the cores are shared: every barrier waits
for a time slice (PyTorch eager on ResMem ran 4x slower on 2 busy cores, docs/performance.md).
memo's default takes the cores nobody else is using at start: ``cores - load``, where
``load`` is the 1-minute load average, rounded, at least 1 thread and at most ``cores``.
An idle machine gets every core; a machine already running as much work as it has cores
gets one thread, which degrades gracefully. ``--threads N`` overrides it.
"""

from __future__ import annotations

import os

#: Frames (or videos) per inference call: ONNX Runtime's throughput on ResMem is flat from
#: batch 4 upward and batches of 16 keep the decode workers ahead (docs/performance.md).
DEFAULT_BATCH_SIZE = 16


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def load_average() -> float:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - no load average (Windows)
        return 0.0


def default_threads(cores: int | None = None, load: float | None = None) -> int:
    """Intra-op threads: the cores left idle by the load at start, between 1 and ``cores``."""
    cores = usable_cores() if cores is None else cores
    load = load_average() if load is None else load
    return max(1, min(cores, cores - round(load)))
