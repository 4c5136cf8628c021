"""Stop a Ray run that can no longer make progress, instead of waiting for ever.

When nodes leave a cluster (a spot instance reclaimed, a node crashed) and those left cannot
hold the model actors plus one decode task, Ray keeps the job pending until resources come
back: right on an autoscaling cluster, which adds a node, but a silent hang on a fixed one.
:class:`StallWatch` runs beside the driver's loop: when no row has arrived for
``--stall-timeout`` seconds *and* the cluster's resources are now below what the job's shape
needs, it interrupts the loop; the engine then keeps every finished row and stops with one
line saying what is missing. A run that is only slow (a long video, a busy cluster with
enough resources) is never stopped.
"""

from __future__ import annotations

import _thread
import threading
import time
from collections.abc import Callable
from types import TracebackType

from memo.score.ray_options import Shape


def missing_resources(shape: Shape, resources: dict[str, float]) -> str | None:
    """What the cluster lacks to hold ``shape`` (its actors plus one decode task), or None."""
    cpus, gpus = float(resources.get("CPU", 0)), float(resources.get("GPU", 0))
    need_cpus = shape.actors * shape.cpus_per_actor + shape.decode_cpus
    need_gpus = shape.actors * shape.gpus_per_actor
    if need_cpus <= cpus and need_gpus <= gpus:
        return None
    return (
        f"the cluster now has {cpus:g} CPUs and {gpus:g} GPUs; {shape.actors} actor(s) and one decode "
        f"task need {need_cpus:g} CPUs and {need_gpus:g} GPUs"
    )


class StallWatch:
    """A daemon thread that interrupts the main thread once the job is stalled for lack of resources.

    ``resources`` returns the cluster's current totals (``ray.cluster_resources``);
    ``seconds <= 0`` disables the watch. After the interruption, :attr:`reason` says why.
    """

    def __init__(
        self, shape: Shape, seconds: float, resources: Callable[[], dict[str, float]], poll: float = 1.0
    ) -> None:
        self.shape, self.seconds, self.resources, self.poll = shape, seconds, resources, poll
        self.last = time.monotonic()
        self.reason: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="memo-ray-stall-watch", daemon=True)

    def progress(self) -> None:
        """A row arrived: the job is moving."""
        self.last = time.monotonic()

    def stalled(self, now: float) -> str | None:
        """Why the job cannot go on, when it has been silent long enough and lacks resources."""
        if now - self.last < self.seconds:
            return None
        lack = missing_resources(self.shape, self.resources())
        if lack is None:
            return None
        return f"no result for {now - self.last:.0f} s and {lack}"

    def _loop(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                reason = self.stalled(time.monotonic())
            except Exception:  # the cluster could not be asked this time: ask again next poll
                continue
            if reason:
                self.reason = reason
                _thread.interrupt_main()
                return

    def __enter__(self) -> StallWatch:
        if self.seconds > 0:
            self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
