"""Stop a Ray run that can no longer make progress, instead of waiting for ever.

When nodes leave a cluster (a spot instance reclaimed, a node crashed) and those left cannot
hold the model actors plus one decode task, Ray keeps the job pending until resources come
back: right on an autoscaling cluster, which adds a node, but a silent hang on a fixed one.
:class:`StallWatch` runs beside the driver's loop: when no row has arrived for
``--stall-timeout`` seconds *and* the cluster's nodes can no longer hold the job's shape
(:func:`memo.score.ray_fit.missing_resources`, the check the shape passed at start), it
interrupts the loop; the engine then keeps every finished row and stops with one line saying
what is missing. A run that is only slow (a long video, a busy cluster with
enough resources) is never stopped.
"""

from __future__ import annotations

import _thread
import signal
import threading
import time
from collections.abc import Callable
from types import TracebackType

from memo.score.ray_fit import Shape, missing_resources


def alive_nodes() -> list[dict[str, float]]:
    """Each alive node's resource totals, as Ray's GCS knows them."""
    import ray

    return [dict(node["Resources"]) for node in ray.nodes() if node.get("Alive")]


class StallWatch:
    """A daemon thread that interrupts the main thread once the job is stalled for lack of resources.

    ``resources`` returns each alive node's resource totals (:func:`alive_nodes`);
    ``seconds <= 0`` disables the watch. After the interruption, :attr:`reason` says why.
    """

    def __init__(
        self, shape: Shape, seconds: float, resources: Callable[[], list[dict[str, float]]], poll: float = 1.0
    ) -> None:
        self.shape, self.seconds, self.resources, self.poll = shape, seconds, resources, poll
        self.repeat = max(5.0, 5 * poll)  # a swallowed interrupt is sent again after this long
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
                self._interrupt_until_stopped()
                return

    def _interrupt_until_stopped(self) -> None:
        """Interrupt the main thread, again every ``repeat`` seconds until the run leaves the watch:
        library code on the main thread (Ray Data's iterator) may swallow one KeyboardInterrupt,
        and a single lost interrupt would leave the run waiting for ever."""
        while True:
            _thread.interrupt_main()
            if self._stop.wait(self.repeat):
                return

    def __enter__(self) -> StallWatch:
        if self.seconds > 0:
            self._own_sigint()
            self._thread.start()
        return self

    def _own_sigint(self) -> None:
        """Make sure an interrupt of the main thread raises KeyboardInterrupt while the watch runs.

        ``_thread.interrupt_main`` goes through the SIGINT handler and does nothing when that is
        ``SIG_IGN``/``SIG_DFL`` or a library's own; a library imported earlier in the process
        can leave it so (the watch once failed that way late in the test suite). The handler
        is Python's default for the run and restored on exit (only the main thread can set it)."""
        self._previous_sigint: object = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if previous is not signal.default_int_handler:
                self._previous_sigint = previous
                signal.signal(signal.SIGINT, signal.default_int_handler)

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.poll + 1.0)  # no interrupt is sent once the run has left
        previous = getattr(self, "_previous_sigint", None)
        if previous is not None:
            signal.signal(signal.SIGINT, previous)  # type: ignore[arg-type]
