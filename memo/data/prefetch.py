"""Run a function over items in worker threads, ahead of the consumer.

PyAV and PIL release the GIL while they decode and resize, so threads overlap decoding
with inference without copying frames between processes. At most ``depth`` items are in
flight (a bounded queue): memory stays flat on libraries of any size. Results come back
in completion order; an exception from ``fn`` is returned, not raised, so one bad item
never stops the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def prefetch(
    items: Iterable[T], fn: Callable[[T], R], workers: int = 2, depth: int | None = None
) -> Iterator[tuple[T, R | Exception]]:
    workers = max(1, workers)
    depth = max(depth or 2 * workers, workers)
    source = iter(items)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="memo-decode")
    pending: dict[Future[R], T] = {}
    try:
        for item in source:
            pending[pool.submit(fn, item)] = item
            if len(pending) >= depth:
                break
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                item = pending.pop(future)
                exc = future.exception()
                yield item, (exc if isinstance(exc, Exception) else future.result())
                nxt = next(source, None)
                if nxt is not None:
                    pending[pool.submit(fn, nxt)] = nxt
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
