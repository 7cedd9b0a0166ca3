"""Group commit, generically: callers on event loops put items on a bounded queue and await
their answers; one thread takes what has arrived (waiting up to `wait_seconds` for more, at
most `max_batch`), hands the whole batch to `handle`, and answers each caller with its own
result, with one wake-up of each event loop per batch.

What a batch means (one transaction, its errors) is `handle`'s business: it returns one answer
per item, a result or the exception that caller's request answers with.
"""

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

logger = logging.getLogger("app.batcher")


class Overloaded(Exception):  # noqa: N818 (a signal for the caller, answered with 503)
    """The queue is full: more items are waiting than the batcher accepts."""


@dataclass
class _Waiting(Generic[Item, Result]):
    item: Item
    loop: asyncio.AbstractEventLoop
    future: "asyncio.Future[Result | Exception]" = field(init=False)

    def __post_init__(self) -> None:
        self.future = self.loop.create_future()


_STOP = object()


class Batcher(Generic[Item, Result]):
    def __init__(
        self,
        handle: Callable[[Sequence[Item]], Sequence[Result | Exception]],
        *,
        max_batch: int,
        wait_seconds: float,
        queue_size: int,
        name: str,
    ) -> None:
        self._handle = handle
        self._max_batch = max_batch
        self._wait_seconds = wait_seconds
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Finish every item already queued, then stop."""
        self._queue.put(_STOP)
        self._thread.join()

    async def submit(self, item: Item) -> Result:
        """The item's result once its batch is handled; raises its exception, or Overloaded."""
        waiting: _Waiting[Item, Result] = _Waiting(item, asyncio.get_running_loop())
        try:
            self._queue.put_nowait(waiting)
        except queue.Full:
            raise Overloaded from None
        answer = await waiting.future
        if isinstance(answer, Exception):
            raise answer
        return answer

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            deadline = time.monotonic() + self._wait_seconds
            while len(batch) < self._max_batch:
                try:
                    # What is already queued first (no timer); then wait out the deadline.
                    item = self._queue.get_nowait()
                except queue.Empty:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        item = self._queue.get(timeout=remaining)
                    except queue.Empty:
                        break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            waiting = [entry for entry in batch if isinstance(entry, _Waiting)]
            try:
                answers = self._handle([entry.item for entry in waiting])
            except Exception as error:  # handle answers its own errors; never leave callers hanging
                logger.exception("a batch failed unanswered")
                answers = [error] * len(waiting)
            _answer_all(waiting, answers)


def _answer_all(
    waiting: "Sequence[_Waiting[Item, Result]]", answers: Sequence[Result | Exception]
) -> None:
    """Hand every caller its answer with one wake-up of each event loop (one self-pipe write
    per loop per batch, not one per caller)."""
    by_loop: dict[
        asyncio.AbstractEventLoop,
        list[tuple[asyncio.Future[Result | Exception], Result | Exception]],
    ] = {}
    for entry, answer in zip(waiting, answers, strict=True):
        by_loop.setdefault(entry.loop, []).append((entry.future, answer))
    for loop, results in by_loop.items():
        loop.call_soon_threadsafe(_set_results, results)


def _set_results(
    results: "list[tuple[asyncio.Future[Result | Exception], Result | Exception]]",
) -> None:
    for future, answer in results:
        if not future.done():  # the caller may have gone away
            future.set_result(answer)
